/**
 * The use cases behind the Nailgun API: clusters, nodes, graphs, attributes, deployments, tasks.
 * Inputs arrive validated by the API's schemas; this module enforces state rules (locks, membership).
 */
import type { Clock, NodeCommands, Workflows } from '../adapters/ports.js';
import { defaultAttributes, type Editable, mergeAttributes, stopTimeout } from '../domain/attributes.js';
import { type GraphTask, graphRoles, RELEASE_ROLES, validateGraph } from '../domain/graph.js';
import type { Cluster, DeployMode, DeployScope, HistoryRow, Node, Task } from '../domain/model.js';
import { PlanError, planDeployment } from '../domain/plan.js';
import { defaultGraph } from '../domain/release.js';
import {
  type HistoryStatus,
  isClusterLocked,
  isDeploymentRoot,
  isTaskFinished,
  needsProvisioning,
  type TaskName,
  type TaskStatus,
} from '../domain/status.js';
import type { DynamoStore } from '../store/dynamo-store.js';
import { ALL_ROWS_PREFIX, LAYER_ROWS_PREFIX, PROVISION_ROWS_PREFIX } from '../store/history-codec.js';
import { DISPATCH_LEASE_MS, type Engine } from './engine.js';
import {
  ConditionFailedError,
  ConflictError,
  NotFoundError,
  TooLargeError,
  ValidationError,
} from './errors.js';
import { newTask, stopTaskRecord } from './tasks.js';

/** A graph is kept in one DynamoDB item (at most 400 KB), with room for its key and attribute names. */
export const MAX_GRAPH_BYTES = 350_000;

/** Step Functions keeps at most 25,000 events per execution; about 15 per layer leaves room for 1,000 layers. */
export const MAX_LAYERS = 1000;

export interface ServiceDeps {
  store: DynamoStore;
  workflows: Workflows;
  commands: NodeCommands;
  clock: Clock;
  /** Escalation of a stop (cancelling running commands) is the engine's. */
  engine: Pick<Engine, 'forceStop' | 'cancelUndelivered'>;
}

export interface StopInput {
  requestedBy: string;
  message: string | null;
  force: boolean;
  /** Stop only this deployment: when the cluster runs another one (or none), there is nothing to stop. */
  deployTaskId?: number;
}

/** A stop answers only after any send in progress has ended; it never waits longer than this. */
const STOP_ACK_WAIT_MS = DISPATCH_LEASE_MS + 2_000;

export interface HistoryFilter {
  nodes?: number[];
  statuses?: HistoryStatus[];
  taskNames?: string[];
}

export interface TaskFilter {
  clusterId?: number;
  statuses?: TaskStatus[];
  names?: TaskName[];
}

export function createService(deps: ServiceDeps) {
  const { store, workflows, commands, clock, engine } = deps;
  const now = () => clock.now().toISOString();

  async function cluster(id: number): Promise<Cluster> {
    const found = await store.getCluster(id);
    if (!found) throw new NotFoundError(`Cluster ${id} not found`);
    return found;
  }

  function assertUnlocked(c: Cluster, action: string): void {
    if (c.deploymentTaskId !== null || isClusterLocked(c.status)) {
      const by = c.deploymentTaskId !== null ? ` (deployment task ${c.deploymentTaskId} is running)` : '';
      throw new ConflictError(
        `Cannot ${action}: environment '${c.name}' is locked while its status is '${c.status}'${by}`,
      );
    }
  }

  async function clusterNodes(clusterId: number): Promise<Node[]> {
    return (await store.listNodes()).filter((n) => n.clusterId === clusterId);
  }

  async function graphOf(clusterId: number): Promise<GraphTask[]> {
    return (await store.getGraph(clusterId)) ?? defaultGraph();
  }

  // ---- clusters ----

  async function createCluster(input: { name: string; releaseId: number }): Promise<Cluster> {
    const existing = await store.listClusters();
    if (existing.some((c) => c.name === input.name)) {
      throw new ConflictError(`Environment with name '${input.name}' already exists`, [
        { field: 'name', message: 'must be unique' },
      ]);
    }
    const created: Cluster = {
      id: await store.nextId('cluster'),
      name: input.name,
      status: 'new',
      releaseId: input.releaseId,
      isCustomized: false,
      deploymentTaskId: null,
      createdAt: now(),
    };
    await store.createCluster(created);
    return created;
  }

  async function renameCluster(id: number, name: string): Promise<Cluster> {
    const current = await cluster(id);
    if (current.name === name) return current;
    if ((await store.listClusters()).some((c) => c.name === name && c.id !== id)) {
      throw new ConflictError(`Environment with name '${name}' already exists`, [
        { field: 'name', message: 'must be unique' },
      ]);
    }
    return store.updateCluster(id, { name });
  }

  async function deleteCluster(id: number): Promise<Task> {
    const current = await cluster(id);
    assertUnlocked(current, 'delete the environment');
    const at = now();
    const members = await clusterNodes(id);
    try {
      await store.deleteCluster(id);
    } catch (err) {
      if (err instanceof ConditionFailedError)
        throw new ConflictError(`Environment '${current.name}' became locked`);
      throw err;
    }
    for (const node of members) await releaseNode(node);
    const task = newTask(
      {
        id: await store.nextId('task'),
        name: 'cluster_deletion',
        clusterId: id,
        parentId: null,
        status: 'ready',
      },
      at,
    );
    task.progress = 100;
    task.timeEnd = now();
    task.message = `Environment '${current.name}' was deleted; its nodes are back in discovery.`;
    await store.putTask(task);
    return task;
  }

  async function releaseNode(node: Node): Promise<void> {
    await store.updateNode(node.id, {
      clusterId: null,
      roles: [],
      pendingRoles: [],
      pendingAddition: false,
      pendingDeletion: false,
      status: 'discover',
      errorType: null,
      errorMsg: null,
      progress: 0,
    });
  }

  // ---- nodes ----

  async function node(id: number): Promise<Node> {
    const found = await store.getNode(id);
    if (!found) throw new NotFoundError(`Node ${id} not found`);
    return found;
  }

  async function assignNodes(clusterId: number, items: { id: number; roles: string[] }[]): Promise<Node[]> {
    const c = await cluster(clusterId);
    assertUnlocked(c, 'assign nodes');
    const known = new Set([...RELEASE_ROLES, ...graphRoles(await graphOf(clusterId))]);
    const problems = [];
    const nodes: Node[] = [];
    const listed = new Set<number>();
    for (const [index, item] of items.entries()) {
      if (listed.has(item.id)) {
        problems.push({ field: `[${index}].id`, message: `node ${item.id} is listed more than once` });
        continue;
      }
      listed.add(item.id);
      const found = await store.getNode(item.id);
      if (!found) {
        problems.push({ field: `[${index}].id`, message: `node ${item.id} does not exist` });
        continue;
      }
      if (found.clusterId !== null && found.clusterId !== clusterId) {
        problems.push({
          field: `[${index}].id`,
          message: `node ${item.id} already belongs to environment ${found.clusterId}`,
        });
      }
      for (const role of item.roles) {
        if (!known.has(role))
          problems.push({
            field: `[${index}].roles`,
            message: `role '${role}' is not known to the release or the graph`,
          });
      }
      nodes.push(found);
    }
    if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join('; '), problems);

    const done: Node[] = [];
    try {
      for (const item of items) {
        const current = nodes.find((n) => n.id === item.id);
        if (!current) continue;
        const sameCluster = current.clusterId === clusterId;
        const patch: Partial<Node> = sameCluster
          ? { pendingRoles: item.roles.filter((r) => !current.roles.includes(r)) }
          : { clusterId, pendingRoles: item.roles, pendingAddition: true };
        done.push(await store.updateNode(item.id, patch, current.clusterId));
      }
    } catch (err) {
      for (const n of done) {
        if (n.pendingAddition)
          await store.updateNode(n.id, { clusterId: null, pendingRoles: [], pendingAddition: false });
      }
      if (err instanceof ConditionFailedError)
        throw new ConflictError('A node was assigned elsewhere at the same time; nothing was changed');
      throw err;
    }
    return done;
  }

  async function unassignNodes(clusterId: number, ids: number[]): Promise<void> {
    const c = await cluster(clusterId);
    assertUnlocked(c, 'unassign nodes');
    const members = new Map((await clusterNodes(clusterId)).map((n) => [n.id, n]));
    const problems = ids.flatMap((id, index) =>
      members.has(id)
        ? []
        : [{ field: `[${index}].id`, message: `node ${id} is not in environment ${clusterId}` }],
    );
    if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join('; '), problems);
    for (const id of ids) {
      const member = members.get(id);
      if (member) await releaseNode(member);
    }
  }

  // ---- graph and attributes ----

  async function getGraph(clusterId: number): Promise<GraphTask[]> {
    await cluster(clusterId);
    return graphOf(clusterId);
  }

  async function putGraph(clusterId: number, input: unknown): Promise<GraphTask[]> {
    const c = await cluster(clusterId);
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
    await store.putGraph(clusterId, validation.tasks);
    if (!c.isCustomized) await store.updateUnlockedCluster(clusterId, { isCustomized: true });
    return validation.tasks;
  }

  async function getAttributes(clusterId: number): Promise<Editable> {
    await cluster(clusterId);
    return (await store.getAttributes(clusterId)) ?? defaultAttributes();
  }

  async function putAttributes(clusterId: number, edit: Editable): Promise<Editable> {
    const c = await cluster(clusterId);
    assertUnlocked(c, 'change the settings');
    const merged = mergeAttributes((await store.getAttributes(clusterId)) ?? defaultAttributes(), edit);
    await store.putAttributes(clusterId, merged);
    return merged;
  }

  // ---- deployment ----

  /** The graph must expand on these nodes within the limits of one execution. */
  function checkPlan(graph: GraphTask[], nodes: Node[]): void {
    try {
      const planned = planDeployment(
        graph,
        nodes.map((n) => ({ id: n.id, roles: [...new Set([...n.roles, ...n.pendingRoles])] })),
      );
      if (planned.layers.length > MAX_LAYERS) {
        throw new ValidationError(
          `The deployment would need ${planned.layers.length} layers, at most ${MAX_LAYERS}: ` +
            'use `parallel` with a larger `amount` instead of `one_by_one` on many nodes',
        );
      }
    } catch (err) {
      if (err instanceof PlanError)
        throw new ValidationError(`The deployment graph cannot run on these nodes: ${err.message}`);
      throw err;
    }
  }

  /**
   * The nodes a deployment acts on: every node of the cluster not pending deletion, or the selected ones,
   * which must belong to it. Provisioning selected nodes needs nodes not provisioned yet; deploying selected
   * nodes needs provisioned ones.
   */
  function selectNodes(c: Cluster, members: Node[], selection: number[] | null, scope: DeployScope): Node[] {
    const active = members.filter((n) => !n.pendingDeletion);
    if (selection === null) {
      if (active.length === 0) throw new ValidationError(`Environment '${c.name}' has no nodes to deploy`);
      return active;
    }
    const byId = new Map(active.map((n) => [n.id, n]));
    const problems: { field: string; message: string }[] = [];
    const chosen: Node[] = [];
    for (const id of new Set(selection)) {
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

  /** "Deploy changes": provisions the nodes that need it and runs the graph on every node of the cluster. */
  async function deployChanges(
    clusterId: number,
    mode: DeployMode = { force: false, resume: false },
  ): Promise<Task> {
    const c = await cluster(clusterId);
    const running = c.deploymentTaskId === null ? null : await store.getTask(c.deploymentTaskId);
    if (running?.stop && running.status === 'running') {
      throw new ConflictError(
        `Cannot deploy: the deployment of environment '${c.name}' (task ${running.id}) is being stopped; ` +
          'running tasks are finishing. Deploy again when the stop has completed.',
      );
    }
    const scope = mode.scope ?? 'all';
    assertUnlocked(c, scope === 'provision' ? 'provision' : 'deploy');
    const nodes = selectNodes(c, await clusterNodes(clusterId), mode.nodes ?? null, scope);
    if (scope !== 'provision') checkPlan(await graphOf(clusterId), nodes);
    const offline = nodes.filter((n) => !n.online);
    if (offline.length > 0) {
      throw new ConflictError(`Nodes are offline: ${offline.map((n) => `${n.name} (${n.id})`).join(', ')}`);
    }

    const at = now();
    const deployId = await store.nextId('task');
    let started = false;
    try {
      await store.lockForDeployment(clusterId, deployId);
    } catch (err) {
      if (err instanceof ConditionFailedError) {
        throw new ConflictError(`Environment '${c.name}' is already being deployed or is locked`);
      }
      throw err;
    }
    try {
      // "Deploy changes" is a `deploy` task with `provision` and `deployment` children; provisioning or
      // deploying selected nodes is one top-level `provision` or `deployment` task.
      const child = async (name: 'provision' | 'deployment') =>
        newTask(
          { id: await store.nextId('task'), name, clusterId, parentId: deployId, status: 'running' },
          at,
        );
      const needsProvision = nodes.some((n) => needsProvisioning(n.status, n.errorType));
      const provision = scope === 'all' && needsProvision ? await child('provision') : null;
      const deployment = scope === 'all' ? await child('deployment') : null;
      const deploy = newTask(
        {
          id: deployId,
          name: scope === 'all' ? 'deploy' : scope === 'provision' ? 'provision' : 'deployment',
          clusterId,
          parentId: null,
          status: 'running',
          provisionTaskId: provision?.id ?? null,
          deploymentTaskId: deployment?.id ?? null,
          mode: { ...mode, scope, nodes: mode.nodes ?? null },
        },
        at,
      );
      const which = mode.nodes
        ? ` (node${nodes.length > 1 ? 's' : ''} ${nodes.map((n) => n.id).join(', ')})`
        : '';
      deploy.message =
        scope === 'provision'
          ? `Provisioning of environment '${c.name}'${which} is running`
          : `Deployment of environment '${c.name}'${which} is running`;
      await store.putTask(deploy);
      if (provision) await store.putTask(provision);
      if (deployment) await store.putTask(deployment);
      const executionArn = await workflows.start(deploy.uuid, { taskId: deploy.id, failure: null });
      started = true;
      for (const t of [deploy, provision, deployment]) {
        if (t) await store.updateTask(t.id, { executionArn });
      }
      return { ...deploy, executionArn };
    } catch (err) {
      // Once the execution runs, it owns the lock and will settle everything; only a start that failed is undone.
      if (started) throw err;
      const message = `Deployment could not start: ${err instanceof Error ? err.message : String(err)}`;
      const written = await store.getTask(deployId);
      const ids = [deployId, written?.provisionTaskId, written?.deploymentTaskId, written?.stop?.taskId];
      for (const id of ids) {
        if (typeof id === 'number') {
          await store
            .finishTask(id, { status: 'error', message, timeEnd: now(), progress: 100 })
            .catch(() => false);
        }
      }
      await store.releaseDeployment(clusterId, deployId, { status: c.status });
      throw err;
    }
  }

  /**
   * "Reset environment": back to `new`, its nodes back to `discover` with their roles pending again, so the
   * next deployment provisions them and runs every task. Nothing runs on the nodes.
   */
  async function resetCluster(clusterId: number): Promise<Task> {
    const c = await cluster(clusterId);
    assertUnlocked(c, 'reset the environment');
    const at = now();
    const members = await clusterNodes(clusterId);
    await store.updateUnlockedCluster(clusterId, { status: 'new' });
    for (const node of members) {
      await store.updateNode(
        node.id,
        {
          status: 'discover',
          errorType: null,
          errorMsg: null,
          progress: 0,
          roles: [],
          pendingRoles: [...new Set([...node.roles, ...node.pendingRoles])],
          pendingAddition: true,
        },
        clusterId,
      );
    }
    const task = newTask(
      {
        id: await store.nextId('task'),
        name: 'reset_environment',
        clusterId,
        parentId: null,
        status: 'ready',
      },
      at,
    );
    task.progress = 100;
    task.timeEnd = now();
    task.message = `Environment '${c.name}' was reset: ${members.length} nodes are back in discovery, their roles pending.`;
    await store.putTask(task);
    return task;
  }

  /**
   * "Stop deployment": sets the stop flag of the running deploy task, once, and answers when no command of
   * that deployment can be sent any more. `force` (or a second request with it) cancels running commands.
   */
  async function stopDeployment(clusterId: number, input: StopInput): Promise<Task> {
    const c = await cluster(clusterId);
    const nothing = `Nothing to stop - deployment is not running on environment '${clusterId}'`;
    const deploy = c.deploymentTaskId === null ? null : await store.getTask(c.deploymentTaskId);
    const other = input.deployTaskId !== undefined && deploy?.id !== input.deployTaskId;
    if (!deploy || !isDeploymentRoot(deploy) || deploy.status !== 'running' || other) {
      throw new ValidationError(nothing);
    }

    if (deploy.stop) {
      if (!input.force) throw new ValidationError('Stopping deployment task is already launched');
      if (deploy.stop.forcedAt !== null) throw new ValidationError('The stop is already being forced');
      await engine.forceStop(deploy.id, 'user');
      // a fault-tolerance stop has no stop task of its own: the deploy task reports it
      return deploy.stop.taskId === null ? deploy : stopTaskOf(deploy);
    }

    const at = clock.now();
    const timeoutSeconds = stopTimeout((await store.getAttributes(clusterId)) ?? defaultAttributes());
    const stopTaskId = await store.nextId('task');
    let stopped: Task;
    try {
      stopped = await store.requestStop(deploy.id, at.toISOString(), {
        cause: 'user',
        taskId: stopTaskId,
        requestedAt: at.toISOString(),
        requestedBy: input.requestedBy,
        message: input.message,
        deadline: new Date(at.getTime() + timeoutSeconds * 1000).toISOString(),
        timeoutSeconds,
        forcedAt: null,
        forcedBecause: null,
      });
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      const now = await store.getTask(deploy.id);
      throw new ValidationError(now?.stop ? 'Stopping deployment task is already launched' : nothing);
    }
    let stopTask = stopTaskRecord(stopped, stopTaskId, at.toISOString());
    try {
      await store.putTask(stopTask);
    } catch (err) {
      // the deployment ended right after the flag was set, and its finish recorded the stop task already
      if (!(err instanceof ConditionFailedError)) throw err;
      stopTask = (await store.getTask(stopTaskId)) ?? stopTask;
    }
    if (input.force) await engine.forceStop(deploy.id, 'user');
    await waitForDispatchToEnd(stopped);
    await engine.cancelUndelivered(deploy.id);
    return stopTask;
  }

  /** The stop task of a stopping deployment; it is written right after the flag, so wait for it briefly. */
  async function stopTaskOf(deploy: Task): Promise<Task> {
    const id = deploy.stop?.taskId;
    for (let attempt = 0; id != null && attempt < 40; attempt++) {
      const found = await store.getTask(id);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new NotFoundError(`The stop task of deployment ${deploy.id} was not found`);
  }

  /** Waits (bounded) until no dispatch holds a lease: after that, no command of this deployment is sent. */
  async function waitForDispatchToEnd(deploy: Task): Promise<void> {
    const deadline = clock.now().getTime() + STOP_ACK_WAIT_MS;
    let current: Task | null = deploy;
    while (current?.dispatchLeaseUntil && Date.parse(current.dispatchLeaseUntil) > clock.now().getTime()) {
      if (clock.now().getTime() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
      current = await store.getTask(deploy.id);
    }
  }

  // ---- tasks and history ----

  async function task(id: number): Promise<Task> {
    const found = await store.getTask(id);
    if (!found || found.deletedAt) throw new NotFoundError(`Task ${id} not found`);
    return found;
  }

  async function listTasks(filter: TaskFilter): Promise<Task[]> {
    return (await store.listTasks()).filter(
      (t) =>
        !t.deletedAt &&
        (filter.clusterId === undefined || t.clusterId === filter.clusterId) &&
        (filter.statuses === undefined || filter.statuses.includes(t.status)) &&
        (filter.names === undefined || filter.names.includes(t.name)),
    );
  }

  /**
   * `DELETE tasks/{id}`: hides a finished task (with the children of a deployment) from the API; its history
   * stays for the engine's records. A running task is deleted only with `force`, which forces the stop of the
   * deployment it belongs to (running commands are cancelled); the engine still settles nodes and cluster.
   */
  async function deleteTask(id: number, input: { force: boolean; requestedBy: string }): Promise<void> {
    const t = await task(id);
    if (!isTaskFinished(t.status)) {
      if (!input.force) {
        throw new ConflictError(
          `Task ${id} (${t.name}) is running: stop the deployment first, or delete with ?force=1 ` +
            'to force the stop (running commands are cancelled)',
        );
      }
      const rootId = isDeploymentRoot(t)
        ? t.id
        : t.name === 'stop_deployment'
          ? Number(t.result.deploy_task_id)
          : t.parentId;
      const root = rootId === null || Number.isNaN(rootId) ? null : await store.getTask(rootId);
      if (root && !isTaskFinished(root.status)) await forceStopOf(root, id, input.requestedBy);
    }
    const at = now();
    const ids = [t.id, ...(isDeploymentRoot(t) ? [t.provisionTaskId, t.deploymentTaskId] : [])];
    for (const each of ids) if (each !== null) await store.updateTask(each, { deletedAt: at });
  }

  /** Forces the stop of exactly `root` (never of a deployment started after it ended). */
  async function forceStopOf(root: Task, deletedTaskId: number, requestedBy: string): Promise<void> {
    if (root.stop) {
      if (root.stop.forcedAt === null) await engine.forceStop(root.id, 'user');
      return;
    }
    await stopDeployment(root.clusterId, {
      requestedBy,
      message: `task ${deletedTaskId} deleted with force`,
      force: true,
      deployTaskId: root.id,
    }).catch((err: unknown) => {
      // the deployment ended meanwhile: nothing left to force
      if (!(err instanceof ValidationError)) throw err;
    });
  }

  async function history(taskId: number, filter: HistoryFilter): Promise<HistoryRow[]> {
    const t = await task(taskId);
    // a root (`deploy`, or a top-level run of selected nodes) shows all its rows; a child, its stage's
    const source = isDeploymentRoot(t)
      ? { owner: t.id, prefix: ALL_ROWS_PREFIX }
      : t.parentId !== null && (t.name === 'provision' || t.name === 'deployment')
        ? { owner: t.parentId, prefix: t.name === 'provision' ? PROVISION_ROWS_PREFIX : LAYER_ROWS_PREFIX }
        : null;
    if (!source) return [];
    const rows = await store.queryRows(source.owner, source.prefix);
    // provisioning first, then the layers in order (the sort key orders layers, not the two stages)
    rows.sort((a, b) => Number(b.stage === 'provision') - Number(a.stage === 'provision'));
    return rows.filter(
      (r) =>
        (filter.nodes === undefined || filter.nodes.includes(r.nodeId)) &&
        (filter.statuses === undefined || filter.statuses.includes(r.status)) &&
        (filter.taskNames === undefined || filter.taskNames.includes(r.taskName)),
    );
  }

  // ---- discovery ----

  /** Registers SSM managed instances as nodes (new ones appear as `discover`) and refreshes `online`. */
  async function discoverNodes(): Promise<{ added: number; updated: number }> {
    let added = 0;
    let updated = 0;
    for (const instance of await commands.instances()) {
      const known = await store.nodeIdOfInstance(instance.instanceId);
      if (known !== null) {
        const current = await store.getNode(known);
        if (current && (current.online !== instance.online || current.ip !== instance.ip)) {
          await store.updateNode(known, { online: instance.online, ip: instance.ip });
          updated++;
        }
        if (current) continue;
      }
      const id = known ?? (await store.claimInstance(instance.instanceId, await store.nextId('node')));
      if (await store.getNode(id)) continue;
      const mac = `52:54:00:${[id >> 16, id >> 8, id].map((b) => (b & 255).toString(16).padStart(2, '0')).join(':')}`;
      await store.putNode({
        id,
        instanceId: instance.instanceId,
        name: instance.name,
        hostname: instance.name,
        ip: instance.ip,
        mac,
        platformName: instance.platformName,
        osPlatform: instance.platformType.toLowerCase(),
        status: 'discover',
        errorType: null,
        errorMsg: null,
        progress: 0,
        roles: [],
        pendingRoles: [],
        pendingAddition: false,
        pendingDeletion: false,
        online: instance.online,
        clusterId: null,
        discoveredAt: now(),
      });
      added++;
    }
    return { added, updated };
  }

  return {
    cluster,
    listClusters: () => store.listClusters(),
    createCluster,
    renameCluster,
    deleteCluster,
    node,
    listNodes: async (clusterId?: number | null) =>
      (await store.listNodes()).filter((n) => clusterId === undefined || n.clusterId === clusterId),
    assignNodes,
    unassignNodes,
    getGraph,
    putGraph,
    getAttributes,
    putAttributes,
    deployChanges,
    stopDeployment,
    resetCluster,
    task,
    listTasks,
    history,
    deleteTask,
    discoverNodes,
    consoleUrl: (arn: string) => workflows.consoleUrl(arn),
  };
}

export type Service = ReturnType<typeof createService>;
