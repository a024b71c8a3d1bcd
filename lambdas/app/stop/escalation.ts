/**
 * Escalating a stop: running commands are cancelled (SSM CancelCommand) and their nodes end `error` /
 * `stop_deployment`. Asked for by `?force=1`, by a forced delete, or by the watchdog when a stop outlives its
 * timeout. While a forced stop settles, every watchdog round cancels again, and cancelled commands whose
 * nodes never answer are given up on, so that every stop completes.
 */

import { WriteConflictError } from '../../domain/errors.js';
import { unansweredReason } from '../../domain/messages.js';
import { abandonScope, type ForceCause, isForced, isPastDeadline } from '../../domain/stop.js';
import type { DeploymentRun } from '../../domain/task.js';
import { recordNodeFailure } from '../engine/node-failure.js';
import { closeRows } from '../engine/stage.js';
import { inParallel, SSM_CALLS_AT_ONCE } from '../parallel.js';
import { type Context, nowIso } from '../ports.js';
import { commandsOf, runningRows } from './undelivered.js';

/** Marks the stop as forced, once; false when it was forced already or the run ended. */
export async function escalate(
  ctx: Context,
  runId: number,
  cause: ForceCause,
): Promise<DeploymentRun | null> {
  try {
    const run = await ctx.repos.tasks.escalateStop(runId, { at: nowIso(ctx), cause });
    ctx.log('escalating stop', { taskId: runId, because: cause });
    return run;
  } catch (err) {
    if (err instanceof WriteConflictError) return null;
    throw err;
  }
}

/** Marks the stop as forced (once) and cancels the running commands; returns how many were cancelled. */
export async function forceStop(
  ctx: Context,
  runId: number,
  cause: ForceCause,
): Promise<{ cancelled: number }> {
  const run = await escalate(ctx, runId, cause);
  return { cancelled: run === null ? 0 : await cancelRunning(ctx, run) };
}

/** Cancels every command of the run that has not reported yet, a few commands at a time. */
export async function cancelRunning(ctx: Context, run: DeploymentRun): Promise<number> {
  const commands = await commandsOf(ctx, run.id, await runningRows(ctx, run.id));
  const counts = await inParallel(commands, SSM_CALLS_AT_ONCE, async ({ commandId, instanceIds }) => {
    await ctx.commands.cancel(commandId, instanceIds);
    return instanceIds.length;
  });
  return counts.reduce((a, n) => a + n, 0);
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
    await ctx.repos.history.moveRow(row, 'error', {
      timeEnd: nowIso(ctx),
      reason,
      errorType: 'stop_deployment',
    });
  }
  // closed even when a result moved a row first: that delivery may have died before closing it
  await closeRows(ctx, running);
  if (running.length > 0)
    ctx.log('gave up on unanswered commands', { taskId: run.id, count: running.length });
  return running.length;
}
