/**
 * Read latency of the lists that grow: `GET tasks/` with many tasks and `GET deployment_history/` of a run
 * with many rows. The data is seeded through the product's repositories (no deployment runs), then the HTTP
 * API is timed from a client: each request from sending to the whole body read. When the API pages a list
 * (`limit` honoured, a next marker given), a page is timed, and so is reading every page.
 */
import { randomUUID } from 'node:crypto';
import type { ClusterJson, HistoryJson, TaskJson } from '../../lambdas/api/wire.js';
import { inParallel } from '../../lambdas/app/parallel.js';
import { type HistoryRow, pendingRow } from '../../lambdas/domain/history.js';
import { layerStage } from '../../lambdas/domain/stage.js';
import { doneAction, newRun, type Task } from '../../lambdas/domain/task.js';
import type { Runtime } from '../../local/runtime.js';
import type { Api, Reply } from '../lib/api.js';
import { quantile } from '../lib/stats.js';

export interface Latency {
  samples: number;
  p50: number;
  p99: number;
  max: number;
  /** Entries and bytes of one reply. */
  entries: number;
  bytes: number;
}

export interface PagedRead {
  /** Whether the API paged the list: `limit` honoured and a marker for the next page. */
  paged: boolean;
  how: string;
  page: Latency | null;
  /** Milliseconds to read the whole list page by page, and the pages it took. */
  allPagesMs: number | null;
  pages: number | null;
}

export interface ReadsResult {
  tasks: number;
  rows: number;
  tasksList: Latency;
  tasksPaged: PagedRead;
  /** The single-item read the lists are compared with: `GET tasks/{id}/`. */
  taskById: Latency;
  history: Latency;
  historyPaged: PagedRead;
  /** The same history read for a run with few rows. */
  smallHistory: Latency;
  seedSeconds: number;
}

async function timed<T>(
  api: Api,
  path: string,
  times: number,
): Promise<{ latency: Latency; last: Reply<T> }> {
  const ms: number[] = [];
  let last: Reply<T> | null = null;
  for (let i = 0; i < times; i++) {
    last = await api.call<T>('GET', path);
    if (last.status !== 200)
      throw new Error(`GET ${path} -> ${last.status}: ${JSON.stringify(last.body).slice(0, 300)}`);
    ms.push(last.ms);
  }
  const reply = last as Reply<T>;
  return {
    latency: {
      samples: ms.length,
      p50: quantile(ms, 0.5),
      p99: quantile(ms, 0.99),
      max: Math.max(...ms),
      entries: Array.isArray(reply.body) ? reply.body.length : entriesOf(reply.body),
      bytes: reply.bytes,
    },
    last: reply,
  };
}

function entriesOf(body: unknown): number {
  if (body && typeof body === 'object') {
    for (const value of Object.values(body as Record<string, unknown>))
      if (Array.isArray(value)) return value.length;
  }
  return 0;
}

/** The marker of the next page, wherever the API puts it: a `Link: <...>; rel="next"` header, an `X-Next-Marker`-like header, or the body. */
function nextOf(reply: Reply<unknown>): string | null {
  const link = reply.headers.get('link');
  const rel = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
  if (rel?.[1]) {
    const marker = new URL(rel[1], 'http://x').searchParams.get('marker');
    if (marker) return marker;
  }
  for (const [name, value] of reply.headers) if (/next-?marker|x-marker/i.test(name) && value) return value;
  const body = reply.body as Record<string, unknown> | null;
  if (body && !Array.isArray(body)) {
    for (const key of ['next', 'next_marker', 'marker'])
      if (typeof body[key] === 'string') return body[key] as string;
  }
  return null;
}

async function pagedRead(
  api: Api,
  path: string,
  total: number,
  times: number,
  limit = 100,
): Promise<PagedRead> {
  const sep = path.includes('?') ? '&' : '?';
  const first = await api.call<unknown>('GET', `${path}${sep}limit=${limit}`);
  const count = Array.isArray(first.body) ? first.body.length : entriesOf(first.body);
  const marker = nextOf(first);
  if (first.status !== 200 || count > limit || marker === null) {
    return {
      paged: false,
      how:
        first.status !== 200
          ? `limit refused (${first.status})`
          : `limit=${limit} gave ${count} of ${total} entries and no next marker`,
      page: null,
      allPagesMs: null,
      pages: null,
    };
  }
  const { latency } = await timed(
    api,
    `${path}${sep}limit=${limit}&marker=${encodeURIComponent(marker)}`,
    times,
  );
  const started = performance.now();
  let pages = 0;
  let next: string | null = null;
  do {
    const reply: Reply<unknown> = await api.call<unknown>(
      'GET',
      `${path}${sep}limit=1000${next ? `&marker=${encodeURIComponent(next)}` : ''}`,
    );
    pages++;
    next = nextOf(reply);
  } while (next !== null && pages < 10_000);
  return {
    paged: true,
    how: `limit=${limit} honoured, next marker given`,
    page: latency,
    allPagesMs: performance.now() - started,
    pages,
  };
}

export async function readsScenario(
  runtime: Runtime,
  api: Api,
  input: { tasks: number; rows: number; repetitions: number; historyRepetitions: number },
): Promise<ReadsResult> {
  const seedStart = Date.now();
  const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: `reads-${Date.now()}` });
  const big = await seedRun(runtime, cluster.id, input.rows);
  const small = await seedRun(runtime, cluster.id, 100);
  const existing = (await api.ok<TaskJson[]>('GET', '/api/v1/tasks/')).length;
  await seedTasks(runtime, cluster.id, Math.max(0, input.tasks - existing));
  const seedSeconds = (Date.now() - seedStart) / 1000;

  const tasksList = await timed<TaskJson[]>(api, '/api/v1/tasks/', input.repetitions);
  const taskById = await timed<TaskJson>(api, `/api/v1/tasks/${big}/`, input.repetitions);
  const tasksPaged = await pagedRead(api, '/api/v1/tasks/', tasksList.latency.entries, input.repetitions);
  const historyPath = `/api/v1/transactions/${big}/deployment_history/`;
  const history = await timed<HistoryJson[]>(api, historyPath, input.historyRepetitions);
  const historyPaged = await pagedRead(api, historyPath, input.rows, input.repetitions);
  const smallHistory = await timed<HistoryJson[]>(
    api,
    `/api/v1/transactions/${small}/deployment_history/`,
    input.repetitions,
  );
  return {
    tasks: tasksList.latency.entries,
    rows: input.rows,
    tasksList: tasksList.latency,
    tasksPaged,
    taskById: taskById.latency,
    history: history.latency,
    historyPaged,
    smallHistory: smallHistory.latency,
    seedSeconds,
  };
}

/** A finished run with `count` history rows that ran: 1,000 nodes (fewer for a small run), one task per node a layer. */
async function seedRun(runtime: Runtime, clusterId: number, count: number): Promise<number> {
  const { repos } = runtime;
  const id = await repos.tasks.nextId();
  const at = new Date();
  const run = newRun({
    id,
    uuid: randomUUID(),
    clusterId,
    mode: { force: false, resume: false, scope: 'deploy', nodes: null },
    children: { provision: null, deployment: null },
    message: 'bench: seeded history',
    at: at.toISOString(),
  });
  await repos.tasks.put(run);
  const nodes = Math.min(1000, count);
  const rows: HistoryRow[] = [];
  for (let k = 0; k < count; k++) {
    const layer = Math.floor(k / nodes);
    const nodeId = 1 + (k % nodes);
    const taskName = `task-${String(layer).padStart(3, '0')}`;
    const start = new Date(at.getTime() + layer * 60_000).toISOString();
    const end = new Date(at.getTime() + layer * 60_000 + 30_000).toISOString();
    const planned = pendingRow({
      deployTaskId: id,
      stage: layerStage(layer),
      taskName,
      taskType: 'shell',
      nodeId,
      cmd: `sleep 30 # ${taskName}`,
      timeout: 300,
      retries: 0,
      interval: 0,
      failOnError: true,
      requires: layer > 0 ? [`task-${String(layer - 1).padStart(3, '0')}@${nodeId}`] : [],
      layer,
      order: k,
      noop: null,
      fingerprint: 'f'.repeat(16),
      unchanged: false,
    });
    rows.push({
      ...planned,
      status: 'ready',
      timeStart: start,
      timeEnd: end,
      command: {
        commandId: randomUUID(),
        instanceId: `mi-${String(nodeId).padStart(17, '0')}`,
        ssmStatus: 'Success',
        statusDetails: 'Success',
        exitCode: 0,
        outputTail: `${taskName} done`,
        errorTail: '',
      },
    });
  }
  for (let i = 0; i < rows.length; i += 2000) await repos.history.putRows(rows.slice(i, i + 2000));
  await repos.tasks.finish(id, { status: 'ready', progress: 100, timeEnd: new Date().toISOString() });
  return id;
}

/** A finished deployment's outline: 40 layers, as the reference graph gives. */
const OUTLINE = {
  provision: { nodeCount: 0, timeoutSeconds: 2100 },
  layers: Array.from({ length: 40 }, (_, i) => ({ taskId: 0, stage: layerStage(i), timeoutSeconds: 660 })),
};

/** Finished tasks of the cluster, so that the task list holds `count` more: every third a deployment run, the rest actions. */
async function seedTasks(runtime: Runtime, clusterId: number, count: number): Promise<void> {
  const { repos } = runtime;
  await inParallel(
    Array.from({ length: count }, (_, i) => i),
    8,
    async (i) => {
      const id = await repos.tasks.nextId();
      const at = new Date().toISOString();
      const task: Task =
        i % 3 === 0
          ? {
              ...newRun({
                id,
                uuid: randomUUID(),
                clusterId,
                mode: { force: false, resume: false, scope: 'all', nodes: null },
                children: { provision: null, deployment: null },
                message: `bench: seeded run ${i}`,
                at,
              }),
              status: 'ready',
              progress: 100,
              timeEnd: at,
              plan: { ...OUTLINE, layers: OUTLINE.layers.map((l) => ({ ...l, taskId: id })) },
            }
          : doneAction(
              { id, uuid: randomUUID(), clusterId, at, endedAt: at },
              i % 2 === 0 ? 'reset_environment' : 'cluster_deletion',
              `bench: seeded task ${i}`,
            );
      await repos.tasks.put(task);
    },
  );
}
