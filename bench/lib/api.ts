/** The bench's HTTP client for the Nailgun API of an embedded runtime, and bounded waits. */
import type { ClusterJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';

export interface Reply<T> {
  status: number;
  body: T;
  headers: Headers;
  /** Milliseconds from sending the request to having read the whole body. */
  ms: number;
  bytes: number;
}

export class Api {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<Reply<T>> {
    const started = performance.now();
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'X-Auth-Token': this.token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const ms = performance.now() - started;
    return {
      status: res.status,
      body: (text ? JSON.parse(text) : null) as T,
      headers: res.headers,
      ms,
      bytes: Buffer.byteLength(text),
    };
  }

  async ok<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.call<T>(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path} -> ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }
}

export const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A check polled until it gives a value: null, undefined or false mean not yet. */
export type Probe<T> = () => Promise<T | null | undefined | false>;

/** Polls `probe` until it gives a value (not null, undefined or false); a bounded wait. */
export async function until<T>(what: string, probe: Probe<T>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pause(everyMs);
  }
}

/** Waits for a task to end (ready or error). */
export function taskEnded(api: Api, id: number, timeoutMs: number, everyMs = 100): Promise<TaskJson> {
  return until(
    `task ${id} to end`,
    async () => {
      const task = await api.ok<TaskJson>('GET', `/api/v1/tasks/${id}/`);
      return (task.status === 'ready' || task.status === 'error') && task;
    },
    timeoutMs,
    everyMs,
  );
}

/** Waits until the cluster's deployment lock is released. */
export function clusterUnlocked(api: Api, id: number, timeoutMs: number): Promise<ClusterJson> {
  return until(
    `cluster ${id} to be unlocked`,
    async () => {
      const cluster = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${id}/`);
      return !cluster.is_locked && cluster;
    },
    timeoutMs,
  );
}

/**
 * A new cluster on free online nodes (lowest ids first) with these roles, one per node, and this graph;
 * provisioned, so that a deployment of it runs the graph only.
 */
export async function provisionedCluster(
  api: Api,
  name: string,
  roles: string[],
  graph: unknown[],
  timeoutMs: number,
): Promise<{ cluster: ClusterJson; nodes: NodeJson[] }> {
  const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: `${name}-${Date.now()}` });
  const all = await api.ok<NodeJson[]>('GET', '/api/v1/nodes/');
  const free = all.filter((n) => n.cluster === null && n.online).sort((a, b) => a.id - b.id);
  if (free.length < roles.length) throw new Error(`need ${roles.length} free nodes, found ${free.length}`);
  const nodes = free.slice(0, roles.length);
  await api.ok(
    'POST',
    `/api/v1/clusters/${cluster.id}/assignment/`,
    nodes.map((n, i) => ({ id: n.id, roles: [roles[i]] })),
  );
  await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, graph);
  const ids = nodes.map((n) => n.id).join(',');
  const provision = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/provision/?nodes=${ids}`);
  const ended = await taskEnded(api, provision.id, timeoutMs);
  if (ended.status !== 'ready') throw new Error(`provisioning ended ${ended.status}: ${ended.message}`);
  await clusterUnlocked(api, cluster.id, timeoutMs);
  return { cluster, nodes };
}

/** Starts a deployment of the graph on these (provisioned) nodes; `force` runs even unchanged work. */
export async function startDeployment(
  api: Api,
  clusterId: number,
  nodes: NodeJson[],
  force = false,
): Promise<{ task: TaskJson; sentAt: number; answeredAt: number }> {
  const ids = nodes.map((n) => n.id).join(',');
  const sentAt = Date.now();
  const task = await api.ok<TaskJson>(
    'PUT',
    `/api/v1/clusters/${clusterId}/deploy/?nodes=${ids}${force ? '&force=1' : ''}`,
  );
  return { task, sentAt, answeredAt: Date.now() };
}
