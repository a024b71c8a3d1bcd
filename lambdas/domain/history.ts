/**
 * Deployment history: one row per task of the graph on one node, within one run (Fuel's deployment history).
 * A row holds what was planned (the command, its limits, its requirements) and what became of it, in typed
 * fields; the API maps them to Nailgun's free-form `custom` when it serializes a row.
 */
import type { CommandStatus } from './command-status.js';
import type { TaskType } from './graph.js';
import type { Stage } from './stage.js';
import type { HistoryStatus, NodeErrorType } from './status.js';

/** Why a row was skipped; only some reasons count as success for dependents and for the node. */
export type SkipReason =
  | 'unchanged'
  | 'fail_on_error'
  | 'blocked'
  | 'stopped'
  | 'aborted'
  /** Its condition is false on this node. */
  | 'condition'
  /** A stage, a `skipped` task: nothing to run. */
  | 'noop';

export function skipCountsAsSuccess(reason: SkipReason): boolean {
  return reason === 'unchanged' || reason === 'fail_on_error' || reason === 'condition' || reason === 'noop';
}

/** What SSM reported of the row's command on its node. */
export interface CommandRecord {
  commandId: string;
  instanceId: string;
  ssmStatus: CommandStatus;
  statusDetails: string;
  exitCode: number | null;
  outputTail: string;
  errorTail: string;
}

/** What became of a row: its command's result, why it was skipped or failed. */
export interface RowOutcome {
  command: CommandRecord | null;
  skipReason: SkipReason | null;
  reason: string | null;
  /** How its node failed, when the row's failure failed the node. */
  errorType: NodeErrorType | null;
  /** The row's command was cancelled by a forced stop. */
  cancelledByStop: boolean;
}

export interface HistoryRow extends RowOutcome {
  deployTaskId: number;
  stage: Stage;
  taskName: string;
  /** The task's type in the graph (`shell` for provisioning). */
  taskType: TaskType;
  /** A cluster node's id, MASTER_NODE or SYNC_NODE (targets.ts). */
  nodeId: number;
  status: HistoryStatus;
  timeStart: string | null;
  timeEnd: string | null;
  cmd: string;
  timeout: number;
  retries: number;
  /** Seconds between attempts. */
  interval: number;
  failOnError: boolean;
  /**
   * What must end before it, per task (domain/requirements.ts): `task@3`, `task@*` (every entry),
   * `task@#n` (the entries on the plan's target set n); never one key per node of a large role.
   */
  requires: string[];
  layer: number | null;
  /** Decision order within the deployment: a row is decided after the rows it requires. */
  order: number | null;
  /** Planned to run nothing: why (a stage, a `skipped` task, a false condition); null when it runs. */
  noop: { kind: 'condition' | 'noop'; reason: string } | null;
  /** Fingerprint of the task's inputs (definition and cluster settings) in this run. */
  fingerprint: string | null;
  /** Planned as not needing to run: unchanged since its last successful run on this node. */
  unchanged: boolean;
}

/** What a move of a row writes besides its status. */
export type RowMove = Partial<RowOutcome> & { timeStart?: string | null; timeEnd?: string | null };

/** Where a row is: its run, stage, task and node. */
export type RowRef = Pick<HistoryRow, 'deployTaskId' | 'stage' | 'taskName' | 'nodeId'>;

export const NO_OUTCOME: RowOutcome = {
  command: null,
  skipReason: null,
  reason: null,
  errorType: null,
  cancelledByStop: false,
};

/** A planned row, not yet run. */
export function pendingRow(
  planned: Omit<HistoryRow, keyof RowOutcome | 'status' | 'timeStart' | 'timeEnd'>,
): HistoryRow {
  return { ...planned, ...NO_OUTCOME, status: 'pending', timeStart: null, timeEnd: null };
}
