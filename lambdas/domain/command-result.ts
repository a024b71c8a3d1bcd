/**
 * What a finished command means for its history row and its node: ready, error (and how the node failed),
 * or skipped (never started because of a stop, or a failure ignored by `fail_on_error: false`).
 */
import {
  type CommandStatus,
  isCommandCancelled,
  isCommandFailed,
  isCommandStatus,
  isCommandSucceeded,
} from './command-status.js';
import type { CommandRecord, HistoryRow, RowOutcome } from './history.js';
import { isProvisionStage, type Stage } from './stage.js';
import type { HistoryStatus, NodeErrorType } from './status.js';

/** One command on one node, as SSM reports it (GetCommandInvocation). */
export interface InvocationResult {
  commandId: string;
  instanceId: string;
  comment: string;
  status: CommandStatus;
  statusDetails: string;
  responseCode: number | null;
  startedAt: string | null;
  endedAt: string | null;
  stdoutTail: string;
  stderrTail: string;
}

/**
 * An SSM invocation status as a final history status, or null while the command is not finished (or the
 * status is not one SSM reports).
 */
export function historyStatusOfInvocation(status: string): Extract<HistoryStatus, 'ready' | 'error'> | null {
  if (!isCommandStatus(status)) return null;
  if (isCommandSucceeded(status)) return 'ready';
  if (isCommandFailed(status)) return 'error';
  return null;
}

/** Was this command cancelled by the run's forced stop (rather than failing on its own)? */
export function cancelledByForcedStop(forced: boolean, status: CommandStatus): boolean {
  return forced && isCommandCancelled(status);
}

/**
 * How a node fails when a row's command fails: provisioning failed (a provisioning cancelled by a forced stop
 * did not finish either: the node must be provisioned again), a task was cancelled by a forced stop, or failed.
 */
export function errorTypeFor(stage: Stage, cancelledByStop: boolean): NodeErrorType {
  if (isProvisionStage(stage)) return 'provision';
  return cancelledByStop ? 'stop_deployment' : 'deploy';
}

export interface RecordedOutcome {
  status: Extract<HistoryStatus, 'ready' | 'error' | 'skipped'>;
  outcome: RowOutcome;
  /** Why the node failed, when the row's failure fails its node; null otherwise. */
  failure: string | null;
}

function commandRecord(invocation: InvocationResult): CommandRecord {
  return {
    commandId: invocation.commandId,
    instanceId: invocation.instanceId,
    ssmStatus: invocation.status,
    statusDetails: invocation.statusDetails,
    exitCode: invocation.responseCode,
    outputTail: invocation.stdoutTail,
    errorTail: invocation.stderrTail,
  };
}

/** What a finished command means for its history row: ready, error, or skipped. */
export function recordedOutcome(
  invocation: InvocationResult,
  row: Pick<HistoryRow, 'taskName' | 'failOnError' | 'stage'>,
  cancelledByStop: boolean,
): RecordedOutcome {
  const command = commandRecord(invocation);
  const base: RowOutcome = {
    command,
    skipReason: null,
    reason: null,
    errorType: null,
    cancelledByStop: false,
  };
  if (historyStatusOfInvocation(invocation.status) === 'ready') {
    return { status: 'ready', outcome: base, failure: null };
  }
  if (isCommandCancelled(invocation.status) && invocation.startedAt === null) {
    return {
      status: 'skipped',
      outcome: {
        ...base,
        skipReason: 'stopped',
        reason: 'not started: the deployment was stopped before the command reached the node',
      },
      failure: null,
    };
  }
  const detail = `${invocation.statusDetails || invocation.status}, exit code ${invocation.responseCode ?? 'none'}`;
  if (!row.failOnError) {
    return {
      status: 'skipped',
      outcome: {
        ...base,
        skipReason: 'fail_on_error',
        reason: `failure ignored (fail_on_error: false): ${detail}`,
      },
      failure: null,
    };
  }
  return {
    status: 'error',
    outcome: { ...base, errorType: errorTypeFor(row.stage, cancelledByStop), cancelledByStop },
    failure: cancelledByStop
      ? `${row.taskName} was cancelled by a forced stop (${detail})`
      : `${row.taskName} failed (${detail})`,
  };
}
