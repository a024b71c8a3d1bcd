/** A cluster's deployment graph and its settings (Nailgun's editable attributes). */
import { defaultAttributes, type Editable, mergeAttributes } from '../../domain/attributes.js';
import { assertItemFits } from '../../domain/dynamo-limits.js';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { type GraphTask, validateGraph } from '../../domain/graph.js';
import { DEFAULT_GRAPH_TYPE, MAX_GRAPH_TYPES, type TypedGraph } from '../../domain/graph-types.js';
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
  graph: TypedGraph;
}

/** Replaces the default graph (`name`: undefined keeps its name): what every deployment of the cluster runs. */
export async function putGraph(
  ctx: Context,
  clusterId: number,
  input: unknown,
  name?: string | null,
): Promise<StoredGraph> {
  return storeGraph(ctx, clusterId, DEFAULT_GRAPH_TYPE, input, { name, expect: 'any' });
}

/**
 * Validates and stores a graph of a type under the cluster's edit lease. `expect`: `new` refuses a type the
 * cluster has a graph of (409, Nailgun's POST), `existing` one it has none of (404, Nailgun's PUT); the
 * default graph always exists (the release's, until one is uploaded).
 */
export async function storeGraph(
  ctx: Context,
  clusterId: number,
  type: string,
  input: unknown,
  options: { name: string | null | undefined; expect: 'new' | 'existing' | 'any' },
): Promise<StoredGraph> {
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
  const isDefault = type === DEFAULT_GRAPH_TYPE;
  // a graph is kept in one DynamoDB item
  const what = isDefault ? 'The deployment graph' : `The '${type}' graph`;
  assertItemFits(`${what} of environment '${c.name}'`, "the environment's graph", {
    tasks: validation.tasks,
    name: options.name ?? null,
  });
  const action = isDefault ? 'change the deployment graph' : `change the '${type}' graph`;
  assertUnlocked(c, action);
  const graph = await editCluster(ctx, clusterId, action, async (cluster) => {
    const old = await ctx.repos.clusters.getTypedGraph(clusterId, type);
    if (options.expect === 'new' && old !== null) {
      throw new ConflictError(
        `Deployment graph with type "${type}" already exists in environment '${c.name}'`,
      );
    }
    if (options.expect === 'existing' && old === null && !isDefault) {
      throw new NotFoundError(`Graph with type: ${type} is not defined in environment '${c.name}'`);
    }
    if (!isDefault && old === null) {
      const others = (await ctx.repos.clusters.typedGraphs(clusterId)).filter(
        (g) => g.type !== DEFAULT_GRAPH_TYPE,
      );
      if (others.length >= MAX_GRAPH_TYPES) {
        throw new ValidationError(
          `Environment '${c.name}' keeps at most ${MAX_GRAPH_TYPES} graphs besides the default one: delete one first`,
        );
      }
    }
    const name = options.name === undefined ? (old?.name ?? null) : options.name;
    const stored = await ctx.repos.clusters.putTypedGraph(clusterId, type, { name, tasks: validation.tasks });
    const customize = isDefault && !cluster.isCustomized;
    return { result: stored, patch: customize ? { isCustomized: true } : {} };
  });
  const warnings = validation.warnings.map((w) => w.message);
  if (warnings.length > 0) ctx.log('graph stored with warnings', { clusterId, type, warnings });
  return { tasks: validation.tasks, warnings, graph };
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
