/**
 * A node failed: nothing more runs on it, its dependents are blocked, and when the graph's fault tolerance
 * is exceeded the run is stopped gracefully (as an operator's stop, ending in error).
 */
import { judgeFailures, toleranceGroups } from '../../domain/fault-tolerance.js';
import type { HistoryRow } from '../../domain/history.js';
import { defaultGraph } from '../../domain/release.js';
import { rowKey } from '../../domain/stage.js';
import type { NodeErrorType } from '../../domain/status.js';
import { isStopping } from '../../domain/stop.js';
import type { DeploymentRun } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { stopForFaultTolerance } from '../stop/request.js';

export async function recordNodeFailure(
  ctx: Context,
  run: DeploymentRun,
  row: HistoryRow,
  errorType: NodeErrorType,
  reason: string,
): Promise<void> {
  const { repos } = ctx;
  await repos.bookkeeping.markFailed(run.id, { instanceKey: rowKey(row) }, reason);
  await repos.bookkeeping.markFailed(run.id, { nodeId: row.nodeId }, reason);
  await repos.nodes.update(row.nodeId, { status: 'error', errorType, errorMsg: reason });
  if (isStopping(run.stop)) return;
  const graph = (await repos.clusters.getGraph(run.clusterId)) ?? defaultGraph();
  const nodes = (await repos.nodes.listOfCluster(run.clusterId)).map((n) => ({ id: n.id, roles: n.roles }));
  const failed = [...(await repos.bookkeeping.failures(run.id)).nodes.keys()];
  const verdict = judgeFailures(toleranceGroups(graph, nodes), nodes, failed);
  if (verdict.exceeded) await stopForFaultTolerance(ctx, run, verdict.reason);
}
