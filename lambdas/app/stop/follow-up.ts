/**
 * What a stop does after it has answered (the stop function, invoked asynchronously by the stop request; the
 * watchdog does it for a stop whose follow-up never ran): wait until no batch is being sent, cancel the
 * commands sent but not delivered, and for a forced stop cancel the running ones. What it did is recorded on
 * the stop task. Idempotent: running it again cancels nothing twice that matters.
 */
import { isForced, isStopping } from '../../domain/stop.js';
import type { DeploymentRun, StopWork } from '../../domain/task.js';
import { type Context, nowIso, type StopJob } from '../ports.js';
import { waitForDispatchToEnd } from './dispatch-lease.js';
import { cancelRunning } from './escalation.js';
import { cancelUndelivered } from './undelivered.js';

export async function followUpStop(ctx: Context, job: StopJob): Promise<StopWork | null> {
  const run = await ctx.repos.tasks.getRun(job.runId);
  if (!run || !isStopping(run.stop)) return null;
  const sendsEnded = await waitForDispatchToEnd(ctx, run);
  const undelivered = await cancelUndelivered(ctx, run, new Date(run.stop.request.at));
  // read again: a force may have come while this ran
  const now = (await ctx.repos.tasks.getRun(run.id)) ?? run;
  const runningCancelled = isForced(now.stop) ? await cancelRunning(ctx, now) : 0;
  const work: StopWork = {
    at: nowIso(ctx),
    sendsEndedAt: sendsEnded.toISOString(),
    checked: undelivered.checked,
    undeliveredCancelled: undelivered.cancelled,
    runningCancelled,
  };
  const stopTaskId = run.stop.request.stopTaskId;
  if (stopTaskId !== null) await ctx.repos.tasks.recordStopWork(stopTaskId, work);
  ctx.log('stop followed up', { taskId: run.id, ...work });
  return work;
}

/** Hands the follow-up to the stop function; if that fails, the watchdog does it a little later. */
export async function requestFollowUp(ctx: Context, runId: number): Promise<void> {
  try {
    await ctx.stopWorker.request({ runId });
  } catch (err) {
    ctx.log('stop follow-up not queued: the watchdog will do it', { taskId: runId, error: String(err) });
  }
}

/** A follow-up that should have run by now (its asynchronous invocation was lost, or failed for good). */
const FOLLOW_UP_GRACE_MS = 30_000;

/** The watchdog's part: a stop whose follow-up is missing this long after the stop is followed up here. */
export async function followUpIfMissed(ctx: Context, run: DeploymentRun): Promise<boolean> {
  if (!isStopping(run.stop) || run.stop.request.stopTaskId === null) return false;
  if (ctx.clock.now().getTime() - Date.parse(run.stop.request.at) < FOLLOW_UP_GRACE_MS) return false;
  const stopTask = await ctx.repos.tasks.get(run.stop.request.stopTaskId);
  if (stopTask?.kind !== 'stop' || stopTask.work !== null) return false;
  ctx.log('following up a stop whose follow-up never ran', { taskId: run.id });
  await followUpStop(ctx, { runId: run.id });
  return true;
}
