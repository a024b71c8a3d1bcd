/**
 * A node's own fields (`PUT nodes/{id}/`: name, hostname, labels, as `fuel2 node update` and `fuel2 node
 * label set/delete` send them) and deleting nodes (`DELETE nodes/?ids=`, `fuel node --delete-from-db`).
 */
import {
  ConflictError,
  NotFoundError,
  type ProblemDetail,
  ValidationError,
  WriteConflictError,
} from '../../domain/errors.js';
import type { Node } from '../../domain/model.js';
import { needsProvisioning } from '../../domain/status.js';
import type { Context } from '../ports.js';
import { assertUnlocked, editCluster } from './clusters.js';
import { getNode } from './nodes.js';

export interface NodeEdit {
  name?: string;
  hostname?: string;
  labels?: Record<string, string | null>;
}

/**
 * Changes a node's name, labels or hostname. The hostname is what the node's tasks are given
 * (`{hostname}`, its fqdn): as in Nailgun it may change only before the node is provisioned (400), not
 * while its environment deploys (409), and must be another node's neither (409).
 *
 * Two changes to the same hostname cannot both hold: the new hostname is claimed first (a claim item per
 * hostname, `store/nodes.ts`), the node written only while it still has its old hostname, cluster and status,
 * and the old hostname's claim released after (the new one when the write lost). A node keeps the hostname
 * it was discovered with (its SSM instance's name: `node-<n>` on the local fleet, the computer name on AWS)
 * without a claim (not Nailgun's `node-<id>`, so refusing `node-<n>` would not cover it; nor have nodes
 * stored before claims), so once the claim is held the nodes are read to refuse a hostname another node has
 * that way; a hostname change also being a claim, no other change can give that hostname between the read
 * and the write. (Discovery does not look at claims: an instance discovered later with a name a node was
 * given is not refused here.) A node of an environment is written under the environment's edit lease, as an assignment is,
 * so that no "Deploy changes" can take the lock in between: one that has it makes this a 409.
 */
export async function updateNode(ctx: Context, id: number, edit: NodeEdit): Promise<Node> {
  const node = await getNode(ctx, id);
  const fields: Partial<Node> = {};
  if (edit.name !== undefined) fields.name = edit.name;
  if (edit.labels !== undefined) fields.labels = edit.labels;
  if (edit.hostname === undefined || edit.hostname === node.hostname) {
    if (Object.keys(fields).length === 0) return node;
    return ctx.repos.nodes.update(id, fields);
  }
  const hostname = edit.hostname;
  assertBeforeProvisioning(node);
  if (node.clusterId === null) return changeHostname(ctx, node, hostname, fields);
  const clusterId = node.clusterId;
  const action = `change the hostname of node ${id}`;
  const cluster = await ctx.repos.clusters.get(clusterId);
  if (!cluster) throw movedMeanwhile(id);
  assertUnlocked(cluster, action);
  return editCluster(ctx, clusterId, action, async () => {
    // under the lease: the node as it is now (it may have been taken out of the environment meanwhile)
    const current = await getNode(ctx, id);
    if (current.clusterId !== clusterId) throw movedMeanwhile(id);
    assertBeforeProvisioning(current);
    if (current.hostname !== hostname)
      return { result: await changeHostname(ctx, current, hostname, fields) };
    // given that hostname meanwhile: what else the request changes is written alone
    return { result: Object.keys(fields).length === 0 ? current : await ctx.repos.nodes.update(id, fields) };
  });
}

function assertBeforeProvisioning(node: Node): void {
  if (!needsProvisioning(node.status, node.errorType)) {
    throw new ValidationError(
      `Node ${node.id} is already provisioned (status '${node.status}'): its hostname can be changed only before provisioning`,
      [{ field: 'hostname', message: 'can be changed only before provisioning' }],
    );
  }
}

function movedMeanwhile(id: number): ConflictError {
  return new ConflictError(
    `Node ${id} was moved in or out of an environment at the same time; nothing was changed: try again`,
  );
}

function taken(hostname: string, holder: number, id: number): ConflictError {
  if (holder === id) {
    return new ConflictError(
      `Another request is changing the hostname of node ${id} to '${hostname}' at the same time; nothing was changed: try again`,
    );
  }
  return new ConflictError(`Hostname '${hostname}' is already taken by node ${holder}`, [
    { field: 'hostname', message: 'must be unique' },
  ]);
}

/** Claims `hostname`, writes it (with `fields`) while the node is as read, then releases the old one. */
async function changeHostname(
  ctx: Context,
  node: Node,
  hostname: string,
  fields: Partial<Node>,
): Promise<Node> {
  const { nodes } = ctx.repos;
  const claim = await nodes.claimHostname(hostname, node.id);
  if (!claim.claimed) throw taken(hostname, claim.holder, node.id);
  let changed: Node;
  let oldClaim: string | null = null;
  try {
    // a hostname held without a claim: the one a node was discovered with, or one stored before claims
    const holder = (await nodes.list()).find((n) => n.id !== node.id && n.hostname === hostname);
    if (holder) throw taken(hostname, holder.id, node.id);
    // the claim on the old hostname as it is before the write: released after it, and no claim taken since
    oldClaim = await nodes.claimToken(node.hostname, node.id);
    changed = await nodes.updateWhile(node.id, { ...fields, hostname }, node);
  } catch (err) {
    await nodes.releaseHostname(hostname, node.id, claim.token);
    if (err instanceof WriteConflictError) {
      throw new ConflictError(
        `Node ${node.id} changed at the same time (its hostname, status or environment); nothing was changed: try again`,
      );
    }
    throw err;
  }
  if (oldClaim !== null) await nodes.releaseHostname(node.hostname, node.id, oldClaim);
  return changed;
}

/**
 * Deletes free nodes (in no environment): a node of an environment is removed from it first (`POST
 * clusters/{id}/unassignment/`), as Nailgun refuses to delete nodes a deployment could be using. All the
 * nodes are checked first: if one belongs to an environment, none is deleted (409). They are then deleted
 * one by one, by ascending id (DynamoDB-local has no transactions): a node assigned between the check and
 * its delete stays, the ones after it are not tried, and the 409 (message and `errors`) names the nodes
 * deleted and those not, so that a client can send the rest again. A node deleted by another request
 * meanwhile counts as deleted. A node whose instance is still registered with SSM comes back, free and
 * `discover`, with the next discovery (every minute on AWS), as a Fuel node that boots again registers again.
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
        .join(', ')}; remove them from it first (POST clusters/{id}/unassignment/); no node was deleted`,
    );
  }
  const deleted: number[] = [];
  for (const [index, node] of found.entries()) {
    const claim = await ctx.repos.nodes.claimToken(node.hostname, node.id);
    try {
      await ctx.repos.nodes.deleteFree(node.id);
    } catch (err) {
      if (!(err instanceof WriteConflictError)) throw err;
      const now = await ctx.repos.nodes.get(node.id);
      if (now !== null) throw partlyDeleted(ids, deleted, found.slice(index), now);
    }
    deleted.push(node.id);
    if (claim !== null) await ctx.repos.nodes.releaseHostname(node.hostname, node.id, claim);
  }
}

/**
 * The 409 of a delete that stopped at `refused`, assigned meanwhile: the nodes deleted and those not (`left`,
 * `refused` first), in the message and one entry each in `errors` (`ids[i]`, as the query listed them).
 */
function partlyDeleted(ids: number[], deleted: number[], left: Node[], refused: Node): ConflictError {
  const leftIds = left.map((n) => n.id);
  const env = refused.clusterId === null ? 'an environment' : `environment ${refused.clusterId}`;
  const field = (id: number) => `ids[${ids.indexOf(id)}]`;
  const problems: ProblemDetail[] = [
    ...deleted.map((id) => ({ field: field(id), message: `node ${id} was deleted` })),
    {
      field: field(refused.id),
      message: `node ${refused.id} was not deleted: it was assigned to ${env} at the same time`,
    },
    ...leftIds
      .filter((id) => id !== refused.id)
      .map((id) => ({
        field: field(id),
        message: `node ${id} was not deleted (not tried after node ${refused.id})`,
      })),
  ];
  const nodes = (list: number[]) => `${list.length === 1 ? 'node' : 'nodes'} ${list.join(', ')}`;
  const done =
    deleted.length === 0
      ? 'no node was deleted'
      : `${nodes(deleted)} ${deleted.length === 1 ? 'was' : 'were'} deleted`;
  return new ConflictError(
    `Node ${refused.id} was assigned to ${env} at the same time and was not deleted; ${done}; not deleted: ${nodes(leftIds)} (send DELETE nodes/?ids=${leftIds.join(',')} again once node ${refused.id} is free, or without it)`,
    problems,
  );
}
