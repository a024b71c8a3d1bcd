/**
 * The end of a stage. Each batch (one SendCommand, at most 50 nodes) has a shard that holds its open
 * instances; a result closes its instance there. The close that empties a shard ends the batch: the last
 * runs of its ready rows are recorded and the batch is removed from the stage's open batches. The end of
 * the last batch ends the stage: provisioning's task ends and the state machine's callback token is
 * completed, so that the next layer (or the finish) runs.
 *
 * Every close is a conditional write, so a delivery repeated or retried never counts twice; a delivery
 * retried after its Lambda died between two of these writes finds the batch emptied and ends it.
 * Progress: the batch's rows count in the run's and its stage task's `done` every PROGRESS_STEP results and
 * when the batch ends, not once per result.
 */
import {
  type BatchShard,
  type CommandIntent,
  isStageAllIn,
  progressAtEnd,
  progressStepAt,
  tokenToComplete,
} from '../../domain/bookkeeping.js';
import { provisioningMessage } from '../../domain/messages.js';
import { allDone, workProgress } from '../../domain/settlement.js';
import { instanceKey, isProvisionStage, type Stage } from '../../domain/stage.js';
import { type Context, nowIso } from '../ports.js';
import { finishIfStopping } from './finish.js';
import { recordLastRuns } from './last-runs.js';
import { loadRun } from './run.js';

/** A claim of a stage's completion this old is taken to be of a Lambda that died before completing. */
export const COMPLETION_CLAIM_MS = 60_000;

/**
 * Every command of the stage has reported: provisioning ends here; the state machine moves on. Whoever sees
 * the stage all in may call it (the last result, a retried delivery, a dispatch): the token is completed by
 * the one that claims it.
 */
export async function completeStage(ctx: Context, runId: number, stage: Stage, token: string): Promise<void> {
  const now = ctx.clock.now();
  const stale = new Date(now.getTime() - COMPLETION_CLAIM_MS).toISOString();
  if (!(await ctx.repos.bookkeeping.claimCompletion(runId, stage, token, now.toISOString(), stale))) return;
  if (isProvisionStage(stage)) {
    const run = await loadRun(ctx, runId);
    if (run.children.provision !== null) {
      const rows = await ctx.repos.history.rows(runId, stage);
      // provisioning that a stop kept from some nodes did not finish: it does not read `ready`
      await ctx.repos.tasks.finish(run.children.provision, {
        status: allDone(rows) ? 'ready' : 'error',
        progress: workProgress(rows),
        timeEnd: nowIso(ctx),
        message: provisioningMessage(rows),
      });
    }
  }
  // a stopping run has nothing left running: it is settled now, not after the execution's next stop check
  await finishIfStopping(ctx, runId);
  await ctx.workflows.complete(token, { stage });
  await ctx.repos.bookkeeping.markStageCompleted(runId, stage, token);
}

/** Rows of a run that finished: counted in the run's and its stage task's progress. */
export async function addProgress(
  ctx: Context,
  runId: number,
  stageTaskId: number | null,
  rows: number,
): Promise<void> {
  if (rows <= 0) return;
  await ctx.repos.tasks.addDone(runId, rows);
  if (stageTaskId !== null) await ctx.repos.tasks.addDone(stageTaskId, rows);
}

/** The stage task a stage's rows count in, from the run (for intents recorded before they named it). */
async function stageTaskOf(ctx: Context, runId: number, stage: Stage): Promise<number | null> {
  const run = await loadRun(ctx, runId);
  return isProvisionStage(stage) ? run.children.provision : run.children.deployment;
}

/**
 * A target of a batch has its result (its row has moved to its final status): it is no longer open; the
 * last one ends the batch, the last batch the stage. `ready`: the row ended ready with a fingerprint, on a
 * cluster node (its last run is recorded when the batch ends). Idempotent.
 */
export async function closeInstance(
  ctx: Context,
  intent: CommandIntent,
  nodeId: number,
  ready: boolean,
): Promise<void> {
  const { deployTaskId: runId, stage, batch } = intent;
  const { bookkeeping } = ctx.repos;
  if (intent.tracked === null) {
    await closeLegacyInstance(ctx, intent, nodeId);
    return;
  }
  const size = Object.keys(intent.targets).length;
  const shard = await bookkeeping.closeInstance(runId, stage, batch, nodeId, ready, nowIso(ctx));
  if (shard !== null) {
    await addProgress(ctx, runId, intent.tracked.stageTaskId, progressStepAt(size - shard.open.length, size));
    if (shard.open.length === 0) await endBatch(ctx, intent, shard);
    return;
  }
  // Closed by an earlier delivery. If that one died before it ended the batch (or the stage), end them now.
  const current = await bookkeeping.getShard(runId, stage, batch);
  if (current === null || current.open.length > 0) return;
  const state = await bookkeeping.getStage(runId, stage);
  if (state.openBatches.includes(batch)) {
    await endBatch(ctx, intent, current);
    return;
  }
  const token = tokenToComplete(state);
  if (token !== null) await completeStage(ctx, runId, stage, token);
}

/**
 * Every target of the batch has reported: the last runs of its ready rows are recorded, then the batch is
 * closed in the stage (once: a conditional write); the close that leaves no batch open completes the stage.
 */
export async function endBatch(ctx: Context, intent: CommandIntent, shard: BatchShard): Promise<void> {
  const { deployTaskId: runId, stage, batch } = intent;
  await recordLastRuns(ctx, intent, shard);
  const state = await ctx.repos.bookkeeping.closeBatch(runId, stage, batch);
  if (state === null) return;
  await addProgress(
    ctx,
    runId,
    intent.tracked?.stageTaskId ?? null,
    progressAtEnd(Object.keys(intent.targets).length),
  );
  if (isStageAllIn(state) && state.token) await completeStage(ctx, runId, stage, state.token);
}

/** The close of an instance of an intent recorded before batches were tracked: every key in the stage item. */
async function closeLegacyInstance(ctx: Context, intent: CommandIntent, nodeId: number): Promise<void> {
  const { deployTaskId: runId, stage } = intent;
  const target = Object.values(intent.targets).find((t) => t.nodeId === nodeId);
  if (!target) return;
  const state = await ctx.repos.bookkeeping.closeLegacyInstance(
    runId,
    stage,
    instanceKey(target.taskName, nodeId),
  );
  if (state !== null) {
    await addProgress(ctx, runId, await stageTaskOf(ctx, runId, stage), 1);
    if (isStageAllIn(state) && state.token) await completeStage(ctx, runId, stage, state.token);
    return;
  }
  const token = tokenToComplete(await ctx.repos.bookkeeping.getStage(runId, stage));
  if (token !== null) await completeStage(ctx, runId, stage, token);
}

/** Closes the instances of rows whose batches are not at hand (a stop giving up on them): found among their stages' intents. */
export async function closeRows(
  ctx: Context,
  rows: { deployTaskId: number; stage: Stage; taskName: string; nodeId: number }[],
): Promise<void> {
  const intentsOf = new Map<string, Promise<CommandIntent[]>>();
  for (const row of rows) {
    const at = `${row.deployTaskId}/${row.stage}`;
    const intents = intentsOf.get(at) ?? ctx.repos.bookkeeping.intents(row.deployTaskId, row.stage);
    intentsOf.set(at, intents);
    const intent = (await intents).find((i) =>
      Object.values(i.targets).some((t) => t.nodeId === row.nodeId && t.taskName === row.taskName),
    );
    if (intent) await closeInstance(ctx, intent, row.nodeId, false);
  }
}
