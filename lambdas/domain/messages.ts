/**
 * Every message the service writes on a task for people to read: how a deployment, a provisioning and a
 * stop ended, and why a stop or a deployment was refused.
 */

import type { HistoryRow } from './history.js';
import type { Outcome } from './settlement.js';
import { isFaultToleranceStop, isForced, isStopping, type StopState } from './stop.js';
import { targetLabel } from './targets.js';
import { type DeployMode, type DeploymentRun, runsOtherGraph } from './task.js';

type RunSubject = Pick<DeploymentRun, 'name'> & { mode?: Pick<DeployMode, 'graphType'> };

/** A deployment of a graph other than the default one names it. */
function ofGraph(graphType: string | undefined): string {
  return graphType !== undefined && runsOtherGraph({ graphType }) ? ` of the '${graphType}' graph` : '';
}

/** What a message says ran: a top-level provisioning of selected nodes, or a deployment (of which graph). */
export function subjectOf(run: RunSubject, clusterName: string): string {
  if (run.name === 'provision') return `Provisioning of environment '${clusterName}'`;
  return `Deployment${ofGraph(run.mode?.graphType)} of environment '${clusterName}'`;
}

/** While a run goes on. */
export function runStartedMessage(
  scope: 'all' | 'provision' | 'deploy',
  clusterName: string,
  selected: number[] | null,
  graphType?: string,
): string {
  const which = selected ? ` (node${selected.length > 1 ? 's' : ''} ${selected.join(', ')})` : '';
  const what = scope === 'provision' ? 'Provisioning' : `Deployment${ofGraph(graphType)}`;
  return `${what} of environment '${clusterName}'${which} is running`;
}

export function runNotStartedMessage(reason: string): string {
  return `Deployment could not start: ${reason}`;
}

function failedList(failed: HistoryRow[]): string {
  const listed = failed
    .slice(0, 10)
    .map((r) => `${r.taskName} on ${targetLabel(r.nodeId)}`)
    .join(', ');
  return `${listed}${failed.length > 10 ? ` and ${failed.length - 10} more` : ''}`;
}

/** How a run ended, on the run and its deployment task. */
export function deploymentMessage(
  clusterName: string,
  outcome: Outcome,
  run: RunSubject & { stop: StopState },
  rows: HistoryRow[],
  failure: { Error?: string; Cause?: string } | null,
): string {
  const failed = rows.filter((r) => r.status === 'error');
  const listed = failedList(failed);
  const subject = subjectOf(run, clusterName);
  if (failure) return `${subject} has failed: ${failureText(failure)}`;
  const stop = run.stop;
  // A critical node failed (a critical role, or a group's fault tolerance exceeded): Astute stops the
  // deployment gracefully, but it ends in error and is reported as a failure, with the failed nodes
  // (fuel-astute lib/astute/task_deployment.rb `report_deploy_result`).
  if (isFaultToleranceStop(stop)) {
    return `${subject} has failed: ${stop.request.message ?? 'fault tolerance exceeded'}. Failed tasks: ${listed}.`;
  }
  if (isStopping(stop)) {
    const done = rows.filter((r) => r.status === 'ready').length;
    const notStarted = rows.filter((r) => r.skipReason === 'stopped').length;
    return `${subject} was stopped: ${done} of ${rows.length} tasks done, ${notStarted} not started${failed.length > 0 ? `; failed tasks: ${listed}` : ''}.`;
  }
  if (outcome === 'completed') return `${subject} is done.`;
  return `${subject} has failed. Failed tasks: ${listed}.`;
}

/**
 * What an execution's failure says: its cause, which for an error a Lambda function threw (a step that
 * refused to go on) is that error as JSON (`{"errorType", "errorMessage", "trace"}`): its message then.
 */
function failureText(failure: { Error?: string; Cause?: string }): string {
  const cause = failure.Cause;
  if (cause === undefined) return failure.Error ?? 'unknown error';
  try {
    const parsed: unknown = JSON.parse(cause);
    if (typeof parsed === 'object' && parsed !== null && 'errorMessage' in parsed) {
      const message = parsed.errorMessage;
      if (typeof message === 'string' && message !== '') return message;
    }
  } catch {
    // not JSON: the cause as it is
  }
  return cause;
}

/** How an operator's stop ended, on its stop task. */
export function stopMessage(
  clusterName: string,
  run: RunSubject & { stop: StopState },
  rows: HistoryRow[],
): string {
  const stop = run.stop;
  if (isForced(stop)) {
    const n = rows.filter((r) => r.cancelledByStop || r.errorType === 'stop_deployment').length;
    const cancelled = `${n} running ${n === 1 ? 'task was' : 'tasks were'} cancelled`;
    if (stop.forced.cause === 'stop_timeout') {
      return `Timeout (${stop.request.timeoutSeconds} sec) was reached. ${cancelled}.`;
    }
    return `${subjectOf(run, clusterName)} was stopped by force: ${cancelled}.`;
  }
  return `Deployment of environment '${clusterName}' was successfully stopped.`;
}

/** While a stop settles, on its stop task. */
export const STOP_RUNNING_MESSAGE = 'Stopping the deployment: running tasks finish, no new task starts';

/** How the provisioning stage ended, on the provision task. */
export function provisioningMessage(rows: HistoryRow[]): string {
  const failed = rows.filter((r) => r.status === 'error').length;
  const done = rows.filter((r) => r.status === 'ready').length;
  if (failed > 0) return `Provisioning failed on ${failed} of ${rows.length} nodes`;
  if (done < rows.length) {
    return `Provisioning of ${done} of ${rows.length} nodes is done; the others were not started (stopped)`;
  }
  return `Provisioning of ${rows.length} ${rows.length === 1 ? 'node' : 'nodes'} is done`;
}

/** Why a row failed when its run ended without its result. */
export const NO_RESULT_REASON = 'no result was received before the deployment ended';

/** Why a row failed when its node never answered after a forced stop. */
export function unansweredReason(row: Pick<HistoryRow, 'taskName' | 'nodeId'>): string {
  return `${row.taskName}: no result after the forced stop; ${targetLabel(row.nodeId)} did not answer`;
}

/** Why a batch that a stop kept from being sent never started. */
export const NOT_SENT_REASON = 'not started: the deployment was stopped';

export function nothingToStopMessage(clusterId: number): string {
  return `Nothing to stop - deployment is not running on environment '${clusterId}'`;
}

export const STOP_ALREADY_LAUNCHED = 'Stopping deployment task is already launched';
export const STOP_ALREADY_FORCED = 'The stop is already being forced';

export function deployWhileStoppingMessage(clusterName: string, runId: number): string {
  return (
    `Cannot deploy: the deployment of environment '${clusterName}' (task ${runId}) is being stopped; ` +
    'running tasks are finishing. Deploy again when the stop has completed.'
  );
}

export function resetMessage(clusterName: string, nodeCount: number): string {
  return `Environment '${clusterName}' was reset: ${nodeCount} nodes are back in discovery, their roles pending.`;
}

export function deletedMessage(clusterName: string): string {
  return `Environment '${clusterName}' was deleted; its nodes are back in discovery.`;
}

export function forcedDeleteReason(taskId: number): string {
  return `task ${taskId} deleted with force`;
}

/** An edit or a deployment that waited in vain for another edit of the same environment to end. */
export function editInProgressMessage(clusterName: string, action: string): string {
  return `Cannot ${action}: environment '${clusterName}' is being changed by another request; try again`;
}

/** An edit that outlived its lease (a request far slower than the API allows): it may be incomplete. */
export function editLeaseLostMessage(clusterName: string, action: string): string {
  return `Could not ${action}: the change of environment '${clusterName}' took too long and may be incomplete; check it and try again`;
}

export function duplicateNameMessage(name: string): string {
  return `Environment with name '${name}' already exists`;
}
