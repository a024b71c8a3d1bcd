/**
 * "Record a node's result": an SSM command-status event for one command on one node. The result is read
 * back (GetCommandInvocation), recorded on its history row, the node's status and the run's failure
 * markers follow, and the stage completes when it was the last instance outstanding.
 */

import { parseComment } from '../../domain/bookkeeping.js';
import {
  cancelledByForcedStop,
  historyStatusOfInvocation,
  recordedOutcome,
} from '../../domain/command-result.js';
import { isProvisionStage, rowKey } from '../../domain/stage.js';
import { isTaskFinished } from '../../domain/status.js';
import { isForced } from '../../domain/stop.js';
import { isClusterNode } from '../../domain/targets.js';
import { type Context, nowIso } from '../ports.js';
import { recordNodeFailure } from './node-failure.js';
import { countDone, loadRun } from './run.js';
import { closeInstance, completeStage } from './stage.js';

export interface CommandStatusInput {
  commandId: string;
  instanceId: string;
  status: string;
}

/** Records a node's result for one command; completes the stage when it was the last one outstanding. */
export async function recordResult(ctx: Context, input: CommandStatusInput): Promise<void> {
  const { repos } = ctx;
  if (historyStatusOfInvocation(input.status) === null) return;
  const invocation = await ctx.commands.invocation(input.commandId, input.instanceId);
  // GetCommandInvocation is eventually consistent: fail so that the event is delivered again
  if (!invocation || historyStatusOfInvocation(invocation.status) === null) {
    throw new Error(`The result of ${input.commandId} on ${input.instanceId} is not visible yet`);
  }
  const origin = parseComment(invocation.comment);
  if (!origin) {
    ctx.log('ignored command status', { ...input, reason: 'not a deployment command' });
    return;
  }
  const intent = await repos.bookkeeping.getIntent(origin.deployTaskId, origin.stage, origin.batch);
  const target = intent?.targets[input.instanceId];
  if (!intent || !target) {
    ctx.log('ignored command status', { ...input, reason: 'unknown target' });
    return;
  }
  const { deployTaskId, stage } = origin;
  const run = await loadRun(ctx, deployTaskId);
  if (isTaskFinished(run.status)) {
    // a late result of a run that already ended (aborted): its statuses are settled
    ctx.log('ignored command status', { ...input, reason: 'the deployment has ended' });
    return;
  }
  const row = await repos.history.getRow({ deployTaskId, stage, ...target });
  if (!row) return;
  const key = rowKey(row);
  const stageState = await repos.bookkeeping.getStage(deployTaskId, stage);
  if (!stageState.outstanding.includes(key)) {
    // Recorded and closed by an earlier delivery; make sure the stage did not miss its completion.
    if (
      stageState.outstanding.length === 0 &&
      stageState.token &&
      stageState.completedToken !== stageState.token
    )
      await completeStage(ctx, deployTaskId, stage, stageState.token);
    return;
  }

  const recorded = recordedOutcome(
    invocation,
    row,
    cancelledByForcedStop(isForced(run.stop), invocation.status),
  );
  // Side effects first, the row's move last: a delivery retried after a crash redoes them (they are idempotent),
  // and the next stage cannot start before the instance is closed below.
  if (recorded.failure !== null && recorded.outcome.errorType !== null) {
    await recordNodeFailure(ctx, run, row, recorded.outcome.errorType, recorded.failure);
  } else if (isProvisionStage(stage)) {
    // a freshly provisioned node has run nothing yet: what ran on it before no longer counts
    await repos.nodes.forgetLastRuns(row.nodeId);
    await repos.nodes.update(row.nodeId, { status: 'provisioned', errorType: null, errorMsg: null });
  } else if (recorded.status === 'ready' && row.fingerprint !== null && isClusterNode(row.nodeId)) {
    await repos.nodes.recordLastRun({
      nodeId: row.nodeId,
      taskName: row.taskName,
      fingerprint: row.fingerprint,
      deployTaskId,
    });
  }
  const moved = await repos.history.moveRow(row, recorded.status, {
    ...recorded.outcome,
    timeStart: invocation.startedAt ?? row.timeStart,
    timeEnd: invocation.endedAt ?? nowIso(ctx),
  });
  if (moved) await countDone(ctx, deployTaskId, stage);
  await closeInstance(ctx, deployTaskId, stage, key);
}
