/**
 * `npm start` killed with SIGKILL in the middle of a deployment, as an operator may meet it (the machine's OOM
 * killer, `kill -9`, a closed terminal multiplexer): no simulated node's command outlives the service, and
 * after a restart on the same FUEL_DATA_DIR the interrupted deployment settles on its own (the deploy task
 * ends, no history row stays `pending` or `running`, the environment is unlocked) and a new "Deploy changes"
 * brings the environment to `operational` with every node `ready`. Only the HTTP API is used, against the
 * service run as its own process (`tsx local/main.ts`), in a process group of its own that the kill reaches
 * as a whole.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { Api, freeNodes, shell, waitForTask } from '../helpers/target.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(REPO, 'node_modules/.bin/tsx');
const TOKEN = 'kill-and-restart-token';
/** How long a restarted service may take to settle the interrupted deployment. */
const SETTLE_MS = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The slow tasks' command: `sleep 20.<random>`, about 20 s, with a fractional part no other process on this
 * machine (a CI run going on) has in its command line, so that the search for survivors finds only ours.
 */
const marker = `20.${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}1`;
const SLOW = `sleep ${marker}`;

interface Service {
  child: ChildProcess;
  /** The process group (and session) the service leads: everything it starts that does not move away. */
  pid: number;
  url: string;
  api: Api;
  exited: Promise<void>;
  isRunning(): boolean;
  /** What the service printed so far (the last 20,000 characters of stdout and stderr). */
  output(): string;
}

let root: string;
let dataDir: string;
const services: Service[] = [];

/** `tsx local/main.ts` as `npm start` runs it; resolves once it prints the URL it listens on. */
async function startService(): Promise<Service> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FUEL_AUTH_TOKEN: TOKEN,
    FUEL_LOCAL_NODES: '3',
    FUEL_DEMO: '0',
    FUEL_STANDIN_SECONDS: '0.2',
    FUEL_DATA_DIR: dataDir,
    PORT: '0',
    // the nodes' folders (a fresh mkdtemp in the temporary folder): inside `root`, so that the folders a
    // killed service cannot remove are removed with it
    TMPDIR: join(root, 'tmp'),
  };
  // not this suite's: the IAM call log of the in-process runtimes (a killed writer could leave half a line),
  // a remote target, and the seeded chaos of the runtime
  for (const name of ['FUEL_AWS_CALL_LOG', 'FUEL_API_URL', 'FUEL_CHAOS', 'FUEL_LOG']) delete env[name];
  const child = spawn(TSX, ['local/main.ts'], {
    cwd: REPO,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running = false;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${TSX}`);
  const service: Service = {
    child,
    pid,
    url: '',
    api: new Api({ url: '', token: TOKEN }),
    exited,
    isRunning: () => running,
    output: () => out,
  };
  services.push(service);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const listening = /listening on (http:\/\/\S+)/.exec(out);
    if (listening?.[1]) {
      service.url = listening[1];
      service.api = new Api({ url: service.url, token: TOKEN });
      return service;
    }
    if (!running) throw new Error(`the service exited before listening:\n${out}`);
    if (Date.now() > deadline) throw new Error(`the service did not listen within 60 s:\n${out}`);
    await sleep(100);
  }
}

function killGroup(service: Service, signal: NodeJS.Signals): void {
  try {
    process.kill(-service.pid, signal);
  } catch {
    // the group is gone
  }
}

interface HostProcess {
  pid: number;
  sid: number;
  stat: string;
  args: string;
}

async function hostProcesses(): Promise<HostProcess[]> {
  const { stdout } = await promisify(execFile)('ps', ['-eo', 'pid=,sid=,stat=,args='], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout.split('\n').flatMap((line) => {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    return m ? [{ pid: Number(m[1]), sid: Number(m[2]), stat: m[3] ?? '', args: m[4] ?? '' }] : [];
  });
}

/**
 * The live (not zombie) processes on this host that belong to the service: in its session (the service,
 * its nodes' launchers and inits), running the slow tasks' command (the nodes' commands, in sessions and
 * PID namespaces of their own, seen here with their host pids), or naming the nodes' folders.
 */
async function processesOf(service: Service): Promise<HostProcess[]> {
  return (await hostProcesses()).filter(
    (p) =>
      !p.stat.startsWith('Z') && (p.sid === service.pid || p.args.includes(marker) || p.args.includes(root)),
  );
}

const history = (api: Api, id: number) =>
  api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${id}/deployment_history/`);
const describeRows = (rows: HistoryJson[]) =>
  JSON.stringify(rows.map((r) => `${r.task_name}@${r.node_id}:${r.status}`));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fuel-sls-kill-'));
  dataDir = join(root, 'data');
  await mkdir(join(root, 'tmp'));
  await mkdir(dataDir);
});

afterAll(async () => {
  for (const service of services) {
    if (!service.isRunning()) continue;
    // gracefully first, so that it removes its nodes' folders; SIGKILL if it does not end in time
    killGroup(service, 'SIGTERM');
    await Promise.race([service.exited, sleep(20_000)]);
    killGroup(service, 'SIGKILL');
    await Promise.race([service.exited, sleep(5000)]);
  }
  // the processes of a killed service's nodes end with it; give a straggler a moment before removing their folders
  for (const service of services) {
    for (let i = 0; i < 50 && (await processesOf(service)).length > 0; i++) await sleep(100);
  }
  if (root) await rm(root, { recursive: true, force: true });
}, 60_000);

describe('SIGKILL of `npm start` during a deployment, then a restart on the same FUEL_DATA_DIR', () => {
  let first: Service;
  let clusterId: number;
  let deployId: number;
  let nodes: NodeJson[];
  let killedAt = 0;
  let issuedToken: string | undefined;

  it('a deployment runs the first of two slow tasks when the service is killed', async () => {
    first = await startService();
    const api = first.api;
    // a token of the Keystone-compatible login, to be used again after the restart
    const login = await fetch(`${first.url}/keystone/v2.0/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        auth: { passwordCredentials: { username: 'admin', password: 'admin' }, tenantName: 'admin' },
      }),
    });
    expect(login.status).toBe(200);
    issuedToken = ((await login.json()) as { access: { token: { id: string } } }).access.token.id;
    const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', {
      name: `kill-and-restart-${Date.now()}`,
      release: 1,
    });
    clusterId = cluster.id;
    // the fleet's nodes are discovered at start; wait a moment should they not all be online yet
    for (let i = 0; ; i++) {
      try {
        nodes = await freeNodes(api, 2);
        break;
      } catch (err) {
        if (i >= 50) throw err;
        await sleep(200);
      }
    }
    await api.ok('POST', `/api/v1/clusters/${clusterId}/assignment/`, [
      { id: nodes[0]?.id, roles: ['controller'] },
      { id: nodes[1]?.id, roles: ['compute'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, [
      shell('first', '*', SLOW),
      shell('second', '*', SLOW, ['first']),
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    expect(deploy.name).toBe('deploy');
    deployId = deploy.id;

    // both nodes run `first`: its rows are `running` and its commands are processes on this host
    const deadline = Date.now() + 60_000;
    let rows: HistoryJson[] = [];
    for (;;) {
      rows = await history(api, deployId);
      const firstRows = rows.filter((r) => r.task_name === 'first');
      if (firstRows.length === 2 && firstRows.every((r) => r.status === 'running')) break;
      if (Date.now() > deadline) {
        throw new Error(`\`first\` never ran on both nodes: ${describeRows(rows)}\n${first.output()}`);
      }
      await sleep(100);
    }
    let sleeps: HostProcess[] = [];
    for (let i = 0; i < 50; i++) {
      sleeps = (await hostProcesses()).filter((p) => p.args.startsWith(SLOW));
      if (sleeps.length >= 2) break;
      await sleep(100);
    }
    expect(sleeps.length, 'the nodes run `first`: two of its processes on this host').toBe(2);
    expect(
      (await history(api, deployId)).filter((r) => r.task_name === 'first').map((r) => r.status),
    ).toEqual(['running', 'running']);

    // what the search for survivors finds while the service runs: the service itself and the slow commands
    const before = await processesOf(first);
    expect(before.some((p) => p.pid === first.pid)).toBe(true);
    expect(before.filter((p) => p.args.startsWith(SLOW))).toHaveLength(2);
    console.log(
      `kill-and-restart: ${before.length} processes of the service before the kill ` +
        `(${before.filter((p) => p.sid === first.pid).length} in its session)`,
    );

    killGroup(first, 'SIGKILL');
    await first.exited;
    killedAt = Date.now();
  }, 90_000);

  it('no process of the service or of its simulated nodes outlives the kill', async () => {
    expect(first?.isRunning(), 'the service was killed').toBe(false);
    // a process killed by its node's init going away may take a moment to end; 10 s is generous
    let survivors: HostProcess[] = [];
    for (let i = 0; i < 100; i++) {
      survivors = await processesOf(first);
      if (survivors.length === 0) break;
      await sleep(100);
    }
    console.log(
      `kill-and-restart: ${survivors.length} processes left ${((Date.now() - killedAt) / 1000).toFixed(1)} s ` +
        'after the kill',
    );
    expect(
      survivors.map((p) => `${p.pid} (session ${p.sid}, ${p.stat}): ${p.args}`),
      'processes still alive 10 s after the SIGKILL of the service',
    ).toEqual([]);
  }, 30_000);

  it(
    'after a restart, the interrupted deployment settles within two minutes',
    async () => {
      if (first?.isRunning() !== false || deployId === undefined) throw new Error('no deployment was killed');
      const restartedAt = Date.now();
      const second = await startService();
      const api = second.api;
      let task: TaskJson;
      for (;;) {
        task = await api.ok<TaskJson>('GET', `/api/v1/tasks/${deployId}/`);
        if (task.status !== 'running' && task.status !== 'pending') break;
        if (Date.now() - restartedAt > SETTLE_MS) {
          throw new Error(
            `deploy task ${deployId} still ${task.status} ${SETTLE_MS / 1000} s after the restart: ` +
              `${describeRows(await history(api, deployId))}\n${second.output()}`,
          );
        }
        await sleep(250);
      }
      console.log(
        `kill-and-restart: deploy task settled ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the ` +
          `restart: ${task.status} (${task.message ?? ''})`,
      );
      expect(['ready', 'error']).toContain(task.status);

      const rows = await history(api, deployId);
      expect(rows.length, 'the deployment has its history rows').toBeGreaterThan(0);
      expect(
        rows
          .filter((r) => r.status === 'pending' || r.status === 'running')
          .map((r) => `${r.task_name}@${r.node_id}`),
        `rows left pending or running: ${describeRows(rows)}`,
      ).toEqual([]);

      const cluster = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`);
      expect(cluster.status).not.toBe('deployment');
      // the signing key is kept with the data: a token issued before the kill is still good
      const withIssued = await fetch(`${second.url}/api/v1/clusters/${clusterId}/`, {
        headers: { 'X-Auth-Token': issuedToken ?? '' },
      });
      expect(withIssued.status).toBe(200);
      expect(cluster.is_locked).toBe(false);

      // its `provision` and `deployment` children have ended too
      const tasks = await api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${clusterId}`);
      expect(
        tasks.filter((t) => t.status === 'pending' || t.status === 'running').map((t) => `${t.id} ${t.name}`),
      ).toEqual([]);
      console.log(
        `kill-and-restart: after the restart, cluster ${cluster.status}; tasks ` +
          JSON.stringify(tasks.map((t) => `${t.id} ${t.name}:${t.status}`)) +
          `; rows ${describeRows(rows)}`,
      );
    },
    SETTLE_MS + 30_000,
  );

  it('a new "Deploy changes" brings the environment to operational, every node ready', async () => {
    const second = services[1];
    if (!second?.isRunning()) throw new Error('the restarted service is not running');
    const api = second.api;
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, [
      shell('first', '*', 'true'),
      shell('second', '*', 'true', ['first']),
    ]);
    const startedAt = Date.now();
    const started = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    expect(started.id).not.toBe(deployId);
    const task = await waitForTask(api, started.id, 150_000);
    console.log(
      `kill-and-restart: redeploy ${task.status} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
    );
    const rows = await history(api, started.id);
    expect(task.status, `${task.message ?? ''} ${describeRows(rows)}`).toBe('ready');
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`)).status).toBe('operational');
    const members = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    expect(members.map((n) => n.id).sort()).toEqual(nodes.map((n) => n.id).sort());
    for (const node of members) expect(node.status, `node ${node.id}`).toBe('ready');
  }, 180_000);
});
