/**
 * Requesting a stop: "Stop deployment" (`PUT clusters/{id}/stop_deployment/`, served by the stop function),
 * a forced delete of a running task, and the graph's fault tolerance. The stop state is written once on the
 * running run; from then on no batch is dispatched. An operator's stop answers at once, unless a batch is
 * being sent at that instant (then as soon as that one send returns): no command is sent after the reply.
 * Cancelling what was sent but not delivered (and, forced, what runs) is the follow-up's, after the reply.
 * As in Nailgun: nothing to stop is a 400, a stop already launched (or already forced) a 409.
 */
import { defaultAttributes, stopTimeout } from '../../domain/attributes.js';
import { ConflictError, NotFoundError, ValidationError, WriteConflictError } from '../../domain/errors.js';
import { nothingToStopMessage, STOP_ALREADY_FORCED, STOP_ALREADY_LAUNCHED } from '../../domain/messages.js';
import { isForced, isStopping, requestedStop, type StopCause } from '../../domain/stop.js';
import type { DeploymentRun, Task } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { waitForDispatchToEnd } from './dispatch-lease.js';
import { escalate } from './escalation.js';
import { requestFollowUp } from './follow-up.js';
import { stopTaskOf } from './settlement.js';

export interface StopInput {
  requestedBy: string;
  message: string | null;
  force: boolean;
  cause: Extract<StopCause, 'operator' | 'forced_delete'>;
  /** Stop only this run: when the cluster runs another one (or none), there is nothing to stop. */
  deployTaskId?: number;
}

async function stopTimeoutOf(ctx: Context, clusterId: number): Promise<number> {
  return stopTimeout((await ctx.repos.clusters.getAttributes(clusterId)) ?? defaultAttributes());
}

/** The run a stop of this cluster acts on, or a 400 saying there is nothing to stop. */
async function runningRunOf(ctx: Context, clusterId: number, only?: number): Promise<DeploymentRun> {
  const cluster = await ctx.repos.clusters.get(clusterId);
  if (!cluster) throw new NotFoundError(`Cluster ${clusterId} not found`);
  const run =
    cluster.deploymentTaskId === null ? null : await ctx.repos.tasks.getRun(cluster.deploymentTaskId);
  if (run?.status !== 'running' || (only !== undefined && run.id !== only)) {
    throw new ValidationError(nothingToStopMessage(clusterId));
  }
  return run;
}

/**
 * Stops the running run of a cluster, once, and answers when no command of it can be sent any more.
 * `force` (or a second request with it) also has the follow-up cancel running commands. Returns the stop
 * task (or, for a fault-tolerance stop being forced, the run, which reports it).
 */
export async function stopDeployment(ctx: Context, clusterId: number, input: StopInput): Promise<Task> {
  const run = await runningRunOf(ctx, clusterId, input.deployTaskId);
  if (isStopping(run.stop)) {
    if (!input.force) throw new ConflictError(STOP_ALREADY_LAUNCHED);
    if (isForced(run.stop)) throw new ConflictError(STOP_ALREADY_FORCED);
    await escalate(ctx, run.id, input.cause);
    await requestFollowUp(ctx, run.id);
    const stopTaskId = run.stop.request.stopTaskId;
    return stopTaskId === null ? run : awaitStopTask(ctx, run.id, stopTaskId);
  }

  const stopTaskId = await ctx.repos.tasks.nextId();
  const stop = requestedStop({
    cause: input.cause,
    by: input.requestedBy,
    message: input.message,
    stopTaskId,
    at: ctx.clock.now(),
    timeoutSeconds: await stopTimeoutOf(ctx, clusterId),
  });
  let stopped: DeploymentRun;
  try {
    stopped = await ctx.repos.tasks.requestStop(run.id, stop);
  } catch (err) {
    if (!(err instanceof WriteConflictError)) throw err;
    const now = await ctx.repos.tasks.getRun(run.id);
    if (now && isStopping(now.stop)) throw new ConflictError(STOP_ALREADY_LAUNCHED);
    throw new ValidationError(nothingToStopMessage(clusterId));
  }
  let stopTask: Task = stopTaskOf(stopped, stop.request, stopTaskId);
  try {
    await ctx.repos.tasks.put(stopTask);
  } catch (err) {
    // the run ended right after the stop was recorded, and its finish wrote the stop task already
    if (!(err instanceof WriteConflictError)) throw err;
    stopTask = (await ctx.repos.tasks.get(stopTaskId)) ?? stopTask;
  }
  if (input.force) await escalate(ctx, run.id, input.cause);
  // a batch being sent at this instant may still reach its nodes: answer once that one send has returned
  await waitForDispatchToEnd(ctx, stopped);
  await requestFollowUp(ctx, run.id);
  return stopTask;
}

/** The stop task of a stopping run; it is written right after the stop state, so wait for it briefly. */
async function awaitStopTask(ctx: Context, runId: number, stopTaskId: number): Promise<Task> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const found = await ctx.repos.tasks.get(stopTaskId);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new NotFoundError(`The stop task of deployment ${runId} was not found`);
}

/** The graph's fault tolerance is exceeded: the run stops gracefully, and will end in error. */
export async function stopForFaultTolerance(
  ctx: Context,
  run: DeploymentRun,
  reason: string | null,
): Promise<void> {
  const stop = requestedStop({
    cause: 'fault_tolerance',
    by: 'fault tolerance',
    message: reason,
    stopTaskId: null,
    at: ctx.clock.now(),
    timeoutSeconds: await stopTimeoutOf(ctx, run.clusterId),
  });
  try {
    await ctx.repos.tasks.requestStop(run.id, stop);
    ctx.log('fault tolerance exceeded: stopping', { taskId: run.id, reason });
  } catch (err) {
    // stopped already (by an operator, or another failure at the same time), or settling
    if (!(err instanceof WriteConflictError)) throw err;
  }
}
