/**
 * A node failed: nothing more runs on it, its dependents are blocked, and when the graph's fault tolerance
 * is exceeded the run is stopped gracefully (as an operator's stop, ending in error).
 */
import { judgeFailures, toleranceGroups } from '../../domain/fault-tolerance.js';
import type { HistoryRow } from '../../domain/history.js';
import { allRoles, ROLES_WITH_PRIMARY } from '../../domain/primary-roles.js';
import { defaultGraph } from '../../domain/release.js';
import { rowKey } from '../../domain/stage.js';
import type { NodeErrorType } from '../../domain/status.js';
import { isStopping } from '../../domain/stop.js';
import { isClusterNode, MASTER_NODE } from '../../domain/targets.js';
import type { DeploymentRun } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { stopForFaultTolerance } from '../stop/request.js';

export async function recordNodeFailure(
  ctx: Context,
  run: DeploymentRun,
  row: Pick<HistoryRow, 'taskName' | 'nodeId'>,
  errorType: NodeErrorType,
  reason: string,
): Promise<void> {
  const { repos } = ctx;
  await repos.bookkeeping.markFailed(run.id, { instanceKey: rowKey(row) }, reason);
  await repos.bookkeeping.markFailed(run.id, { nodeId: row.nodeId }, reason);
  if (isClusterNode(row.nodeId))
    await repos.nodes.update(row.nodeId, { status: 'error', errorType, errorMsg: reason });
  if (isStopping(run.stop)) return;
  if (row.nodeId === MASTER_NODE) {
    // Nailgun: an error on the master fails the deployment at once
    await stopForFaultTolerance(ctx, run, `task ${row.taskName} failed on the master node`);
    return;
  }
  const graph = (await repos.clusters.getGraph(run.clusterId)) ?? defaultGraph();
  // a primary role counts as `primary-<role>` (Nailgun's `Node.all_roles`): a primary-mongo node is critical
  const nodes = (await repos.nodes.listOfCluster(run.clusterId)).map((n) => ({
    id: n.id,
    roles: allRoles(n, ROLES_WITH_PRIMARY),
  }));
  const failed = [...(await repos.bookkeeping.failures(run.id)).nodes.keys()];
  const verdict = judgeFailures(toleranceGroups(graph, nodes), nodes, failed);
  if (verdict.exceeded) await stopForFaultTolerance(ctx, run, verdict.reason);
}
