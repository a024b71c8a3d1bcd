/**
 * Pure decisions of the deployment engine: which rows of a layer are sent or skipped,
 * how they are batched into SendCommand calls, how an SSM result maps to a history status,
 * and which status each node and the cluster end in.
 */
import { type HistoryRow, instanceKey } from './model.js';
import type { ClusterStatus, HistoryStatus, NodeErrorType, NodeStatus } from './status.js';

/** SSM SendCommand takes at most 50 instance ids per call; Astute sent at most 50 nodes per call too. */
export const MAX_INSTANCES_PER_COMMAND = 50;

export interface Failures {
  /** node id -> why nothing more runs on it */
  nodes: Map<number, string>;
  /** instance key -> why it did not succeed (failed, or blocked by a failed requirement) */
  instances: Map<string, string>;
}

export interface LayerDecision {
  send: HistoryRow[];
  /** `blocked`: cannot run (its node or a requirement failed); `unchanged`: need not run (counts as success). */
  skip: { row: HistoryRow; reason: string; kind: Extract<SkipReason, 'blocked' | 'unchanged'> }[];
}

/**
 * Pending rows of a layer are sent unless their node failed or one of their requirements did not succeed
 * (blocked), or their inputs are unchanged since their last successful run on that node (unchanged).
 */
export function decideLayer(rows: HistoryRow[], failures: Failures): LayerDecision {
  const decision: LayerDecision = { send: [], skip: [] };
  for (const row of rows) {
    if (row.status !== 'pending') continue;
    const nodeFailure = failures.nodes.get(row.nodeId);
    if (nodeFailure !== undefined) {
      decision.skip.push({
        row,
        kind: 'blocked',
        reason: `not run: node ${row.nodeId} failed earlier (${nodeFailure})`,
      });
      continue;
    }
    const failedRequirement = row.requires.find((key) => failures.instances.has(key));
    if (failedRequirement !== undefined) {
      decision.skip.push({
        row,
        kind: 'blocked',
        reason: `not run: requirement ${failedRequirement} did not succeed`,
      });
      continue;
    }
    if (row.unchanged) {
      decision.skip.push({
        row,
        kind: 'unchanged',
        reason: 'not run: its inputs are unchanged since its last successful run on this node',
      });
      continue;
    }
    decision.send.push(row);
  }
  return decision;
}

export interface Batch {
  taskName: string;
  cmd: string;
  timeout: number;
  retries: number;
  rows: HistoryRow[];
}

/** Rows with the same command and parameters go in one SendCommand, at most 50 nodes each. Deterministic. */
export function batchRows(rows: HistoryRow[]): Batch[] {
  const groups = new Map<string, HistoryRow[]>();
  for (const row of rows) {
    const id = JSON.stringify([row.taskName, row.cmd, row.timeout, row.retries]);
    const group = groups.get(id);
    if (group) group.push(row);
    else groups.set(id, [row]);
  }
  const batches: Batch[] = [];
  for (const id of [...groups.keys()].sort()) {
    const group = (groups.get(id) ?? []).sort((a, b) => a.nodeId - b.nodeId);
    for (let i = 0; i < group.length; i += MAX_INSTANCES_PER_COMMAND) {
      const chunk = group.slice(i, i + MAX_INSTANCES_PER_COMMAND);
      const first = chunk[0];
      if (!first) continue;
      batches.push({
        taskName: first.taskName,
        cmd: first.cmd,
        timeout: first.timeout,
        retries: first.retries,
        rows: chunk,
      });
    }
  }
  return batches;
}

/** aws:runShellScript accepts at most 172,800 s (48 h) for a step. */
export const MAX_EXECUTION_TIMEOUT_S = 172_800;

/** Seconds the whole SSM step may run: every attempt, plus a little room, within SSM's limit. */
export function executionTimeout(timeout: number, retries: number): number {
  return Math.min(timeout * (retries + 1) + 30, MAX_EXECUTION_TIMEOUT_S);
}

const SUCCESS = new Set(['Success']);
const FAILURE = new Set([
  'Failed',
  'TimedOut',
  'Cancelled',
  'Undeliverable',
  'Terminated',
  'DeliveryTimedOut',
  'ExecutionTimedOut',
  'InvalidPlatform',
  'AccessDenied',
]);

/** An SSM invocation status as a final history status, or null while the command is not finished. */
export function historyStatusOfInvocation(
  ssmStatus: string,
): Extract<HistoryStatus, 'ready' | 'error'> | null {
  if (SUCCESS.has(ssmStatus)) return 'ready';
  if (FAILURE.has(ssmStatus)) return 'error';
  return null;
}

export function rowKey(row: Pick<HistoryRow, 'taskName' | 'nodeId'>): string {
  return instanceKey(row.taskName, row.nodeId);
}

export type Outcome = 'completed' | 'stopped' | 'failed';

/** What became of one history row, for settling its node: succeeded, failed, or left undone. */
export type RowFate = 'done' | 'failed' | 'left';

/** Why a row was skipped; only some reasons count as success for dependents and for the node. */
export type SkipReason = 'unchanged' | 'fail_on_error' | 'blocked' | 'stopped' | 'aborted';

export function skipCountsAsSuccess(reason: SkipReason): boolean {
  return reason === 'unchanged' || reason === 'fail_on_error';
}

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
 */
export function settleNode(input: NodeSettlementInput): NodeSettlement {
  if (input.failedAs !== null) return { status: 'error', errorType: input.failedAs, progress: 100 };
  if (
    input.provisioning === 'not_run' ||
    (input.provisioning === null && (input.status === 'discover' || input.status === 'provisioning'))
  ) {
    return { status: 'discover', errorType: null, progress: 0 };
  }
  if (input.deploys === false) {
    return input.provisioning === 'done'
      ? { status: 'provisioned', errorType: null, progress: 0 }
      : { status: input.before ?? input.status, errorType: null, progress: 0 };
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
    return { status: 'provisioned', errorType: null, progress: 0 };
  }
  return {
    status: 'stopped',
    errorType: null,
    progress: Math.min(99, Math.floor((100 * done) / input.rows.length)),
  };
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
  stop: { cause: 'user' | 'fault_tolerance'; forced: boolean } | null;
  nodes: NodeStatus[];
}

export interface DeploymentSettlement {
  outcome: Outcome;
  cluster: ClusterStatus;
  deployTask: 'ready' | 'error';
  /** the user's stop_deployment task, if there is one */
  stopTask: 'ready' | 'error' | null;
}

/**
 * How a deployment ends. A user's graceful stop: cluster `stopped`, stop task `ready`. A stop that had to
 * cancel running commands, a fault-tolerance stop, or a failed execution: cluster `error`.
 */
export function settleDeployment(end: DeploymentEnd): DeploymentSettlement {
  const userStop = end.stop?.cause === 'user';
  if (
    end.orchestrationFailed ||
    (end.stop !== null && (end.stop.forced || end.stop.cause === 'fault_tolerance'))
  ) {
    return { outcome: 'failed', cluster: 'error', deployTask: 'error', stopTask: userStop ? 'error' : null };
  }
  if (userStop) {
    return {
      outcome: 'stopped',
      cluster: settleCluster('stopped', end.nodes),
      deployTask: end.anyError ? 'error' : 'ready',
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
