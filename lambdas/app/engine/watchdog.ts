/**
 * The watchdog, run periodically (every minute on AWS, every second locally): ends runs whose execution
 * never started, follows up stops whose follow-up never ran, escalates stops past their deadline, and gives
 * up on cancelled commands whose nodes never answer, so that every run and every stop completes. Each
 * cluster is supervised on its own: one that fails is logged and the others are still looked after.
 */

import { isTaskFinished } from '../../domain/status.js';
import { isStopping } from '../../domain/stop.js';
import type { DeploymentRun } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { superviseStop } from '../stop/escalation.js';
import { followUpIfMissed } from '../stop/follow-up.js';
import { finish } from './finish.js';

/** A run without an execution this long after it was created never started. */
const START_GRACE_MS = 120_000;

export interface WatchdogRound {
  escalated: number;
  abandoned: number;
  /** Clusters whose supervision failed this round (logged; the next round tries again). */
  failed: number;
}

export async function watchdog(ctx: Context): Promise<WatchdogRound> {
  const round: WatchdogRound = { escalated: 0, abandoned: 0, failed: 0 };
  for (const cluster of await ctx.repos.clusters.list()) {
    if (cluster.deploymentTaskId === null) continue;
    try {
      const done = await superviseRun(ctx, cluster.deploymentTaskId);
      round.escalated += done.escalated;
      round.abandoned += done.abandoned;
    } catch (err) {
      round.failed++;
      ctx.log('watchdog: supervising a cluster failed', { clusterId: cluster.id, error: String(err) });
    }
  }
  return round;
}

async function superviseRun(ctx: Context, runId: number): Promise<{ escalated: number; abandoned: number }> {
  const none = { escalated: 0, abandoned: 0 };
  const run = await ctx.repos.tasks.getRun(runId);
  if (!run || (await settleIfNeverStarted(ctx, run))) return none;
  if (!isStopping(run.stop) || isTaskFinished(run.status)) return none;
  await followUpIfMissed(ctx, run);
  return superviseStop(ctx, run);
}

/**
 * A run that holds its cluster's lock but whose execution never started (the API died between taking the
 * lock and StartExecution): after a grace period it is ended, and the cluster unlocked.
 */
async function settleIfNeverStarted(ctx: Context, run: DeploymentRun): Promise<boolean> {
  if (run.executionArn !== null || run.status !== 'running' || run.timeStart === null) return false;
  if (ctx.clock.now().getTime() - Date.parse(run.timeStart) < START_GRACE_MS) return false;
  if ((await ctx.workflows.status(run.uuid)) !== null) return false;
  ctx.log('settling a deployment that never started', { taskId: run.id });
  await finish(ctx, {
    taskId: run.id,
    failure: { Error: 'NotStarted', Cause: 'its execution never started; nothing was run' },
  });
  return true;
}
