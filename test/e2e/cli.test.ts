/**
 * The `fuel-sls` command line against the embedded runtime (or FUEL_API_URL), as a separate process:
 * every command, table and --json output, help, usage errors (exit 2), API and connection errors (exit 1).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { COMMANDS } from '../../cli/commands.js';
import { run as runCommandLine } from '../../cli/run.js';
import type {
  ClusterJson,
  DeploymentPreviewJson,
  HistoryJson,
  NodeJson,
  TaskJson,
} from '../../lambdas/api/wire.js';
import { until } from '../helpers/stop-helpers.js';
import { Api, freeNodes, openTarget, shell, type Target, waitForTask } from '../helpers/target.js';

/** The installed command (`bin: fuel-sls`): a launcher that loads cli/main.ts through tsx. */
const BIN = [fileURLToPath(new URL('../../cli/fuel-sls.js', import.meta.url))];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let target: Target;
let api: Api;
let dir: string;
/** Environments a test created: deleted after it, so that their nodes are free for the next one. */
const created: number[] = [];

beforeAll(async () => {
  target = await openTarget(6);
  api = new Api(target);
  dir = await mkdtemp(join(tmpdir(), 'fuel-sls-cli-'));
});

afterEach(async () => {
  for (const id of created.splice(0)) {
    const tasks = (await api.call<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${id}`)).body;
    for (const t of tasks.filter((t) => t.status === 'running')) await waitForTask(api, t.id);
    await api.call('DELETE', `/api/v1/clusters/${id}/`);
  }
});

afterAll(async () => {
  await target?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `fuel-sls` with the words of `line` and then `more` as they are (for values with spaces). */
function cli(line: string, ...more: string[]): Promise<Run> {
  return spawnCli(BIN, line, more);
}

function spawnCli(program: string[], line: string, more: string[]): Promise<Run> {
  return startCli(program, [...line.split(/\s+/).filter((w) => w !== ''), ...more]).done;
}

/** A `fuel-sls` process against the target: the process, what it printed so far, and its end. */
function startCli(
  program: string[],
  args: string[],
): { child: ChildProcess; printed: () => Run; done: Promise<Run> } {
  const child = spawn(process.execPath, [...program, ...args], {
    env: { ...process.env, FUEL_API_URL: target.url, FUEL_AUTH_TOKEN: target.token },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const printed = (): Run => ({ code: child.exitCode ?? -1, stdout, stderr });
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { child, printed, done };
}

/** Runs the command and expects exit 0 with nothing on stderr; returns stdout. */
async function ok(line: string): Promise<string> {
  const result = await cli(line);
  expect(result, `fuel-sls ${line}`).toMatchObject({ code: 0, stderr: '' });
  return result.stdout;
}

/** Runs the command with --json and parses its stdout. */
async function okJson<T>(line: string): Promise<T> {
  return JSON.parse(await ok(`${line} --json`)) as T;
}

/** The same command line in this process, with a terminal or not: stdout, stderr and the exit code. */
async function inProcess(args: string[], isTTY = false): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommandLine(
    args,
    {
      out: (text) => out.push(`${text}\n`),
      err: (text) => err.push(`${text}\n`),
      write: (raw) => out.push(raw),
      isTTY,
    },
    { FUEL_API_URL: target.url, FUEL_AUTH_TOKEN: target.token },
  );
  return { code, stdout: out.join(''), stderr: err.join('') };
}

async function newEnvironment(name: string): Promise<number> {
  const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', {
    name: `${name}-${Date.now()}`,
  });
  created.push(cluster.id);
  return cluster.id;
}

/** An environment of `count` nodes (a controller, then computes) with the given graph. */
async function environment(name: string, graph: unknown[], count = 2): Promise<number> {
  const id = await newEnvironment(name);
  const nodes = await freeNodes(api, count);
  await api.ok(
    'POST',
    `/api/v1/clusters/${id}/assignment/`,
    nodes.map((n, i) => ({ id: n.id, roles: [i === 0 ? 'controller' : 'compute'] })),
  );
  await api.ok('PUT', `/api/v1/clusters/${id}/deployment_tasks/`, graph);
  return id;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('fuel-sls', () => {
  it('env deploy --wait shows progress and node statuses and exits 0 when the deployment is done', async () => {
    const id = await environment('cli-ok', [
      { id: 'a', type: 'shell', roles: '*', parameters: { cmd: 'sleep 0.5', timeout: 60 } },
      { id: 'b', type: 'shell', roles: '*', requires: ['a'], parameters: { cmd: 'sleep 0.5', timeout: 60 } },
    ]);
    const run = await cli(`env deploy ${id} --wait`);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/deploy \d+ \[[#.]{20}\] +\d+% running/);
    expect(run.stdout).toMatch(/\[#{20}\] 100% ready/);
    expect(run.stdout).toContain('is done.');
    expect(run.stdout).toMatch(/node-\d+ +ready/);
    expect(run.stdout).toMatch(/ {2}node-\d+ \(\d+\): deploying -> ready\n/);

    const envs = await okJson<ClusterJson[]>('env list');
    expect(envs.find((e) => e.id === id)?.status).toBe('operational');
  });

  it('Ctrl-C during env deploy --wait says that the deployment goes on, and it does', async () => {
    const id = await environment('cli-interrupt', [shell('slow', '*', 'sleep 3')]);
    const following = startCli(BIN, ['env', 'deploy', String(id), '--wait']);
    // following: the progress line is printed
    await until(
      'the CLI to follow the deployment',
      async () => /running/.test(following.printed().stdout),
      20_000,
      50,
    );
    following.child.kill('SIGINT');
    const { code, stderr } = await following.done;
    expect(code).toBe(130);
    const [deploy] = await okJson<TaskJson[]>(`task list --env ${id} --names deploy`);
    expect(stderr.trim()).toBe(
      `Stopped following task ${deploy?.id}; the task goes on in the service. To look at it: ` +
        `fuel-sls task show ${deploy?.id}; to stop it: fuel-sls env stop-deployment ${id}`,
    );
    expect(deploy?.status).toBe('running');
    const ended = await waitForTask(api, Number(deploy?.id), 30_000);
    expect(ended.status).toBe('ready');
  });

  it('exits non-zero when the deployment ends in error', async () => {
    const id = await environment('cli-fail', [
      { id: 'broken', type: 'shell', roles: '*', parameters: { cmd: 'exit 5', timeout: 60 } },
    ]);
    const run = await cli(`env deploy ${id} --wait`);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/error/);
    expect(run.stdout).toContain('broken');

    const [deploy] = await okJson<TaskJson[]>(`task list --env ${id} --names deploy`);
    expect(await ok(`task history show ${deploy?.id} --statuses error`)).toMatch(
      /^broken +\d+ +error .* exit 5$/m,
    );
  });

  it('stops a deployment with env stop-deployment --wait and shows the history', async () => {
    // two 1 s steps before `after`: the stop (a new process) arrives while one of them runs
    const id = await environment('cli-stop', [
      shell('long', ['controller'], 'sleep 1'),
      shell('longer', ['controller'], 'sleep 1', ['long']),
      shell('after', ['controller'], 'true', ['longer']),
    ]);
    // one process follows the deployment, another stops it
    const following = cli(`env deploy ${id} --wait`);
    let deploy: TaskJson | undefined;
    for (let i = 0; i < 200; i++) {
      [deploy] = await api.ok<TaskJson[]>(
        'GET',
        `/api/v1/transactions/?cluster_id=${id}&transaction_types=deploy`,
      );
      const rows = deploy
        ? await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${deploy.id}/deployment_history/`)
        : [];
      if (rows.some((r) => r.task_name === 'long' && r.status === 'running')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!deploy) throw new Error('the deployment never started');
    const stop = await cli(`env stop-deployment ${id} --wait --message`, 'from the cli');
    expect(stop.code).toBe(0);
    const followed = await following;
    // the deployment did not complete: exit 3, not 0
    expect(followed.code).toBe(3);
    expect(followed.stdout).toMatch(/Deployment of environment '.*' was stopped: \d+ of \d+ tasks done/);
    expect(stop.stdout).toMatch(/^stop_deployment \d+ \[[#.]{20}\] +\d+% running/);
    expect(stop.stdout).toContain('was successfully stopped.');
    expect(stop.stdout).toMatch(/node-\d+ +stopped/);

    const history = await cli(`task history show ${deploy.id} --statuses skipped`);
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/after +\d+ +skipped .*not started: the deployment was stopped/);
    // the stop task has no history of its own: the CLI points at the deployment's
    const [stopTask] = await okJson<TaskJson[]>(`task list --env ${id} --names stop_deployment`);
    const ofStop = await cli(`task history show ${stopTask?.id}`);
    expect(ofStop.code).toBe(0);
    expect(ofStop.stderr).toBe(
      `Task ${stopTask?.id} is a stop_deployment task, which has no history of its own. ` +
        `The history of the deployment it stopped: fuel-sls task history show ${deploy.id}\n`,
    );

    const again = await cli(`env stop-deployment ${id}`);
    expect(again).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: PUT /api/v1/clusters/${id}/stop_deployment/: 400 Nothing to stop - deployment is not running on environment '${id}'\n`,
    });
  });

  it('explains its commands and refuses a bad id', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('env stop-deployment ENV');
    // every exit code, the stopped deployment's 3 too
    expect(help.stdout).toMatch(
      /0 done.*1 failed.*\n.*2 wrong command line; 3 the deployment followed with --wait was stopped/s,
    );
    for (const c of COMMANDS) expect(help.stdout).toContain(`\n  ${c.name} `);
    const bad = await cli('task show abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('TASK must be a positive number');
  });

  it('has a --help for every command, with its usage, flags and an example', async () => {
    const deploy = await cli('env deploy --help');
    expect(deploy).toMatchObject({ code: 0, stderr: '' });
    expect(deploy.stdout).toContain('Usage: fuel-sls env deploy ENV [--wait] [--resume] [--preview]\n');
    expect(deploy.stdout).toMatch(/\nFlags:\n {2}--wait +follow the task/);
    expect(deploy.stdout).toMatch(/\n {2}--resume +also skip, on stopped nodes.*\(\?resume=1\)\n/);
    expect(deploy.stdout).toMatch(/\n {2}--preview +print what the deployment would run/);
    expect(deploy.stdout).toContain('\nExample:\n  fuel-sls env deploy 1 --resume --preview\n');

    for (const c of COMMANDS) {
      const help = await inProcess([...c.words, '--help']);
      expect(help.code, c.name).toBe(0);
      expect(help.stdout).toContain(`Usage: fuel-sls ${c.name}`);
      expect(help.stdout).toContain(`\nAPI: `);
      expect(help.stdout).toContain(`\nExample:\n  fuel-sls ${c.name}`);
      for (const flag of Object.keys(c.flags)) expect(help.stdout).toContain(`  --${flag}`);
    }
    const group = await inProcess(['node', '--help']);
    expect(group.stdout).toMatch(/node list[\s\S]*node assign[\s\S]*node unassign/);
  });

  it('refuses unknown commands and flags, and missing values, with exit 2', async () => {
    const [unknown, partial, flag, missing, noValue] = await Promise.all([
      cli('env frobnicate'),
      cli('task history'),
      cli('env list --wait'),
      cli('node assign --env 1 --roles compute'),
      cli('env stop-deployment 1 --message'),
    ]);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/^Error: unknown command 'env frobnicate'; one of:\n {2}env list/);
    expect(partial).toMatchObject({ code: 2, stdout: '' });
    expect(partial.stderr).toContain('task history show TASK');
    expect(flag).toEqual({
      code: 2,
      stdout: '',
      stderr: "Error: unknown option '--wait' (see 'fuel-sls env list --help')\n",
    });
    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toContain('Error: missing --node ID,ID; usage: fuel-sls node assign --env ENV');
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toContain("'--message <value>' argument missing");
  });

  it('reports API errors and an unreachable API on stderr with exit 1, without a stack', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const [notFound, badToken, down] = await Promise.all([
      cli('env show 99999'),
      cli('env list --token wrong'),
      cli(`env list --url ${url}`),
    ]);
    expect(notFound).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error: GET /api/v1/clusters/99999/: 404 Cluster 99999 not found\n',
    });
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/^Error: GET \/api\/v1\/clusters\/: 401 /);
    expect(down).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: cannot reach the Fuel API at ${url} (ECONNREFUSED); is it running? Set --url or FUEL_API_URL\n`,
    });
  });

  it('creates, shows, lists and deletes an environment; delete needs --yes', async () => {
    const name = `cli-env-${Date.now()}`;
    const table = await ok(`env create ${name}`);
    expect(table).toMatch(/^field +value\n-+ +-+\nid +\d+\nname +cli-env-\d+\nstatus +new\nrelease_id +1\n/);
    const id = Number(/^id +(\d+)$/m.exec(table)?.[1]);
    created.push(id);

    const [shown, shownJson, list, listJson, other, unknownRelease, duplicate, refused] = await Promise.all([
      ok(`env show ${id}`),
      okJson<{ id: number; name: string }>(`env show ${id}`),
      ok('env list'),
      okJson<{ id: number; name: string }[]>('env list'),
      okJson<{ id: number; release_id: number }>(`env create ${name}-2 --release 1`),
      cli(`env create ${name}-3 --release 2`),
      cli(`env create ${name}`),
      cli(`env delete ${id}`),
    ]);
    created.push(other.id);
    expect(shown).toMatch(new RegExp(`^name +${name}$`, 'm'));
    expect(shownJson).toMatchObject({ id, name, status: 'new', is_locked: false, fuel_version: '9.0' });
    expect(list.split('\n')[0]).toMatch(/^id +name +status +release_id +is_locked$/);
    expect(list).toMatch(new RegExp(`^${id} +${name} +new +1 +false$`, 'm'));
    expect(listJson.find((e) => e.id === id)?.name).toBe(name);
    expect(other.release_id).toBe(1);
    expect(unknownRelease).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'Error: POST /api/v1/clusters/: 400 Invalid release ID: release 2 does not exist (GET releases/ lists the releases)\n',
    });
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain(`409 Environment with name '${name}' already exists`);
    expect(refused).toEqual({
      code: 2,
      stdout: '',
      stderr: `Error: env delete removes environment ${id} for good: add --yes to confirm\n`,
    });
    expect((await api.call('GET', `/api/v1/clusters/${id}/`)).status).toBe(200);

    const [deleted, deletedJson] = await Promise.all([
      ok(`env delete ${id} --yes`),
      okJson<TaskJson>(`env delete ${other.id} --yes`),
    ]);
    expect(deleted).toMatch(
      /^\d+ +cluster_deletion +ready +100 +\d+ +Environment 'cli-env-\d+' was deleted/m,
    );
    expect(deletedJson).toMatchObject({ name: 'cluster_deletion', status: 'ready' });
    expect((await api.call('GET', `/api/v1/clusters/${id}/`)).status).toBe(404);
  });

  it('assigns and unassigns nodes, as node list shows', async () => {
    const id = await newEnvironment('cli-nodes');
    const [a, b] = await freeNodes(api, 2);
    if (!a || !b) throw new Error('two free nodes expected');
    const assigned = await ok(`node assign --env ${id} --node ${a.id},${b.id} --roles controller,compute`);
    expect(assigned.split('\n')[0]).toMatch(
      /^id +name +status +error_type +roles +pending_roles +cluster +online +progress$/,
    );
    const row = (n: NodeJson) =>
      new RegExp(`^${n.id} +\\S+ +discover +controller,compute +${id} +true +0$`, 'm');
    expect(assigned).toMatch(row(a));

    const [members, all, refused] = await Promise.all([
      okJson<(NodeJson & { pending_roles: string[] })[]>(`node list --env ${id}`),
      ok('node list'),
      cli(`node assign --env ${id} --node ${a.id} --roles nope`),
    ]);
    expect(members.map((n) => [n.id, n.cluster, n.pending_roles])).toEqual([
      [a.id, id, ['controller', 'compute']],
      [b.id, id, ['controller', 'compute']],
    ]);
    expect(all).toMatch(row(b));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("400 role 'nope' is not known");

    expect(await ok(`node unassign --env ${id} --node ${b.id}`)).toBe(
      `Nodes ${b.id} left environment ${id}.\n`,
    );
    const left = await okJson<NodeJson[]>(`node list --env ${id}`);
    expect(left.map((n) => n.id)).toEqual([a.id]);
    expect(await okJson(`node unassign --env ${id} --node ${a.id}`)).toEqual({});
    expect(await okJson(`node list --env ${id}`)).toEqual([]);
  });

  it('uploads a graph from JSON or YAML and downloads it again', async () => {
    const id = await newEnvironment('cli-graph');
    const graph = [shell('base', '*', 'echo base'), shell('db', ['controller'], 'echo db', ['base'])];
    const jsonFile = join(dir, 'graph.json');
    await writeFile(jsonFile, JSON.stringify(graph));
    expect(await ok(`graph upload --env ${id} --file ${jsonFile}`)).toMatch(
      /^id +type +roles +requires\n-+ .*\nbase +shell +\*\ndb +shell +controller +base\n$/,
    );
    expect(JSON.parse(await ok(`graph download --env ${id}`))).toEqual(graph);

    const yamlGraph = [...graph, shell('web', ['controller'], 'echo web', ['db'])];
    const yamlFile = join(dir, 'graph.yaml');
    await writeFile(yamlFile, stringifyYaml(yamlGraph));
    expect(await okJson(`graph upload --env ${id} --file ${yamlFile}`)).toEqual(yamlGraph);
    const [outYaml, outJson] = [join(dir, 'out.yml'), join(dir, 'out.json')];
    const [wroteYaml] = await Promise.all([
      ok(`graph download --env ${id} --file ${outYaml}`),
      ok(`graph download --env ${id} --file ${outJson}`),
    ]);
    expect(wroteYaml).toBe(`Wrote the 3 tasks of environment ${id} to ${outYaml}.\n`);
    expect(parseYaml(await readFile(outYaml, 'utf8'))).toEqual(yamlGraph);
    expect(JSON.parse(await readFile(outJson, 'utf8'))).toEqual(yamlGraph);

    await writeFile(join(dir, 'cycle.json'), JSON.stringify([shell('x', '*', 'true', ['x'])]));
    const [invalid, wrongType, missing] = await Promise.all([
      cli(`graph upload --env ${id} --file ${join(dir, 'cycle.json')}`),
      cli(`graph upload --env ${id} --file ${join(dir, 'graph.txt')}`),
      cli(`graph upload --env ${id} --file ${join(dir, 'none.json')}`),
    ]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(
      /^Error: PUT \/api\/v1\/clusters\/\d+\/deployment_tasks\/: 400 Invalid deployment graph/,
    );
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toContain('--file must end in .json, .yaml or .yml');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`Error: cannot read ${join(dir, 'none.json')}: ENOENT`);
    expect(await okJson(`graph download --env ${id}`)).toEqual(yamlGraph);
  });

  it('env deploy --preview prints what would run and why, deploys nothing; --resume resumes as previewed', async () => {
    const id = await environment('cli-preview', [
      shell('a', '*', 'echo a'),
      shell('slow', ['controller'], 'sleep 3', ['a']),
      shell('c', ['controller'], 'echo c', ['slow']),
    ]);
    const first = await ok(`env deploy ${id} --preview`);
    expect(first).toMatch(
      new RegExp(
        `^Deploy changes on environment ${id} would provision 2 nodes, run 4 tasks and skip 0, in \\d+ layers\\. Nothing was deployed\\.\n` +
          'node +name +layer +task_name +action +reason\n',
      ),
    );
    expect(first).toMatch(/\n\d+ +node-\d+ +- +provision +run +node is not provisioned yet\n/);
    expect(first).toMatch(/\n\d+ +node-\d+ +\d+ +slow +run +node is being provisioned\n/);
    expect(await api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${id}`)).toEqual([]);
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${id}/`)).status).toBe('new');
    const json = await okJson<DeploymentPreviewJson>(`env deploy ${id} --preview`);
    expect(json).toMatchObject({ cluster: id, resume: false, summary: { run: 4, skip: 0, provision: 2 } });

    // deploy, and stop while `slow` runs on the controller: it finishes, `c` is not started (3 s leave the
    // stop, a CLI process started after `slow` was seen running, time to land against a remote service too)
    const started = await okJson<TaskJson>(`env deploy ${id}`);
    await until('slow running', async () => {
      const rows = await api.ok<HistoryJson[]>(
        'GET',
        `/api/v1/transactions/${started.id}/deployment_history/`,
      );
      return rows.some((r) => r.task_name === 'slow' && r.status === 'running');
    });
    await ok(`env stop-deployment ${id} --wait`);
    const controller = (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${id}`)).find((n) =>
      n.roles.includes('controller'),
    );
    expect(controller?.status).toBe('stopped');

    const plain = await ok(`env deploy ${id} --preview`);
    expect(plain).toMatch(new RegExp(`\n${controller?.id} +node-\\d+ +\\d+ +a +run +node was stopped\n`));
    const resumed = await ok(`env deploy ${id} --preview --resume`);
    expect(resumed).toMatch(
      /^Deploy changes --resume on environment \d+ would provision 0 nodes, run 1 tasks and skip 3,/,
    );
    const line = (task: string) =>
      new RegExp(`\n${controller?.id} +node-\\d+ +\\d+ +${task} +(\\w+) +(.*)\n`).exec(resumed)?.slice(1);
    expect(line('a')).toEqual(['skip', 'ran ready with the same input (resume)']);
    expect(line('slow')).toEqual(['skip', 'ran ready with the same input (resume)']);
    expect(line('c')).toEqual(['run', 'never ran']);

    const wrong = await cli(`env deploy ${id} --preview --wait`);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--preview deploys nothing');

    // --resume sends ?resume=1: only `c` runs
    const run = await okJson<TaskJson>(`env deploy ${id} --resume --wait`);
    expect(run.status).toBe('ready');
    const rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${run.id}/deployment_history/`);
    expect(rows.filter((r) => r.status === 'ready').map((r) => r.task_name)).toEqual(['c']);
  });

  it('deploys without waiting, redeploys with --json --wait, lists tasks with filters, shows one, resets', async () => {
    const id = await environment('cli-tasks', [
      shell('one', '*', 'echo one'),
      shell('two', '*', 'echo two', ['one']),
    ]);
    const started = await ok(`env deploy ${id}`);
    expect(started).toMatch(
      /^id +name +status +progress +cluster +message\n.*\n\d+ +deploy +running +0 +\d+ /,
    );
    const deployId = Number(/^(\d+) +deploy/m.exec(started)?.[1]);
    expect((await waitForTask(api, deployId)).status).toBe('ready');

    const redeploy = await okJson<TaskJson>(`env redeploy ${id} --wait`);
    expect(redeploy).toMatchObject({ name: 'deploy', status: 'ready', progress: 100 });

    const [all, deploys, errors, table, shown, shownJson, rows, filtered] = await Promise.all([
      okJson<(TaskJson & { cluster: number })[]>(`task list --env ${id}`),
      okJson<TaskJson[]>(`task list --env ${id} --names deploy --statuses ready,error`),
      okJson<TaskJson[]>(`task list --env ${id} --statuses error`),
      ok(`task list --env ${id} --names deploy,provision`),
      ok(`task show ${redeploy.id}`),
      okJson<TaskJson>(`task show ${deployId}`),
      okJson<HistoryJson[]>(`task history show ${deployId}`),
      ok(`task history show ${deployId} --tasks-names two --statuses ready`),
    ]);
    expect(all.every((t) => t.cluster === id)).toBe(true);
    expect(all.map((t) => t.name).sort()).toEqual([
      'deploy',
      'deploy',
      'deployment',
      'deployment',
      'provision',
    ]);
    expect(deploys.map((t) => t.id)).toEqual([deployId, redeploy.id]);
    expect(errors).toEqual([]);
    expect(table.split('\n')[0]).toMatch(
      /^id +name +status +progress +cluster +parent_id +time_start +time_end$/,
    );
    expect(table).toMatch(new RegExp(`^\\d+ +provision +ready +100 +${id} +${deployId} +\\S+Z +\\S+Z$`, 'm'));
    expect(table).not.toMatch(/ deployment /);
    expect(shown).toMatch(new RegExp(`^field +value\n.*\nid +${redeploy.id}\n(.*\n)*status +ready\n`));
    expect(shownJson).toMatchObject({ id: deployId, name: 'deploy', status: 'ready' });
    expect(rows.map((r) => r.task_name)).toEqual(['provision', 'provision', 'one', 'one', 'two', 'two']);
    expect(filtered).toMatch(
      /^task_name +node_id +status +time_start +time_end +summary\n.*\n(two +\d+ +ready +\S+ +\S+ +exit 0\n){2}$/,
    );

    // --limit shows the first N (read as one page of N); --newest, newest first
    const [firstTwo, newest, firstRows] = await Promise.all([
      okJson<TaskJson[]>(`task list --env ${id} --limit 2`),
      okJson<TaskJson[]>(`task list --env ${id} --newest --limit 1`),
      okJson<HistoryJson[]>(`task history show ${deployId} --limit 3`),
    ]);
    const byId = all.map((t) => t.id).sort((a, b) => a - b);
    expect(firstTwo.map((t) => t.id)).toEqual(byId.slice(0, 2));
    expect(newest.map((t) => t.id)).toEqual(byId.slice(-1));
    expect(firstRows).toEqual(rows.slice(0, 3));

    const node = rows[2]?.node_id ?? '';
    const one = await okJson<HistoryJson[]>(
      `task history show ${deployId} --nodes ${node} --tasks-names one,two`,
    );
    expect(one.map((r) => [r.task_name, r.node_id])).toEqual([
      ['one', node],
      ['two', node],
    ]);

    expect(await ok(`env reset ${id}`)).toMatch(/^\d+ +reset_environment +ready +100 +\d+ +Environment/m);
    expect(await okJson<TaskJson>(`env reset ${id}`)).toMatchObject({
      name: 'reset_environment',
      status: 'ready',
    });
    const nodes = await okJson<NodeJson[]>(`node list --env ${id}`);
    expect(nodes.map((n) => n.status)).toEqual(['discover', 'discover']);
  });

  it('provisions and deploys selected nodes, and deletes tasks', async () => {
    const id = await environment('cli-selected', [shell('a', '*', 'sleep 0.2')]);
    const [first, second] = (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${id}`)).map(
      (n) => n.id,
    );

    const provision = await cli(`node provision --env ${id} --node ${first} --wait`);
    expect(provision.code).toBe(0);
    expect(provision.stdout).toMatch(/provision \d+ \[[#.]{20}\] +\d+%/);
    const deployed = await okJson<TaskJson & { parent_id: number | null }>(
      `node deploy --env ${id} --node ${first} --wait --json`,
    );
    expect(deployed).toMatchObject({ name: 'deployment', status: 'ready', parent_id: null });
    const nodes = await okJson<NodeJson[]>(`node list --env ${id}`);
    expect(nodes.map((n) => [n.id, n.status])).toEqual([
      [first, 'ready'],
      [second, 'discover'],
    ]);
    const refused = await cli(`node deploy --env ${id} --node ${second}`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`node ${second} is not provisioned`);

    expect(await ok(`task delete ${deployed.id}`)).toBe(`Task ${deployed.id} deleted.\n`);
    const gone = await cli(`task show ${deployed.id}`);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('404');
    const help = await ok('task delete --help');
    expect(help).toContain('DELETE /api/v1/tasks/TASK/[?force=1]');
  });

  it('redraws the progress in place on a terminal', async () => {
    // a run of over a second: at least one redraw between the first frame and the last
    const id = await environment('cli-tty', [shell('a', '*', 'sleep 1')], 1);
    const live = await inProcess(['env', 'deploy', String(id), '--wait'], true);
    expect(live).toMatchObject({ code: 0, stderr: '' });
    const ESC = '\u001b';
    const frames = live.stdout.split(`${ESC}[J`);
    expect(frames.length).toBeGreaterThan(2);
    expect(frames[0]).toMatch(/^deploy \d+ \[[#.]{20}\] +\d+% running/);
    expect(frames[1]?.startsWith(`${ESC}[4A\rdeploy `)).toBe(true);
    expect(live.stdout).toContain(`100% ready  nodes: 1 ready${ESC}[K\n`);
    expect(live.stdout).toMatch(/is done\.\n$/);
  });

  it("prints a task's output without the terminal escape sequences it wrote", async () => {
    const cmd = String.raw`printf '\033]0;owned\007\033[2J\033[31mboom\033[0m\n' >&2; exit 5`;
    const id = await environment('cli-escapes', [shell('colours', '*', cmd)], 1);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${id}/changes/`);
    await waitForTask(api, deploy.id);
    const history = await ok(`task history show ${deploy.id}`);
    expect(history).toMatch(/^colours +\d+ +error .* exit 5: boom$/m);
    expect(history).not.toContain('\u001b');
  });
});
