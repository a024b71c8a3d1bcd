/**
 * Escalating a stop: running commands are cancelled (SSM CancelCommand) and their nodes end `error` /
 * `stop_deployment`. Asked for by `?force=1`, by a forced delete, or by the watchdog when a stop outlives its
 * timeout. While a forced stop settles, every watchdog round cancels again, and cancelled commands whose
 * nodes never answer are given up on, so that every stop completes.
 */

import { WriteConflictError } from '../../domain/errors.js';
import { unansweredReason } from '../../domain/messages.js';
import { instanceKey, rowKey } from '../../domain/stage.js';
import { abandonScope, type ForceCause, isForced, isPastDeadline } from '../../domain/stop.js';
import type { DeploymentRun } from '../../domain/task.js';
import { recordNodeFailure } from '../engine/node-failure.js';
import { countDone } from '../engine/run.js';
import { closeInstance } from '../engine/stage.js';
import { type Context, nowIso } from '../ports.js';
import { runningRows } from './undelivered.js';

/** Marks the stop as forced (once) and cancels the running commands; returns how many were cancelled. */
export async function forceStop(
  ctx: Context,
  runId: number,
  cause: ForceCause,
): Promise<{ cancelled: number }> {
  let run: DeploymentRun;
  try {
    run = await ctx.repos.tasks.escalateStop(runId, { at: nowIso(ctx), cause });
  } catch (err) {
    if (err instanceof WriteConflictError) return { cancelled: 0 };
    throw err;
  }
  ctx.log('escalating stop', { taskId: runId, because: cause });
  return { cancelled: await cancelRunning(ctx, run) };
}

/** Cancels every command of the run that has not reported yet. */
async function cancelRunning(ctx: Context, run: DeploymentRun): Promise<number> {
  const running = await runningRows(ctx, run.id);
  const keys = new Set(running.map(rowKey));
  let cancelled = 0;
  for (const stage of new Set(running.map((r) => r.stage))) {
    for (const intent of await ctx.repos.bookkeeping.intents(run.id, stage)) {
      if (intent.commandId === null) continue;
      const instanceIds = Object.entries(intent.targets)
        .filter(([, t]) => keys.has(instanceKey(t.taskName, t.nodeId)))
        .map(([instanceId]) => instanceId);
      if (instanceIds.length === 0) continue;
      await ctx.commands.cancel(intent.commandId, instanceIds);
      cancelled += instanceIds.length;
    }
  }
  return cancelled;
}

/**
 * One watchdog round for a stopping run: a requested stop past its deadline is escalated; a forced one
 * cancels again (a command whose send was in flight at the first cancel is cancelled too) and gives up on
 * commands whose nodes do not answer.
 */
export async function superviseStop(
  ctx: Context,
  run: DeploymentRun,
): Promise<{ escalated: number; abandoned: number }> {
  const now = ctx.clock.now();
  if (isPastDeadline(run.stop, now)) {
    await forceStop(ctx, run.id, 'stop_timeout');
    return { escalated: 1, abandoned: 0 };
  }
  if (!isForced(run.stop)) return { escalated: 0, abandoned: 0 };
  await cancelRunning(ctx, run);
  const scope = abandonScope(run.stop, now);
  return {
    escalated: 0,
    abandoned: scope === 'none' ? 0 : await abandonUnanswered(ctx, run, scope === 'all'),
  };
}

/**
 * Cancelled commands whose nodes do not answer: recorded as failed by the stop so that the stages complete.
 * Only offline nodes are given up on, unless `all` (a node that stays silent far past the grace period).
 */
async function abandonUnanswered(ctx: Context, run: DeploymentRun, all: boolean): Promise<number> {
  const rows = await runningRows(ctx, run.id);
  const offline = new Set(
    (await ctx.repos.nodes.getMany(rows.map((r) => r.nodeId))).filter((n) => !n.online).map((n) => n.id),
  );
  const running = rows.filter((r) => all || offline.has(r.nodeId));
  for (const row of running) {
    const reason = unansweredReason(row);
    await recordNodeFailure(ctx, run, row, 'stop_deployment', reason);
    const moved = await ctx.repos.history.moveRow(row, 'error', {
      timeEnd: nowIso(ctx),
      reason,
      errorType: 'stop_deployment',
    });
    if (moved) await countDone(ctx, run.id, row.stage);
    await closeInstance(ctx, run.id, row.stage, rowKey(row));
  }
  if (running.length > 0)
    ctx.log('gave up on unanswered commands', { taskId: run.id, count: running.length });
  return running.length;
}
