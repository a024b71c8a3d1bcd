/**
 * Helpers for the stop race tests: clusters of a few simulated nodes, a stop that records when the client got
 * its answer, the fleet's command log, the checks every stop must pass, and gates that hold the engine at a
 * chosen point (wrapping one method of the runtime's task repository, a port) so that a race is reproduced deterministically.
 */
import { expect } from 'vitest';
import { until as boundedWait, type Probe } from '../../bench/lib/api.js';
import type { ClusterJson, GraphTaskJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { TaskRepository } from '../../lambdas/app/ports.js';
import type { FleetCommandRecord } from '../../local/ssm/fleet.js';
import { type Api, freeNodes, waitForTask } from './target.js';

/**
 * A command that sleeps the first time it runs on a node and returns at once afterwards (a marker in the
 * node's home folder), so that a restart right after a stop does not wait for it again.
 */
export function slowOnce(tag: string, seconds: number): string {
  const marker = `"$HOME/.slow-once-${tag}"`;
  return `if [ -e ${marker} ]; then echo again; else touch ${marker}; sleep ${seconds}; fi`;
}

/** Polls `probe` every 25 ms until it returns a value (not null/undefined/false); at most 30 s unless told. */
export function until<T>(what: string, probe: Probe<T>, timeoutMs = 30_000, everyMs = 25): Promise<T> {
  return boundedWait(what, probe, timeoutMs, everyMs);
}

/** A new cluster with one free node per role given, its graph and (optionally) attributes set. */
export async function clusterWith(
  api: Api,
  name: string,
  roles: string[],
  graph: GraphTaskJson[],
  editable?: Record<string, unknown>,
): Promise<{ cluster: ClusterJson; nodes: NodeJson[] }> {
  const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: `${name}-${Date.now()}` });
  const nodes = await freeNodes(api, roles.length);
  await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, graph);
  await api.ok(
    'POST',
    `/api/v1/clusters/${cluster.id}/assignment/`,
    nodes.map((n, i) => ({ id: n.id, roles: [roles[i]] })),
  );
  if (editable) await api.ok('PUT', `/api/v1/clusters/${cluster.id}/attributes/`, { editable });
  return { cluster, nodes };
}

export async function clusterOf(api: Api, id: number): Promise<ClusterJson> {
  return api.ok<ClusterJson>('GET', `/api/v1/clusters/${id}/`);
}

export async function nodesOf(api: Api, clusterId: number): Promise<Map<number, NodeJson>> {
  const nodes = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
  return new Map(nodes.map((n) => [n.id, n]));
}

export async function historyOf(api: Api, deployTaskId: number): Promise<HistoryJson[]> {
  return api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${deployTaskId}/deployment_history/`);
}

export async function taskOf(api: Api, id: number): Promise<TaskJson> {
  return api.ok<TaskJson>('GET', `/api/v1/tasks/${id}/`);
}

/** The local fleet's log of every command a node received (local mode only). */
export async function fleetLog(api: Api): Promise<FleetCommandRecord[]> {
  return api.ok<FleetCommandRecord[]>('GET', '/_local/fleet/commands');
}

/** The commands of one deployment: their comment is `fuel:<deploy task id>:<stage>:<batch>`. */
export function commandsOf(
  log: FleetCommandRecord[],
  deployTaskId: number,
  stage?: string,
): FleetCommandRecord[] {
  const prefix = stage === undefined ? `fuel:${deployTaskId}:` : `fuel:${deployTaskId}:${stage}:`;
  return log.filter((c) => c.comment.startsWith(prefix));
}

/** Waits until the command running `cmd` of a deployment has started (and not ended) on every node named. */
export async function waitForRunning(
  api: Api,
  deployTaskId: number,
  cmd: string,
  nodes: NodeJson[],
): Promise<FleetCommandRecord[]> {
  return until(`'${cmd}' running on ${nodes.map((n) => n.hostname).join(', ')}`, async () => {
    const running = commandsOf(await fleetLog(api), deployTaskId).filter(
      (c) => c.parameters.command?.[0] === cmd && c.startedAt !== null && c.endedAt === null,
    );
    return nodes.every((n) => running.some((c) => c.nodeName === n.hostname)) && running;
  });
}

export interface StopReply {
  status: number;
  body: TaskJson & { message: string };
  /** When the client had the answer: no command of the deployment may be received after it. */
  ackAt: number;
}

export async function requestStop(
  api: Api,
  clusterId: number,
  options: { force?: boolean; body?: unknown } = {},
): Promise<StopReply> {
  const res = await api.call<TaskJson & { message: string }>(
    'PUT',
    `/api/v1/clusters/${clusterId}/stop_deployment/${options.force ? '?force=1' : ''}`,
    options.body,
  );
  return { ...res, ackAt: Date.now() };
}

/** No command of the deployment was sent, nor received by any node, after the stop was acknowledged. */
export async function expectNothingReceivedAfter(
  api: Api,
  deployTaskId: number,
  ackAt: number,
): Promise<void> {
  const commands = commandsOf(await fleetLog(api), deployTaskId);
  expect(commands.filter((c) => Date.parse(c.sentAt) > ackAt)).toEqual([]);
  expect(commands.filter((c) => Date.parse(c.receivedAt) > ackAt)).toEqual([]);
}

/** Polls a task closely until it has ended. */
export async function waitForEnd(api: Api, id: number, timeoutMs = 30_000): Promise<TaskJson> {
  return until(
    `task ${id} to end`,
    async () => {
      const task = await taskOf(api, id);
      return (task.status === 'ready' || task.status === 'error') && task;
    },
    timeoutMs,
  );
}

/**
 * After a stop: the cluster is unlocked (once the deployment has ended), no history row of the deployment is
 * still `pending` or `running`, and no task of the cluster is left running.
 */
export async function expectSettled(api: Api, clusterId: number, deployTaskId: number): Promise<ClusterJson> {
  const cluster = await until(
    `cluster ${clusterId} to be unlocked`,
    async () => {
      const c = await clusterOf(api, clusterId);
      return !c.is_locked && c;
    },
    10_000,
  );
  expect(cluster.is_locked).toBe(false);
  const unfinished = (await historyOf(api, deployTaskId)).filter(
    (r) => r.status === 'running' || r.status === 'pending',
  );
  expect(unfinished).toEqual([]);
  const running = await api.ok<TaskJson[]>(
    'GET',
    `/api/v1/transactions/?cluster_id=${clusterId}&statuses=running,pending`,
  );
  expect(running).toEqual([]);
  return cluster;
}

/** Deploys again at once and expects the cluster to end `operational` with every node `ready`. */
export async function restartToOperational(
  api: Api,
  clusterId: number,
): Promise<{ deploy: TaskJson; rows: HistoryJson[] }> {
  const res = await api.call<TaskJson & { message?: string }>(
    'PUT',
    `/api/v1/clusters/${clusterId}/changes/`,
    {},
  );
  expect(res.status, res.body.message ?? '').toBe(202);
  const ended = await waitForTask(api, res.body.id, 60_000);
  expect(ended.status, ended.message ?? '').toBe('ready');
  const cluster = await until(
    `cluster ${clusterId} to be unlocked after the restart`,
    async () => {
      const c = await clusterOf(api, clusterId);
      return !c.is_locked && c;
    },
    10_000,
  );
  expect(cluster.status).toBe('operational');
  for (const node of (await nodesOf(api, clusterId)).values()) expect(node.status).toBe('ready');
  const rows = await historyOf(api, res.body.id);
  expect(rows.filter((r) => r.status === 'running' || r.status === 'pending')).toEqual([]);
  return { deploy: ended, rows };
}

export function rowOf(
  rows: HistoryJson[],
  task: string,
  nodeId: number | undefined,
): HistoryJson | undefined {
  return rows.find((r) => r.task_name === task && r.node_id === String(nodeId));
}

export interface Gate {
  /** Resolves when the engine is held at the gate. */
  reached: Promise<void>;
  release(): void;
  /** Releases and puts the store's method back. */
  restore(): void;
}

function gateParts(): {
  reached: Promise<void>;
  arrive: () => void;
  released: Promise<void>;
  release: () => void;
} {
  let arrive = () => {};
  let release = () => {};
  const reached = new Promise<void>((r) => {
    arrive = r;
  });
  const released = new Promise<void>((r) => {
    release = r;
  });
  return { reached, arrive, released, release };
}

/**
 * Holds, once, the dispatch of a batch just before it takes its send lease (after the stop flag was checked
 * and the batch's intent recorded), when `hold(deployTaskId)` says so.
 */
export function holdDispatchLease(store: TaskRepository, hold: (deployTaskId: number) => boolean): Gate {
  const original = store.takeDispatchLease.bind(store);
  const parts = gateParts();
  let held = false;
  store.takeDispatchLease = async (deployTaskId: number, leaseUntil: string) => {
    if (!held && hold(deployTaskId)) {
      held = true;
      parts.arrive();
      await parts.released;
    }
    return original(deployTaskId, leaseUntil);
  };
  return {
    reached: parts.reached,
    release: parts.release,
    restore: () => {
      parts.release();
      store.takeDispatchLease = original;
    },
  };
}
