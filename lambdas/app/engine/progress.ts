/**
 * The progress of a running deployment, read from what the engine keeps anyway (domain/progress.ts): the
 * plan's stage of every row by target, the stage opened last and its batches' shards. Nothing is written per
 * result for it: a read of a node or a task of a running deployment costs a few reads of the run's partition
 * (the run's row stages, its current stage, that stage's shards), whatever the number of results.
 *
 * The rule, the same for all: a target's (a node's) progress is the share of its planned rows that ended
 * (`ready`, `error`, `skipped`; provisioning counts as one row of a node provisioned in the run); a deploy
 * task's is the share of all the run's rows (every node's, the master's and the sync node's), that is the
 * planned-rows weighted mean of its targets'; a stage task's that of its own rows (provisioning, or the
 * layers). A running task reads at most 99.
 */
import type { Node } from '../../domain/model.js';
import {
  countAt,
  countPercent,
  isLayerIndex,
  isProvisionIndex,
  type RowCount,
  type RunPosition,
  stageIndex,
} from '../../domain/progress.js';
import { isTaskFinished } from '../../domain/status.js';
import type { Task } from '../../domain/task.js';
import type { Context } from '../ports.js';

/** Each target's ended and planned rows in the run now; null when its plan stored no row stages. */
export async function targetProgress(ctx: Context, runId: number): Promise<Map<number, RowCount> | null> {
  const [stages, at] = await Promise.all([
    ctx.repos.plans.rowStages(runId),
    ctx.repos.bookkeeping.openInstances(runId),
  ]);
  if (stages === null) return null;
  const current = at === null ? null : stageIndex(at.stage);
  const byTarget = new Map<number, RowCount>();
  for (const [target, counts] of stages)
    byTarget.set(target, countAt(counts, { current, open: at?.open.get(target) ?? 0 }));
  return byTarget;
}

/** The run's rows, and its stage tasks' (provisioning's, the layers'), ended and planned now. */
export interface RunCounts {
  run: RowCount;
  provision: RowCount;
  deployment: RowCount;
}

/** The run's ended and planned rows now, in all and by stage task; null when its plan stored none. */
export async function runProgress(ctx: Context, runId: number): Promise<RunCounts | null> {
  const [counts, at] = await Promise.all([
    ctx.repos.plans.stageCounts(runId),
    ctx.repos.bookkeeping.openInstances(runId),
  ]);
  if (counts === null) return null;
  const position: RunPosition = {
    current: at === null ? null : stageIndex(at.stage),
    open: at === null ? 0 : [...at.open.values()].reduce((a, b) => a + b, 0),
  };
  return {
    run: countAt(counts, position),
    provision: countAt(counts, position, isProvisionIndex),
    deployment: countAt(counts, position, isLayerIndex),
  };
}

/**
 * Nodes as the API shows them: a node in the plan of its cluster's running deployment reads the share of its
 * rows that ended; any other node (and one of a run planned before row stages were kept) what it has.
 */
export async function nodesWithProgress(ctx: Context, nodes: Node[]): Promise<Node[]> {
  const clusterIds = [...new Set(nodes.flatMap((n) => (n.clusterId === null ? [] : [n.clusterId])))];
  if (clusterIds.length === 0) return nodes;
  const only = clusterIds.length === 1 ? clusterIds[0] : undefined;
  const clusters =
    only !== undefined
      ? [await ctx.repos.clusters.get(only)].flatMap((c) => (c ? [c] : []))
      : await ctx.repos.clusters.list();
  const runOf = new Map<number, number>();
  for (const c of clusters)
    if (c.deploymentTaskId !== null && clusterIds.includes(c.id)) runOf.set(c.id, c.deploymentTaskId);
  if (runOf.size === 0) return nodes;
  const progressOf = new Map<number, Map<number, RowCount> | null>();
  await Promise.all(
    [...new Set(runOf.values())].map(async (runId) => {
      progressOf.set(runId, await targetProgress(ctx, runId));
    }),
  );
  return nodes.map((node) => {
    const runId = node.clusterId === null ? undefined : runOf.get(node.clusterId);
    const count = runId === undefined ? undefined : progressOf.get(runId)?.get(node.id);
    const percent = count === undefined ? null : countPercent(count);
    return percent === null ? node : { ...node, progress: percent };
  });
}

/**
 * Tasks as the API shows them: a running deploy task, or a running stage task of one, counts the rows that
 * ended now (its `done` and `total`, which the API turns into its progress); others are as stored. A run
 * planned before row stages were kept keeps its counters.
 */
export async function tasksWithProgress(ctx: Context, tasks: Task[]): Promise<Task[]> {
  const runIdOf = (t: Task): number | null => {
    if (isTaskFinished(t.status)) return null;
    if (t.kind === 'run') return t.plan === null ? null : t.id;
    return t.kind === 'stage' ? t.parentId : null;
  };
  const runIds = [...new Set(tasks.flatMap((t) => runIdOf(t) ?? []))];
  if (runIds.length === 0) return tasks;
  const counts = new Map<number, RunCounts | null>();
  await Promise.all(
    runIds.map(async (runId) => {
      counts.set(runId, await runProgress(ctx, runId));
    }),
  );
  return tasks.map((t) => {
    const runId = runIdOf(t);
    const of = runId === null ? null : (counts.get(runId) ?? null);
    if (of === null || (t.kind !== 'run' && t.kind !== 'stage')) return t;
    const count = t.kind === 'run' ? of.run : t.name === 'provision' ? of.provision : of.deployment;
    return { ...t, done: count.ended, total: count.planned };
  });
}
