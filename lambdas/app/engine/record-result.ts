/**
 * "Record a node's result": an SSM command-status event for one command on one node. The result is read
 * back (GetCommandInvocation), recorded on its history row, the node's status and the run's failure
 * markers follow, and the instance is closed in its batch (stage.ts), which ends the batch and the stage
 * when it was the last one open.
 *
 * The DynamoDB requests of a result: the batch's intent (kept in memory once read: it never changes), the
 * row's move (a write conditional on the row still running: the one guard against a repeated delivery),
 * the node's status for provisioning, the close in the batch's shard; the run is read only when the result
 * is a failure or a cancellation, where its stop state decides what the result means (read fresh, never
 * kept). Once per batch: the last runs of its ready rows, the close in the stage item, the progress.
 */

import { parseComment } from '../../domain/bookkeeping.js';
import {
  cancelledByForcedStop,
  historyStatusOfInvocation,
  recordedOutcome,
} from '../../domain/command-result.js';
import type { RowRef } from '../../domain/history.js';
import { isProvisionStage } from '../../domain/stage.js';
import { isHistoryFinished, isTaskFinished } from '../../domain/status.js';
import { isForced } from '../../domain/stop.js';
import { isClusterNode } from '../../domain/targets.js';
import { type Context, nowIso } from '../ports.js';
import { recordNodeFailure } from './node-failure.js';
import { loadRun } from './run.js';
import { closeInstance } from './stage.js';

export interface CommandStatusInput {
  commandId: string;
  instanceId: string;
  status: string;
}

/** Records a node's result for one command; ends its batch, and the stage, when it was the last one open. */
export async function recordResult(ctx: Context, input: CommandStatusInput): Promise<void> {
  const { repos } = ctx;
  if (historyStatusOfInvocation(input.status) === null) return;
  const invocation = await ctx.commands.invocation(input.commandId, input.instanceId);
  // GetCommandInvocation is eventually consistent: fail so that the event is delivered again
  const final = invocation ? historyStatusOfInvocation(invocation.status) : null;
  if (!invocation || final === null) {
    throw new Error(`The result of ${input.commandId} on ${input.instanceId} is not visible yet`);
  }
  const origin = parseComment(invocation.comment);
  if (!origin) {
    ctx.log('ignored command status', { ...input, reason: 'not a deployment command' });
    return;
  }
  const intent = await repos.bookkeeping.plannedBatch(origin.deployTaskId, origin.stage, origin.batch);
  const target = intent?.targets[input.instanceId];
  if (!intent || !target) {
    ctx.log('ignored command status', { ...input, reason: 'unknown target' });
    return;
  }
  const { deployTaskId, stage } = origin;
  const ref: RowRef = { deployTaskId, stage, taskName: target.taskName, nodeId: target.nodeId };
  // an intent recorded before batches were tracked does not say what its batch runs: its row does
  const task = intent.tracked?.task ?? (await repos.history.getRow(ref));
  if (!task) return;

  // A failure, or a cancellation, means what the run's stop state says now: the run is read for it.
  const run = final === 'error' ? await loadRun(ctx, deployTaskId) : null;
  if (run && isTaskFinished(run.status)) {
    // a late result of a run that already ended (aborted): its statuses are settled
    ctx.log('ignored command status', { ...input, reason: 'the deployment has ended' });
    return;
  }
  const recorded = recordedOutcome(
    invocation,
    { ...ref, failOnError: task.failOnError },
    cancelledByForcedStop(run !== null && isForced(run.stop), invocation.status),
  );
  // The failure markers before the row's move: dependents in later layers must see them even if this Lambda
  // dies right after the move (a delivery retried after a crash redoes them: they are idempotent).
  if (run && recorded.failure !== null && recorded.outcome.errorType !== null) {
    await recordNodeFailure(ctx, run, ref, recorded.outcome.errorType, recorded.failure);
  }
  const patch = {
    ...recorded.outcome,
    // without a start time from SSM, the row keeps the one it was sent with
    timeStart: invocation.startedAt ?? undefined,
    timeEnd: invocation.endedAt ?? nowIso(ctx),
  };
  let moved = await repos.history.moveRow({ ...ref, status: 'running' }, recorded.status, patch);
  if (!moved) {
    // not running: moved by an earlier delivery (or settled), or, unexpectedly, never marked running
    const row = await repos.history.getRow(ref);
    if (row && !isHistoryFinished(row.status))
      moved = await repos.history.moveRow(row, recorded.status, patch);
    if (!moved) {
      if (row === null) return;
      if (isTaskFinished((await loadRun(ctx, deployTaskId)).status)) {
        ctx.log('ignored command status', { ...input, reason: 'the deployment has ended' });
        return;
      }
      // its instance may still be open if that delivery died before closing it
      await closeInstance(ctx, intent, ref.nodeId, row.status === 'ready' && countsAsLastRun(task, ref));
      return;
    }
  }
  const ready = recorded.status === 'ready' && countsAsLastRun(task, ref);
  if (isProvisionStage(stage) && recorded.failure === null) {
    // (a tracked batch forgot the node's last runs when it was sent)
    if (intent.tracked === null) await repos.nodes.forgetLastRuns(ref.nodeId);
    await repos.nodes.update(ref.nodeId, { status: 'provisioned', errorType: null, errorMsg: null });
  }
  if (ready && intent.tracked === null && task.fingerprint !== null) {
    // a batch recorded before batches were tracked records its last runs one result at a time
    await repos.nodes.recordLastRun({
      nodeId: ref.nodeId,
      taskName: ref.taskName,
      fingerprint: task.fingerprint,
      deployTaskId,
    });
  }
  await closeInstance(ctx, intent, ref.nodeId, ready);
}

/** A ready row is recorded as its node's last run of the task when it has a fingerprint, on a cluster node. */
function countsAsLastRun(task: { fingerprint: string | null }, ref: RowRef): boolean {
  return task.fingerprint !== null && isClusterNode(ref.nodeId) && !isProvisionStage(ref.stage);
}
