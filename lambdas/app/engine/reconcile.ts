/**
 * Reconciliation instead of hope. SSM's status events reach the command-status function best-effort, and an
 * execution's end reaches the execution-ended function best-effort: the watchdog asks instead.
 * - Results: for the commands of a run that have not reported for a while, one `ListCommandInvocations` per
 *   command (a few at a time); each finished invocation is recorded through the same idempotent path as its
 *   event (record-result.ts).
 * - Stages: a stage whose results are all in but whose end was lost (endStageIfAllIn) is ended.
 * - Executions: a run whose execution is no longer `RUNNING` (`DescribeExecution`), or no longer exists, is
 *   finished as its execution-ended event would have finished it.
 */
import { tokenToComplete } from '../../domain/bookkeeping.js';
import { historyStatusOfInvocation } from '../../domain/command-result.js';
import type { DeploymentRun } from '../../domain/task.js';
import { inParallel, SSM_CALLS_AT_ONCE } from '../parallel.js';
import type { Context } from '../ports.js';
import { commandsOf, runningRows } from '../stop/undelivered.js';
import { executionEnded } from './execution-ended.js';
import { finish } from './finish.js';
import { recordResult } from './record-result.js';
import { completeStage, endBatch } from './stage.js';

/** A command whose result has not been recorded this long after it was sent is asked about. */
export const RESULT_QUIET_MS = 15_000;

/** Records the results SSM has and the run has not; returns how many it recorded. */
export async function reconcileResults(ctx: Context, run: DeploymentRun): Promise<number> {
  const quietSince = ctx.clock.now().getTime() - RESULT_QUIET_MS;
  const commands = await quietCommands(ctx, run.id, quietSince);
  if (commands.length === 0) return 0;
  const counts = await inParallel(commands, SSM_CALLS_AT_ONCE, async ({ commandId, instanceIds }) => {
    const wanted = new Set(instanceIds);
    let recorded = 0;
    for (const invocation of await ctx.commands.invocations(commandId)) {
      if (!wanted.has(invocation.instanceId) || historyStatusOfInvocation(invocation.status) === null)
        continue;
      try {
        await recordResult(ctx, {
          commandId,
          instanceId: invocation.instanceId,
          status: invocation.status,
        });
        recorded++;
      } catch (err) {
        // not visible yet through GetCommandInvocation: the next round asks again
        ctx.log('reconciling a result failed', { taskId: run.id, commandId, error: String(err) });
      }
    }
    return recorded;
  });
  const recorded = counts.reduce((a, n) => a + n, 0);
  if (recorded > 0) ctx.log('recorded results whose events never came', { taskId: run.id, recorded });
  return recorded;
}

/**
 * The commands of the running stage that have been quiet since `quietSince` (sent before it, and no result of
 * their batch recorded after it), with the instances whose results are not recorded yet: from the batches' shards (a few hundred bytes each) and intents, never the stage's rows,
 * which a 1,000-node layer makes a megabyte. A stage recorded before batches were tracked is read from its
 * rows, as it was written.
 */
async function quietCommands(
  ctx: Context,
  runId: number,
  quietSince: number,
): Promise<{ commandId: string; instanceIds: string[] }[]> {
  const { bookkeeping } = ctx.repos;
  const stage = await bookkeeping.currentStage(runId);
  if (stage === null) return [];
  const shards = await bookkeeping.shards(runId, stage);
  const intents = [...shards.values()].some((s) => s.open.length > 0)
    ? await bookkeeping.intents(runId, stage)
    : [];
  if (intents.some((i) => i.tracked === null) || (shards.size === 0 && intents.length === 0)) {
    const quiet = (await runningRows(ctx, runId)).filter(
      (r) => r.timeStart !== null && Date.parse(r.timeStart) <= quietSince,
    );
    return quiet.length === 0 ? [] : commandsOf(ctx, runId, quiet);
  }
  return intents.flatMap((intent) => {
    const shard = shards.get(intent.batch);
    const open = new Set(shard?.open ?? []);
    // a batch whose results still come in is not quiet: its other events are on their way
    const heardAt = Math.max(Date.parse(intent.createdAt), Date.parse(shard?.closedAt ?? '') || 0);
    if (intent.commandId === null || open.size === 0 || heardAt > quietSince) return [];
    const instanceIds = Object.entries(intent.targets)
      .filter(([, t]) => open.has(t.nodeId))
      .map(([instanceId]) => instanceId);
    return instanceIds.length > 0 ? [{ commandId: intent.commandId, instanceIds }] : [];
  });
}

/**
 * The stage running, when all its results are in but its end was lost: a Lambda died after emptying a batch
 * (or after claiming the completion) and no delivery came again. Its emptied batches are ended, and its
 * token completed (a claim of the completion is taken over once it is COMPLETION_CLAIM_MS old); true if it
 * did something.
 */
export async function endStageIfAllIn(ctx: Context, run: DeploymentRun): Promise<boolean> {
  const { bookkeeping } = ctx.repos;
  const stage = await bookkeeping.currentStage(run.id);
  if (stage === null) return false;
  const state = await bookkeeping.getStage(run.id, stage);
  if (state.token === null || state.completedToken === state.token) return false;
  if (state.openBatches.length > 0) {
    const shards = await bookkeeping.shards(run.id, stage);
    const emptied = state.openBatches.filter((b) => shards.get(b)?.open.length === 0);
    if (emptied.length === 0) return false;
    const intents = new Map((await bookkeeping.intents(run.id, stage)).map((i) => [i.batch, i]));
    for (const batch of emptied) {
      const intent = intents.get(batch);
      const shard = shards.get(batch);
      if (intent && shard) await endBatch(ctx, intent, shard);
    }
    return true;
  }
  const token = tokenToComplete(state);
  if (token === null) return false;
  await completeStage(ctx, run.id, stage, token);
  return true;
}

/** A run whose execution has ended (or is gone) without finishing it is finished here; true if it was. */
export async function settleIfExecutionEnded(ctx: Context, run: DeploymentRun): Promise<boolean> {
  if (run.executionArn === null || run.status !== 'running') return false;
  const execution = await ctx.workflows.execution(run.uuid);
  const status = execution?.status ?? null;
  if (status === 'RUNNING') return false;
  ctx.log('settling a deployment whose execution is not running', { taskId: run.id, execution: status });
  if (status === 'SUCCEEDED') {
    // its Finish step answered, so the run is settled or settling: finish again (idempotent) to be sure
    await finish(ctx, { taskId: run.id, failure: null });
    return true;
  }
  // the same words as the execution's own status-change event would have brought
  const { finished } = await executionEnded(ctx, {
    status: status ?? 'ABORTED',
    input: JSON.stringify({ taskId: run.id }),
    error: execution?.error ?? null,
    cause:
      execution === null
        ? 'its execution no longer exists (lost with the Step Functions endpoint)'
        : execution.cause,
  });
  return finished;
}
