/**
 * How a run ends: the truthful final status of each node, of the cluster, of the run's tasks and of the
 * operator's stop task. Pure: the finish step reads the state, asks these functions, and writes.
 */
import { type HistoryRow, type SkipReason, skipCountsAsSuccess } from './history.js';
import { unfinishedPercent } from './progress.js';
import { isProvisionStage } from './stage.js';
import type { ClusterStatus, HistoryStatus, NodeErrorType, NodeStatus } from './status.js';
import { isFaultToleranceStop, isForced, isOperatorStop, type StopState } from './stop.js';

export type Outcome = 'completed' | 'stopped' | 'failed';

/** What became of one history row, for settling its node: succeeded, failed, or left undone. */
export type RowFate = 'done' | 'failed' | 'left';

export function rowFate(status: HistoryStatus, skipReason: SkipReason | null): RowFate {
  if (status === 'ready') return 'done';
  if (status === 'error') return 'failed';
  if (status === 'skipped' && skipReason !== null && skipCountsAsSuccess(skipReason)) return 'done';
  return 'left';
}

export interface NodeSettlementInput {
  status: NodeStatus;
  /** the node's status when the deployment was planned (defaults to `status`) */
  before?: NodeStatus;
  /** this deployment's provisioning of the node: done, never ran, or not needed (null) */
  provisioning: 'done' | 'not_run' | null;
  /** fates of this deployment's rows on the node */
  rows: RowFate[];
  /** the node failed in this deployment (provisioning or a task) */
  failedAs: NodeErrorType | null;
  /** false when the deployment only provisions the node (`provision/?nodes=`); defaults to true */
  deploys?: boolean;
  /**
   * The run ran a graph other than the default one (`deploy/?graph_type=`): its end says how that graph went
   * on the node, not that the node is deployed (see settleNode). Defaults to false.
   */
  otherGraph?: boolean;
  /** The node's error type when it was planned, if it was in `error` then (kept by a run of another graph). */
  errorTypeBefore?: NodeErrorType | null;
  /**
   * The progress the node had reached in this deployment (its share of rows that ended, domain/progress.ts),
   * which a node left with work undone keeps; null or absent when the run did not keep what it is read from.
   */
  reached?: number | null;
}

export interface NodeSettlement {
  status: NodeStatus;
  errorType: NodeErrorType | null;
  progress: number;
}

/**
 * The truthful final status of a node at the end of a deployment:
 * failed -> error; never provisioned -> discover; every task done -> ready;
 * freshly provisioned and no task ran -> provisioned; otherwise work is left -> stopped.
 * A run that only provisions leaves a provisioned node `provisioned`.
 * Progress: 100 for error and ready, 0 for discover; otherwise the progress it had reached in the run (so that
 * the stop does not move it), or, when that is not known, its rows done; never 100 with work left.
 *
 * A run of a graph other than the default one (`otherGraph`) does not deploy the node: `ready` says the
 * default graph ran to its end there, and what "Deploy changes" skips relies on it. So a failure still makes
 * the node `error`, and a `ready` node left with work undone (a stop) `stopped` (the next "Deploy changes"
 * runs every task there); otherwise the node keeps the status it had (`ready`, `provisioned`, `stopped`, or
 * `error` with its error type): a `fix` graph that ran to its end on a node whose deployment had failed or
 * stopped does not make it `ready`.
 */
export function settleNode(input: NodeSettlementInput): NodeSettlement {
  if (input.failedAs !== null) return { status: 'error', errorType: input.failedAs, progress: 100 };
  if (
    input.provisioning === 'not_run' ||
    (input.provisioning === null && (input.status === 'discover' || input.status === 'provisioning'))
  ) {
    return { status: 'discover', errorType: null, progress: 0 };
  }
  const reached = input.reached ?? null;
  if (input.otherGraph === true) return settleOtherGraph(input, reached);
  if (input.deploys === false) {
    return input.provisioning === 'done'
      ? { status: 'provisioned', errorType: null, progress: reached ?? 0 }
      : { status: input.before ?? input.status, errorType: null, progress: reached ?? 0 };
  }
  const done = input.rows.filter((f) => f === 'done').length;
  if (done === input.rows.length) return { status: 'ready', errorType: null, progress: 100 };
  // Nothing ran: a freshly provisioned node (this run or before) is `provisioned`; a deployed one has work left.
  const before = input.before ?? input.status;
  if (
    done === 0 &&
    !input.rows.includes('failed') &&
    (input.provisioning === 'done' || before === 'provisioned')
  ) {
    return { status: 'provisioned', errorType: null, progress: unfinishedPercent(reached ?? 0) };
  }
  return {
    status: 'stopped',
    errorType: null,
    progress: unfinishedPercent(reached ?? partialPercent(done, input.rows.length)),
  };
}

/** A node at the end of a run of another graph that did not fail it (see settleNode). */
function settleOtherGraph(input: NodeSettlementInput, reached: number | null): NodeSettlement {
  const before = input.before ?? input.status;
  const done = input.rows.filter((f) => f === 'done').length;
  const left = unfinishedPercent(
    reached ?? (input.rows.length === 0 ? 0 : partialPercent(done, input.rows.length)),
  );
  if (before === 'ready') {
    return done === input.rows.length
      ? { status: 'ready', errorType: null, progress: 100 }
      : { status: 'stopped', errorType: null, progress: left };
  }
  if (before === 'error')
    return { status: 'error', errorType: input.errorTypeBefore ?? 'deploy', progress: 100 };
  if (before === 'stopped') return { status: 'stopped', errorType: null, progress: left };
  // provisioned (not deployed yet); a run of another graph takes no other node
  return { status: before, errorType: null, progress: 0 };
}

/** The settlement of one node from its rows in the run (and whether the run failed the node). */
export function settleNodeRows(
  node: { status: NodeStatus; errorType: NodeErrorType | null },
  rows: HistoryRow[],
  context: {
    before: NodeStatus | undefined;
    failed: boolean;
    deploys: boolean;
    otherGraph?: boolean;
    reached?: number | null;
  },
): NodeSettlement {
  const failedRow = rows.find((r) => r.status === 'error');
  const provisionRow = rows.find((r) => isProvisionStage(r.stage));
  return settleNode({
    status: node.status,
    before: context.before,
    provisioning: provisionRow ? (provisionRow.status === 'ready' ? 'done' : 'not_run') : null,
    rows: rows.filter((r) => !isProvisionStage(r.stage)).map((r) => rowFate(r.status, r.skipReason)),
    failedAs: context.failed || failedRow ? failureTypeOf(failedRow, node.errorType) : null,
    deploys: context.deploys,
    otherGraph: context.otherGraph,
    // a node in error is not marked busy by the run's dispatch (dispatch.ts): it still has the type it had
    errorTypeBefore: context.before === 'error' ? node.errorType : null,
    reached: context.reached,
  });
}

/** The error type a failed node carries: its failed row says how it failed (provisioning, a task, a forced stop). */
export function failureTypeOf(
  failedRow: HistoryRow | undefined,
  current: NodeErrorType | null,
): NodeErrorType {
  const recorded = failedRow?.errorType;
  if (recorded === 'stop_deployment' || recorded === 'provision' || recorded === 'deploy') return recorded;
  if ((failedRow && isProvisionStage(failedRow.stage)) || current === 'provision') return 'provision';
  return current === 'stop_deployment' ? 'stop_deployment' : 'deploy';
}

/**
 * The cluster's status from all its nodes at the end of a deployment. A graceful stop leaves the cluster
 * `stopped` even when a task failed while the stop settled (that node says `error`). A deployment that
 * completed while some nodes are not deployed (it provisioned or deployed only selected ones) leaves it
 * `partially_deployed`, or `error` while one of the others is in error.
 */
export function settleCluster(outcome: Outcome, nodes: NodeStatus[]): ClusterStatus {
  if (outcome === 'failed') return 'error';
  if (outcome === 'stopped') return 'stopped';
  if (nodes.every((s) => s === 'ready')) return 'operational';
  return nodes.includes('error') ? 'error' : 'partially_deployed';
}

export interface DeploymentEnd {
  /** the execution failed in a way the engine did not decide (an error, a time-out, an abort) */
  orchestrationFailed: boolean;
  /** some history row ended in error */
  anyError: boolean;
  /** some history row did not end done (ready, or skipped as unchanged or by `fail_on_error: false`) */
  workLeft: boolean;
  stop: StopState;
  nodes: NodeStatus[];
}

export interface DeploymentSettlement {
  outcome: Outcome;
  cluster: ClusterStatus;
  deployTask: 'ready' | 'error';
  /** the operator's stop_deployment task, if there is one */
  stopTask: 'ready' | 'error' | null;
}

/**
 * How a deployment ends. An operator's graceful stop: cluster `stopped`, stop task `ready`, and the
 * deployment's own task `error` when work was left (a stopped deployment did not finish: Fuel's clients, which
 * wait for `ready` or `error`, must not report it finished). A stop that had to cancel running commands, a
 * fault-tolerance stop, or a failed execution: cluster `error`.
 */
export function settleDeployment(end: DeploymentEnd): DeploymentSettlement {
  const operatorStop = isOperatorStop(end.stop);
  if (end.orchestrationFailed || isForced(end.stop) || isFaultToleranceStop(end.stop)) {
    return {
      outcome: 'failed',
      cluster: 'error',
      deployTask: 'error',
      stopTask: operatorStop ? 'error' : null,
    };
  }
  if (operatorStop) {
    return {
      outcome: 'stopped',
      cluster: settleCluster('stopped', end.nodes),
      deployTask: end.anyError || end.workLeft ? 'error' : 'ready',
      stopTask: 'ready',
    };
  }
  const outcome: Outcome = end.anyError ? 'failed' : 'completed';
  return {
    outcome,
    cluster: settleCluster(outcome, end.nodes),
    deployTask: end.anyError ? 'error' : 'ready',
    stopTask: null,
  };
}

/** Did every row end done (ready, or skipped in a way that counts as success)? */
export function allDone(rows: HistoryRow[]): boolean {
  return rows.every((r) => rowFate(r.status, r.skipReason) === 'done');
}

/** Percent of work done when some is left: rounded down, never 100. */
function partialPercent(done: number, total: number): number {
  return unfinishedPercent(Math.floor((100 * done) / total));
}

/** How much of this work ended done, in percent: 100 only when all of it did. */
export function workProgress(rows: HistoryRow[]): number {
  if (allDone(rows)) return 100;
  return partialPercent(rows.filter((r) => rowFate(r.status, r.skipReason) === 'done').length, rows.length);
}

/**
 * A stage task (`provision`, `deployment` of a `deploy` run) ends in error when one of its own rows failed,
 * `ready` when all of them ended done, otherwise (work left) as its run.
 */
export function stageTaskStatus(
  rows: HistoryRow[],
  provision: boolean,
  run: 'ready' | 'error',
): 'ready' | 'error' {
  const own = rows.filter((r) => provision === isProvisionStage(r.stage));
  if (own.some((r) => r.status === 'error')) return 'error';
  return allDone(own) ? 'ready' : run;
}
