/**
 * The engine's bookkeeping of a run, under the run's partition next to its history rows: a stage item per
 * provisioning / layer (callback token, outstanding instances), an intent item per SendCommand batch, and
 * failure markers of failed nodes and of failed or blocked task instances.
 */
import { z } from 'zod';
import { type CommandIntent, type Failures, type StageState, UNOPENED_STAGE } from '../domain/bookkeeping.js';
import type { Stage } from '../domain/stage.js';
import { runPk, stageSortKey } from './history.js';
import { held, type Item, type Key, pad, parseItem, type Table } from './table.js';

const FAILURE_PREFIX = 'BAD#';

const stageCodec = {
  key: (runId: number, stage: Stage): Key => ({ pk: runPk(runId), sk: `STAGE#${stageSortKey(stage)}` }),
  fromItem: (item: Item): StageState => ({
    token: typeof item.token === 'string' ? item.token : null,
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

const failureCodec = {
  nodeKey: (runId: number, nodeId: number): Key => ({ pk: runPk(runId), sk: `${FAILURE_PREFIX}N#${nodeId}` }),
  instanceKey: (runId: number, key: string): Key => ({ pk: runPk(runId), sk: `${FAILURE_PREFIX}T#${key}` }),
};

export class DynamoBookkeeping {
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

  /** Records the callback token of a stage and adds instances to its outstanding set. */
  async openStage(runId: number, stage: Stage, token: string, keys: string[]): Promise<void> {
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

  async getStage(runId: number, stage: Stage): Promise<StageState> {
    const item = await this.table.get(stageCodec.key(runId, stage));
    return item ? stageCodec.fromItem(item) : UNOPENED_STAGE;
  }

  async markStageCompleted(runId: number, stage: Stage, token: string): Promise<void> {
    await this.table.update(stageCodec.key(runId, stage), { completedToken: token });
  }

  /**
   * Removes an instance from the stage's outstanding set. Returns the stage after the removal,
   * or null when the instance was not outstanding (already removed by an earlier delivery).
   */
  async closeInstance(runId: number, stage: Stage, key: string): Promise<StageState | null> {
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

  /** Writes a command intent unless one exists; returns the stored intent and whether it is new. */
  async recordIntent(intent: CommandIntent): Promise<{ intent: CommandIntent; created: boolean }> {
    if (await held(this.table.put(intentCodec.toItem(intent), true))) return { intent, created: true };
    const existing = await this.getIntent(intent.deployTaskId, intent.stage, intent.batch);
    if (!existing) throw new Error(`The intent of batch ${intent.batch} of ${intent.stage} vanished`);
    return { intent: existing, created: false };
  }

  async intents(runId: number, stage: Stage): Promise<CommandIntent[]> {
    return (await this.table.query(runPk(runId), intentCodec.prefix(stage))).map(intentCodec.fromItem);
  }

  async getIntent(runId: number, stage: Stage, batch: number): Promise<CommandIntent | null> {
    const item = await this.table.get(intentCodec.key(runId, stage, batch));
    return item ? intentCodec.fromItem(item) : null;
  }

  async setIntentCommand(runId: number, stage: Stage, batch: number, commandId: string): Promise<void> {
    await this.table.update(intentCodec.key(runId, stage, batch), { commandId });
  }
}
