/** A cluster's deployment graph and its settings (Nailgun's editable attributes). */
import { defaultAttributes, type Editable, mergeAttributes } from '../../domain/attributes.js';
import { assertItemFits } from '../../domain/dynamo-limits.js';
import { ValidationError } from '../../domain/errors.js';
import { type GraphTask, validateGraph } from '../../domain/graph.js';
import { defaultGraph } from '../../domain/release.js';
import type { Context } from '../ports.js';
import { assertUnlocked, editCluster, getCluster } from './clusters.js';

/** The cluster's graph, or the release's default graph when none was uploaded. */
export async function graphOf(ctx: Context, clusterId: number): Promise<GraphTask[]> {
  return (await ctx.repos.clusters.getGraph(clusterId)) ?? defaultGraph();
}

export async function getGraph(ctx: Context, clusterId: number): Promise<GraphTask[]> {
  await getCluster(ctx, clusterId);
  return graphOf(ctx, clusterId);
}

/** A stored graph, and what in it orders nothing (cross-dependencies that match no task). */
export interface StoredGraph {
  tasks: GraphTask[];
  warnings: string[];
}

export async function putGraph(ctx: Context, clusterId: number, input: unknown): Promise<StoredGraph> {
  const c = await getCluster(ctx, clusterId);
  const validation = validateGraph(input);
  if (!validation.ok) {
    const first = validation.problems[0]?.message ?? 'invalid graph';
    const more =
      validation.problems.length > 1 ? ` (and ${validation.problems.length - 1} more problems)` : '';
    throw new ValidationError(
      `Invalid deployment graph: ${first}${more}`,
      validation.problems.map((p) => ({
        field: p.task ? `${p.task}.${p.field}` : p.field,
        message: p.message,
      })),
    );
  }
  // a graph is kept in one DynamoDB item
  assertItemFits(`The deployment graph of environment '${c.name}'`, "the environment's graph", {
    tasks: validation.tasks,
  });
  const action = 'change the deployment graph';
  assertUnlocked(c, action);
  await editCluster(ctx, clusterId, action, async (cluster) => {
    await ctx.repos.clusters.putGraph(clusterId, validation.tasks);
    return { result: undefined, patch: cluster.isCustomized ? {} : { isCustomized: true } };
  });
  const warnings = validation.warnings.map((w) => w.message);
  if (warnings.length > 0) ctx.log('graph stored with warnings', { clusterId, warnings });
  return { tasks: validation.tasks, warnings };
}

export async function getAttributes(ctx: Context, clusterId: number): Promise<Editable> {
  await getCluster(ctx, clusterId);
  return (await ctx.repos.clusters.getAttributes(clusterId)) ?? defaultAttributes();
}

/** Merges a settings change into the stored settings, read and written under the cluster's edit lease. */
export async function putAttributes(ctx: Context, clusterId: number, edit: Editable): Promise<Editable> {
  const action = 'change the settings';
  const c = await getCluster(ctx, clusterId);
  assertUnlocked(c, action, 'forbidden');
  // the settings are kept in one DynamoDB item: the change alone must fit (and the merge, checked below)
  const what = `The settings tree of environment '${c.name}'`;
  const item = "the environment's attributes";
  assertItemFits(what, item, { editable: edit });
  return editCluster(
    ctx,
    clusterId,
    action,
    async () => {
      const merged = mergeAttributes(
        (await ctx.repos.clusters.getAttributes(clusterId)) ?? defaultAttributes(),
        edit,
      );
      assertItemFits(what, item, { editable: merged });
      await ctx.repos.clusters.putAttributes(clusterId, merged);
      return { result: merged };
    },
    'forbidden',
  );
}
