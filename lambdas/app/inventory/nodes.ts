/** Nodes: giving discovered nodes roles in a cluster (assignment) and taking them back (unassignment). */
import {
  ConflictError,
  NotFoundError,
  type ProblemDetail,
  ValidationError,
  WriteConflictError,
} from '../../domain/errors.js';
import { graphRoles, RELEASE_ROLES } from '../../domain/graph.js';
import type { Node } from '../../domain/model.js';
import type { Context } from '../ports.js';
import { assertUnlocked, editCluster, getCluster } from './clusters.js';
import { graphOf } from './config.js';

export async function getNode(ctx: Context, id: number): Promise<Node> {
  const found = await ctx.repos.nodes.get(id);
  if (!found) throw new NotFoundError(`Node ${id} not found`);
  return found;
}

/** Every node, or the nodes of one cluster, or (null) the free ones. */
export async function listNodes(ctx: Context, clusterId?: number | null): Promise<Node[]> {
  return (await ctx.repos.nodes.list()).filter((n) => clusterId === undefined || n.clusterId === clusterId);
}

/** A node back in discovery, free, without roles; what ran on it no longer counts. */
export async function releaseNode(ctx: Context, node: Node): Promise<void> {
  await ctx.repos.nodes.forgetLastRuns(node.id);
  await ctx.repos.nodes.update(node.id, {
    clusterId: null,
    roles: [],
    pendingRoles: [],
    primaryRoles: [],
    pendingAddition: false,
    pendingDeletion: false,
    status: 'discover',
    errorType: null,
    errorMsg: null,
    progress: 0,
  });
}

function invalid(problems: ProblemDetail[]): ValidationError {
  return new ValidationError(problems.map((p) => p.message).join('; '), problems);
}

/** What is wrong with an assignment: unknown or listed-twice nodes, nodes of other clusters, unknown roles. */
async function checkAssignment(
  ctx: Context,
  clusterId: number,
  items: { id: number; roles: string[] }[],
): Promise<Node[]> {
  const known = new Set([...RELEASE_ROLES, ...graphRoles(await graphOf(ctx, clusterId))]);
  const problems: ProblemDetail[] = [];
  const nodes: Node[] = [];
  const listed = new Set<number>();
  for (const [index, item] of items.entries()) {
    if (listed.has(item.id)) {
      problems.push({ field: `[${index}].id`, message: `node ${item.id} is listed more than once` });
      continue;
    }
    listed.add(item.id);
    const found = await ctx.repos.nodes.get(item.id);
    if (!found) {
      problems.push({ field: `[${index}].id`, message: `node ${item.id} does not exist` });
      continue;
    }
    if (found.clusterId !== null && found.clusterId !== clusterId) {
      problems.push({
        field: `[${index}].id`,
        message: `node ${item.id} already belongs to environment ${found.clusterId}`,
      });
    }
    for (const role of item.roles) {
      if (!known.has(role))
        problems.push({
          field: `[${index}].roles`,
          message: `role '${role}' is not known to the release or the graph`,
        });
    }
    nodes.push(found);
  }
  if (problems.length > 0) throw invalid(problems);
  return nodes;
}

/** Assigns nodes under the cluster's edit lease: all of them, or (a node taken elsewhere meanwhile) none. */
export async function assignNodes(
  ctx: Context,
  clusterId: number,
  items: { id: number; roles: string[] }[],
): Promise<Node[]> {
  const action = 'assign nodes';
  assertUnlocked(await getCluster(ctx, clusterId), action);
  return editCluster(ctx, clusterId, action, async () => {
    const nodes = await checkAssignment(ctx, clusterId, items);
    const done: Node[] = [];
    try {
      for (const item of items) {
        const current = nodes.find((n) => n.id === item.id);
        if (!current) continue;
        const patch: Partial<Node> =
          current.clusterId === clusterId
            ? { pendingRoles: item.roles.filter((r) => !current.roles.includes(r)) }
            : { clusterId, pendingRoles: item.roles, pendingAddition: true };
        done.push(await ctx.repos.nodes.update(item.id, patch, current.clusterId));
      }
    } catch (err) {
      for (const n of done) {
        const before = nodes.find((b) => b.id === n.id);
        if (!before) continue;
        const { clusterId: was, pendingRoles, pendingAddition } = before;
        await ctx.repos.nodes.update(n.id, { clusterId: was, pendingRoles, pendingAddition });
      }
      if (err instanceof WriteConflictError)
        throw new ConflictError('A node was assigned elsewhere at the same time; nothing was changed');
      throw err;
    }
    return { result: done };
  });
}

/** Takes nodes back from the cluster, under its edit lease. */
export async function unassignNodes(ctx: Context, clusterId: number, ids: number[]): Promise<void> {
  const action = 'unassign nodes';
  assertUnlocked(await getCluster(ctx, clusterId), action);
  await editCluster(ctx, clusterId, action, async () => {
    const members = new Map((await ctx.repos.nodes.listOfCluster(clusterId)).map((n) => [n.id, n]));
    const problems = ids.flatMap((id, index) =>
      members.has(id)
        ? []
        : [{ field: `[${index}].id`, message: `node ${id} is not in environment ${clusterId}` }],
    );
    if (problems.length > 0) throw invalid(problems);
    for (const id of ids) {
      const member = members.get(id);
      if (member) await releaseNode(ctx, member);
    }
    return { result: undefined };
  });
}
