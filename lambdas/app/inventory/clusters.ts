/** Clusters (environments): create, rename, delete; and the lock rule every edit of a cluster obeys. */
import { randomUUID } from 'node:crypto';
import { ConflictError, ForbiddenError, NotFoundError, WriteConflictError } from '../../domain/errors.js';
import { deletedMessage } from '../../domain/messages.js';
import type { Cluster } from '../../domain/model.js';
import { isClusterLocked } from '../../domain/status.js';
import { type ActionTask, doneAction } from '../../domain/task.js';
import { type Context, nowIso } from '../ports.js';
import { releaseNode } from './nodes.js';

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

function duplicateName(name: string): ConflictError {
  return new ConflictError(`Environment with name '${name}' already exists`, [
    { field: 'name', message: 'must be unique' },
  ]);
}

export async function createCluster(
  ctx: Context,
  input: { name: string; releaseId: number },
): Promise<Cluster> {
  if ((await ctx.repos.clusters.list()).some((c) => c.name === input.name)) throw duplicateName(input.name);
  const created: Cluster = {
    id: await ctx.repos.clusters.nextId(),
    name: input.name,
    status: 'new',
    releaseId: input.releaseId,
    isCustomized: false,
    deploymentTaskId: null,
    createdAt: nowIso(ctx),
  };
  await ctx.repos.clusters.create(created);
  return created;
}

export async function renameCluster(ctx: Context, id: number, name: string): Promise<Cluster> {
  const current = await getCluster(ctx, id);
  if (current.name === name) return current;
  if ((await ctx.repos.clusters.list()).some((c) => c.name === name && c.id !== id))
    throw duplicateName(name);
  return ctx.repos.clusters.update(id, { name });
}

/** Deletes an unlocked cluster; its nodes go back to discovery. */
export async function deleteCluster(ctx: Context, id: number): Promise<ActionTask> {
  const current = await getCluster(ctx, id);
  assertUnlocked(current, 'delete the environment');
  const at = nowIso(ctx);
  const members = await ctx.repos.nodes.listOfCluster(id);
  try {
    await ctx.repos.clusters.delete(id);
  } catch (err) {
    if (err instanceof WriteConflictError)
      throw new ConflictError(`Environment '${current.name}' became locked`);
    throw err;
  }
  for (const node of members) await releaseNode(ctx, node);
  const task = doneAction(
    { id: await ctx.repos.tasks.nextId(), uuid: randomUUID(), clusterId: id, at, endedAt: nowIso(ctx) },
    'cluster_deletion',
    deletedMessage(current.name),
  );
  await ctx.repos.tasks.put(task);
  return task;
}
