/**
 * "Plan deployment", the state machine's first step: takes the nodes' pending roles on and elects the
 * primaries (domain/plan-decision.ts `projectNodes`, written here), expands the graph on the run's nodes
 * (conditions evaluated per node, commands rendered per type), decides which nodes need provisioning and which
 * work is unchanged since its last successful run, and stores the pending history rows: one per task on every
 * node it applies to, including those that run nothing. Idempotent: a retried plan returns the outline it
 * stored.
 *
 * The graph is the run's type (`graphTypeOf`, read as the API's checks read it: inventory/graphs.ts
 * `graphTasksOfType`). A graph of another type than the default one runs every task (its mode is forced), on
 * the nodes as they are: their pending roles count for the expansion, as Nailgun's `all_roles`, but are not
 * taken on (that is "Deploy changes"' to do, with the default graph), and its rows record no last run.
 */
import {
  defaultAttributes,
  type Editable,
  provisionCommand,
  provisionTimeout,
} from '../../domain/attributes.js';
import { evaluateCondition, evaluateYaql, flattenSettings, formatValues } from '../../domain/conditions.js';
import { clusterModel, DeploymentInfo, type InfoContext } from '../../domain/deployment-info.js';
import { batchRows, executionTimeout, stageTimeLimit } from '../../domain/dispatch.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import { graphFingerprints } from '../../domain/fingerprint.js';
import type { GraphTask } from '../../domain/graph.js';
import { type HistoryRow, pendingRow } from '../../domain/history.js';
import type { Cluster, Node } from '../../domain/model.js';
import type { Page } from '../../domain/page.js';
import {
  type DeploymentPlan,
  layerTimeoutSeconds,
  PlanError,
  planDeployment,
  type TaskInstance,
} from '../../domain/plan.js';
import {
  type DecisionMode,
  decideWork,
  type NodeBefore,
  type NodeProjection,
  projectNodes,
  skipsUnchangedOn,
} from '../../domain/plan-decision.js';
import type { ConditionVerdict } from '../../domain/plan-expansion.js';
import { planLimitProblem } from '../../domain/plan-limits.js';
import { allRoles, rolesNeedingPrimary } from '../../domain/primary-roles.js';
import { stageIndex } from '../../domain/progress.js';
import { OPENSTACK_VERSION } from '../../domain/release.js';
import { compactRequirements, TargetSetRegistry } from '../../domain/requirements.js';
import { instanceKey, isProvisionStage, layerStage, PROVISION_STAGE } from '../../domain/stage.js';
import { isTaskFinished } from '../../domain/status.js';
import { MASTER_NODE, targetLabel } from '../../domain/targets.js';
import {
  type DeployMode,
  type DeploymentOutline,
  type DeploymentRun,
  graphTypeOf,
  layerCountOf,
  type PlanSummary,
  runsOtherGraph,
  type Task,
} from '../../domain/task.js';
import { renderCommand } from '../../domain/task-commands.js';
import { graphTasksOfType } from '../inventory/graphs.js';
import { inParallel, READS_AT_ONCE, WRITES_AT_ONCE } from '../parallel.js';
import type { Context } from '../ports.js';
import { loadRun } from './run.js';

export async function plan(ctx: Context, input: { taskId: number }): Promise<DeploymentOutline> {
  const { repos } = ctx;
  const run = await loadRun(ctx, input.taskId);
  if (run.plan) return outlineOf(ctx, run.id, run.plan);
  const cluster = await repos.clusters.get(run.clusterId);
  if (!cluster) throw new NotFoundError(`Cluster ${run.clusterId} not found`);
  const graphType = graphTypeOf(run.mode);
  const otherGraph = runsOtherGraph(run.mode);
  const graph = await graphTasksOfType(ctx, cluster.id, graphType);
  if (graph === null) {
    // checked when the run was requested, and kept from edits by the deployment lock since: gone all the same
    throw new NotFoundError(
      `Environment '${cluster.name}' no longer has a graph of type '${graphType}': it was deleted after the deployment was requested, and nothing was run`,
    );
  }
  const editable = (await repos.clusters.getAttributes(cluster.id)) ?? defaultAttributes();
  const members = await repos.nodes.listOfCluster(run.clusterId);
  const projection = projectNodes(members, runNodes(members, run), rolesNeedingPrimary(graph));
  const nodes = await takeOn(ctx, members, projection, !otherGraph);
  const { deployment, data } =
    run.mode.scope === 'provision'
      ? { deployment: { instances: [], layers: [] }, data: null }
      : expandGraph(ctx, {
          cluster,
          editable,
          graph,
          nodes,
          runId: run.id,
          durations: await measuredDurations(ctx, run),
          onlyTasks: run.mode.tasks,
        });
  // Last runs are kept by (node, task id), not by graph, and read by the default graph's decisions only
  // ("Deploy changes", deploy/ of the default graph, the restart preview): a task is skipped there when its
  // fingerprint equals its last run's. A graph of another type may hold a task with the id of a default task;
  // recording its run would put what that other task ran in place of the default task's last run: the default
  // task would then run again where the definitions differ, and be skipped where they are equal though it ran
  // in another graph, in another order, after other requirements. So a run of another graph records none (its
  // rows have no fingerprint: engine/last-runs.ts and record-result.ts skip them) and forgets none: the default
  // graph's last runs stay what it ran ready itself. The nodes' statuses follow suit (domain/settlement.ts: a
  // node keeps what the default graph left it, a ready node stopped becomes `stopped`), so a node the default
  // graph had not finished on is not skipped on as if it had.
  const fingerprints = otherGraph ? new Map<string, string>() : graphFingerprints(graph, editable);
  // what runs and what is skipped: the same decision the restart preview shows (domain/plan-decision.ts);
  // last runs of nodes given new roles were forgotten above
  const decision = decideWork({
    mode: run.mode,
    nodes: await nodesAsDecided(ctx, nodes, run.mode, projection.newRoles),
    instances: deployment.instances,
    fingerprints,
  });
  const toProvision = nodes.filter((n) => decision.provision.has(n.id));
  const byId = new Map(graph.map((t) => [t.id, t]));

  const provisionLimit = provisionTimeout(editable);
  // a row keeps its requirements per task (every entry, a few, or a target set of the plan): never a list
  // of the cluster's nodes
  const entriesOf = new Map<string, number>();
  for (const i of deployment.instances) entriesOf.set(i.task, (entriesOf.get(i.task) ?? 0) + 1);
  const sets = new TargetSetRegistry();
  const rows: HistoryRow[] = [
    ...toProvision.map((n) => provisionRow(run.id, n.id, provisionCommand(editable), provisionLimit)),
    ...deployment.instances.map((i, k) =>
      instanceRow(run.id, i, byId.get(i.task) as GraphTask, data as DeploymentInfo, {
        fingerprint: fingerprints.get(i.task) ?? null,
        unchanged: decision.tasks[k]?.kind === 'unchanged',
        requires: compactRequirements(i.requires, entriesOf, sets),
      }),
    ),
  ];
  assertWithinLimits(deployment, rows);
  // the target sets before the rows that name them
  await repos.plans.putTargetSets(run.id, sets.sets);
  await repos.history.putRows(rows);

  const rowOf = new Map(rows.filter((r) => r.layer !== null).map((r) => [`${r.taskName}@${r.nodeId}`, r]));
  const outline: DeploymentOutline = {
    provision: {
      nodeCount: toProvision.length,
      timeoutSeconds: stageTimeLimit(executionTimeout(provisionLimit, 0)),
    },
    layers: deployment.layers.map((_, index) => ({
      taskId: run.id,
      stage: layerStage(index),
      timeoutSeconds: stageTimeLimit(
        layerTimeoutSeconds(
          deployment.instances
            .filter((i) => i.layer === index && i.noop === null)
            .flatMap((i) => rowOf.get(`${i.task}@${i.nodeId}`) ?? []),
        ),
      ),
    })),
  };
  if (run.children.provision !== null)
    await repos.tasks.update(run.children.provision, { total: toProvision.length });
  if (run.children.deployment !== null) {
    await repos.tasks.update(run.children.deployment, { total: deployment.instances.length });
  }
  const nodesBefore = Object.fromEntries(nodes.map((n) => [String(n.id), n.status]));
  // the layers apart, in chunks; the run's item records the plan last (a retried plan redoes it all)
  await repos.plans.putLayers(run.id, outline.layers);
  await repos.plans.putNodesBefore(run.id, nodesBefore);
  // what nodes' and tasks' progress is read from while the run runs (domain/progress.ts)
  await repos.plans.putRowStages(run.id, rowStagesByTarget(rows));
  await repos.tasks.update(run.id, {
    plan: { provision: outline.provision, layerCount: outline.layers.length },
    total: rows.length,
  });
  ctx.log('planned deployment', {
    taskId: run.id,
    provision: toProvision.length,
    instances: deployment.instances.length,
    layers: deployment.layers.length,
  });
  return outline;
}

/** The stage index of every row, by target: provisioning -1, a layer its number. */
function rowStagesByTarget(rows: HistoryRow[]): Map<number, number[]> {
  const byTarget = new Map<number, number[]>();
  for (const row of rows) {
    const indexes = byTarget.get(row.nodeId) ?? [];
    indexes.push(stageIndex(row.stage));
    byTarget.set(row.nodeId, indexes);
  }
  return byTarget;
}

/** The outline of a planned run: its layers from the plan's chunks (or its item, planned before them). */
async function outlineOf(ctx: Context, runId: number, plan: PlanSummary): Promise<DeploymentOutline> {
  if ('layers' in plan) return { provision: plan.provision, layers: plan.layers };
  return { provision: plan.provision, layers: await ctx.repos.plans.layers(runId, layerCountOf(plan)) };
}

export interface ExpansionInput {
  cluster: Cluster;
  editable: Editable;
  graph: GraphTask[];
  /** The nodes deployed, with their roles and primary roles as they will be. */
  nodes: Node[];
  runId: number;
  /** Stop planning past this many layers (a deployment that long is refused anyway). */
  maxLayers?: number;
  /** Seconds each task took when it last ran (by task id), to order the layers; absent: all alike. */
  durations?: Map<string, number>;
  /** Only these tasks run (`deploy_tasks`); absent or null: every task. */
  onlyTasks?: readonly string[] | null;
}

/** The graph expanded on a run's nodes (`expandGraph`). */
export interface GraphExpansion {
  deployment: DeploymentPlan;
  /** The nodes' deployment data the conditions were evaluated on (and the commands are rendered with). */
  data: DeploymentInfo;
  /**
   * The entries (instance keys) whose condition read `deployment_id`: their verdict holds for the run whose
   * id was given, and may differ for another one.
   */
  readsDeploymentId: ReadonlySet<string>;
}

/**
 * The graph expanded on the nodes, conditions evaluated, with the data it was evaluated on; a graph that cannot
 * be planned (a cycle, a condition that fails, master tasks without a master) is a ValidationError naming the task.
 */
export function expandGraph(ctx: Pick<Context, 'master'>, input: ExpansionInput): GraphExpansion {
  const info = infoContext(ctx, input, rolesNeedingPrimary(input.graph));
  const data = new DeploymentInfo(info);
  const readsDeploymentId = new Set<string>();
  const deployment = planOrFail(input.graph, info, data, readsDeploymentId, input);
  assertMasterKnown(ctx, deployment);
  // what upload_file tasks write is evaluated now: an error is the operator's to fix before anything runs
  const byId = new Map(input.graph.map((t) => [t.id, t]));
  for (const instance of deployment.instances) {
    const task = byId.get(instance.task);
    if (task?.type === 'upload_file' && instance.noop === null) {
      uploadData(formatValues(task, data.placeholdersOf(instance.nodeId)) as GraphTask, data, instance);
    }
  }
  return { deployment, data, readsDeploymentId };
}

/** The plan, or the deployment's failure naming the task that cannot be planned. */
function planOrFail(
  graph: GraphTask[],
  info: InfoContext,
  data: DeploymentInfo,
  readsDeploymentId: Set<string>,
  { maxLayers, durations = new Map(), onlyTasks = null }: ExpansionInput,
): DeploymentPlan {
  const typical = median([...durations.values()]) ?? 1;
  const model = clusterModel(info);
  try {
    return planDeployment(
      graph,
      info.nodes.map((n) => ({ id: n.id, roles: n.roles })),
      {
        conditionOf: (task, target) => {
          const { verdict, readDeploymentId } = conditionVerdict(task, target, data, model);
          if (readDeploymentId) readsDeploymentId.add(instanceKey(task.id, target));
          return verdict;
        },
        durationOf: (task) => durations.get(task.id) ?? typical,
        maxLayers,
        onlyTasks,
      },
    );
  } catch (error) {
    if (error instanceof PlanError)
      throw new ValidationError(`The deployment cannot be planned: ${error.message}`);
    throw error;
  }
}

/** A task's verdict on a target, and whether its condition read the run's `deployment_id` to reach it. */
function conditionVerdict(
  task: GraphTask,
  target: number,
  data: DeploymentInfo,
  model: Record<string, unknown>,
): { verdict: ConditionVerdict; readDeploymentId: boolean } {
  if (task.condition === undefined) return { verdict: { run: true }, readDeploymentId: false };
  let readDeploymentId = false;
  // the node's data, watched: `settings:deployment_id`, `$.deployment_id` and whatever else reads that value
  // (`$.toYaml()`, a copy of `$`) go through these traps; the node's data itself is not changed
  const watch = (key: string | symbol) => {
    if (key === DEPLOYMENT_ID) readDeploymentId = true;
  };
  const node = new Proxy(data.of(target), {
    get(object, key, receiver) {
      watch(key);
      return Reflect.get(object, key, receiver);
    },
    getOwnPropertyDescriptor(object, key) {
      watch(key);
      return Reflect.getOwnPropertyDescriptor(object, key);
    },
  });
  const verdict = evaluateCondition(task.condition, {
    settings: node,
    cluster: model,
    node,
    placeholders: data.placeholdersOf(target),
  });
  return { verdict, readDeploymentId };
}

/** The field of a node's deployment data that holds the run's id (domain/deployment-info.ts). */
const DEPLOYMENT_ID = 'deployment_id';

/** A graph with tasks for the master role needs a master node to run them on. */
function assertMasterKnown(ctx: Pick<Context, 'master'>, deployment: DeploymentPlan): void {
  const onMaster = deployment.instances.find((i) => i.nodeId === MASTER_NODE && i.noop === null);
  if (onMaster && ctx.master.instanceId === null) {
    throw new ValidationError(
      `The deployment cannot be planned: task '${onMaster.task}' runs on the master node, and no master node is configured (FUEL_MASTER_INSTANCE_ID)`,
    );
  }
}

function infoContext(
  ctx: Pick<Context, 'master'>,
  { cluster, editable, nodes, runId }: ExpansionInput,
  primaryRolesUsed: readonly string[],
): InfoContext {
  return {
    cluster: { id: cluster.id, name: cluster.name, status: cluster.status },
    settings: flattenSettings(editable),
    nodes: nodes.map((n) => ({
      id: n.id,
      name: n.name,
      hostname: n.hostname,
      ip: n.ip,
      roles: allRoles(n, primaryRolesUsed),
    })),
    masterIp: ctx.master.ip,
    openstackVersion: OPENSTACK_VERSION,
    deploymentId: runId,
  };
}

/** The pending row of a plan entry: its command rendered for its node, or why it runs nothing. */
function instanceRow(
  runId: number,
  instance: TaskInstance,
  task: GraphTask,
  data: DeploymentInfo,
  planned: { fingerprint: string | null; unchanged: boolean; requires: string[] },
): HistoryRow {
  const { requires, ...previous } = planned;
  const common = {
    deployTaskId: runId,
    stage: layerStage(instance.layer),
    taskName: instance.task,
    taskType: task.type,
    nodeId: instance.nodeId,
    failOnError: task.fail_on_error ?? true,
    requires,
    layer: instance.layer,
    order: instance.order,
    ...previous,
  };
  if (instance.noop !== null) {
    const kind = instance.noop.kind === 'condition' ? 'condition' : 'noop';
    return pendingRow({
      ...common,
      cmd: '',
      timeout: 0,
      retries: 0,
      interval: 0,
      noop: { kind, reason: instance.noop.reason },
      unchanged: false,
    });
  }
  const formatted = formatValues(task, data.placeholdersOf(instance.nodeId)) as GraphTask;
  const command = renderCommand(formatted, uploadData(formatted, data, instance));
  return pendingRow({ ...common, ...command, noop: null });
}

/** The limits of one execution, on the commands as rendered (the API counted each layer at its fewest). */
function assertWithinLimits(deployment: DeploymentPlan, rows: HistoryRow[]): void {
  const byLayer = new Map<number, HistoryRow[]>();
  for (const row of rows) {
    if (row.layer === null || row.noop !== null) continue;
    const layer = byLayer.get(row.layer);
    if (layer) layer.push(row);
    else byLayer.set(row.layer, [row]);
  }
  const problem = planLimitProblem(
    deployment.layers.map((keys, index) => ({ keys, commands: batchRows(byLayer.get(index) ?? []).length })),
  );
  if (problem !== null) throw new ValidationError(`The deployment cannot be planned: ${problem}`);
}

/** The data an upload_file task writes: its text, or the value of its `yaql_exp` on the node's data. */
function uploadData(task: GraphTask, info: DeploymentInfo, instance: TaskInstance): string | null {
  const data = task.parameters?.data;
  if (task.type !== 'upload_file' || data === undefined) return null;
  if (typeof data === 'string') return data;
  const value = evaluateYaql(data.yaql_exp, { node: info.of(instance.nodeId) });
  if ('error' in value) {
    throw new ValidationError(
      `The deployment cannot be planned: task '${task.id}' on ${targetLabel(instance.nodeId)}: parameters.data cannot be evaluated: ${value.error}`,
    );
  }
  return typeof value.value === 'string' ? value.value : JSON.stringify(value.value);
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * How long each task took in the cluster's last deployment that ran the same graph (the median over its
 * nodes, in seconds): the layers put the longest remaining work first. Read from the one small item that
 * run's Finish wrote (`taskDurations`); for a run without it (one that ended before Finish wrote it, or whose
 * durations did not fit one item), computed from its rows as Finish computes it. Without `mode`: the default
 * graph.
 */
export async function measuredDurations(
  ctx: Context,
  run: Pick<DeploymentRun, 'id' | 'clusterId'> & { mode?: Pick<DeployMode, 'graphType'> },
): Promise<Map<string, number>> {
  const previous = await lastFinishedRunBefore(ctx, run);
  if (!previous) return new Map();
  return (
    (await ctx.repos.plans.durations(previous.id)) ??
    taskDurations(await ctx.repos.history.rows(previous.id, 'layers'))
  );
}

/**
 * How long each task of a run took: the median, over the nodes it ran ready on, of its seconds from start to
 * end. Finish stores it for the next plan (`measuredDurations`).
 */
export function taskDurations(rows: readonly HistoryRow[]): Map<string, number> {
  const taken = new Map<string, number[]>();
  for (const row of rows) {
    if (isProvisionStage(row.stage) || row.status !== 'ready') continue;
    if (row.timeStart === null || row.timeEnd === null) continue;
    const seconds = (Date.parse(row.timeEnd) - Date.parse(row.timeStart)) / 1000;
    if (!Number.isFinite(seconds) || seconds < 0) continue;
    const list = taken.get(row.taskName);
    if (list) list.push(seconds);
    else taken.set(row.taskName, [seconds]);
  }
  return new Map([...taken].map(([task, list]) => [task, median(list) as number]));
}

/**
 * The cluster's newest finished run of the same graph older than this one: its pointers read newest first, a
 * page at a time. (A run of another graph, whose tasks may share ids with this one's, orders nothing here.)
 */
async function lastFinishedRunBefore(
  ctx: Context,
  run: Pick<DeploymentRun, 'id' | 'clusterId'> & { mode?: Pick<DeployMode, 'graphType'> },
): Promise<Task | undefined> {
  const graphType = graphTypeOf(run.mode ?? {});
  const earlier = (t: Task) =>
    t.kind === 'run' && t.id < run.id && isTaskFinished(t.status) && graphTypeOf(t.mode) === graphType;
  let marker: string | null = null;
  do {
    const page: Page<Task> = await ctx.repos.tasks.page(
      { clusterId: run.clusterId },
      { limit: 1, marker, order: 'desc' },
      earlier,
    );
    if (page.items[0]) return page.items[0];
    marker = page.next;
  } while (marker !== null);
  return undefined;
}

function provisionRow(runId: number, nodeId: number, cmd: string, timeout: number): HistoryRow {
  return pendingRow({
    deployTaskId: runId,
    stage: PROVISION_STAGE,
    taskName: 'provision',
    taskType: 'shell',
    nodeId,
    cmd,
    timeout,
    retries: 0,
    interval: 0,
    failOnError: true,
    requires: [],
    layer: null,
    order: null,
    noop: null,
    fingerprint: null,
    unchanged: false,
  });
}

/** The nodes a run acts on: the cluster's nodes not pending deletion, or those of them it selected. */
function runNodes(members: readonly Node[], run: DeploymentRun): Node[] {
  const selected = run.mode.nodes ? new Set(run.mode.nodes) : null;
  return members.filter((n) => !n.pendingDeletion && (selected === null || selected.has(n.id)));
}

/**
 * Writes what the projection changes (domain/plan-decision.ts `projectNodes`): the run's nodes take their
 * pending roles (and pending addition) on, the primaries elected are recorded (on members outside the run too,
 * as Nailgun's `set_primary_roles`), and a node given new roles forgets its last runs: what ran on it before no
 * longer counts. Its last runs are forgotten before its roles are written, so that a plan retried after a
 * crash, which no longer sees the pending roles, finds them forgotten. Returns the run's nodes as written.
 *
 * `takesRolesOn` false (a run of another graph): only the primaries are recorded; the pending roles stay
 * pending (and no last run is forgotten), and the nodes returned are the projection's, pending roles counted.
 */
async function takeOn(
  ctx: Context,
  members: readonly Node[],
  projection: NodeProjection,
  takesRolesOn: boolean,
): Promise<Node[]> {
  const projected = new Map(projection.nodes.map((n) => [n.id, n]));
  const writes: { id: number; patch: Partial<Node> }[] = [];
  for (const member of members) {
    const patch: Partial<Node> = {};
    const node = projected.get(member.id);
    if (takesRolesOn && node && (member.pendingAddition || member.pendingRoles.length > 0)) {
      Object.assign(patch, { roles: node.roles, pendingRoles: [], pendingAddition: false });
    }
    const primaryRoles = projection.primaryRoles.get(member.id);
    if (primaryRoles !== undefined) patch.primaryRoles = primaryRoles;
    if (Object.keys(patch).length > 0) writes.push({ id: member.id, patch });
  }
  const written = await inParallel(writes, WRITES_AT_ONCE, async ({ id, patch }) => {
    if (takesRolesOn && projection.newRoles.has(id)) await ctx.repos.nodes.forgetLastRuns(id);
    return ctx.repos.nodes.update(id, patch);
  });
  if (!takesRolesOn) return projection.nodes;
  const byId = new Map(written.map((n) => [n.id, n]));
  // a node with nothing to write is as projected: as it is stored
  return projection.nodes.map((n) => byId.get(n.id) ?? n);
}

/**
 * The run's nodes as the decision of what runs sees them (domain/plan-decision.ts): their statuses, and the
 * last successful runs of those on which unchanged work is skipped (ready nodes, and stopped ones when
 * resuming; none on a forced redeploy), read READS_AT_ONCE nodes at a time; `newRoles`: the nodes that
 * take on new roles in this run (their last runs no longer count, and are not read).
 */
export async function nodesAsDecided(
  ctx: Context,
  nodes: readonly Node[],
  mode: DecisionMode,
  newRoles: ReadonlySet<number>,
): Promise<NodeBefore[]> {
  return inParallel(nodes, READS_AT_ONCE, async (node): Promise<NodeBefore> => {
    const renewed = newRoles.has(node.id);
    const read = skipsUnchangedOn(node, mode) && !renewed;
    const lastRuns = new Map<string, string>();
    for (const last of read ? await ctx.repos.nodes.lastRuns(node.id) : []) {
      lastRuns.set(last.taskName, last.fingerprint);
    }
    return { id: node.id, status: node.status, errorType: node.errorType, newRoles: renewed, lastRuns };
  });
}
