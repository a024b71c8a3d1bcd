/**
 * Clusters (environments): create, rename, delete; and the lock rule every edit of a cluster obeys: an edit
 * writes only while it holds the cluster's edit lease, which no deployment lock can be taken against and
 * which cannot be taken while a deployment holds the lock (the protocol: `store/clusters.ts`).
 */
import { randomUUID } from 'node:crypto';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
  WriteConflictError,
} from '../../domain/errors.js';
import {
  deletedMessage,
  duplicateNameMessage,
  editInProgressMessage,
  editLeaseLostMessage,
} from '../../domain/messages.js';
import type { Cluster, Node } from '../../domain/model.js';
import { RELEASE } from '../../domain/release.js';
import { isClusterLocked } from '../../domain/status.js';
import { type ActionTask, doneAction } from '../../domain/task.js';
import { type Context, nowIso } from '../ports.js';
import { releaseNode } from './nodes.js';

/** How long an edit (or a deployment) waits for another edit of the same cluster to end: well within 29 s. */
export const EDIT_WAIT_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function getCluster(ctx: Context, id: number): Promise<Cluster> {
  const found = await ctx.repos.clusters.get(id);
  if (!found) throw new NotFoundError(`Cluster ${id} not found`);
  return found;
}

/**
 * A locked cluster (a deployment holds it, or its status locks it) accepts no edit: 409, or 403 for a
 * settings change, as Nailgun answers (`validators/cluster.py`).
 */
export function assertUnlocked(
  c: Cluster,
  action: string,
  refusal: 'conflict' | 'forbidden' = 'conflict',
): void {
  if (c.deploymentTaskId !== null || isClusterLocked(c.status)) {
    const by = c.deploymentTaskId !== null ? ` (deployment task ${c.deploymentTaskId} is running)` : '';
    const message = `Cannot ${action}: environment '${c.name}' is locked while its status is '${c.status}'${by}`;
    throw refusal === 'forbidden' ? new ForbiddenError(message) : new ConflictError(message);
  }
}

/**
 * Runs a conditional write on the cluster item that a live edit lease holds back (`beginEdit`, `lock`)
 * until it holds. A lost condition is looked into: the cluster is gone (404), it is locked (`refuse`
 * throws), or another edit holds the lease, which ends within milliseconds: waited for, up to
 * `EDIT_WAIT_MS`, then 409.
 */
export async function whenNotEdited<T>(
  ctx: Context,
  clusterId: number,
  action: string,
  write: () => Promise<T>,
  refuse: (current: Cluster) => void,
): Promise<T> {
  const deadline = Date.now() + EDIT_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof WriteConflictError)) throw err;
    }
    const current = await getCluster(ctx, clusterId);
    refuse(current);
    if (Date.now() >= deadline) throw new ConflictError(editInProgressMessage(current.name, action));
    await sleep(Math.min(200, 10 * 2 ** attempt) * (0.5 + Math.random()));
  }
}

/** The cluster's edit lease, and the cluster as it is now: 404, 409 (403) when locked, 409 when busy too long. */
export function takeEditLease(
  ctx: Context,
  clusterId: number,
  action: string,
  refusal: 'conflict' | 'forbidden' = 'conflict',
): Promise<{ lease: string; cluster: Cluster }> {
  return whenNotEdited(
    ctx,
    clusterId,
    action,
    () => ctx.repos.clusters.beginEdit(clusterId),
    (current) => assertUnlocked(current, action, refusal),
  );
}

/** What an edit did: its result, and the fields of the cluster to write as the lease is released. */
export interface Edit<T> {
  result: T;
  patch?: Partial<Cluster>;
}

/**
 * Runs `work` under the cluster's edit lease (given the cluster as it is under the lease), then writes
 * `patch` and releases the lease in one conditional write. `work` that fails has undone what it wrote;
 * the lease is released and its error goes on.
 */
export async function editCluster<T>(
  ctx: Context,
  clusterId: number,
  action: string,
  work: (cluster: Cluster) => Promise<Edit<T>>,
  refusal: 'conflict' | 'forbidden' = 'conflict',
): Promise<T> {
  const { lease, cluster } = await takeEditLease(ctx, clusterId, action, refusal);
  let edit: Edit<T>;
  try {
    edit = await work(cluster);
  } catch (err) {
    await endQuietly(ctx, clusterId, lease);
    throw err;
  }
  await endEdit(ctx, cluster, lease, action, edit.patch);
  return edit.result;
}

async function endEdit(
  ctx: Context,
  cluster: Cluster,
  lease: string,
  action: string,
  patch?: Partial<Cluster>,
): Promise<Cluster> {
  try {
    return await ctx.repos.clusters.endEdit(cluster.id, lease, patch);
  } catch (err) {
    if (err instanceof WriteConflictError)
      throw new ConflictError(editLeaseLostMessage(cluster.name, action));
    throw err;
  }
}

/** Releases a lease after a failed edit; a lease that cannot be released ends by itself. */
async function endQuietly(ctx: Context, clusterId: number, lease: string): Promise<void> {
  await ctx.repos.clusters.endEdit(clusterId, lease).catch((err: unknown) => {
    ctx.log('edit lease not released; it expires by itself', { clusterId, error: String(err) });
  });
}

function duplicateName(name: string): ConflictError {
  return new ConflictError(duplicateNameMessage(name), [{ field: 'name', message: 'must be unique' }]);
}

/** Refuses a name another cluster has; clusters stored before name claims hold their names without one. */
async function assertNameFree(ctx: Context, name: string, id: number | null): Promise<void> {
  if ((await ctx.repos.clusters.list()).some((c) => c.name === name && c.id !== id))
    throw duplicateName(name);
}

export async function createCluster(
  ctx: Context,
  input: { name: string; releaseId: number },
): Promise<Cluster> {
  if (input.releaseId !== RELEASE.id) {
    throw new ValidationError(
      `Invalid release ID: release ${input.releaseId} does not exist (GET releases/ lists the releases)`,
      [{ field: 'release_id', message: `release ${input.releaseId} does not exist` }],
    );
  }
  await assertNameFree(ctx, input.name, null);
  const created: Cluster = {
    id: await ctx.repos.clusters.nextId(),
    name: input.name,
    status: 'new',
    releaseId: input.releaseId,
    isCustomized: false,
    deploymentTaskId: null,
    createdAt: nowIso(ctx),
  };
  if (!(await ctx.repos.clusters.claimName(created.name, created.id))) throw duplicateName(created.name);
  try {
    await ctx.repos.clusters.create(created);
  } catch (err) {
    await ctx.repos.clusters.releaseName(created.name, created.id);
    throw err;
  }
  return created;
}

/** Renames an unlocked cluster: the new name is claimed first, the old one released once renamed. */
export async function renameCluster(ctx: Context, id: number, name: string): Promise<Cluster> {
  const action = 'rename the environment';
  const current = await getCluster(ctx, id);
  if (current.name === name) return current;
  assertUnlocked(current, action);
  await assertNameFree(ctx, name, id);
  const { lease, cluster } = await takeEditLease(ctx, id, action);
  if (cluster.name === name) {
    await endEdit(ctx, cluster, lease, action);
    return cluster;
  }
  let claimed = false;
  try {
    claimed = await ctx.repos.clusters.claimName(name, id);
  } finally {
    if (!claimed) await endQuietly(ctx, id, lease);
  }
  if (!claimed) throw duplicateName(name);
  let renamed: Cluster;
  try {
    renamed = await endEdit(ctx, cluster, lease, action, { name });
  } catch (err) {
    await ctx.repos.clusters.releaseName(name, id);
    throw err;
  }
  await ctx.repos.clusters.releaseName(cluster.name, id);
  return renamed;
}

/** Deletes an unlocked cluster; its nodes go back to discovery. */
export async function deleteCluster(ctx: Context, id: number): Promise<ActionTask> {
  const action = 'delete the environment';
  assertUnlocked(await getCluster(ctx, id), action);
  const at = nowIso(ctx);
  const { lease, cluster } = await takeEditLease(ctx, id, action);
  let members: Node[];
  try {
    members = await ctx.repos.nodes.listOfCluster(id);
    await ctx.repos.clusters.deleteEdited(id, lease);
  } catch (err) {
    await endQuietly(ctx, id, lease);
    if (err instanceof WriteConflictError)
      throw new ConflictError(editLeaseLostMessage(cluster.name, action));
    throw err;
  }
  await ctx.repos.clusters.releaseName(cluster.name, id);
  for (const node of members) await releaseNode(ctx, node);
  const task = doneAction(
    { id: await ctx.repos.tasks.nextId(), uuid: randomUUID(), clusterId: id, at, endedAt: nowIso(ctx) },
    'cluster_deletion',
    deletedMessage(cluster.name),
  );
  await ctx.repos.tasks.put(task);
  return task;
}
