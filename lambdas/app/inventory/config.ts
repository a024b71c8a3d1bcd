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

/** A graph's problems as the 400 that says them all (the first one in the message). */
function validated(input: unknown): { tasks: GraphTask[]; warnings: string[] } {
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
  return { tasks: validation.tasks, warnings: validation.warnings.map((w) => w.message) };
}

/**
 * Validates and stores a graph of a type under the cluster's edit lease. `expect`: `new` refuses a type the
 * cluster has a graph of (409, Nailgun's POST), `existing` one it has none of (404, Nailgun's PUT); the
 * default graph always exists (the release's, until one is uploaded).
 *
 * `input` undefined (no `tasks` sent), as Nailgun's `DeploymentGraph.create` / `update` take it: a PUT
 * (`existing`) keeps the stored tasks and changes the name only (400 on the release's default graph, which
 * has no stored tasks to keep); a POST (`new`) creates an empty graph, except of the `default` type (400:
 * here the default graph replaces the release's instead of adding to it, so an empty one would deploy
 * nothing; `{"tasks": []}` says that on purpose); an upload (`any`) is refused as an invalid graph.
 */
export async function storeGraph(
  ctx: Context,
  clusterId: number,
  type: string,
  input: unknown,
  options: { name: string | null | undefined; expect: 'new' | 'existing' | 'any' },
): Promise<StoredGraph> {
  const c = await getCluster(ctx, clusterId);
  const missing = input === undefined && options.expect !== 'any';
  const given = missing ? null : validated(input);
  const isDefault = type === DEFAULT_GRAPH_TYPE;
  // a graph is kept in one DynamoDB item
  const what = isDefault ? 'The deployment graph' : `The '${type}' graph`;
  const fits = (tasks: GraphTask[], name: string | null) =>
    assertItemFits(`${what} of environment '${c.name}'`, "the environment's graph", { tasks, name });
  if (given) fits(given.tasks, options.name ?? null);
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
      // counted by key: the graphs themselves (up to 400 KB each) are not read
      const others = await ctx.repos.clusters.typedGraphTypes(clusterId);
      if (others.length >= MAX_GRAPH_TYPES) {
        throw new ValidationError(
          `Environment '${c.name}' keeps at most ${MAX_GRAPH_TYPES} graphs besides the default one: delete one first`,
        );
      }
    }
    const name = options.name === undefined ? (old?.name ?? null) : options.name;
    const tasks = given?.tasks ?? tasksWithout(old, options.expect, isDefault, c.name);
    if (!given) fits(tasks, name);
    const stored = await ctx.repos.clusters.putTypedGraph(clusterId, type, { name, tasks });
    const customize = isDefault && !cluster.isCustomized;
    return { result: stored, patch: customize ? { isCustomized: true } : {} };
  });
  const warnings = given?.warnings ?? [];
  if (warnings.length > 0) ctx.log('graph stored with warnings', { clusterId, type, warnings });
  return { tasks: graph.tasks, warnings, graph };
}

/** The tasks of an upload that sent none (see storeGraph): the stored ones (PUT), or none (POST). */
function tasksWithout(
  old: TypedGraph | null,
  expect: 'new' | 'existing' | 'any',
  isDefault: boolean,
  cluster: string,
): GraphTask[] {
  if (expect === 'existing') {
    if (old) return old.tasks;
    throw new ValidationError(
      `Environment '${cluster}' has no default graph of its own (it deploys the release's graph): send "tasks" to upload one`,
      [{ field: 'tasks', message: 'is required: there are no stored tasks to keep' }],
    );
  }
  if (isDefault) {
    throw new ValidationError(
      `Creating the default graph of environment '${cluster}' needs "tasks": it replaces the release's graph, and without tasks the environment would deploy nothing (send "tasks": [] to mean that)`,
      [{ field: 'tasks', message: 'is required for the default graph' }],
    );
  }
  return [];
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
