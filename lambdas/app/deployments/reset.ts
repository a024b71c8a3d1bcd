/**
 * "Reset environment": back to `new`, its nodes back to `discover` with their roles pending again, so the
 * next deployment provisions them and runs every task. Nothing runs on the nodes. All under the cluster's
 * edit lease: the nodes first (undone if one cannot be written), then the status as the lease is released.
 */
import { randomUUID } from 'node:crypto';
import { resetMessage } from '../../domain/messages.js';
import type { Node } from '../../domain/model.js';
import { type ActionTask, doneAction } from '../../domain/task.js';
import { assertUnlocked, editCluster, getCluster } from '../inventory/clusters.js';
import { type Context, nowIso } from '../ports.js';

/** The fields a reset changes on a node, as they were. */
function resetFields(node: Node): Partial<Node> {
  const { status, errorType, errorMsg, progress, primaryRoles, roles, pendingRoles, pendingAddition } = node;
  return { status, errorType, errorMsg, progress, primaryRoles, roles, pendingRoles, pendingAddition };
}

export async function resetCluster(ctx: Context, clusterId: number): Promise<ActionTask> {
  const action = 'reset the environment';
  const c = await getCluster(ctx, clusterId);
  assertUnlocked(c, action);
  const at = nowIso(ctx);
  const { name, count } = await editCluster(ctx, clusterId, action, async (cluster) => {
    const members = await ctx.repos.nodes.listOfCluster(clusterId);
    const written: Node[] = [];
    try {
      for (const node of members) {
        await ctx.repos.nodes.update(
          node.id,
          {
            status: 'discover',
            errorType: null,
            errorMsg: null,
            progress: 0,
            primaryRoles: [],
            roles: [],
            pendingRoles: [...new Set([...node.roles, ...node.pendingRoles])],
            pendingAddition: true,
          },
          clusterId,
        );
        written.push(node);
      }
    } catch (err) {
      for (const node of written) await ctx.repos.nodes.update(node.id, resetFields(node), clusterId);
      throw err;
    }
    for (const node of members) await ctx.repos.nodes.forgetLastRuns(node.id);
    return { result: { name: cluster.name, count: members.length }, patch: { status: 'new' } };
  });
  const task = doneAction(
    { id: await ctx.repos.tasks.nextId(), uuid: randomUUID(), clusterId, at, endedAt: nowIso(ctx) },
    'reset_environment',
    resetMessage(name, count),
  );
  await ctx.repos.tasks.put(task);
  return task;
}
