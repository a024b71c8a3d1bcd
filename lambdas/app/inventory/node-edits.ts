/**
 * A node's own fields (`PUT nodes/{id}/`: name, hostname, labels, as `fuel2 node update` and `fuel2 node
 * label set/delete` send them) and deleting nodes (`DELETE nodes/?ids=`, `fuel node --delete-from-db`).
 */
import { ConflictError, NotFoundError, ValidationError, WriteConflictError } from '../../domain/errors.js';
import type { Node } from '../../domain/model.js';
import { isClusterLocked, needsProvisioning } from '../../domain/status.js';
import type { Context } from '../ports.js';
import { getNode } from './nodes.js';

export interface NodeEdit {
  name?: string;
  hostname?: string;
  labels?: Record<string, string | null>;
}

/**
 * Changes a node's name, labels or hostname. The hostname is what the node's tasks are given
 * (`{hostname}`, its fqdn): as in Nailgun it may change only before the node is provisioned, not while its
 * environment deploys, and must be another node's neither (409).
 */
export async function updateNode(ctx: Context, id: number, edit: NodeEdit): Promise<Node> {
  const node = await getNode(ctx, id);
  const patch: Partial<Node> = {};
  if (edit.name !== undefined) patch.name = edit.name;
  if (edit.labels !== undefined) patch.labels = edit.labels;
  if (edit.hostname !== undefined && edit.hostname !== node.hostname) {
    if (!needsProvisioning(node.status, node.errorType)) {
      throw new ValidationError(
        `Node ${id} is already provisioned (status '${node.status}'): its hostname can be changed only before provisioning`,
        [{ field: 'hostname', message: 'can be changed only before provisioning' }],
      );
    }
    const cluster = node.clusterId === null ? null : await ctx.repos.clusters.get(node.clusterId);
    if (cluster && (cluster.deploymentTaskId !== null || isClusterLocked(cluster.status))) {
      throw new ConflictError(
        `Cannot change the hostname of node ${id}: environment '${cluster.name}' is locked while its status is '${cluster.status}'`,
      );
    }
    const taken = (await ctx.repos.nodes.list()).find((n) => n.id !== id && n.hostname === edit.hostname);
    if (taken) {
      throw new ConflictError(`Hostname '${edit.hostname}' is already taken by node ${taken.id}`, [
        { field: 'hostname', message: 'must be unique' },
      ]);
    }
    patch.hostname = edit.hostname;
  }
  if (Object.keys(patch).length === 0) return node;
  // the hostname only while the node is where it was read (its cluster, not taken by a deployment meanwhile)
  try {
    return await ctx.repos.nodes.update(id, patch, patch.hostname === undefined ? undefined : node.clusterId);
  } catch (err) {
    if (err instanceof WriteConflictError) {
      throw new ConflictError(`Node ${id} changed at the same time; nothing was changed: try again`);
    }
    throw err;
  }
}

/**
 * Deletes free nodes (in no environment), all or none of those listed: a node of an environment is removed
 * from it first (`POST clusters/{id}/unassignment/`), as Nailgun refuses to delete nodes a deployment could
 * be using. A node whose instance is still registered with SSM comes back, free and `discover`, with the
 * next discovery (every minute on AWS), as a Fuel node that boots again registers again.
 */
export async function deleteNodes(ctx: Context, ids: number[]): Promise<void> {
  const unique = [...new Set(ids)];
  const found = await ctx.repos.nodes.getMany(unique);
  const missing = unique.filter((id) => !found.some((n) => n.id === id));
  if (missing.length > 0) throw new NotFoundError(`Nodes ${missing.join(', ')} not found`);
  const assigned = found.filter((n) => n.clusterId !== null);
  if (assigned.length > 0) {
    throw new ConflictError(
      `Cannot delete nodes that belong to an environment: ${assigned
        .map((n) => `node ${n.id} (environment ${n.clusterId})`)
        .join(', ')}; remove them from it first (POST clusters/{id}/unassignment/)`,
    );
  }
  for (const node of found) {
    try {
      await ctx.repos.nodes.deleteFree(node.id);
    } catch (err) {
      if (!(err instanceof WriteConflictError)) throw err;
      // assigned meanwhile: what is deleted stays deleted (discovery brings free nodes back), this one stays
      throw new ConflictError(
        `Node ${node.id} was assigned to an environment at the same time and was not deleted`,
      );
    }
  }
}
