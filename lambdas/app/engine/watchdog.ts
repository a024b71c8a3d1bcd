/**
 * The watchdog, run periodically (every minute on AWS, every second locally), for each running run: ends it
 * if its execution never started, or has ended (or is gone) without finishing it; records results whose
 * events never came and ends a stage whose end was lost (reconcile.ts); follows up stops whose follow-up
 * never ran, escalates stops past their deadline, and gives up on cancelled commands whose nodes never
 * answer, so that every run and every stop completes. Each cluster is supervised on its own: one that fails is logged and the others are still
 * looked after.
 */

import { isTaskFinished } from '../../domain/status.js';
import { isStopping } from '../../domain/stop.js';
import type { DeploymentRun } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { superviseStop } from '../stop/escalation.js';
import { followUpIfMissed } from '../stop/follow-up.js';
import { finish } from './finish.js';
import { endStageIfAllIn, reconcileResults, settleIfExecutionEnded } from './reconcile.js';

/** A run without an execution this long after it was created never started. */
const START_GRACE_MS = 120_000;

export interface WatchdogRound {
  escalated: number;
  abandoned: number;
  /** Results recorded from SSM because their events never came. */
  reconciled: number;
  /** Runs settled because their execution had ended (or was gone) without finishing them. */
  settled: number;
  /** Clusters whose supervision failed this round (logged; the next round tries again). */
  failed: number;
}

export async function watchdog(ctx: Context): Promise<WatchdogRound> {
  const round: WatchdogRound = { escalated: 0, abandoned: 0, reconciled: 0, settled: 0, failed: 0 };
  for (const cluster of await ctx.repos.clusters.list()) {
    if (cluster.deploymentTaskId === null) continue;
    try {
      const done = await superviseRun(ctx, cluster.deploymentTaskId);
      round.escalated += done.escalated;
      round.abandoned += done.abandoned;
      round.reconciled += done.reconciled;
      round.settled += done.settled;
    } catch (err) {
      round.failed++;
      ctx.log('watchdog: supervising a cluster failed', { clusterId: cluster.id, error: String(err) });
    }
  }
  return round;
}

type RunRound = Omit<WatchdogRound, 'failed'>;

async function superviseRun(ctx: Context, runId: number): Promise<RunRound> {
  const round: RunRound = { escalated: 0, abandoned: 0, reconciled: 0, settled: 0 };
  const run = await ctx.repos.tasks.getRun(runId);
  if (!run || isTaskFinished(run.status)) return round;
  if ((await settleIfNeverStarted(ctx, run)) || (await settleIfExecutionEnded(ctx, run))) {
    round.settled = 1;
    return round;
  }
  round.reconciled = await reconcileResults(ctx, run);
  await endStageIfAllIn(ctx, run);
  if (!isStopping(run.stop)) return round;
  await followUpIfMissed(ctx, run);
  return { ...round, ...(await superviseStop(ctx, run)) };
}

/**
 * A run that holds its cluster's lock but whose execution never started (the API died between taking the
 * lock and StartExecution): after a grace period it is ended, and the cluster unlocked.
 */
async function settleIfNeverStarted(ctx: Context, run: DeploymentRun): Promise<boolean> {
  if (run.executionArn !== null || run.status !== 'running' || run.timeStart === null) return false;
  if (ctx.clock.now().getTime() - Date.parse(run.timeStart) < START_GRACE_MS) return false;
  if ((await ctx.workflows.execution(run.uuid)) !== null) return false;
  ctx.log('settling a deployment that never started', { taskId: run.id });
  await finish(ctx, {
    taskId: run.id,
    failure: { Error: 'NotStarted', Cause: 'its execution never started; nothing was run' },
  });
  return true;
}
