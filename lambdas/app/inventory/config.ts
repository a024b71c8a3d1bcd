/** A cluster's deployment graph and its settings (Nailgun's editable attributes). */
import { defaultAttributes, type Editable, mergeAttributes } from '../../domain/attributes.js';
import { TooLargeError, ValidationError } from '../../domain/errors.js';
import { type GraphTask, validateGraph } from '../../domain/graph.js';
import { defaultGraph } from '../../domain/release.js';
import type { Context } from '../ports.js';
import { assertUnlocked, getCluster } from './clusters.js';

/** A graph is kept in one DynamoDB item (at most 400 KB), with room for its key and attribute names. */
export const MAX_GRAPH_BYTES = 350_000;

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
  const size = Buffer.byteLength(JSON.stringify(validation.tasks));
  if (size > MAX_GRAPH_BYTES) {
    throw new TooLargeError(
      `The deployment graph is too large to keep: ${size} bytes, at most ${MAX_GRAPH_BYTES} (a DynamoDB item holds 400 KB)`,
    );
  }
  assertUnlocked(c, 'change the deployment graph');
  await ctx.repos.clusters.putGraph(clusterId, validation.tasks);
  if (!c.isCustomized) await ctx.repos.clusters.updateUnlocked(clusterId, { isCustomized: true });
  const warnings = validation.warnings.map((w) => w.message);
  if (warnings.length > 0) ctx.log('graph stored with warnings', { clusterId, warnings });
  return { tasks: validation.tasks, warnings };
}

export async function getAttributes(ctx: Context, clusterId: number): Promise<Editable> {
  await getCluster(ctx, clusterId);
  return (await ctx.repos.clusters.getAttributes(clusterId)) ?? defaultAttributes();
}

export async function putAttributes(ctx: Context, clusterId: number, edit: Editable): Promise<Editable> {
  assertUnlocked(await getCluster(ctx, clusterId), 'change the settings', 'forbidden');
  const merged = mergeAttributes(
    (await ctx.repos.clusters.getAttributes(clusterId)) ?? defaultAttributes(),
    edit,
  );
  await ctx.repos.clusters.putAttributes(clusterId, merged);
  return merged;
}
