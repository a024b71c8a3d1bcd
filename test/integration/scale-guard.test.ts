/**
 * Regression guard for the figures that must not grow with the fleet (issue 11, point 6), counted, not
 * timed:
 * - DynamoDB requests per node result on the result path (command-status -> record-result), counted on
 *   the real repositories against dynalite;
 * - the bytes of the largest history row, of a layer's stage item, of a command intent and of the run's
 *   task item, for the reference graph planned and dispatched on 1,000 nodes (no fleet: a paper SSM port
 *   lists 1,000 instances and accepts the commands);
 * - Step Functions events per layer: measured on the real state machine by execution-events.test.ts, whose
 *   figures lambdas/domain/plan-limits.ts keeps; the constants are pinned here.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoCounter, type DynamoRequest, hottestItem, summarize } from '../../bench/lib/dynamo-counter.js';
import type {
  InvocationStatus,
  ManagedInstance,
  NodeCommands,
  SendCommandInput,
} from '../../lambdas/app/ports.js';
import { PROGRESS_STEP } from '../../lambdas/domain/bookkeeping.js';
import type { InvocationResult } from '../../lambdas/domain/command-result.js';
import { MAX_INSTANCES_PER_COMMAND } from '../../lambdas/domain/dispatch.js';
import { itemSize } from '../../lambdas/domain/dynamo-limits.js';
import { type GraphTask, validateGraph } from '../../lambdas/domain/graph.js';
import type { Node } from '../../lambdas/domain/model.js';
import { EXECUTION_EVENTS_FIXED, EXECUTION_EVENTS_PER_LAYER } from '../../lambdas/domain/plan-limits.js';
import type { Stage } from '../../lambdas/domain/stage.js';
import { runPk, stageSortKey } from '../../lambdas/store/history.js';
import type { Item } from '../../lambdas/store/table.js';
import { gated, type Harness, newToken, shell, startHarness, waitFor } from '../helpers/engine-harness.js';

/** A Step Functions task token is about this long; the stage item keeps the current one and the last completed. */
const TOKEN_LENGTH = 1024;
const realisticToken = (label: string) => newToken(label).padEnd(TOKEN_LENGTH, 'x');

describe('Step Functions events', () => {
  it('stay a fixed number per layer and besides (execution-events.test.ts measures them)', () => {
    expect(EXECUTION_EVENTS_PER_LAYER).toBeLessThanOrEqual(15);
    expect(EXECUTION_EVENTS_FIXED).toBeLessThanOrEqual(40);
  });
});

describe('DynamoDB requests per node result', () => {
  const counter = new DynamoCounter();
  let h: Harness | null = null;
  afterEach(async () => {
    counter.uninstall();
    if (h) {
      expect(h.deliveryErrors).toEqual([]);
      await h.close();
    }
    h = null;
  });

  /** Requests made while the results of a stage held by `gate` come in, until its token is completed. */
  async function resultRequests(
    harness: Harness,
    taskId: number,
    stage: string,
    gate: string,
  ): Promise<{ requests: DynamoRequest[]; results: number }> {
    const token = newToken(stage);
    const { sent } = await harness.engine.dispatch({ taskId, stage, token });
    counter.take();
    harness.openGate(gate);
    await harness.waitForCompletion(token);
    await harness.settle();
    return { requests: counter.take(), results: sent };
  }

  it('is at most 4 for provisioning and deployment results; only a batch shard is written once per result', async () => {
    // one full batch: a SendCommand reaches at most 50 nodes
    const nodes = MAX_INSTANCES_PER_COMMAND;
    h = await startHarness({ nodeCount: nodes });
    const graph = [
      shell('a', '*', gated('a', 'echo a')),
      shell('b', '*', gated('b', 'echo b'), { requires: ['a'] }),
    ];
    const { deployTask } = await h.setupCluster({
      graph,
      roles: Array.from({ length: nodes }, () => ['compute']),
      attributes: {
        provision: { cmd: { value: gated('provision', 'echo provisioned') }, timeout: { value: 30 } },
      },
    });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    counter.install();

    const writesTo = (requests: DynamoRequest[], item: (sk: string) => boolean) =>
      requests.filter((r) => r.write && r.item !== null && item(r.item.slice(r.item.indexOf('|') + 1)))
        .length;
    const figures: Record<string, { perResult: number; [what: string]: unknown }> = {};
    for (const [stage, gate] of [
      ['provision', 'provision'],
      ['layer-0', 'a'],
      ['layer-1', 'b'],
    ] as const) {
      const { requests, results } = await resultRequests(h, taskId, stage, gate);
      expect(results).toBe(nodes);
      figures[stage] = {
        perResult: requests.length / results,
        byOperation: summarize(requests).byOperation,
        mostWritten: hottestItem(requests),
        stageItemWrites: writesTo(requests, (sk) => sk.startsWith('STAGE#')),
        taskItemWrites: writesTo(requests, (sk) => sk.startsWith('T#')),
      };
    }
    console.log('requests per node result', JSON.stringify(figures));
    for (const [stage, f] of Object.entries(figures)) {
      const said = `${stage}: ${JSON.stringify(f)}`;
      expect(f.perResult, said).toBeLessThanOrEqual(4);
      // the stage item: one close per batch, the completion's claim and its record; each task item (run,
      // stage task): a step of progress every PROGRESS_STEP results and the rest at the batch's end, and
      // provisioning's end
      expect(f.stageItemWrites, said).toBeLessThanOrEqual(1 + 2);
      expect(f.taskItemWrites, said).toBeLessThanOrEqual(2 * (nodes / PROGRESS_STEP) + 1);
      // the one item written once per result is the batch's shard (at most 50 results)
      expect((f.mostWritten as { writes: number } | null)?.writes ?? 0, said).toBeLessThanOrEqual(nodes);
    }
  }, 120_000);
});

/** SSM on paper: lists `count` instances and accepts every command; no result ever comes back. */
class PaperFleet implements NodeCommands {
  readonly sent: SendCommandInput[] = [];
  constructor(private readonly count: number) {}
  async send(input: SendCommandInput): Promise<string> {
    this.sent.push(input);
    return `paper-${this.sent.length}`;
  }
  async findByComment(): Promise<string | null> {
    return null;
  }
  async invocation(): Promise<InvocationResult | null> {
    return null;
  }
  async invocations(): Promise<InvocationStatus[]> {
    return [];
  }
  async cancel(): Promise<void> {}
  async instances(): Promise<ManagedInstance[]> {
    return Array.from({ length: this.count }, (_, i) => ({
      instanceId: `mi-${String(i + 1).padStart(17, '0')}`,
      name: `node-${i + 1}`,
      ip: `10.20.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`,
      online: true,
      platformName: 'Ubuntu',
      platformType: 'Linux',
    }));
  }
}

interface Fixture {
  clusters: Record<string, Record<string, number>>;
  tasks: unknown[];
}

describe('item sizes at 1,000 nodes (reference graph, large-1000 layout)', () => {
  let h: Harness;
  let taskId: number;
  const sizeOf = (item: Item) => itemSize(item);
  const largest = (items: Item[]) =>
    items.reduce<{ sk: string; bytes: number }>(
      (best, item) => (sizeOf(item) > best.bytes ? { sk: String(item.sk), bytes: sizeOf(item) } : best),
      { sk: '', bytes: 0 },
    );

  beforeAll(async () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../fixtures/reference-graph.json', import.meta.url), 'utf8'),
    ) as Fixture;
    const checked = validateGraph(fixture.tasks);
    if (!checked.ok) throw new Error('reference graph invalid');
    const graph: GraphTask[] = checked.tasks;
    const layout = fixture.clusters['large-1000'] ?? {};
    const roles = Object.entries(layout).flatMap(([role, count]) =>
      Array.from({ length: count }, () => [role]),
    );
    expect(roles).toHaveLength(1000);
    const paper = new PaperFleet(roles.length);
    h = await startHarness({ nodeCount: 1, wrapCommands: () => paper });
    const t0 = Date.now();
    const cluster = await h.service.createCluster({ name: 'large', releaseId: 1 });
    await h.service.putGraph(cluster.id, graph);
    // 1,000 node records as discovery and assignment leave them, written side by side
    const instances = await paper.instances();
    const records: Node[] = instances.map((instance, i) => ({
      id: i + 1,
      instanceId: instance.instanceId,
      name: instance.name,
      hostname: instance.name,
      ip: instance.ip,
      mac: `52:54:00:00:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`,
      platformName: instance.platformName,
      osPlatform: 'linux',
      status: 'discover',
      errorType: null,
      errorMsg: null,
      progress: 0,
      roles: roles[i] ?? [],
      pendingRoles: [],
      primaryRoles: [],
      pendingAddition: false,
      pendingDeletion: false,
      online: true,
      clusterId: cluster.id,
      discoveredAt: new Date().toISOString(),
    }));
    for (let i = 0; i < records.length; i += 50)
      await Promise.all(records.slice(i, i + 50).map((n) => h.repos.nodes.put(n)));
    taskId = (await h.service.deployChanges(cluster.id)).id;
    const t1 = Date.now();
    await h.engine.plan({ taskId });
    console.log('setup ms', t1 - t0, 'plan ms', Date.now() - t1);
  }, 300_000);

  afterAll(async () => {
    await h?.close();
  });

  it('a discovery pass over 1,000 known nodes reads them in a few pages, nothing per node', async () => {
    const counter = new DynamoCounter();
    counter.install();
    try {
      const { added, updated } = await h.service.discoverNodes();
      expect({ added, updated }).toEqual({ added: 0, updated: 0 });
      const { byOperation, total } = summarize(counter.take());
      // the node partition in 1 MB pages; no Get of an instance or a node, no write
      expect(Object.keys(byOperation)).toEqual(['Query']);
      expect(total).toBeLessThanOrEqual(3);
    } finally {
      counter.uninstall();
    }
  });

  it('history rows stay small however many nodes', async () => {
    const rows = await h.table.query(runPk(taskId), 'ROW#');
    expect(rows.length).toBeGreaterThan(1000);
    const row = largest(rows);
    console.log('largest history row', JSON.stringify(row));
    expect(row.bytes, row.sk).toBeLessThan(2048);
  });

  it("the stage item of the largest layer, its intents and the run's item stay small", async () => {
    const rows = await h.rows(taskId, 'layers');
    const perLayer = new Map<string, number>();
    for (const r of rows) if (r.noop === null) perLayer.set(r.stage, (perLayer.get(r.stage) ?? 0) + 1);
    const [stage, instances] = [...perLayer].sort((a, b) => b[1] - a[1])[0] as [string, number];
    expect(instances).toBeGreaterThanOrEqual(950);
    const sending = Date.now();
    await h.engine.dispatch({ taskId, stage, token: realisticToken(stage) });
    console.log('dispatch of', instances, 'instances, ms', Date.now() - sending);
    await waitFor(
      'rows running',
      () => h.rows(taskId, stage as never),
      (list) => list.some((r) => r.status === 'running'),
    );
    const all = await h.table.query(runPk(taskId));
    const stageItems = all.filter((i) => String(i.sk).startsWith('STAGE#'));
    const intents = all.filter((i) => String(i.sk).startsWith('CMD#'));
    const runItem = await h.table.get({ pk: 'TASK', sk: `T#${String(taskId).padStart(10, '0')}` });
    const figures = {
      stage,
      instances,
      stageItem: largest(stageItems),
      intent: largest(intents),
      runItem: runItem ? sizeOf(runItem) : 0,
      // every item of the run's partition: rows, bookkeeping, the plan's chunks
      largestOfRun: largest(all),
    };
    console.log('item sizes', JSON.stringify(figures));

    // a watchdog round while the layer runs reads its batches' shards and intents, never its 1,000 rows
    const counter = new DynamoCounter().install();
    try {
      await h.engine.watchdog();
    } finally {
      counter.uninstall();
    }
    const queries = counter.take().flatMap((r) => (r.query === null ? [] : [r.query]));
    expect(queries.filter((q) => q.includes('|ROW#'))).toEqual([]);
    expect(queries).toContain(`${runPk(taskId)}|OPEN#${stageSortKey(stage as Stage)}`);
    expect(figures.stageItem.bytes).toBeLessThan(4 * 1024);
    expect(figures.intent.bytes).toBeLessThan(8 * 1024);
    expect(figures.runItem).toBeLessThan(8 * 1024);
    expect(figures.largestOfRun.bytes, figures.largestOfRun.sk).toBeLessThan(32 * 1024);
  }, 120_000);
});
