/**
 * The engine's bookkeeping of a run, under the run's partition next to its history rows: a stage item per
 * provisioning / layer (callback token, the batches still open), an intent item per SendCommand batch (its
 * targets, never changed once recorded but for the command id), a shard item per batch (the batch's open
 * instances, as node ids), and failure markers of failed nodes and of failed or blocked task instances.
 *
 * No item grows with the fleet: a batch holds at most 50 nodes, a layer at most MAX_COMMANDS_PER_LAYER
 * batches. A result writes its batch's shard; only the last result of a batch writes the stage item.
 * Stage items written before batches were tracked keep every instance key in `outstanding`; they are read
 * and closed as they were written (an in-flight deployment across an upgrade).
 */
import { z } from 'zod';
import {
  type BatchShard,
  type CommandIntent,
  type Failures,
  type StageState,
  UNOPENED_STAGE,
} from '../domain/bookkeeping.js';
import { layerStage, PROVISION_STAGE, type Stage } from '../domain/stage.js';
import { runPk, stageSortKey } from './history.js';
import { held, type Item, type Key, pad, parseItem, type Table } from './table.js';

const FAILURE_PREFIX = 'BAD#';

const numbers = (value: unknown): number[] =>
  value instanceof Set ? [...(value as Set<unknown>)].map(Number).sort((a, b) => a - b) : [];

const stageCodec = {
  key: (runId: number, stage: Stage): Key => ({ pk: runPk(runId), sk: `STAGE#${stageSortKey(stage)}` }),
  fromItem: (item: Item): StageState => ({
    token: typeof item.token === 'string' ? item.token : null,
    openBatches: numbers(item.openBatches),
    outstanding: item.outstanding instanceof Set ? [...(item.outstanding as Set<string>)] : [],
    planned: item.planned === true,
    completedToken: typeof item.completedToken === 'string' ? item.completedToken : null,
  }),
};

const intentSchema = z.object({
  deployTaskId: z.number().int(),
  stage: z.string().regex(/^(provision|layer-\d+)$/) as unknown as z.ZodType<Stage>,
  batch: z.number().int(),
  comment: z.string(),
  commandId: z.string().nullable(),
  targets: z.record(z.string(), z.object({ taskName: z.string(), nodeId: z.number().int() })),
  createdAt: z.string(),
  // intents recorded before batches were tracked have none
  tracked: z
    .object({
      task: z.object({ failOnError: z.boolean(), fingerprint: z.string().nullable() }),
      stageTaskId: z.number().int().nullable(),
    })
    .nullable()
    .default(null),
});

const intentCodec = {
  prefix: (stage: Stage): string => `CMD#${stageSortKey(stage)}`,
  key: (runId: number, stage: Stage, batch: number): Key => ({
    pk: runPk(runId),
    sk: `${intentCodec.prefix(stage)}${pad(batch, 5)}`,
  }),
  toItem: (intent: CommandIntent): Item => ({
    ...intentCodec.key(intent.deployTaskId, intent.stage, intent.batch),
    entity: 'intent',
    ...intent,
  }),
  fromItem: (item: Item): CommandIntent => parseItem(intentSchema, item),
};

/** A batch's shard: the node ids of its targets whose result is not recorded yet, and those ready. */
const shardCodec = {
  prefix: (stage: Stage): string => `OPEN#${stageSortKey(stage)}`,
  key: (runId: number, stage: Stage, batch: number): Key => ({
    pk: runPk(runId),
    sk: `${shardCodec.prefix(stage)}${pad(batch, 5)}`,
  }),
  toItem: (intent: CommandIntent): Item => ({
    ...shardCodec.key(intent.deployTaskId, intent.stage, intent.batch),
    entity: 'shard',
    open: new Set(Object.values(intent.targets).map((t) => t.nodeId)),
  }),
  fromItem: (item: Item): BatchShard => ({
    open: numbers(item.open),
    ready: numbers(item.ready),
    closedAt: typeof item.closedAt === 'string' ? item.closedAt : null,
  }),
};

const failureCodec = {
  nodeKey: (runId: number, nodeId: number): Key => ({ pk: runPk(runId), sk: `${FAILURE_PREFIX}N#${nodeId}` }),
  instanceKey: (runId: number, key: string): Key => ({ pk: runPk(runId), sk: `${FAILURE_PREFIX}T#${key}` }),
};

/** Intents kept in memory for the function's lifetime: their targets and task never change once recorded. */
const INTENTS_KEPT = 2000;

export class DynamoBookkeeping {
  private readonly planned = new Map<string, Promise<CommandIntent | null>>();

  constructor(private readonly table: Table) {}

  /** Marks a node, or a task instance (`task@node`), as failed in this run. */
  async markFailed(runId: number, failure: { nodeId: number } | { instanceKey: string }, reason: string) {
    const key =
      'nodeId' in failure
        ? failureCodec.nodeKey(runId, failure.nodeId)
        : failureCodec.instanceKey(runId, failure.instanceKey);
    await this.table.put({ ...key, entity: 'failure', reason });
  }

  async failures(runId: number): Promise<Failures> {
    const nodes = new Map<number, string>();
    const instances = new Map<string, string>();
    for (const item of await this.table.query(runPk(runId), FAILURE_PREFIX)) {
      const sk = String(item.sk).slice(FAILURE_PREFIX.length);
      const reason = String(item.reason ?? '');
      if (sk.startsWith('N#')) nodes.set(Number(sk.slice(2)), reason);
      else instances.set(sk.slice(2), reason);
    }
    return { nodes, instances };
  }

  /**
   * Records the callback token of a stage and, the first time, its batches as open (a dispatch retried with
   * a new token must not reopen batches that have ended). Returns the stage after the write.
   */
  async openStage(runId: number, stage: Stage, token: string, batches: number[]): Promise<StageState> {
    const key = stageCodec.key(runId, stage);
    let out: Item | null = null;
    const first = await held(
      this.table
        .updateExpression(
          key,
          batches.length > 0
            ? 'SET #t = :t, planned = :yes, batchesOpened = :yes ADD openBatches :b'
            : 'SET #t = :t, planned = :yes, batchesOpened = :yes',
          {
            condition: 'attribute_not_exists(batchesOpened)',
            names: { '#t': 'token' },
            values: {
              ':t': token,
              ':yes': true,
              ...(batches.length > 0 ? { ':b': new Set(batches) } : {}),
            },
          },
        )
        .then((item) => {
          out = item;
        }),
    );
    if (first && out) return stageCodec.fromItem(out);
    return stageCodec.fromItem(await this.table.update(key, { token }));
  }

  /**
   * Takes the completion of a stage's token: true for the one caller that may complete it. Not taken again
   * once completed; a claim older than `staleBefore` (its holder died before completing) may be taken over.
   */
  async claimCompletion(
    runId: number,
    stage: Stage,
    token: string,
    at: string,
    staleBefore: string,
  ): Promise<boolean> {
    return held(
      this.table.update(
        stageCodec.key(runId, stage),
        { completingToken: token, completingAt: at },
        {
          expr: '(attribute_not_exists(completedToken) OR completedToken <> :t) AND (attribute_not_exists(completingToken) OR completingToken <> :t OR completingAt < :stale)',
          values: { ':t': token, ':stale': staleBefore },
        },
      ),
    );
  }

  /** As openStage, for a stage whose intents were recorded before batches were tracked: every key in the item. */
  async openLegacyStage(runId: number, stage: Stage, token: string, keys: string[]): Promise<void> {
    const add = keys.length > 0;
    await this.table.updateExpression(
      stageCodec.key(runId, stage),
      add ? 'SET #t = :t, planned = :yes ADD outstanding :k' : 'SET #t = :t, planned = :yes',
      {
        names: { '#t': 'token' },
        values: add ? { ':t': token, ':yes': true, ':k': new Set(keys) } : { ':t': token, ':yes': true },
      },
    );
  }

  /**
   * The stage opened last (the one running: a stage opens only once the one before it is all in), or null
   * before the first opens. Layers sort by index; provisioning comes before them.
   */
  async currentStage(runId: number): Promise<Stage | null> {
    const prefix = 'STAGE#L';
    const { items } = await this.table.queryPage(
      { pk: runPk(runId), prefix, after: null, forward: false },
      1,
      (read) => read,
    );
    const latest = items[0];
    if (latest) return layerStage(Number(String(latest.sk).slice(prefix.length, -1)));
    return (await this.table.get(stageCodec.key(runId, PROVISION_STAGE))) ? PROVISION_STAGE : null;
  }

  /**
   * Where the run is, for its progress: the stage opened last and, by target, its instances still open in
   * that stage's shards; null before the first stage opens. (Runs whose stages kept `outstanding` keys were
   * planned before their progress was derived: they are not read so.)
   */
  async openInstances(runId: number): Promise<{ stage: Stage; open: Map<number, number> } | null> {
    const stage = await this.currentStage(runId);
    if (stage === null) return null;
    const open = new Map<number, number>();
    for (const shard of (await this.shards(runId, stage)).values())
      for (const target of shard.open) open.set(target, (open.get(target) ?? 0) + 1);
    return { stage, open };
  }

  async getStage(runId: number, stage: Stage): Promise<StageState> {
    const item = await this.table.get(stageCodec.key(runId, stage));
    return item ? stageCodec.fromItem(item) : UNOPENED_STAGE;
  }

  async markStageCompleted(runId: number, stage: Stage, token: string): Promise<void> {
    await this.table.update(stageCodec.key(runId, stage), { completedToken: token });
  }

  /**
   * Closes a node's instance in its batch's shard (and notes it ready). Returns the shard after the write, or
   * null when the instance was not open (closed by an earlier delivery).
   */
  async closeInstance(
    runId: number,
    stage: Stage,
    batch: number,
    nodeId: number,
    ready: boolean,
    at: string,
  ): Promise<BatchShard | null> {
    let out: Item | null = null;
    const closed = await held(
      this.table
        .updateExpression(
          shardCodec.key(runId, stage, batch),
          ready ? 'SET closedAt = :at DELETE #open :n ADD #ready :n' : 'SET closedAt = :at DELETE #open :n',
          {
            condition: 'contains(#open, :id)',
            names: ready ? { '#open': 'open', '#ready': 'ready' } : { '#open': 'open' },
            values: { ':n': new Set([nodeId]), ':id': nodeId, ':at': at },
          },
        )
        .then((item) => {
          out = item;
        }),
    );
    return closed && out ? shardCodec.fromItem(out) : null;
  }

  /** The shards of a stage's batches, by batch. */
  async shards(runId: number, stage: Stage): Promise<Map<number, BatchShard>> {
    const prefix = shardCodec.prefix(stage);
    const items = await this.table.query(runPk(runId), prefix);
    return new Map(
      items.map((item) => [Number(String(item.sk).slice(prefix.length)), shardCodec.fromItem(item)]),
    );
  }

  async getShard(runId: number, stage: Stage, batch: number): Promise<BatchShard | null> {
    const item = await this.table.get(shardCodec.key(runId, stage, batch));
    return item ? shardCodec.fromItem(item) : null;
  }

  /**
   * Removes a batch whose instances have all reported from the stage's open batches. Returns the stage after
   * the removal, or null when the batch was not open (removed earlier, or the stage not opened yet).
   */
  async closeBatch(runId: number, stage: Stage, batch: number): Promise<StageState | null> {
    let out: Item | null = null;
    const removed = await held(
      this.table
        .updateExpression(stageCodec.key(runId, stage), 'DELETE openBatches :b', {
          condition: 'contains(openBatches, :batch)',
          values: { ':b': new Set([batch]), ':batch': batch },
        })
        .then((item) => {
          out = item;
        }),
    );
    return removed && out ? stageCodec.fromItem(out) : null;
  }

  /** Removes an instance key from a legacy stage's outstanding set; as closeBatch otherwise. */
  async closeLegacyInstance(runId: number, stage: Stage, key: string): Promise<StageState | null> {
    let out: Item | null = null;
    const removed = await held(
      this.table
        .updateExpression(stageCodec.key(runId, stage), 'DELETE outstanding :k', {
          condition: 'contains(outstanding, :key)',
          values: { ':k': new Set([key]), ':key': key },
        })
        .then((item) => {
          out = item;
        }),
    );
    return removed && out ? stageCodec.fromItem(out) : null;
  }

  /**
   * Writes a command intent unless one exists, and its batch's shard with every target open (a tracked
   * intent); returns the stored intent and whether it is new.
   */
  async recordIntent(intent: CommandIntent): Promise<{ intent: CommandIntent; created: boolean }> {
    const created = await held(this.table.put(intentCodec.toItem(intent), true));
    const stored = created ? intent : await this.getIntent(intent.deployTaskId, intent.stage, intent.batch);
    if (!stored) throw new Error(`The intent of batch ${intent.batch} of ${intent.stage} vanished`);
    // the shard may be missing after a crash between the two writes; nothing can have closed it yet, since
    // no command of the stage is sent before every intent is recorded
    if (stored.tracked) await held(this.table.put(shardCodec.toItem(stored), true));
    return { intent: stored, created };
  }

  async intents(runId: number, stage: Stage): Promise<CommandIntent[]> {
    return (await this.table.query(runPk(runId), intentCodec.prefix(stage))).map(intentCodec.fromItem);
  }

  async getIntent(runId: number, stage: Stage, batch: number): Promise<CommandIntent | null> {
    const item = await this.table.get(intentCodec.key(runId, stage, batch));
    return item ? intentCodec.fromItem(item) : null;
  }

  /**
   * A batch's intent for its targets and task, which never change once recorded: read once and kept for
   * the function's lifetime. Its `commandId` may be stale (read it with getIntent).
   */
  async plannedBatch(runId: number, stage: Stage, batch: number): Promise<CommandIntent | null> {
    const key = `${runId}/${stage}/${batch}`;
    const kept = this.planned.get(key);
    if (kept) return kept;
    // the results of a batch come in together: they share one read
    const read = this.getIntent(runId, stage, batch);
    if (this.planned.size >= INTENTS_KEPT) {
      const oldest = this.planned.keys().next().value;
      if (oldest !== undefined) this.planned.delete(oldest);
    }
    this.planned.set(key, read);
    const intent = await read.catch((err: unknown) => {
      this.planned.delete(key);
      throw err;
    });
    if (!intent) this.planned.delete(key);
    return intent;
  }

  async setIntentCommand(runId: number, stage: Stage, batch: number, commandId: string): Promise<void> {
    await this.table.update(intentCodec.key(runId, stage, batch), { commandId });
  }
}
