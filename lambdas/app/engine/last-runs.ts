/**
 * The last successful run of each task on each node, recorded when a batch's results are all in (its ready
 * rows), or by Finish for the batches that never ended. A later "Deploy changes" skips what a node last ran
 * with the same inputs.
 */
import type { BatchShard, CommandIntent } from '../../domain/bookkeeping.js';
import type { Stage } from '../../domain/stage.js';
import type { Context } from '../ports.js';

/**
 * The last runs of the ready rows of batches that never ended (a run that ended with commands unanswered):
 * recorded by Finish, as their batches' ends would have.
 */
export async function recordLastRunsOfOpenBatches(
  ctx: Context,
  runId: number,
  stages: Stage[],
): Promise<void> {
  for (const stage of stages) {
    const shards = await ctx.repos.bookkeeping.shards(runId, stage);
    const unended = [...shards].filter(([, shard]) => shard.open.length > 0 && shard.ready.length > 0);
    if (unended.length === 0) continue;
    const intents = new Map((await ctx.repos.bookkeeping.intents(runId, stage)).map((i) => [i.batch, i]));
    for (const [batch, shard] of unended) {
      const intent = intents.get(batch);
      if (intent) await recordLastRuns(ctx, intent, shard);
    }
  }
}

/** The last runs of a batch's rows that ended ready (each node's last successful run of the batch's task). */
export async function recordLastRuns(ctx: Context, intent: CommandIntent, shard: BatchShard): Promise<void> {
  const fingerprint = intent.tracked?.task.fingerprint;
  if (!fingerprint || shard.ready.length === 0) return;
  const ready = new Set(shard.ready);
  await ctx.repos.nodes.recordLastRuns(
    Object.values(intent.targets)
      .filter((t) => ready.has(t.nodeId))
      .map((t) => ({
        nodeId: t.nodeId,
        taskName: t.taskName,
        fingerprint,
        deployTaskId: intent.deployTaskId,
      })),
  );
}
