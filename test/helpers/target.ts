/**
 * Where the end-to-end suites send their HTTP calls: FUEL_API_URL / FUEL_AUTH_TOKEN when set
 * (a stack on LocalStack or AWS, or an `npm start` elsewhere), otherwise an embedded runtime started here.
 */
import type { GraphTaskJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { HistoryStatus } from '../../lambdas/domain/status.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';

export interface Target {
  url: string;
  token: string;
  /** Present only when the suite started the embedded runtime itself. */
  runtime: Runtime | null;
  close(): Promise<void>;
}

export async function openTarget(nodeCount = 6): Promise<Target> {
  const url = process.env.FUEL_API_URL;
  if (url) {
    const token = process.env.FUEL_AUTH_TOKEN;
    if (!token) throw new Error('FUEL_API_URL is set: set FUEL_AUTH_TOKEN as well');
    return { url: url.replace(/\/+$/, ''), token, runtime: null, close: async () => {} };
  }
  const runtime = await startRuntime({ port: 0, nodeCount, demo: false, authToken: 'e2e-token' });
  return { url: runtime.url, token: runtime.token, runtime, close: () => runtime.stop() };
}

export class Api {
  constructor(private readonly target: Pick<Target, 'url' | 'token'>) {}

  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.target.url}${path}`, {
      method,
      headers: { 'X-Auth-Token': this.target.token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async ok<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.call<T>(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path} -> ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }
}

/** A graph task as `shell` builds it: the fields it sets are known to be there. */
export type ShellTaskJson = GraphTaskJson & {
  type: 'shell';
  roles: string[] | '*';
  requires: string[];
  parameters: { cmd: string; timeout: number };
};

/** A shell task of a graph in the upload format, with a 60 s timeout. */
export const shell = (
  id: string,
  roles: string[] | '*',
  cmd: string,
  requires: string[] = [],
): ShellTaskJson => ({
  id,
  type: 'shell',
  roles,
  requires,
  parameters: { cmd, timeout: 60 },
});

/** Polls a task until it has ended; a bounded wait. */
export async function waitForTask(api: Api, id: number, timeoutMs = 120_000): Promise<TaskJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await api.ok<TaskJson>('GET', `/api/v1/tasks/${id}/`);
    if (task.status === 'ready' || task.status === 'error') return task;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${task.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Polls a deployment's history until the row of `task` on some node has `status`; a bounded wait. */
export async function waitForRow(
  api: Api,
  taskId: number,
  task: string,
  status: HistoryStatus,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${taskId}/deployment_history/`);
    if (rows.some((r) => r.task_name === task && r.status === status)) return;
    if (Date.now() > deadline) throw new Error(`${task} of task ${taskId} never became ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Free online nodes, lowest ids first. */
export async function freeNodes(api: Api, count: number): Promise<NodeJson[]> {
  const nodes = await api.ok<NodeJson[]>('GET', '/api/v1/nodes/');
  const free = nodes.filter((n) => n.cluster === null && n.online).sort((a, b) => a.id - b.id);
  if (free.length < count) throw new Error(`need ${count} free online nodes, found ${free.length}`);
  return free.slice(0, count);
}
