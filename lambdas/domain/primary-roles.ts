/**
 * Primary roles, elected as Nailgun's `Cluster.set_primary_roles` elects them: of the nodes holding a role
 * that has a primary (controller, mongo), exactly one is its primary. A primary keeps the role while it stays
 * in the cluster; otherwise the first `ready` node by id is elected, else the node with the lowest id. The
 * primary shows `primary-<role>` instead of `<role>` to the graph (Nailgun's `Node.all_roles`).
 *
 * A graph that never names `primary-<role>` has no primary tasks for that role: then none is elected, so its
 * `<role>` tasks run on every node of the role.
 */
import { type GraphTask, isPattern, roleList } from './graph.js';

/** Roles of the Fuel 9 release with `has_primary: true`. */
export const ROLES_WITH_PRIMARY: readonly string[] = ['controller', 'mongo'];

export const primaryOf = (role: string): string => `primary-${role}`;

export interface ElectionNode {
  id: number;
  roles: string[];
  status: string;
  pendingDeletion: boolean;
  primaryRoles: string[];
}

/** The roles with a primary whose `primary-<role>` the graph names (by name, in any role field). */
export function rolesNeedingPrimary(tasks: GraphTask[]): string[] {
  const named = new Set<string>();
  for (const task of tasks) {
    const specs = [task.roles, task.role, task.groups];
    for (const dep of [...(task['cross-depends'] ?? []), ...(task['cross-depended-by'] ?? [])])
      specs.push(dep.role ?? undefined);
    for (const spec of specs) for (const role of roleList(spec)) if (!isPattern(role)) named.add(role);
  }
  return ROLES_WITH_PRIMARY.filter((role) => named.has(primaryOf(role)));
}

/**
 * The primary roles of every node after the election of the primaries of `roles` (others are left as they are): `members` are the cluster's nodes, `candidates` the
 * ids of the nodes being deployed. Returns only the nodes whose primary roles change.
 */
export function electPrimaries(
  members: ElectionNode[],
  candidates: Set<number>,
  roles: readonly string[],
): Map<number, string[]> {
  const next = new Map(members.map((n) => [n.id, new Set(n.primaryRoles)]));
  const sorted = [...members].sort((a, b) => a.id - b.id);
  for (const role of ROLES_WITH_PRIMARY) {
    if (!roles.includes(role)) continue;
    const holders = sorted.filter((n) => !n.pendingDeletion && n.roles.includes(role));
    const keep = holders.find((n) => n.primaryRoles.includes(role));
    const pool = holders.filter((n) => candidates.has(n.id));
    const chosen = keep ?? pool.find((n) => n.status === 'ready') ?? pool[0];
    for (const node of sorted) {
      const set = next.get(node.id) as Set<string>;
      if (node === chosen) set.add(role);
      else set.delete(role);
    }
  }
  const changed = new Map<number, string[]>();
  for (const node of members) {
    const after = [...(next.get(node.id) ?? [])].sort();
    if (after.join() !== [...node.primaryRoles].sort().join()) changed.set(node.id, after);
  }
  return changed;
}

/** Nailgun's `all_roles`: the node's roles with each primary role the graph uses shown as `primary-<role>`. */
export function allRoles(
  node: { roles: string[]; primaryRoles: string[] },
  used: readonly string[],
): string[] {
  return node.roles.map((role) =>
    node.primaryRoles.includes(role) && used.includes(role) ? primaryOf(role) : role,
  );
}
