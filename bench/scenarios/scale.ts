/**
 * A deployment at 1,000 nodes without a 1,000-node fleet: the nodes are seeded in the node repository, their
 * SSM is on paper (bench/lib/paper-ssm.ts), and the product's own steps run against DynamoDB as the state
 * machine would call them: the plan step, the dispatch of the widest layer (every node runs its first
 * task), and one command-status result per node. Measured: the plan step, the DynamoDB requests per node
 * result and the writes to the most written item in that layer, and the size of every item written.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { ClusterJson } from '../../lambdas/api/wire.js';
import { dispatch } from '../../lambdas/app/engine/dispatch.js';
import { plan } from '../../lambdas/app/engine/plan.js';
import { recordResult } from '../../lambdas/app/engine/record-result.js';
import { inParallel } from '../../lambdas/app/parallel.js';
import { itemSize } from '../../lambdas/domain/dynamo-limits.js';
import type { GraphTask } from '../../lambdas/domain/graph.js';
import type { Node } from '../../lambdas/domain/model.js';
import { layerStage } from '../../lambdas/domain/stage.js';
import { newRun } from '../../lambdas/domain/task.js';
import { runPk } from '../../lambdas/store/history.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, TABLE_NAME } from '../../local/local-dynamodb.js';
import type { Runtime } from '../../local/runtime.js';
import type { Api } from '../lib/api.js';
import { type DynamoCounter, summarize } from '../lib/dynamo-counter.js';
import { type PaperFleet, paperInstanceId } from '../lib/paper-ssm.js';
import { provisionedNode } from '../lib/reference.js';
import { hottestWithinOneSecond } from './deploy.js';

/** A Step Functions task token is up to about 1 KB; the local ones are shorter, so the stage item is sized with one of 1,024 characters. */
const TOKEN_LENGTH = 1024;

export interface ScaleResult {
  nodes: number;
  instances: number;
  layers: number;
  /** Seconds the plan step took (graph expanded, every row rendered and written). */
  planStep: number;
  planStepRequests: number;
  /** The layer dispatched, its instances, and the seconds dispatch took. */
  layer: number;
  layerInstances: number;
  dispatchSeconds: number;
  dispatchRequests: number;
  /** Results delivered, requests per result by operation, seconds for all. */
  results: number;
  perResult: number;
  perResultByOperation: Record<string, number>;
  deliverySeconds: number;
  /** The most written items, with their size at the end (bytes; null when the item is gone). */
  hottestItem: { item: string; writes: number; bytes: number | null } | null;
  secondHottest: { item: string; writes: number; bytes: number | null } | null;
  hottestPerSecond: { item: string; writes: number } | null;
  /** The partition key whose items took the most write units in the layer (each write: its item's size, by KB). */
  hottestPartition: { pk: string; writes: number; units: number } | null;
  /** Write units of all the single-item writes of the results (each: its item's size at the end, by KB). */
  resultWriteUnits: number;
  /** Largest item of each kind (bytes, as DynamoDB counts them) and its key. */
  largest: Record<string, { bytes: number; key: string }>;
  /** The largest items of the run, by kind, when the layer was opened (before any result). */
  atOpen: Record<string, { bytes: number; key: string }>;
  /** The run's stage item of the dispatched layer when it was opened. */
  stageItemAtOpen: { bytes: number; key: string } | null;
}

export async function scaleRun(
  runtime: Runtime,
  api: Api,
  counter: DynamoCounter,
  paper: PaperFleet,
  input: { name: string; roles: string[]; graph: GraphTask[]; firstNodeIndex: number; concurrency: number },
): Promise<ScaleResult> {
  const { repos } = runtime;
  const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', {
    name: `${input.name}-${Date.now()}`,
  });
  await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, input.graph);
  await seedNodes(runtime, cluster.id, input.roles, input.firstNodeIndex);

  const runId = await repos.tasks.nextId();
  await repos.tasks.put(
    newRun({
      id: runId,
      uuid: randomUUID(),
      clusterId: cluster.id,
      mode: { force: false, resume: false, scope: 'deploy', nodes: null },
      children: { provision: null, deployment: null },
      message: 'bench: seeded run',
      at: new Date().toISOString(),
    }),
  );

  let from = Date.now();
  const outline = await plan(runtime.context, { taskId: runId });
  const planStep = (Date.now() - from) / 1000;
  const planStepRequests = counter.between(from, Date.now()).filter((r) => r.fn === 'plan').length;

  const rows = await repos.history.rows(runId, 'layers');
  const perLayer = new Map<number, number>();
  for (const row of rows)
    if (row.noop === null) perLayer.set(row.layer ?? 0, (perLayer.get(row.layer ?? 0) ?? 0) + 1);
  const [layer, layerInstances] = [...perLayer].reduce((a, b) => (b[1] > a[1] ? b : a));
  const stage = layerStage(layer);
  if (layer !== 0)
    throw new Error(`the widest layer is ${layer}: the scenario dispatches a first layer only`);

  const token = `bench:${runId}:${stage}:`.padEnd(TOKEN_LENGTH, 'x');
  from = Date.now();
  const sentBefore = paper.sent.length;
  await dispatch(runtime.context, { taskId: runId, stage, token });
  const dispatchSeconds = (Date.now() - from) / 1000;
  const dispatchRequests = counter.between(from, Date.now()).filter((r) => r.fn === 'dispatch').length;
  const ofRun = (item: Item) => item.pk === runPk(runId) || (item.entity === 'task' && item.id === runId);
  const opened = (await scanTable(runtime)).filter(ofRun);
  const atOpen = largestByKind(opened);
  const stageItemAtOpen = largestOf(opened, (item) => String(item.sk).startsWith('STAGE#'));

  const targets = paper.sent
    .slice(sentBefore)
    .flatMap((c) => c.input.instanceIds.map((instanceId) => ({ commandId: c.commandId, instanceId })));
  from = Date.now();
  await inParallel(targets, input.concurrency, (t) =>
    recordResult(runtime.context, { commandId: t.commandId, instanceId: t.instanceId, status: 'Success' }),
  );
  const to = Date.now();
  const delivery = counter.between(from, to).filter((r) => r.fn === 'command-status');
  const summary = summarize(delivery);
  const writesPerItem = new Map<string, number>();
  for (const r of delivery)
    if (r.write && r.item) writesPerItem.set(r.item, (writesPerItem.get(r.item) ?? 0) + 1);
  const ranked = [...writesPerItem].sort((a, b) => b[1] - a[1]);
  const final = await scanTable(runtime);
  const bytesOf = new Map(final.map((item) => [`${item.pk}|${item.sk}`, sizeOf(item)]));
  const at = (i: number) => {
    const entry = ranked[i];
    return entry ? { item: entry[0], writes: entry[1], bytes: bytesOf.get(entry[0]) ?? null } : null;
  };
  const largest = largestByKind(final.filter(ofRun));
  const partitions = new Map<string, { writes: number; units: number }>();
  for (const r of delivery) {
    if (!r.write || r.item === null) continue;
    const pk = r.item.slice(0, r.item.indexOf('|'));
    const p = partitions.get(pk) ?? { writes: 0, units: 0 };
    p.writes++;
    p.units += Math.max(1, Math.ceil((bytesOf.get(r.item) ?? 1) / 1024));
    partitions.set(pk, p);
  }
  const [hotPk, hotPartition] = [...partitions].reduce<
    [string, { writes: number; units: number }] | [null, null]
  >((a, b) => (a[1] === null || b[1].units > a[1].units ? b : a), [null, null]);
  const n = targets.length;
  return {
    nodes: input.roles.length,
    instances: rows.length,
    layers: outline.layers.length,
    planStep,
    planStepRequests,
    layer,
    layerInstances,
    dispatchSeconds,
    dispatchRequests,
    results: n,
    perResult: n > 0 ? delivery.length / n : 0,
    perResultByOperation: Object.fromEntries(
      Object.entries(summary.byOperation).map(([op, c]) => [op, n > 0 ? c / n : 0]),
    ),
    deliverySeconds: (to - from) / 1000,
    hottestItem: at(0),
    secondHottest: at(1),
    hottestPerSecond: hottestWithinOneSecond(delivery),
    hottestPartition: hotPk === null || hotPartition === null ? null : { pk: hotPk, ...hotPartition },
    resultWriteUnits: [...partitions.values()].reduce((n, p) => n + p.units, 0),
    largest,
    atOpen,
    stageItemAtOpen,
  };
}

/**
 * Nodes as discovery and assignment leave them, provisioned, on paper instances: ids from `first` on (far
 * past the runtime's own), offline so that discovery leaves them be. Nothing reads their instance claims.
 */
async function seedNodes(
  runtime: Runtime,
  clusterId: number,
  roles: string[],
  first: number,
): Promise<Node[]> {
  const { nodes } = runtime.repos;
  return inParallel(
    roles.map((role, i) => ({ role, index: first + i })),
    16,
    async ({ role, index }) => {
      const node = provisionedNode({
        id: index,
        instanceId: paperInstanceId(index),
        name: `paper-${index}`,
        ip: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`,
        mac: `52:54:01:${[index >> 16, index >> 8, index].map((b) => (b & 255).toString(16).padStart(2, '0')).join(':')}`,
        role,
        online: false,
        clusterId,
        discoveredAt: new Date().toISOString(),
      });
      await nodes.put(node);
      return node;
    },
  );
}

type Item = Record<string, unknown>;

/** Every item of the runtime's table (a raw scan: not the product's request). */
async function scanTable(runtime: Runtime): Promise<Item[]> {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: runtime.endpoints.dynamodb,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    }),
  );
  try {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: TABLE_NAME, ExclusiveStartKey: start }));
      items.push(...((page.Items ?? []) as Item[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  } finally {
    client.destroy();
  }
}

/** The kind of an item: its `entity`, else the prefix of its sort key (`STAGE`). */
function kindOf(item: Item): string {
  if (typeof item.entity === 'string') return item.entity;
  return String(item.sk).split('#')[0] ?? '?';
}

/** Its size as DynamoDB counts it; a string set counts as its elements (each with a byte of overhead). */
export function sizeOf(item: Item): number {
  const plain = Object.fromEntries(
    Object.entries(item).map(([k, v]) => [k, v instanceof Set ? [...(v as Set<unknown>)] : v]),
  );
  return itemSize(plain);
}

/** The largest item of each kind. */
function largestByKind(items: Item[]): Record<string, { bytes: number; key: string }> {
  const largest: Record<string, { bytes: number; key: string }> = {};
  for (const item of items) {
    const kind = kindOf(item);
    const bytes = sizeOf(item);
    if (!largest[kind] || bytes > (largest[kind]?.bytes ?? 0))
      largest[kind] = { bytes, key: `${item.pk}|${item.sk}` };
  }
  return largest;
}

function largestOf(items: Item[], keep: (item: Item) => boolean): { bytes: number; key: string } | null {
  let best: { bytes: number; key: string } | null = null;
  for (const item of items) {
    if (!keep(item)) continue;
    const bytes = sizeOf(item);
    if (!best || bytes > best.bytes) best = { bytes, key: `${item.pk}|${item.sk}` };
  }
  return best;
}
