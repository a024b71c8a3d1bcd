/**
 * The stop of a deployment run, as one closed state: none, requested (no new command may be sent; what runs
 * finishes), or forced (running commands are cancelled too). It says who asked, when, why, and what caused
 * it. Every caller decides by the predicates below; none reads the state's fields to decide.
 */
import type { SkipReason } from './history.js';

/** What requested the stop: an operator (`stop_deployment`), the graph's fault tolerance, or `DELETE tasks/{id}?force=1`. */
export type StopCause = 'operator' | 'fault_tolerance' | 'forced_delete';
/** What escalated it: an operator (`?force=1`), the stop timeout, or a forced delete of one of its tasks. */
export type ForceCause = 'operator' | 'stop_timeout' | 'forced_delete';

export interface StopRequest {
  cause: StopCause;
  /** The user, or `fault tolerance`. */
  by: string;
  at: string;
  message: string | null;
  /** The `stop_deployment` task of an operator's (or a forced delete's) stop; null for fault tolerance. */
  stopTaskId: number | null;
  /** Past this time the stop is escalated. */
  deadline: string;
  timeoutSeconds: number;
}

export type NoStop = { phase: 'none' };
export type RequestedStop = { phase: 'requested'; request: StopRequest };
export type ForcedStop = { phase: 'forced'; request: StopRequest; forced: { at: string; cause: ForceCause } };
export type StopState = NoStop | RequestedStop | ForcedStop;

export const NO_STOP: NoStop = { phase: 'none' };

export function requestedStop(input: {
  cause: StopCause;
  by: string;
  message: string | null;
  stopTaskId: number | null;
  at: Date;
  timeoutSeconds: number;
}): RequestedStop {
  return {
    phase: 'requested',
    request: {
      cause: input.cause,
      by: input.by,
      at: input.at.toISOString(),
      message: input.message,
      stopTaskId: input.stopTaskId,
      deadline: new Date(input.at.getTime() + input.timeoutSeconds * 1000).toISOString(),
      timeoutSeconds: input.timeoutSeconds,
    },
  };
}

export function forcedStop(stop: RequestedStop, at: string, cause: ForceCause): ForcedStop {
  return { phase: 'forced', request: stop.request, forced: { at, cause } };
}

/** May a batch of commands be sent? Only while no stop was requested. */
export function mayDispatch(stop: StopState): stop is NoStop {
  return stop.phase === 'none';
}

/** Is the run being stopped (requested or forced)? */
export function isStopping(stop: StopState): stop is RequestedStop | ForcedStop {
  return stop.phase !== 'none';
}

/** Are running commands being cancelled? */
export function isForced(stop: StopState): stop is ForcedStop {
  return stop.phase === 'forced';
}

/** Was the stop asked for by a person (an operator's stop, or a forced delete), with a stop task of its own? */
export function isOperatorStop(stop: StopState): stop is RequestedStop | ForcedStop {
  return isStopping(stop) && stop.request.cause !== 'fault_tolerance';
}

export function isFaultToleranceStop(stop: StopState): stop is RequestedStop | ForcedStop {
  return isStopping(stop) && stop.request.cause === 'fault_tolerance';
}

export function stopTaskIdOf(stop: StopState): number | null {
  return isStopping(stop) ? stop.request.stopTaskId : null;
}

/** A requested stop whose deadline has passed is escalated by the watchdog. */
export function isPastDeadline(stop: StopState, now: Date): stop is RequestedStop {
  return stop.phase === 'requested' && now.getTime() >= Date.parse(stop.request.deadline);
}

/**
 * After a forced stop, cancelled commands whose nodes never answer are given up on: after a grace period
 * (the stop timeout, at most a minute) those on offline nodes, after five grace periods every one.
 */
export function abandonScope(stop: ForcedStop, now: Date): 'none' | 'offline' | 'all' {
  const grace = Math.min(stop.request.timeoutSeconds, 60) * 1000;
  const since = now.getTime() - Date.parse(stop.forced.at);
  if (since >= 5 * grace) return 'all';
  return since >= grace ? 'offline' : 'none';
}

/** Why the rows a run never started end skipped: it was stopped, aborted, or a requirement failed. */
export function endReasonOf(
  stop: StopState,
  orchestrationFailed: boolean,
): { skipReason: Extract<SkipReason, 'stopped' | 'aborted' | 'blocked'>; reason: string } {
  if (isFaultToleranceStop(stop)) {
    return { skipReason: 'stopped', reason: 'not started: the deployment failed' };
  }
  if (isStopping(stop)) return { skipReason: 'stopped', reason: 'not started: the deployment was stopped' };
  if (orchestrationFailed)
    return { skipReason: 'aborted', reason: 'not started: the deployment was aborted' };
  return { skipReason: 'blocked', reason: 'not started: a requirement did not succeed' };
}
