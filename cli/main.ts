/**
 * `fuel-sls`: the command line of the deployment service, in the spirit of `fuel2`.
 * Talks to the HTTP API only; the URL and token come from flags or FUEL_API_URL / FUEL_AUTH_TOKEN.
 */
import { parseArgs } from 'node:util';

interface Options {
  url: string;
  token: string;
  json: boolean;
}

interface TaskJson {
  id: number;
  name: string;
  status: string;
  progress: number;
  message: string | null;
  cluster: number;
}

interface NodeJson {
  id: number;
  name: string;
  status: string;
  error_type: string | null;
  roles: string[];
  pending_roles: string[];
  progress: number;
  cluster: number | null;
  online: boolean;
}

const USAGE = `Usage: fuel-sls [--url URL] [--token TOKEN] [--json] <command>

Commands:
  env list                                   environments and their statuses
  env deploy ENV [--wait]                    deploy changes
  env redeploy ENV [--wait]                  deploy, running every task again
  env stop-deployment ENV [--force] [--message TEXT] [--wait]
                                             stop the running deployment gracefully
  env reset ENV                              back to new, nodes back to discover
  node list [--env ENV]                      nodes, of one environment or all
  task show TASK                             one task
  task history show TASK [--nodes 1,2] [--statuses ready,error] [--tasks-names a,b]
                                             what ran where, per task and node

--url defaults to $FUEL_API_URL (or http://127.0.0.1:8000), --token to $FUEL_AUTH_TOKEN.
--wait follows the task with a progress bar and per-node statuses, and exits 1 if it ends in error.`;

class CliError extends Error {}

async function call<T>(o: Options, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${o.url}/api/v1${path}`, {
    method,
    headers: { 'X-Auth-Token': o.token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const message = (parsed as { message?: string } | null)?.message ?? res.statusText;
    throw new CliError(`${method} ${path}: ${res.status} ${message}`);
  }
  return parsed as T;
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) =>
    Array.isArray(v) ? v.join(',') : v === null || v === undefined ? '' : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    line(columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(columns.map((c) => cell(r[c])))),
  ].join('\n');
}

function print(o: Options, value: unknown, columns: string[]): void {
  if (o.json) {
    console.log(JSON.stringify(value, null, 2));
    return;
  }
  const rows = (Array.isArray(value) ? value : [value]) as Record<string, unknown>[];
  console.log(table(rows, columns));
}

function bar(progress: number): string {
  const filled = Math.round(progress / 5);
  return `[${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${String(progress).padStart(3)}%`;
}

/** Follows a task until it ends; prints progress and the nodes' statuses; returns the final task. */
async function follow(o: Options, taskId: number): Promise<TaskJson> {
  const tty = process.stdout.isTTY && !o.json;
  let last = '';
  for (;;) {
    const task = await call<TaskJson>(o, 'GET', `/tasks/${taskId}/`);
    const nodes = await call<NodeJson[]>(o, 'GET', `/nodes/?cluster_id=${task.cluster}`);
    const counts = new Map<string, number>();
    for (const n of nodes) counts.set(n.status, (counts.get(n.status) ?? 0) + 1);
    const line = `${task.name} ${task.id} ${bar(task.progress)} ${task.status}  nodes: ${[...counts]
      .map(([s, c]) => `${c} ${s}`)
      .join(', ')}`;
    if (!o.json && line !== last) {
      if (tty) process.stdout.write(`\r${line}\u001b[K`);
      else console.log(line);
      last = line;
    }
    if (task.status === 'ready' || task.status === 'error') {
      if (tty) process.stdout.write('\n');
      if (!o.json) {
        console.log(task.message ?? '');
        console.log(
          table(nodes as unknown as Record<string, unknown>[], [
            'id',
            'name',
            'status',
            'error_type',
            'roles',
            'progress',
          ]),
        );
      }
      return task;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function needId(value: string | undefined, what: string): number {
  if (!value || !/^[1-9]\d*$/.test(value))
    throw new CliError(`${what} must be a positive number (got '${value ?? ''}')`);
  return Number(value);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      message: { type: 'string' },
      env: { type: 'string' },
      nodes: { type: 'string' },
      statuses: { type: 'string' },
      'tasks-names': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const o: Options = {
    url: (values.url ?? process.env.FUEL_API_URL ?? 'http://127.0.0.1:8000').replace(/\/+$/, ''),
    token: values.token ?? process.env.FUEL_AUTH_TOKEN ?? '',
    json: values.json ?? false,
  };
  if (!o.token) throw new CliError('No token: pass --token or set FUEL_AUTH_TOKEN');
  const [noun, verb, ...rest] = positionals;
  const taskColumns = ['id', 'name', 'status', 'progress', 'cluster', 'message'];
  const ended = (task: TaskJson) => (task.status === 'error' ? 1 : 0);

  switch (`${noun} ${verb}`) {
    case 'env list':
      print(o, await call(o, 'GET', '/clusters/'), ['id', 'name', 'status', 'is_locked', 'release_id']);
      return 0;
    case 'env deploy':
    case 'env redeploy': {
      const path = verb === 'deploy' ? 'changes/' : 'changes/redeploy/';
      const task = await call<TaskJson>(o, 'PUT', `/clusters/${needId(rest[0], 'ENV')}/${path}`, {});
      if (!values.wait) {
        print(o, task, taskColumns);
        return 0;
      }
      return ended(await follow(o, task.id));
    }
    case 'env stop-deployment': {
      const query = values.force ? '?force=1' : '';
      const body = values.message ? { message: values.message } : {};
      const task = await call<TaskJson>(
        o,
        'PUT',
        `/clusters/${needId(rest[0], 'ENV')}/stop_deployment/${query}`,
        body,
      );
      if (!values.wait) {
        print(o, task, taskColumns);
        return 0;
      }
      return ended(await follow(o, task.id));
    }
    case 'env reset':
      print(o, await call(o, 'PUT', `/clusters/${needId(rest[0], 'ENV')}/reset/`, {}), taskColumns);
      return 0;
    case 'node list': {
      const query = values.env ? `?cluster_id=${needId(values.env, '--env')}` : '';
      print(o, await call(o, 'GET', `/nodes/${query}`), [
        'id',
        'name',
        'status',
        'error_type',
        'roles',
        'pending_roles',
        'cluster',
        'online',
      ]);
      return 0;
    }
    case 'task show':
      print(o, await call(o, 'GET', `/tasks/${needId(rest[0], 'TASK')}/`), taskColumns);
      return 0;
    case 'task history': {
      if (rest[0] !== 'show') break;
      const params = new URLSearchParams();
      if (values.nodes) params.set('nodes', values.nodes);
      if (values.statuses) params.set('statuses', values.statuses);
      if (values['tasks-names']) params.set('tasks_names', values['tasks-names']);
      const query = params.size > 0 ? `?${params}` : '';
      const rows = await call<Record<string, unknown>[]>(
        o,
        'GET',
        `/transactions/${needId(rest[1], 'TASK')}/deployment_history/${query}`,
      );
      print(
        o,
        o.json
          ? rows
          : rows.map((r) => ({ ...r, reason: (r.custom as Record<string, unknown> | null)?.reason ?? '' })),
        ['task_name', 'node_id', 'status', 'time_start', 'time_end', 'reason'],
      );
      return 0;
    }
  }
  throw new CliError(`Unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof CliError ? `fuel-sls: ${err.message}` : err);
    process.exit(err instanceof CliError ? 2 : 1);
  },
);
