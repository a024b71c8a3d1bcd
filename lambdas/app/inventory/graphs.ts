/**
 * An environment's graphs by type (Nailgun 9.0's `clusters/{id}/deployment_graphs/`), and the reads of the
 * default graph that `fuel graph` and `fuel node --start/--end` make. The `default` type is the graph of
 * `deployment_tasks` (config.ts keeps it); other types are kept beside it and run when named
 * (domain/graph-types.ts). `graphTasksOfType` is what every reader of a graph's tasks goes through: the API's
 * reads, the checks of a deployment and its plan step.
 */
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { GraphTask } from '../../domain/graph.js';
import { DEFAULT_GRAPH_TYPE, type GraphRelation, type TypedGraph } from '../../domain/graph-types.js';
import {
  type DotQuery,
  dotGraph,
  type SubgraphQuery,
  subgraph,
  unknownTasks,
} from '../../domain/graph-view.js';
import type { Cluster } from '../../domain/model.js';
import { defaultGraph } from '../../domain/release.js';
import type { Context } from '../ports.js';
import { assertUnlocked, editCluster, getCluster } from './clusters.js';
import { graphOf, type StoredGraph, storeGraph } from './config.js';

/** A graph as the API shows it: what it is, and whose. */
export interface GraphView {
  graph: TypedGraph;
  relations: GraphRelation[];
}

/** The release's built-in graph, which an environment deploys until it has a default graph of its own. */
function releaseGraph(c: Cluster): GraphView {
  return {
    graph: { id: null, type: DEFAULT_GRAPH_TYPE, name: null, tasks: defaultGraph() },
    relations: [{ model: 'release', model_id: c.releaseId, type: DEFAULT_GRAPH_TYPE }],
  };
}

const ownView = (c: Cluster, graph: TypedGraph): GraphView => ({
  graph,
  relations: [{ model: 'cluster', model_id: c.id, type: graph.type }],
});

/** Every graph of the environment: the default one (its own, or the release's), then the other types. */
export async function listGraphs(ctx: Context, clusterId: number): Promise<GraphView[]> {
  const c = await getCluster(ctx, clusterId);
  const own = await ctx.repos.clusters.typedGraphs(clusterId);
  const hasDefault = own.some((g) => g.type === DEFAULT_GRAPH_TYPE);
  return [...(hasDefault ? [] : [releaseGraph(c)]), ...own.map((g) => ownView(c, g))];
}

/** The graphs of every environment (Nailgun's `GET graphs/`), optionally of some environments or types only. */
export async function listAllGraphs(
  ctx: Context,
  filter: { clusterIds?: number[]; types?: string[] },
): Promise<GraphView[]> {
  const clusters = await ctx.repos.clusters.list();
  const wanted = filter.clusterIds ? new Set(filter.clusterIds) : null;
  const types = filter.types ? new Set(filter.types) : null;
  const views: GraphView[] = [];
  for (const c of clusters.sort((a, b) => a.id - b.id)) {
    if (wanted && !wanted.has(c.id)) continue;
    for (const view of await listGraphs(ctx, c.id))
      if (!types || types.has(view.graph.type)) views.push(view);
  }
  return views;
}

/** The graph of a type: the default one always exists (the release's, until one is uploaded). */
export async function getGraphOfType(ctx: Context, clusterId: number, type: string): Promise<GraphView> {
  const c = await getCluster(ctx, clusterId);
  const own = await ctx.repos.clusters.getTypedGraph(clusterId, type);
  if (own) return ownView(c, own);
  if (type === DEFAULT_GRAPH_TYPE) return releaseGraph(c);
  throw noGraphOfType(c, type);
}

/**
 * POST (`new`: 409 when the type exists), PUT (`existing`: 404 when it does not) or an upload that creates or
 * replaces (`any`) of a graph of a type. Without `tasks`, as Nailgun takes it: a PUT keeps the stored tasks
 * (a rename), a POST creates an empty graph (not of the default type: 400), an upload is refused (400); see
 * storeGraph.
 */
export async function putGraphOfType(
  ctx: Context,
  clusterId: number,
  type: string,
  body: { name?: string | null; tasks?: unknown },
  expect: 'new' | 'existing' | 'any',
): Promise<{ view: GraphView; stored: StoredGraph }> {
  const stored = await storeGraph(ctx, clusterId, type, body.tasks, { name: body.name, expect });
  return { view: ownView(await getCluster(ctx, clusterId), stored.graph), stored };
}

/**
 * Deletes the environment's own graph of a type. Deleting its default graph gives it the release's graph
 * back (and `is_customized: false`); the release's graph itself cannot be deleted (404).
 */
export async function deleteGraphOfType(ctx: Context, clusterId: number, type: string): Promise<void> {
  const isDefault = type === DEFAULT_GRAPH_TYPE;
  const action = isDefault ? 'delete the deployment graph' : `delete the '${type}' graph`;
  const c = await getCluster(ctx, clusterId);
  assertUnlocked(c, action);
  await editCluster(ctx, clusterId, action, async () => {
    if (!(await ctx.repos.clusters.deleteTypedGraph(clusterId, type))) {
      throw new NotFoundError(
        isDefault
          ? `Environment '${c.name}' has no default graph of its own: it deploys the release's graph, which cannot be deleted`
          : `Graph with type: ${type} is not defined in environment '${c.name}'`,
      );
    }
    return { result: undefined, patch: isDefault ? { isCustomized: false } : {} };
  });
}

/** A 400 naming what a query names that the graph does not have, as Nailgun's validators say it. */
function assertKnown(graph: GraphTask[], names: string[], field: string): void {
  const unknown = unknownTasks(graph, names);
  if (unknown.length > 0) {
    throw new ValidationError(
      `Tasks ${unknown.join(',')} are not present in deployment graph`,
      unknown.map((t) => ({ field, message: `task '${t}' is not in the graph` })),
    );
  }
}

/**
 * The tasks of the environment's graph of a type: the default one (the release's until one is uploaded,
 * graphOf), or its own graph of that type; null when it has none of that type. The cluster is not read.
 */
export async function graphTasksOfType(
  ctx: Context,
  clusterId: number,
  type: string,
): Promise<GraphTask[] | null> {
  if (type === DEFAULT_GRAPH_TYPE) return graphOf(ctx, clusterId);
  return (await ctx.repos.clusters.getTypedGraph(clusterId, type))?.tasks ?? null;
}

/** Why the environment has no graph of a type, as the API says it (404). */
export function noGraphOfType(c: Pick<Cluster, 'name'>, type: string): NotFoundError {
  return new NotFoundError(`Graph with type: ${type} is not defined in environment '${c.name}'`);
}

/** The tasks of the graph of a type, of an environment that exists (404 otherwise, or without that type). */
async function tasksOfType(ctx: Context, clusterId: number, type: string): Promise<GraphTask[]> {
  const c = await getCluster(ctx, clusterId);
  const tasks = await graphTasksOfType(ctx, clusterId, type);
  if (tasks === null) throw noGraphOfType(c, type);
  return tasks;
}

/** A graph, or (start / end) the part of it between them (`GET deployment_tasks/?start=&end=`). */
export async function graphPart(
  ctx: Context,
  clusterId: number,
  type: string,
  query: SubgraphQuery,
): Promise<GraphTask[]> {
  const graph = await tasksOfType(ctx, clusterId, type);
  assertKnown(
    graph,
    [query.start, query.end].filter((t): t is string => t !== undefined),
    'start/end',
  );
  return subgraph(graph, query);
}

/** A graph in Graphviz DOT (`GET deploy_tasks/graph.gv`). */
export async function graphDot(
  ctx: Context,
  clusterId: number,
  type: string,
  query: DotQuery,
): Promise<string> {
  const graph = await tasksOfType(ctx, clusterId, type);
  assertKnown(graph, query.tasks ?? [], 'tasks');
  if (query.parentsFor !== undefined && unknownTasks(graph, [query.parentsFor]).length > 0) {
    throw new ValidationError(`Task ${query.parentsFor} is not present in graph`, [
      { field: 'parents_for', message: `task '${query.parentsFor}' is not in the graph` },
    ]);
  }
  return dotGraph(graph, query);
}
