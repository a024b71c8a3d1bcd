/**
 * The end of an operator's stop: its `stop_deployment` task ends with the run's settlement. The stop request
 * writes that task right after the stop state; if the run ended in between, the task is written here, ended,
 * and the request finds it.
 */
import { randomUUID } from 'node:crypto';
import { WriteConflictError } from '../../domain/errors.js';
import { STOP_RUNNING_MESSAGE } from '../../domain/messages.js';
import { isStopping, type StopRequest, stopTaskIdOf } from '../../domain/stop.js';
import { type DeploymentRun, newStopTask, type RunOutcome, type StopTask } from '../../domain/task.js';
import { type Context, nowIso } from '../ports.js';

/** The stop task of an operator's stop of `run`, as first written (running). */
export function stopTaskOf(run: DeploymentRun, request: StopRequest, stopTaskId: number): StopTask {
  return newStopTask(
    run,
    { id: stopTaskId, uuid: randomUUID(), at: request.at, requestedBy: request.by, reason: request.message },
    STOP_RUNNING_MESSAGE,
  );
}

export async function endStopTask(
  ctx: Context,
  run: DeploymentRun,
  outcome: RunOutcome | null,
): Promise<void> {
  const stopTaskId = stopTaskIdOf(run.stop);
  const status = outcome?.stopTaskStatus ?? null;
  if (stopTaskId === null || status === null || !isStopping(run.stop)) return;
  const ending = { status, progress: 100, timeEnd: nowIso(ctx), message: outcome?.stopMessage ?? null };
  const { tasks } = ctx.repos;
  if (await tasks.finish(stopTaskId, ending)) return;
  // not written yet, or written (running) by the request just now: either the put or the second finish ends it
  try {
    await tasks.put({ ...stopTaskOf(run, run.stop.request, stopTaskId), ...ending });
  } catch (err) {
    if (!(err instanceof WriteConflictError)) throw err;
    await tasks.finish(stopTaskId, ending);
  }
}
