/**
 * Where a task of a deployment runs: a cluster node (its id, 1 and up), Fuel's master node, or the sync
 * node on which stages are noted (Astute's `virtual_sync_node`). History rows, plan entries and failures
 * name their target by these numbers; the API shows them as Nailgun does: the node id, `master`, `null`.
 */

/** The master node: tasks of the `master` role run there. */
export const MASTER_NODE = 0;
/** The sync node: stages are noted there; nothing runs on it. */
export const SYNC_NODE = -1;

/** A node of the cluster, as opposed to the master or the sync node. */
export function isClusterNode(target: number): boolean {
  return target > 0;
}

/** The target as Nailgun's deployment history shows it: `3`, `'master'` or `null`. */
export function targetJson(target: number): number | 'master' | null {
  if (target === MASTER_NODE) return 'master';
  if (target === SYNC_NODE) return null;
  return target;
}

/** The target in a message: `node 3`, `the master node`, `the sync node`. */
export function targetLabel(target: number): string {
  if (target === MASTER_NODE) return 'the master node';
  if (target === SYNC_NODE) return 'the sync node';
  return `node ${target}`;
}

/** The key of a task on a target in plans and rows: `task@3`, `task@master`, `task@sync`. */
export function targetKeyPart(target: number): string {
  if (target === MASTER_NODE) return 'master';
  if (target === SYNC_NODE) return 'sync';
  return String(target);
}
