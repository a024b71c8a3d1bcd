/**
 * Paged lists through the HTTP API of the embedded runtime: tasks (all, of one environment, filtered, newest
 * first) and a deployment's history, seeded through the runtime's repositories. Following the markers gives
 * every entry exactly once, in order, the same as the unpaged reply (which python-fuelclient reads, and which
 * the server reads page by page); a bad `limit` or `marker` is a 400 that says why; an environment's tasks are
 * read without reading any other environment's task (the DynamoDB replies are counted, not timed).
 */
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorJson, HistoryJson, TaskJson } from '../../lambdas/api/wire.js';
import type { HistoryRow } from '../../lambdas/domain/history.js';
import { layerStage, PROVISION_STAGE } from '../../lambdas/domain/stage.js';
import { doneAction, newRun, newStageTask, type Task } from '../../lambdas/domain/task.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { historyRow } from '../helpers/rows.js';

const A = 901;
const B = 902;
const AT = '2026-12-01T10:00:00.000Z';
const NODES = 20;
const LAYERS = 6;
const TASKS_PER_LAYER = 3;

let runtime: Runtime;
/** The ids of each environment's shown (not deleted) tasks, ascending. */
const shownOf = new Map<number, number[]>([
  [A, []],
  [B, []],
]);
let runId: number;
let deploymentChildId: number;
let rowCount = 0;

interface Reply<T> {
  status: number;
  body: T;
  next: string | null;
  link: string | null;
}

async function get<T>(path: string): Promise<Reply<T>> {
  const res = await fetch(`${runtime.url}${path}`, { headers: { 'X-Auth-Token': runtime.token } });
  return {
    status: res.status,
    body: (await res.json()) as T,
    next: res.headers.get('x-next-marker'),
    link: res.headers.get('link'),
  };
}

/** Every page of a list, following X-Next-Marker (or the Link header); each page checked against `limit`. */
async function pages<T>(path: string, limit: number, follow: 'marker' | 'link' = 'marker'): Promise<T[][]> {
  const all: T[][] = [];
  const sep = path.includes('?') ? '&' : '?';
  let next: string | null = `${path}${sep}limit=${limit}`;
  while (next !== null) {
    const reply: Reply<T[]> = await get<T[]>(next);
    expect(reply.status, next).toBe(200);
    expect(Array.isArray(reply.body)).toBe(true);
    expect(reply.body.length).toBeLessThanOrEqual(limit);
    all.push(reply.body);
    if (reply.next === null) {
      expect(reply.link).toBeNull();
      next = null;
    } else {
      const link = /^<([^>]+)>; rel="next"$/.exec(reply.link ?? '')?.[1];
      expect(link, 'Link rel="next"').toBeDefined();
      expect(new URL(link ?? '', runtime.url).searchParams.get('marker')).toBe(reply.next);
      next = follow === 'link' ? (link ?? null) : `${path}${sep}limit=${limit}&marker=${reply.next}`;
    }
    expect(all.length, 'pages').toBeLessThan(2000);
  }
  return all;
}

const ids = (tasks: TaskJson[]) => tasks.map((t) => t.id);
const rowKey = (r: HistoryJson) => `${r.task_name}@${r.node_id}`;

async function seedTask(make: (id: number) => Task): Promise<Task> {
  const task = make(await runtime.repos.tasks.nextId());
  await runtime.repos.tasks.put(task);
  return task;
}

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 1, demo: false, authToken: 'paging-token' });
  // two environments' tasks, ids interleaved: one in three is B's; every seventh of A's is deleted
  for (let i = 0; i < 90; i++) {
    const clusterId = i % 3 === 2 ? B : A;
    const task = await seedTask((id) =>
      doneAction({ id, uuid: `uuid-${id}`, clusterId, at: AT, endedAt: AT }, 'reset_environment', 'reset'),
    );
    if (clusterId === A && i % 7 === 0) await runtime.repos.tasks.update(task.id, { deletedAt: AT });
    else shownOf.get(clusterId)?.push(task.id);
  }
  // a finished deployment of A with its history, and its deployment child
  const run = await seedTask((id) => ({
    ...newRun({
      id,
      uuid: `uuid-${id}`,
      clusterId: A,
      mode: { force: false, resume: false, scope: 'all', nodes: null },
      children: { provision: null, deployment: id + 1 },
      message: 'done',
      at: AT,
    }),
    status: 'ready',
    progress: 100,
    timeEnd: AT,
  }));
  runId = run.id;
  const child = await seedTask((id) => ({
    ...newStageTask({ id, uuid: `uuid-${id}`, clusterId: A, parentId: runId, at: AT }, 'deployment'),
    status: 'ready',
  }));
  deploymentChildId = child.id;
  shownOf.get(A)?.push(runId, deploymentChildId);
  const rows: HistoryRow[] = [];
  for (let node = 1; node <= NODES; node++) {
    rows.push(
      historyRow({ deployTaskId: runId, stage: PROVISION_STAGE, taskName: 'provision', nodeId: node }),
    );
    for (let layer = 0; layer < LAYERS; layer++) {
      for (let t = 0; t < TASKS_PER_LAYER; t++) {
        rows.push(
          historyRow({
            deployTaskId: runId,
            stage: layerStage(layer),
            taskName: `task-${layer}-${t}`,
            nodeId: node,
            layer,
            status: (node + t) % 4 === 0 ? 'skipped' : 'ready',
          }),
        );
      }
    }
  }
  rowCount = rows.length;
  await runtime.repos.history.putRows(rows);
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('tasks, page by page', () => {
  it('an environment’s tasks: every one once, by id, as the unpaged list; newest first with order_by=-id', async () => {
    const everything = (await get<TaskJson[]>(`/api/v1/tasks/?cluster_id=${A}`)).body;
    expect(ids(everything)).toEqual(shownOf.get(A));
    for (const limit of [2, 7, 1000]) {
      const got = await pages<TaskJson>(
        `/api/v1/tasks/?cluster_id=${A}`,
        limit,
        limit === 7 ? 'link' : 'marker',
      );
      expect(ids(got.flat()), `limit ${limit}`).toEqual(shownOf.get(A));
      // every page full but the last: the marker points past what a page holds, never to an empty page
      expect(
        got.slice(0, -1).every((p) => p.length === limit),
        `limit ${limit}`,
      ).toBe(true);
    }
    const newest = await pages<TaskJson>(`/api/v1/tasks/?cluster_id=${A}&order_by=-id`, 10);
    expect(ids(newest.flat())).toEqual([...(shownOf.get(A) ?? [])].reverse());
    expect(ids(newest[0] ?? [])).toHaveLength(10);
  });

  it('all tasks, and transactions with filters, page by page as unpaged', async () => {
    const all = [...(shownOf.get(A) ?? []), ...(shownOf.get(B) ?? [])].sort((x, y) => x - y);
    expect(ids((await get<TaskJson[]>('/api/v1/tasks/')).body)).toEqual(all);
    expect(ids((await pages<TaskJson>('/api/v1/tasks/', 25)).flat())).toEqual(all);
    const filter = `/api/v1/transactions/?cluster_id=${A}&transaction_types=deploy,deployment&statuses=ready`;
    expect(ids((await get<TaskJson[]>(filter)).body)).toEqual([runId, deploymentChildId]);
    expect(ids((await pages<TaskJson>(filter, 1)).flat())).toEqual([runId, deploymentChildId]);
    const bTasks = await pages<TaskJson>(`/api/v1/transactions/?cluster_id=${B}`, 13);
    expect(ids(bTasks.flat())).toEqual(shownOf.get(B));
  });

  it('reads an environment’s tasks without reading another’s, and pages of a bounded size', async () => {
    await get(`/api/v1/tasks/?cluster_id=${B}&limit=1`); // the first such read may index older tasks
    const reads = recordReads();
    try {
      const got = await pages<TaskJson>(`/api/v1/tasks/?cluster_id=${B}`, 20);
      expect(ids(got.flat())).toEqual(shownOf.get(B));
      const taskItems = reads.items().filter((i) => i.pk === 'TASK');
      expect(taskItems.every((i) => i.clusterId === B)).toBe(true);
      // each of B's tasks read once (a page reads one pointer ahead, not its task)
      expect(taskItems.map((i) => Number(i.id)).sort((x, y) => x - y)).toEqual(shownOf.get(B));
      expect(reads.queries().filter((q) => q.pk === 'TASK')).toEqual([]);
      reads.clear();
      const page = await get<HistoryJson[]>(`/api/v1/transactions/${runId}/deployment_history/?limit=50`);
      expect(page.body).toHaveLength(50);
      const rowsRead = reads.items().filter((i) => String(i.sk).startsWith('ROW#'));
      expect(rowsRead.length, 'history rows read for a page of 50').toBeLessThanOrEqual(51);
      reads.clear();
      // without limit: every row, read in Queries of at most a page each
      const whole = await get<HistoryJson[]>(`/api/v1/transactions/${runId}/deployment_history/`);
      expect(whole.body).toHaveLength(rowCount);
      const historyQueries = reads.queries().filter((q) => q.pk === `TX#${String(runId).padStart(10, '0')}`);
      expect(historyQueries.length).toBeGreaterThan(1);
      expect(historyQueries.every((q) => q.limit !== undefined && q.limit <= 1001)).toBe(true);
    } finally {
      reads.restore();
    }
  });
});

describe('deployment history, page by page', () => {
  it('every row once, provisioning first then the layers in order, as the unpaged reply', async () => {
    const path = `/api/v1/transactions/${runId}/deployment_history/`;
    const whole = (await get<HistoryJson[]>(path)).body;
    expect(whole).toHaveLength(rowCount);
    expect(whole.slice(0, NODES).every((r) => r.task_name === 'provision')).toBe(true);
    expect(new Set(whole.map(rowKey)).size).toBe(rowCount);
    const layerOf = (r: HistoryJson) =>
      r.task_name === 'provision' ? -1 : Number(r.task_name.split('-')[1]);
    expect(whole.map(layerOf)).toEqual([...whole.map(layerOf)].sort((x, y) => x - y));
    // a page boundary at the end of provisioning, inside it, and pages of several layers
    for (const limit of [NODES, 13, 500]) {
      expect((await pages<HistoryJson>(path, limit)).flat(), `limit ${limit}`).toEqual(whole);
    }
  });

  it('with filters, and for the deployment child (its layers only)', async () => {
    const filtered = `/api/v1/transactions/${runId}/deployment_history/?nodes=3,4&statuses=skipped&tasks_names=task-2-0,task-5-1,provision`;
    const expected = (
      await get<HistoryJson[]>(`/api/v1/transactions/${runId}/deployment_history/`)
    ).body.filter(
      (r) =>
        ['3', '4'].includes(String(r.node_id)) &&
        r.status === 'skipped' &&
        ['task-2-0', 'task-5-1', 'provision'].includes(r.task_name),
    );
    expect(expected.length).toBeGreaterThan(0);
    expect((await get<HistoryJson[]>(filtered)).body).toEqual(expected);
    expect((await pages<HistoryJson>(filtered, 1)).flat()).toEqual(expected);
    const child = `/api/v1/transactions/${deploymentChildId}/deployment_history/`;
    const layers = (await get<HistoryJson[]>(child)).body;
    expect(layers).toHaveLength(rowCount - NODES);
    expect((await pages<HistoryJson>(child, 100)).flat()).toEqual(layers);
  });
});

describe('bad paging is a 400 that says why', () => {
  it.each([['0'], ['1001'], ['abc'], ['-1'], ['1.5'], ['']])('limit=%s', async (limit) => {
    const reply = await get<ErrorJson>(`/api/v1/tasks/?cluster_id=${A}&limit=${limit}`);
    expect(reply.status).toBe(400);
    expect(reply.body.message).toContain('limit: must be a whole number from 1 to 1000');
  });

  it('a marker that is not one of this service, or of another list', async () => {
    const history = `/api/v1/transactions/${runId}/deployment_history/`;
    const ofB = (await get<TaskJson[]>(`/api/v1/tasks/?cluster_id=${B}&limit=2`)).next;
    const ofAll = (await get<TaskJson[]>('/api/v1/tasks/?limit=2')).next;
    const ofRun = (await get<HistoryJson[]>(`${history}?limit=2`)).next; // within provisioning
    const cases: [string, string][] = [
      [`/api/v1/tasks/?cluster_id=${A}&limit=5&marker=%21%21`, 'marker: must be a marker'],
      [`/api/v1/tasks/?cluster_id=${A}&limit=5&marker=`, 'marker: must not be empty'],
      [
        `/api/v1/tasks/?cluster_id=${A}&limit=5&marker=abcd`,
        'Invalid marker: it is not a marker of this service',
      ],
      [`/api/v1/tasks/?cluster_id=${A}&limit=5&marker=${ofB}`, 'Invalid marker: it belongs to another list'],
      [`/api/v1/transactions/?cluster_id=${A}&marker=${ofAll}`, 'Invalid marker: it belongs to another list'],
      [`${history}?limit=5&marker=${ofAll}`, 'Invalid marker: it belongs to another list'],
      [
        `/api/v1/transactions/${deploymentChildId}/deployment_history/?limit=5&marker=${ofRun}`,
        'Invalid marker: it belongs to another list',
      ],
      [`/api/v1/tasks/?order_by=name`, "order_by: must be 'id' (oldest first) or '-id' (newest first)"],
    ];
    for (const [path, message] of cases) {
      const reply = await get<ErrorJson>(path);
      expect(reply.status, path).toBe(400);
      expect(reply.body.message, path).toContain(message);
    }
    // a marker without limit: everything after it
    const rest = await get<TaskJson[]>(`/api/v1/tasks/?cluster_id=${B}&marker=${ofB}`);
    expect(ids(rest.body)).toEqual(shownOf.get(B)?.slice(2));
    expect(rest.next).toBeNull();
  });
});

interface Read {
  operation: string;
  pk: unknown;
  limit: number | undefined;
  items: Record<string, unknown>[];
}

/** Records every DynamoDB request of this process with the items its reply holds (all document clients). */
function recordReads() {
  const proto = DynamoDBDocumentClient.prototype as unknown as {
    send: (this: DynamoDBDocumentClient, command: unknown, ...rest: unknown[]) => Promise<unknown>;
  };
  const original = proto.send;
  let reads: Read[] = [];
  proto.send = async function (this: DynamoDBDocumentClient, command: unknown, ...rest: unknown[]) {
    const out = (await original.call(this, command, ...rest)) as {
      Items?: Record<string, unknown>[];
      Item?: Record<string, unknown>;
      Responses?: Record<string, Record<string, unknown>[]>;
    };
    const c = command as {
      constructor: { name: string };
      input: { ExpressionAttributeValues?: Record<string, unknown>; Key?: { pk?: unknown }; Limit?: number };
    };
    reads.push({
      operation: c.constructor.name.replace(/Command$/, ''),
      pk: c.input.ExpressionAttributeValues?.[':pk'] ?? c.input.Key?.pk,
      limit: c.input.Limit,
      items: [
        ...(out.Items ?? []),
        ...(out.Item ? [out.Item] : []),
        ...Object.values(out.Responses ?? {}).flat(),
      ],
    });
    return out;
  };
  return {
    items: () => reads.flatMap((r) => r.items),
    queries: () => reads.filter((r) => r.operation === 'Query'),
    clear: () => {
      reads = [];
    },
    restore: () => {
      proto.send = original;
    },
  };
}
