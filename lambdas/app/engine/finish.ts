/**
 * "Finish deployment": settles every row left, every node, the run's tasks, the operator's stop task and the
 * cluster, records what each task took (what the next plan orders its layers by), and releases the cluster's
 * deployment lock. Idempotent: a retry after a crash redoes only what is missing. Decisions come from
 * domain/settlement.ts; this step reads, asks and writes.
 */
import type { Failures } from '../../domain/bookkeeping.js';
import { reachedNoops } from '../../domain/dispatch.js';
import type { HistoryRow } from '../../domain/history.js';
import { deploymentMessage, NO_RESULT_REASON, stopMessage } from '../../domain/messages.js';
import type { Cluster, Node } from '../../domain/model.js';
import { countPercent, type RowCount, stoppedTaskPercent } from '../../domain/progress.js';
import {
  allDone,
  settleDeployment,
  settleNodeRows,
  stageTaskStatus,
  workProgress,
} from '../../domain/settlement.js';
import { isProvisionStage, rowKey } from '../../domain/stage.js';
import { isTaskFinished, type NodeStatus } from '../../domain/status.js';
import { endReasonOf, isStopping } from '../../domain/stop.js';
import { type DeploymentRun, type RunOutcome, runsOtherGraph } from '../../domain/task.js';
import { inParallel, WRITES_AT_ONCE } from '../parallel.js';
import { type Context, nowIso } from '../ports.js';
import { endStopTask } from '../stop/settlement.js';
import { recordLastRunsOfOpenBatches } from './last-runs.js';
import { endCommandsStillRunning } from './orphaned-commands.js';
import { taskDurations } from './plan.js';
import { runProgress, targetProgress } from './progress.js';
import { loadRun, targetSetsOf } from './run.js';

export interface FinishInput {
  taskId: number;
  failure: { Error?: string; Cause?: string } | null;
}

/** Settles node, task and cluster statuses and releases the cluster's deployment lock. Idempotent. */
export async function finish(ctx: Context, input: FinishInput): Promise<{ status: string }> {
  const { repos } = ctx;
  const found = await loadRun(ctx, input.taskId);
  // From here no stop can be requested, so the stop state of `run` is final.
  const run =
    isTaskFinished(found.status) || found.finishingAt !== null
      ? found
      : await repos.tasks.beginFinish(found.id, nowIso(ctx));
  const cluster = await repos.clusters.get(run.clusterId);
  // Order of the writes: nodes, the cluster (unlocked), the run, the stop task. Whoever sees a task
  // ended can act on the cluster at once.
  const lockHeld = cluster?.deploymentTaskId === run.id;
  if (isTaskFinished(run.status)) {
    const settled = run.outcome?.clusterStatus ?? null;
    if (lockHeld && cluster && settled !== null)
      await repos.clusters.release(cluster.id, run.id, { status: settled });
    await endStopTask(ctx, run, run.outcome);
    return { status: run.status };
  }
  const rows = await repos.history.rows(run.id, 'all');
  const failures = await repos.bookkeeping.failures(run.id);
  // how far each node and the run got (what they read while it ran): a stop does not move it
  const [reached, counts] =
    run.plan === null
      ? [null, null]
      : await Promise.all([targetProgress(ctx, run.id), runProgress(ctx, run.id)]);
  const orchestrationFailed = input.failure !== null && input.failure !== undefined;
  // the orchestration failed with commands still running: they are cancelled, and the cluster stays
  // locked until they have ended (or their nodes were given up on), so no redeploy overlaps them
  if (orchestrationFailed) await endCommandsStillRunning(ctx, run, rows);
  const unanswered = [...new Set(rows.filter((r) => r.status === 'running').map((r) => r.stage))];
  await settleUnfinishedRows(ctx, run, rows, failures, orchestrationFailed);
  // their batches never ended: what ran ready in them is recorded as their ends would have
  await recordLastRunsOfOpenBatches(ctx, run.id, unanswered);
  // what each task took, for the next plan's layers: one small item instead of this run's rows (before the
  // run is seen finished, so that a plan that finds it finished finds the item)
  if (run.plan !== null) await repos.plans.putDurations(run.id, taskDurations(rows));

  // After a crash that followed the unlock, the nodes were settled already and may belong to a new run.
  // A run that was never planned never touched its nodes: their statuses stay as they are.
  const clusterNodes =
    lockHeld && run.plan !== null
      ? (await repos.nodes.listOfCluster(run.clusterId)).filter((n) => !n.pendingDeletion)
      : [];
  const finalStatuses = await settleNodes(ctx, run, clusterNodes, rows, failures, reached);

  const settlement = settleDeployment({
    orchestrationFailed,
    anyError: rows.some((r) => r.status === 'error'),
    workLeft: !allDone(rows),
    stop: run.stop,
    nodes: finalStatuses,
  });
  // a stopped run keeps how far it got (100 only if nothing was left); a completed or failed one ends at 100
  // as Nailgun's tasks do
  const progress = (own: HistoryRow[], count: RowCount | undefined) => {
    if (!isStopping(run.stop)) return 100;
    return count === undefined ? workProgress(own) : stoppedTaskPercent(count, allDone(own));
  };
  const name = cluster?.name ?? String(run.clusterId);
  const message = deploymentMessage(name, settlement.outcome, run, rows, input.failure);
  const end = nowIso(ctx);
  if (run.children.provision !== null) {
    await repos.tasks.finish(run.children.provision, {
      status: stageTaskStatus(rows, true, settlement.deployTask),
      progress: progress(
        rows.filter((r) => isProvisionStage(r.stage)),
        counts?.provision,
      ),
      timeEnd: end,
    });
  }
  if (run.children.deployment !== null) {
    await repos.tasks.finish(run.children.deployment, {
      status: stageTaskStatus(rows, false, settlement.deployTask),
      progress: progress(
        rows.filter((r) => !isProvisionStage(r.stage)),
        counts?.deployment,
      ),
      timeEnd: end,
      message,
    });
  }
  const outcome: RunOutcome = {
    clusterStatus: lockHeld ? settlement.cluster : (run.outcome?.clusterStatus ?? null),
    stopTaskStatus: settlement.stopTask,
    stopMessage: settlement.stopTask === null ? null : stopMessage(name, run, rows),
  };
  if (lockHeld && cluster) await release(ctx, run, cluster, outcome, settlement.cluster);
  await repos.tasks.finish(run.id, {
    status: settlement.deployTask,
    progress: progress(rows, counts?.run),
    timeEnd: end,
    message,
    outcome,
  });
  await endStopTask(ctx, run, outcome);
  ctx.log('finished deployment', {
    taskId: run.id,
    outcome: settlement.outcome,
    clusterStatus: settlement.cluster,
  });
  return { status: settlement.deployTask };
}

/**
 * Called when the stage a stopping run was waiting on has ended: nothing of the run runs any more, so it is
 * settled now, as the execution's Finish would settle it after its next stop check (which then finds it
 * settled). A fault here is logged and left to that Finish.
 */
export async function finishIfStopping(ctx: Context, runId: number): Promise<void> {
  try {
    const run = await loadRun(ctx, runId);
    if (!isStopping(run.stop) || isTaskFinished(run.status)) return;
    await finish(ctx, { taskId: runId, failure: null });
  } catch (err) {
    ctx.log('could not settle the stopped deployment yet; its execution will', {
      taskId: runId,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

async function release(
  ctx: Context,
  run: DeploymentRun,
  cluster: Cluster,
  outcome: RunOutcome,
  status: Cluster['status'],
): Promise<void> {
  // the outcome first: a finish retried after the unlock still knows the cluster's status
  await ctx.repos.tasks.update(run.id, { outcome });
  await ctx.repos.clusters.release(cluster.id, run.id, { status });
}

/** Rows never started end skipped (with why); rows whose result never came end in error. */
async function settleUnfinishedRows(
  ctx: Context,
  run: DeploymentRun,
  rows: HistoryRow[],
  failures: Failures,
  orchestrationFailed: boolean,
): Promise<void> {
  const end = endReasonOf(run.stop, orchestrationFailed);
  // rows that run nothing, whose requirements all succeeded, are what they would have been: not stopped
  const noops = reachedNoops(rows, await targetSetsOf(ctx, run.id, rows));
  // one conditional write per row, several at a time: a stopped 1,000-node run leaves thousands never started
  await inParallel(
    rows.filter((r) => r.status === 'pending' || r.status === 'running'),
    WRITES_AT_ONCE,
    async (row) => {
      const noop = noops.get(rowKey(row));
      if (row.status === 'pending') {
        const patch = noop
          ? { reason: noop.reason, skipReason: noop.kind }
          : { reason: end.reason, skipReason: end.skipReason };
        if (await ctx.repos.history.moveRow(row, 'skipped', patch))
          Object.assign(row, { status: 'skipped', ...patch });
        return;
      }
      const timeEnd = nowIso(ctx);
      if (await ctx.repos.history.moveRow(row, 'error', { timeEnd, reason: NO_RESULT_REASON })) {
        Object.assign(row, { status: 'error', timeEnd, reason: NO_RESULT_REASON });
        failures.nodes.set(row.nodeId, NO_RESULT_REASON);
      }
    },
  );
}

/** Each node the run planned gets its truthful final status; returns every cluster node's final status. */
async function settleNodes(
  ctx: Context,
  run: DeploymentRun,
  clusterNodes: Node[],
  rows: HistoryRow[],
  failures: Failures,
  reached: ReadonlyMap<number, RowCount> | null,
): Promise<NodeStatus[]> {
  // the statuses before are in the run's item (planned before they were kept with the plan) or the plan's
  const nodesBefore =
    run.nodesBefore ??
    (run.plan !== null && clusterNodes.length > 0 ? await ctx.repos.plans.nodesBefore(run.id) : null);
  const rowsByNode = new Map<number, HistoryRow[]>();
  for (const row of rows) rowsByNode.set(row.nodeId, [...(rowsByNode.get(row.nodeId) ?? []), row]);
  // Only the nodes it planned are settled (a run of selected nodes leaves the others alone).
  const planned = (n: Node) => nodesBefore === null || String(n.id) in nodesBefore;
  const finalStatuses: NodeStatus[] = clusterNodes.filter((n) => !planned(n)).map((n) => n.status);
  const settled = clusterNodes.filter(planned).map((node) => ({
    node,
    settled: settleNodeRows(node, rowsByNode.get(node.id) ?? [], {
      before: nodesBefore?.[String(node.id)],
      failed: failures.nodes.has(node.id),
      deploys: run.mode.scope !== 'provision',
      otherGraph: runsOtherGraph(run.mode),
      reached: countPercentOf(reached?.get(node.id)),
    }),
  }));
  finalStatuses.push(...settled.map((s) => s.settled.status));
  await inParallel(settled, WRITES_AT_ONCE, ({ node, settled: s }) =>
    ctx.repos.nodes.update(node.id, {
      status: s.status,
      errorType: s.errorType,
      progress: s.progress,
      ...(s.errorType === null ? { errorMsg: null } : {}),
    }),
  );
  return finalStatuses;
}

/** A node's share of its rows that ended, or null when it is not known (or it planned none). */
function countPercentOf(count: RowCount | undefined): number | null {
  return count === undefined ? null : countPercent(count);
}
