/**
 * Status values of every entity, as closed unions with predicates and legal transitions.
 * Values are Fuel's own (Nailgun's consts.py) and part of the API contract (docs/api.md).
 * Callers use the predicates; they never compare raw strings of another entity.
 */

export const CLUSTER_STATUSES = [
  'new',
  'deployment',
  'stopped',
  'operational',
  'error',
  'remove',
  'partially_deployed',
] as const;
export type ClusterStatus = (typeof CLUSTER_STATUSES)[number];

const UNLOCKED_CLUSTER_STATUSES: readonly ClusterStatus[] = [
  'new',
  'operational',
  'error',
  'stopped',
  'partially_deployed',
];

/** A locked cluster accepts no edits and no second deployment. */
export function isClusterLocked(status: ClusterStatus): boolean {
  return !UNLOCKED_CLUSTER_STATUSES.includes(status);
}

export const NODE_STATUSES = [
  'discover',
  'provisioning',
  'provisioned',
  'deploying',
  'ready',
  'error',
  'removing',
  'stopped',
] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

export const NODE_ERROR_TYPES = ['deploy', 'provision', 'deletion', 'discover', 'stop_deployment'] as const;
export type NodeErrorType = (typeof NODE_ERROR_TYPES)[number];

/** Nodes that must be provisioned (again) before the graph can run on them. */
export function needsProvisioning(status: NodeStatus, errorType: NodeErrorType | null): boolean {
  return (
    status === 'discover' || status === 'provisioning' || (status === 'error' && errorType === 'provision')
  );
}

export const TASK_STATUSES = ['pending', 'running', 'ready', 'error'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export function isTaskFinished(status: TaskStatus): boolean {
  return status === 'ready' || status === 'error';
}

export const TASK_NAMES = [
  'deploy',
  'provision',
  'deployment',
  'stop_deployment',
  'reset_environment',
  'cluster_deletion',
] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export const HISTORY_STATUSES = ['pending', 'running', 'ready', 'error', 'skipped'] as const;
export type HistoryStatus = (typeof HISTORY_STATUSES)[number];

/**
 * pending -> running -> ready | error, and pending -> skipped (never run). A task with
 * `fail_on_error: false` whose command failed is recorded skipped (Astute's rule): running -> skipped.
 */
const HISTORY_TRANSITIONS: Readonly<Record<HistoryStatus, readonly HistoryStatus[]>> = {
  pending: ['running', 'skipped'],
  running: ['ready', 'error', 'skipped'],
  ready: [],
  error: [],
  skipped: [],
};

/** History moves only along the transitions above. */
export function canMoveHistory(from: HistoryStatus, to: HistoryStatus): boolean {
  return HISTORY_TRANSITIONS[from].includes(to);
}

/** The statuses a history row may be in for a move to `to` to be legal. */
export function historySourcesOf(to: HistoryStatus): HistoryStatus[] {
  return HISTORY_STATUSES.filter((from) => canMoveHistory(from, to));
}

export function isHistoryFinished(status: HistoryStatus): boolean {
  return HISTORY_TRANSITIONS[status].length === 0;
}
