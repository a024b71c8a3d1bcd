/**
 * Pure decisions of a stage's dispatch: which pending rows are sent or skipped, how they are batched into
 * SendCommand calls, and the time limits of commands and stages.
 */
import type { Failures } from './bookkeeping.js';
import { type HistoryRow, type SkipReason, skipCountsAsSuccess } from './history.js';
import { NO_TARGET_SETS, parseRequirement, requirementNames, type TargetSets } from './requirements.js';
import { rowKey } from './stage.js';
import { SYNC_NODE, targetLabel } from './targets.js';

/** SSM SendCommand takes at most 50 instance ids per call; Astute sent at most 50 nodes per call too. */
export const MAX_INSTANCES_PER_COMMAND = 50;
/** SSM keeps trying to deliver a command to an unreachable node for this long. */
export const DELIVERY_TIMEOUT_S = 600;
/** aws:runShellScript accepts at most 172,800 s (48 h) for a step. */
export const MAX_EXECUTION_TIMEOUT_S = 172_800;

export interface LayerDecision {
  send: HistoryRow[];
  /**
   * `blocked`: cannot run (its node or a requirement failed); `unchanged`: need not run (counts as success);
   * `condition`, `noop`: runs nothing (a false condition; a stage or `skipped` task), counts as success.
   */
  skip: {
    row: HistoryRow;
    reason: string;
    kind: Extract<SkipReason, 'blocked' | 'unchanged' | 'condition' | 'noop'>;
  }[];
}

/** Rows in the order they are decided: requirements first (the plan's order), then by key. */
function decisionOrder(rows: HistoryRow[]): HistoryRow[] {
  return [...rows].sort((a, b) => (a.order ?? 0) - (b.order ?? 0) || (rowKey(a) < rowKey(b) ? -1 : 1));
}

/** The target of an entry key (`task@3`, `task@master`, `task@sync`): a node id, or NaN for the others. */
function nodeOfKey(key: string): number {
  return Number(key.slice(key.lastIndexOf('@') + 1));
}

/**
 * The first requirement of a row that did not succeed. A stage (on the sync node) does not wait for the
 * nodes that failed alone (not critically: a critical failure stops the deployment anyway): the other nodes
 * go on past it. A `task@*` requirement is every entry of that task, `task@#n` those on the targets of set n.
 */
function failedRequirementOf(
  row: HistoryRow,
  failed: Set<string>,
  failedNodes: Map<number, string>,
  sets: TargetSets,
): string | undefined {
  const counts = (key: string): boolean => !(row.nodeId === SYNC_NODE && failedNodes.has(nodeOfKey(key)));
  for (const requirement of row.requires) {
    const parsed = parseRequirement(requirement);
    if (parsed === null || 'target' in parsed) {
      if (failed.has(requirement) && counts(requirement)) return requirement;
      continue;
    }
    for (const key of failed) {
      const entry = parseRequirement(key);
      if (entry === null || !('target' in entry)) continue;
      if (requirementNames(requirement, entry.task, entry.target, sets) && counts(key)) return key;
    }
  }
  return undefined;
}

/**
 * Pending rows of a layer are sent unless their node failed or one of their requirements did not succeed
 * (blocked), or their inputs are unchanged since their last successful run on that node (unchanged). Rows that
 * run nothing are decided first, in the plan's order, so that a row of the same layer that needs one sees it.
 */
export function decideLayer(
  rows: HistoryRow[],
  failures: Failures,
  sets: TargetSets = NO_TARGET_SETS,
): LayerDecision {
  const decision: LayerDecision = { send: [], skip: [] };
  const failed = new Set(failures.instances.keys());
  for (const row of decisionOrder(rows)) {
    if (row.status !== 'pending') continue;
    const nodeFailure = failures.nodes.get(row.nodeId);
    if (nodeFailure !== undefined) {
      decision.skip.push({
        row,
        kind: 'blocked',
        reason: `not run: ${targetLabel(row.nodeId)} failed earlier (${nodeFailure})`,
      });
      failed.add(rowKey(row));
      continue;
    }
    const failedRequirement = failedRequirementOf(row, failed, failures.nodes, sets);
    if (failedRequirement !== undefined) {
      decision.skip.push({
        row,
        kind: 'blocked',
        reason: `not run: requirement ${failedRequirement} did not succeed`,
      });
      failed.add(rowKey(row));
      continue;
    }
    if (row.noop !== null) {
      decision.skip.push({ row, kind: row.noop.kind, reason: row.noop.reason });
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

/**
 * The pending rows that run nothing and whose requirements all succeeded, with what they are (a deployment
 * that ends before their layer still records them as what they would have been, not as stopped).
 */
export function reachedNoops(
  rows: HistoryRow[],
  sets: TargetSets = NO_TARGET_SETS,
): Map<string, { kind: 'condition' | 'noop'; reason: string }> {
  const byKey = new Map(rows.map((r) => [rowKey(r), r]));
  const byTask = new Map<string, HistoryRow[]>();
  for (const r of rows) byTask.set(r.taskName, [...(byTask.get(r.taskName) ?? []), r]);
  const reached = new Map<string, { kind: 'condition' | 'noop'; reason: string }>();
  const succeeded = (r: HistoryRow | undefined): boolean =>
    r !== undefined &&
    (r.status === 'ready' ||
      (r.status === 'skipped' && r.skipReason !== null && skipCountsAsSuccess(r.skipReason)) ||
      reached.has(rowKey(r)));
  for (const row of decisionOrder(rows)) {
    if (row.status !== 'pending' || row.noop === null) continue;
    const met = row.requires.every((key) => {
      const parsed = parseRequirement(key);
      if (parsed === null || 'target' in parsed) return succeeded(byKey.get(key));
      return (byTask.get(parsed.task) ?? [])
        .filter((r) => requirementNames(key, r.taskName, r.nodeId, sets))
        .every(succeeded);
    });
    if (met) reached.set(rowKey(row), row.noop);
  }
  return reached;
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
    const id = JSON.stringify([row.taskName, row.cmd, row.timeout, row.retries, row.interval]);
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

/** Seconds the whole SSM step may run: every attempt, plus a little room, within SSM's limit. */
export function executionTimeout(timeout: number, retries: number, interval = 0): number {
  return Math.min(timeout * (retries + 1) + interval * retries + 30, MAX_EXECUTION_TIMEOUT_S);
}

/** The parameters of the task document for a batch's command. */
export function commandParameters(
  row: Pick<HistoryRow, 'cmd' | 'timeout' | 'retries' | 'interval'>,
): Record<string, string[]> {
  return {
    command: [row.cmd],
    timeout: [String(row.timeout)],
    retries: [String(row.retries)],
    interval: [String(Math.round(row.interval))],
    executionTimeout: [String(executionTimeout(row.timeout, row.retries, row.interval))],
  };
}

/**
 * How long a stage may wait for its nodes: the longest command, plus the time SSM keeps trying to
 * deliver to an unreachable node (which then reports DeliveryTimedOut), plus room for the dispatch itself.
 */
export function stageTimeLimit(longestCommandSeconds: number): number {
  return longestCommandSeconds + DELIVERY_TIMEOUT_S + 120;
}

/** Which rows of a layer were sent (and not yet finished): their nodes show they are busy. */
export function unfinishedOf(rows: HistoryRow[], keys: Set<string>): HistoryRow[] {
  return rows.filter((r) => keys.has(rowKey(r)) && (r.status === 'pending' || r.status === 'running'));
}
