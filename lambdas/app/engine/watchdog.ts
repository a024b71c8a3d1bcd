/**
 * The watchdog, run periodically (every minute on AWS, every second locally): ends runs whose execution
 * never started, escalates stops past their deadline, and gives up on cancelled commands whose nodes never
 * answer, so that every run and every stop completes.
 */

import { isTaskFinished } from '../../domain/status.js';
import { isStopping } from '../../domain/stop.js';
import type { DeploymentRun } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { superviseStop } from '../stop/escalation.js';
import { finish } from './finish.js';

/** A run without an execution this long after it was created never started. */
const START_GRACE_MS = 120_000;

export async function watchdog(ctx: Context): Promise<{ escalated: number; abandoned: number }> {
  let escalated = 0;
  let abandoned = 0;
  for (const cluster of await ctx.repos.clusters.list()) {
    if (cluster.deploymentTaskId === null) continue;
    const run = await ctx.repos.tasks.getRun(cluster.deploymentTaskId);
    if (!run || (await settleIfNeverStarted(ctx, run))) continue;
    if (!isStopping(run.stop) || isTaskFinished(run.status)) continue;
    const round = await superviseStop(ctx, run);
    escalated += round.escalated;
    abandoned += round.abandoned;
  }
  return { escalated, abandoned };
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
