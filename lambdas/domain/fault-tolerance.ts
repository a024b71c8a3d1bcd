/**
 * Fault tolerance of a task-based deployment (Astute, Fuel 9): the graph's `group` tasks that carry
 * `fault_tolerance` say how many of their nodes may fail before the whole deployment is stopped.
 * A node that belongs to no such group is critical: its failure alone stops the deployment.
 */
import { ANY_ROLE, type GraphTask } from './graph';

export interface ToleranceNode {
  id: number;
  roles: string[];
}

export interface ToleranceGroup {
  /** The group task's id. */
  name: string;
  /** Roles whose nodes are members of the group. */
  roles: string[];
  /** Member node ids, ascending. */
  nodeIds: number[];
  /** How many members may fail, within [0, nodeIds.length]. */
  allowedFailures: number;
}

export interface ToleranceVerdict {
  exceeded: boolean;
  reason: string | null;
}

const TOLERANCE_PATTERN = /^\s*(-?)(\d+(?:\.\d+)?)\s*(%?)\s*$/;

/**
 * How many of `members` nodes may fail under a `fault_tolerance` value:
 * - undefined (or an unreadable string) -> 0;
 * - a non-negative number n (or "n") -> n;
 * - "N%" -> floor(N * members / 100);
 * - a negative number -n (or "-n") -> members - n, i.e. n nodes must succeed;
 * - "-N%" -> members - floor(N * members / 100), i.e. N% of the nodes (rounded down) must succeed.
 * The result is an integer, never negative and never above `members`.
 */
export function allowedFailures(faultTolerance: number | string | undefined, members: number): number {
  const total = Number.isFinite(members) ? Math.max(0, Math.floor(members)) : 0;
  if (faultTolerance === undefined) return 0;
  let negative: boolean;
  let magnitude: number;
  if (typeof faultTolerance === 'number') {
    if (Number.isNaN(faultTolerance)) return 0;
    negative = faultTolerance < 0;
    magnitude = Math.abs(faultTolerance);
  } else {
    const match = TOLERANCE_PATTERN.exec(faultTolerance);
    if (!match) return 0;
    negative = match[1] === '-';
    const value = Number(match[2]);
    magnitude = match[3] === '%' ? (value * total) / 100 : value;
  }
  magnitude = Math.floor(magnitude);
  const allowed = negative ? total - magnitude : magnitude;
  return Math.min(total, Math.max(0, allowed));
}

function groupRoles(task: GraphTask): string[] {
  if (task.roles === undefined || task.roles === ANY_ROLE) return [task.id];
  return [...new Set(task.roles)];
}

/** The fault-tolerance groups of a graph on these nodes, in graph order. */
export function toleranceGroups(tasks: GraphTask[], nodes: ToleranceNode[]): ToleranceGroup[] {
  const groups: ToleranceGroup[] = [];
  for (const task of tasks) {
    if (task.type !== 'group' || task.fault_tolerance === undefined) continue;
    const roles = groupRoles(task);
    const everyNode = roles.includes(ANY_ROLE);
    const members = new Set<number>();
    for (const node of nodes) {
      if (everyNode || node.roles.some((role) => roles.includes(role))) members.add(node.id);
    }
    const nodeIds = [...members].sort((a, b) => a - b);
    groups.push({
      name: task.id,
      roles,
      nodeIds,
      allowedFailures: allowedFailures(task.fault_tolerance, nodeIds.length),
    });
  }
  return groups;
}

/**
 * Whether the failed nodes exceed what the graph tolerates. Failed ids of unknown nodes are ignored.
 * Critical nodes are reported first (lowest id first), then groups in the order given.
 */
export function judgeFailures(
  groups: ToleranceGroup[],
  nodes: ToleranceNode[],
  failedNodeIds: number[],
): ToleranceVerdict {
  const known = new Set(nodes.map((node) => node.id));
  const failed = new Set(failedNodeIds.filter((id) => known.has(id)));
  if (failed.size === 0) return { exceeded: false, reason: null };

  const grouped = new Set(groups.flatMap((group) => group.nodeIds));
  const critical = [...failed].filter((id) => !grouped.has(id)).sort((a, b) => a - b);
  const firstCritical = critical[0];
  if (firstCritical !== undefined) {
    return {
      exceeded: true,
      reason: `node ${firstCritical} failed and is critical (it belongs to no fault-tolerance group)`,
    };
  }

  for (const group of groups) {
    const failedMembers = new Set(group.nodeIds.filter((id) => failed.has(id))).size;
    if (failedMembers > group.allowedFailures) {
      return {
        exceeded: true,
        reason:
          `${failedMembers} of ${new Set(group.nodeIds).size} nodes of group '${group.name}' failed; ` +
          `it tolerates ${group.allowedFailures}`,
      };
    }
  }
  return { exceeded: false, reason: null };
}
