/**
 * When a failed node stops the whole deployment (Fuel 9.x). Two rules, either is enough:
 * - the node has a critical role: Nailgun's `DeploymentHASerializer.critical_roles`
 *   (nailgun/orchestrator/deployment_serializers.py: primary-controller, controller, primary-mongo,
 *   primary-swift-proxy, ceph-osd), read on the node's roles with each primary role it holds shown as
 *   `primary-<role>` (Nailgun's `Node.all_roles`);
 * - more members of a fault-tolerance group failed than the group tolerates: the graph's `group` tasks that
 *   carry `fault_tolerance`, which Nailgun sends as `tasks_metadata.fault_tolerance_groups` and Astute counts
 *   down on every failed member (fuel-astute lib/astute/task_cluster.rb `validate_fault_tolerance`).
 * Any other failed node (a compute or a cinder node in no group) fails alone: the deployment goes on and
 * ends in error.
 */
import { ANY_ROLE, type GraphTask, nameMatcher, ownRoles, roleList } from './graph.js';

/** Nailgun's `DeploymentHASerializer.critical_roles` (Fuel 9.x). */
export const CRITICAL_ROLES: readonly string[] = [
  'primary-controller',
  'controller',
  'primary-mongo',
  'primary-swift-proxy',
  'ceph-osd',
];

export interface ToleranceNode {
  id: number;
  /** The node's roles as the graph sees them: a primary role shown as `primary-<role>`. */
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

/**
 * The roles a group names for its members: `roles`, else Nailgun's alias `role`, else `groups`, each a
 * string or a list. A group that names none (or only the string '*') stands for its own id as a role, as the
 * release's groups do (`controller`, `compute`, ...).
 */
function groupRoles(task: GraphTask): string[] {
  const spec = ownRoles(task);
  const roles = [...new Set(roleList(spec))];
  if (spec === ANY_ROLE || roles.length === 0) return [task.id];
  return roles;
}

/**
 * Which nodes hold one of `roles`: by name, by `/regex/` (Nailgun's name matching), or `*` for every node. An
 * uploaded graph's patterns are validated; one that still does not compile matches no role.
 */
function roleHolder(roles: string[]): (node: ToleranceNode) => boolean {
  if (roles.includes(ANY_ROLE)) return () => true;
  const matchers = roles.map((role) => {
    try {
      return nameMatcher(role);
    } catch {
      return () => false;
    }
  });
  return (node) => node.roles.some((role) => matchers.some((matches) => matches(role)));
}

/** The fault-tolerance groups of a graph on these nodes, in graph order. */
export function toleranceGroups(tasks: GraphTask[], nodes: ToleranceNode[]): ToleranceGroup[] {
  const groups: ToleranceGroup[] = [];
  for (const task of tasks) {
    if (task.type !== 'group' || task.fault_tolerance === undefined) continue;
    const roles = groupRoles(task);
    const holds = roleHolder(roles);
    const nodeIds = [...new Set(nodes.filter(holds).map((node) => node.id))].sort((a, b) => a - b);
    groups.push({
      name: task.id,
      roles,
      nodeIds,
      allowedFailures: allowedFailures(task.fault_tolerance, nodeIds.length),
    });
  }
  return groups;
}

/** The critical roles a node holds, in the node's order. */
export function criticalRolesOf(node: ToleranceNode): string[] {
  return node.roles.filter((role) => CRITICAL_ROLES.includes(role));
}

function criticalReason(node: ToleranceNode, critical: string[]): string {
  const which =
    critical.length === 1
      ? `its role ${critical[0]} is critical`
      : `its roles ${critical.join(', ')} are critical`;
  return `node ${node.id} (${node.roles.join(', ')}) failed: ${which}`;
}

/**
 * Whether the failed nodes stop the deployment, and why. Failed ids of unknown nodes are ignored. A failed
 * node with a critical role is reported first (lowest id first), then the first group in the order given
 * whose tolerance is exceeded. A failed node with no critical role and in no group stops nothing.
 */
export function judgeFailures(
  groups: ToleranceGroup[],
  nodes: ToleranceNode[],
  failedNodeIds: number[],
): ToleranceVerdict {
  const failed = new Set(failedNodeIds);
  const failedNodes = nodes.filter((node) => failed.has(node.id)).sort((a, b) => a.id - b.id);
  if (failedNodes.length === 0) return { exceeded: false, reason: null };

  for (const node of failedNodes) {
    const critical = criticalRolesOf(node);
    if (critical.length > 0) return { exceeded: true, reason: criticalReason(node, critical) };
  }

  const failedIds = new Set(failedNodes.map((node) => node.id));
  for (const group of groups) {
    const members = new Set(group.nodeIds);
    const failedMembers = [...members].filter((id) => failedIds.has(id)).length;
    if (failedMembers > group.allowedFailures) {
      return {
        exceeded: true,
        reason:
          `${failedMembers} of ${members.size} nodes of group '${group.name}' failed; ` +
          `it tolerates ${group.allowedFailures}`,
      };
    }
  }
  return { exceeded: false, reason: null };
}
