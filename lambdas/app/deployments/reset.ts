/**
 * "Reset environment": back to `new`, its nodes back to `discover` with their roles pending again, so the
 * next deployment provisions them and runs every task. Nothing runs on the nodes.
 */
import { randomUUID } from 'node:crypto';
import { resetMessage } from '../../domain/messages.js';
import { type ActionTask, doneAction } from '../../domain/task.js';
import { assertUnlocked, getCluster } from '../inventory/clusters.js';
import { type Context, nowIso } from '../ports.js';

export async function resetCluster(ctx: Context, clusterId: number): Promise<ActionTask> {
  const c = await getCluster(ctx, clusterId);
  assertUnlocked(c, 'reset the environment');
  const at = nowIso(ctx);
  const members = await ctx.repos.nodes.listOfCluster(clusterId);
  await ctx.repos.clusters.updateUnlocked(clusterId, { status: 'new' });
  for (const node of members) {
    await ctx.repos.nodes.forgetLastRuns(node.id);
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
  }
  const task = doneAction(
    { id: await ctx.repos.tasks.nextId(), uuid: randomUUID(), clusterId, at, endedAt: nowIso(ctx) },
    'reset_environment',
    resetMessage(c.name, members.length),
  );
  await ctx.repos.tasks.put(task);
  return task;
}
