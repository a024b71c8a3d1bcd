/**
 * "Deploy changes" and its relatives: provision and deploy selected nodes, redeploy. Takes the cluster's
 * deployment lock, writes the run and its stage tasks, and starts the state machine's execution (named by
 * the run's uuid). Once the execution runs it owns the lock; a start that failed is undone here.
 *
 * The graph, the settings and the nodes are checked before the lock, and read again once it is held (no
 * edit can write them from then on, `store/clusters.ts`): what changed in between is checked again, so the
 * deployment runs what was checked.
 *
 * The graph is the environment's default one, or, when the request names another type (`deploy/?graph_type=`,
 * `fuel2 graph execute`), its graph of that type: run on provisioned nodes only, every task of it.
 */
import { randomUUID } from 'node:crypto';
import { defaultAttributes, type Editable } from '../../domain/attributes.js';
import { ConflictError, ValidationError } from '../../domain/errors.js';
import type { GraphTask } from '../../domain/graph.js';
import { DEFAULT_GRAPH_TYPE } from '../../domain/graph-types.js';
import { unknownTasks } from '../../domain/graph-view.js';
import {
  deployWhileStoppingMessage,
  runNotStartedMessage,
  runStartedMessage,
} from '../../domain/messages.js';
import type { Cluster, Node } from '../../domain/model.js';
import { projectNodes } from '../../domain/plan-decision.js';
import { leastCommands, MAX_LAYERS, planLimitProblem } from '../../domain/plan-limits.js';
import { rolesNeedingPrimary } from '../../domain/primary-roles.js';
import { isClusterLocked, needsProvisioning } from '../../domain/status.js';
import { isStopping } from '../../domain/stop.js';
import {
  type DeployMode,
  type DeploymentRun,
  type DeployScope,
  graphTypeOf,
  newRun,
  newStageTask,
  runsOtherGraph,
} from '../../domain/task.js';
import { expandGraph } from '../engine/plan.js';
import { assertUnlocked, getCluster, whenNotEdited } from '../inventory/clusters.js';
import { graphTasksOfType, noGraphOfType } from '../inventory/graphs.js';
import { type Context, nowIso } from '../ports.js';

/** What a deployment runs: the cluster's nodes, its graph and its settings. */
export interface Inputs {
  members: Node[];
  graph: GraphTask[];
  editable: Editable;
}

/**
 * The cluster's nodes, settings and its graph of `graphType` (the default one unless named): 404 when the
 * cluster has no graph of that type.
 */
export async function readInputs(
  ctx: Context,
  c: Pick<Cluster, 'id' | 'name'>,
  graphType: string = DEFAULT_GRAPH_TYPE,
): Promise<Inputs> {
  const graph = await graphTasksOfType(ctx, c.id, graphType);
  if (graph === null) throw noGraphOfType(c, graphType);
  return {
    members: await ctx.repos.nodes.listOfCluster(c.id),
    graph,
    editable: (await ctx.repos.clusters.getAttributes(c.id)) ?? defaultAttributes(),
  };
}

/** The nodes the run acts on, once the inputs pass every check of "Deploy changes". */
export function checkInputs(ctx: Context, c: Cluster, inputs: Inputs, mode: DeployMode): Node[] {
  const nodes = selectNodes(c, inputs.members, mode.nodes, mode.scope);
  if (mode.tasks) checkSelectedTasks(inputs.graph, mode.tasks);
  if (mode.scope !== 'provision') checkPlan(ctx, c, inputs, nodes, mode);
  const offline = nodes.filter((n) => !n.online);
  if (offline.length > 0) {
    throw new ConflictError(`Nodes are offline: ${offline.map((n) => `${n.name} (${n.id})`).join(', ')}`);
  }
  return nodes;
}

/**
 * The graph must expand on these nodes (as the plan step will expand it: pending roles taken on, primaries
 * elected, conditions evaluated) within the limits of one execution (domain/plan-limits.ts). Commands are
 * not rendered here: a layer is counted at its fewest commands, and the plan step counts them exactly.
 */
function checkPlan(
  ctx: Context,
  c: Cluster,
  { members, graph, editable }: Inputs,
  nodes: Node[],
  mode: DeployMode,
): void {
  const planned = expandGraph(ctx, {
    // as the plan step will see it: the deployment has taken the cluster
    cluster: { ...c, status: 'deployment' },
    editable,
    graph,
    nodes: projectNodes(members, nodes, rolesNeedingPrimary(graph)).nodes,
    runId: 0,
    // far past the limit, planning stops: the operator learns the graph is too long without waiting for it
    maxLayers: MAX_LAYERS * 10,
    onlyTasks: mode.tasks,
  }).deployment;
  const problem = planLimitProblem(planned.layers.map((keys) => ({ keys, commands: leastCommands(keys) })));
  if (problem !== null) throw new ValidationError(problem);
}

/** Tasks selected to run (`deploy_tasks`) must be tasks of the graph, as Nailgun's `validate_tasks` says. */
function checkSelectedTasks(graph: GraphTask[], tasks: string[]): void {
  const unknown = unknownTasks(graph, tasks);
  if (unknown.length > 0) {
    throw new ValidationError(
      `Tasks ${unknown.join(',')} are not present in deployment graph`,
      unknown.map((t) => ({ field: 'tasks', message: `task '${t}' is not in the graph` })),
    );
  }
}

/**
 * The nodes a run acts on: every node of the cluster not pending deletion, or the selected ones, which must
 * belong to it. Provisioning selected nodes needs nodes not provisioned yet; deploying nodes without
 * provisioning them (`deploy/`, selected or, for a graph of another type, all of them) needs provisioned ones.
 */
function selectNodes(c: Cluster, members: Node[], selection: number[] | null, scope: DeployScope): Node[] {
  const active = members.filter((n) => !n.pendingDeletion);
  if (selection === null && active.length === 0) {
    throw new ValidationError(`Environment '${c.name}' has no nodes to deploy`);
  }
  if (selection === null && scope === 'all') return active;
  const byId = new Map(active.map((n) => [n.id, n]));
  const problems: { field: string; message: string }[] = [];
  const chosen: Node[] = [];
  for (const id of new Set(selection ?? active.map((n) => n.id))) {
    const node = byId.get(id);
    if (!node) {
      problems.push({ field: 'nodes', message: `node ${id} is not in environment ${c.id}` });
    } else if (scope === 'provision' && !needsProvisioning(node.status, node.errorType)) {
      problems.push({
        field: 'nodes',
        message: `node ${id} is already provisioned (status '${node.status}')`,
      });
    } else if (scope === 'deploy' && needsProvisioning(node.status, node.errorType)) {
      problems.push({
        field: 'nodes',
        message: `node ${id} is not provisioned (status '${node.status}'): provision it first`,
      });
    } else {
      chosen.push(node);
    }
  }
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join('; '), problems);
  return chosen;
}

/** No deployment runs and no stop is settling: 409 otherwise, saying which. */
export async function assertDeployable(ctx: Context, c: Cluster, action: string): Promise<void> {
  const running = c.deploymentTaskId === null ? null : await ctx.repos.tasks.getRun(c.deploymentTaskId);
  if (running && isStopping(running.stop) && running.status === 'running') {
    throw new ConflictError(deployWhileStoppingMessage(c.name, running.id));
  }
  assertUnlocked(c, action);
}

export type DeployRequest = Pick<DeployMode, 'force' | 'resume'> &
  Partial<Pick<DeployMode, 'scope' | 'nodes' | 'tasks' | 'graphType'>>;

/**
 * `PUT clusters/{id}/deploy_tasks/?nodes=` (`fuel node --node 1,2 --tasks a b`): the tasks named, of the
 * default graph or of the graph of `graphType`, on those nodes. They run even where their inputs are
 * unchanged since they last ran: the operator asked for them by name.
 */
export function deployTasks(
  ctx: Context,
  clusterId: number,
  nodes: number[],
  tasks: string[],
  graphType: string = DEFAULT_GRAPH_TYPE,
): Promise<DeploymentRun> {
  return deployChanges(ctx, clusterId, {
    force: true,
    resume: false,
    scope: 'deploy',
    nodes,
    tasks,
    graphType,
  });
}

/**
 * The mode a request runs in. A graph of another type runs on provisioned nodes (scope `deploy`), and every
 * task of it (`force`): the operator asked for that graph by name, and what last ran unchanged is known for
 * the default graph only (engine/plan.ts records no last run for another graph).
 */
function modeOf(request: DeployRequest): DeployMode {
  const mode: DeployMode = {
    ...request,
    scope: request.scope ?? 'all',
    nodes: request.nodes ?? null,
    graphType: request.graphType ?? DEFAULT_GRAPH_TYPE,
  };
  if (!runsOtherGraph(mode)) return mode;
  if (mode.scope !== 'deploy') {
    throw new ValidationError(
      `Only the default graph provisions nodes: the '${graphTypeOf(mode)}' graph runs on provisioned nodes (PUT clusters/{id}/deploy/?graph_type=${graphTypeOf(mode)})`,
    );
  }
  return { ...mode, force: true };
}

/**
 * "Deploy changes": provisions the nodes that need it and runs the graph on every node of the cluster; with a
 * scope, provisions or deploys (selected) nodes only.
 */
export async function deployChanges(
  ctx: Context,
  clusterId: number,
  request: DeployRequest = { force: false, resume: false },
): Promise<DeploymentRun> {
  const mode = modeOf(request);
  const c = await getCluster(ctx, clusterId);
  if (mode.scope === 'deploy' && mode.nodes === null && !runsOtherGraph(mode)) {
    const message =
      'must list node ids, like ?nodes=1,2: the default graph runs on the nodes listed (a graph of another type, with graph_type=, runs on every node without them)';
    throw new ValidationError(`Invalid query: nodes: ${message}`, [{ field: 'nodes', message }]);
  }
  const action = mode.scope === 'provision' ? 'provision' : 'deploy';
  await assertDeployable(ctx, c, action);
  const checked = await readInputs(ctx, c, graphTypeOf(mode));
  let nodes = checkInputs(ctx, c, checked, mode);

  const runId = await ctx.repos.tasks.nextId();
  // an edit in progress holds the lock back until it ends (milliseconds)
  const before = await whenNotEdited(
    ctx,
    clusterId,
    action,
    () => ctx.repos.clusters.lock(clusterId, runId),
    (current) => {
      if (current.deploymentTaskId !== null || isClusterLocked(current.status)) {
        throw new ConflictError(`Environment '${current.name}' is already being deployed or is locked`);
      }
    },
  );
  try {
    // under the lock nothing changes any more: what runs is what is stored now, checked again if it changed
    const locked = await readInputs(ctx, c, graphTypeOf(mode));
    if (JSON.stringify(locked) !== JSON.stringify(checked)) nodes = checkInputs(ctx, before, locked, mode);
  } catch (err) {
    await ctx.repos.clusters.release(clusterId, runId, { status: before.status });
    throw err;
  }
  return startRun(ctx, before, runId, mode, nodes);
}

/** Writes the run (and its stage tasks) and starts its execution; a failed start ends them and unlocks. */
async function startRun(
  ctx: Context,
  c: Cluster,
  runId: number,
  mode: DeployMode,
  nodes: Node[],
): Promise<DeploymentRun> {
  const at = nowIso(ctx);
  let started = false;
  const written: number[] = [];
  try {
    // "Deploy changes" is a `deploy` run with `provision` and `deployment` stage tasks; provisioning or
    // deploying selected nodes is one top-level `provision` or `deployment` run.
    const stageTask = async (name: 'provision' | 'deployment') =>
      newStageTask(
        { id: await ctx.repos.tasks.nextId(), uuid: randomUUID(), clusterId: c.id, parentId: runId, at },
        name,
      );
    const needsProvision = nodes.some((n) => needsProvisioning(n.status, n.errorType));
    const provision = mode.scope === 'all' && needsProvision ? await stageTask('provision') : null;
    const deployment = mode.scope === 'all' ? await stageTask('deployment') : null;
    const run = newRun({
      id: runId,
      uuid: randomUUID(),
      clusterId: c.id,
      mode,
      children: { provision: provision?.id ?? null, deployment: deployment?.id ?? null },
      message: runStartedMessage(
        mode.scope,
        c.name,
        mode.nodes ? nodes.map((n) => n.id) : null,
        graphTypeOf(mode),
      ),
      at,
    });
    for (const task of [run, provision, deployment]) {
      if (!task) continue;
      await ctx.repos.tasks.put(task);
      written.push(task.id);
    }
    const executionArn = await ctx.workflows.start(run.uuid, { taskId: run.id, failure: null });
    started = true;
    for (const id of written) await ctx.repos.tasks.update(id, { executionArn });
    return { ...run, executionArn };
  } catch (err) {
    // Once the execution runs, it owns the lock and will settle everything; only a start that failed is undone.
    if (started) throw err;
    const message = runNotStartedMessage(err instanceof Error ? err.message : String(err));
    const stored = await ctx.repos.tasks.getRun(runId);
    const stopTaskId = stored && isStopping(stored.stop) ? stored.stop.request.stopTaskId : null;
    for (const id of [...written, stopTaskId]) {
      if (id === null) continue;
      await ctx.repos.tasks
        .finish(id, { status: 'error', message, timeEnd: nowIso(ctx), progress: 100 })
        .catch(() => false);
    }
    await ctx.repos.clusters.release(c.id, runId, { status: c.status });
    throw err;
  }
}
