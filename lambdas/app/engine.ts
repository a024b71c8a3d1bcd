/**
 * The steps of a deployment, as the state machine calls them: plan, check the stop flag,
 * dispatch a stage (provisioning or one layer) and wait, record node results, finish.
 * Decisions come from the pure domain; this module reads and writes state and talks to the ports.
 */
import type { Clock, InvocationResult, NodeCommands, Workflows } from '../adapters/ports.js';
import { defaultAttributes, provisionCommand, provisionTimeout, stopTimeout } from '../domain/attributes.js';
import {
  batchRows,
  decideLayer,
  executionTimeout,
  historyStatusOfInvocation,
  type Outcome,
  rowFate,
  rowKey,
  type SkipReason,
  settleDeployment,
  settleNode,
} from '../domain/engine.js';
import { judgeFailures, toleranceGroups } from '../domain/fault-tolerance.js';
import { taskFingerprint } from '../domain/fingerprint.js';
import {
  type DeploymentOutline,
  type HistoryRow,
  instanceKey,
  isLayerStage,
  layerStage,
  type Node,
  PROVISION_STAGE,
  type Task,
} from '../domain/model.js';
import { layerTimeoutSeconds, planDeployment } from '../domain/plan.js';
import { defaultGraph } from '../domain/release.js';
import {
  isClusterStatus,
  isDeploymentRoot,
  isTaskFinished,
  type NodeErrorType,
  type NodeStatus,
  needsProvisioning,
} from '../domain/status.js';
import type { DynamoStore } from '../store/dynamo-store.js';
import type { CommandIntent } from '../store/engine-codec.js';
import { ALL_ROWS_PREFIX, stagePrefix } from '../store/history-codec.js';
import { ConditionFailedError, NotFoundError } from './errors.js';
import { stopTaskRecord } from './tasks.js';

export interface EngineDeps {
  store: DynamoStore;
  commands: NodeCommands;
  workflows: Workflows;
  clock: Clock;
  log?: (message: string, data?: Record<string, unknown>) => void;
}

export interface StageInput {
  taskId: number;
  stage: string;
  token: string;
}

export interface CommandStatusInput {
  commandId: string;
  instanceId: string;
  status: string;
}

export interface FinishInput {
  taskId: number;
  failure: { Error?: string; Cause?: string } | null;
}

const COMMENT_PREFIX = 'fuel';
/** SSM keeps trying to deliver a command to an unreachable node for this long. */
const DELIVERY_TIMEOUT_S = 600;
/** A deploy task without an execution this long after it was created never started. */
const START_GRACE_MS = 120_000;
/** SSM statuses of an invocation not yet running on its node. */
const NOT_STARTED = new Set(['Pending', 'Delayed']);
/** A command sent this recently may not have been delivered yet when a stop comes. */
const RECENT_SEND_MS = 10_000;
/** SSM statuses of a command that a cancellation ended. */
const CANCELLED = new Set(['Cancelled', 'Cancelling', 'Terminated']);
/** How long one batch may take to send; a stop waits at most this long for a send in progress. */
export const DISPATCH_LEASE_MS = 20_000;

/**
 * How long a stage may wait for its nodes: the longest command, plus the time SSM keeps trying to
 * deliver to an unreachable node (which then reports DeliveryTimedOut), plus room for the dispatch itself.
 */
export function stageTimeLimit(longestCommandSeconds: number): number {
  return longestCommandSeconds + DELIVERY_TIMEOUT_S + 120;
}

export function commandComment(deployTaskId: number, stage: string, batch: number): string {
  return `${COMMENT_PREFIX}:${deployTaskId}:${stage}:${batch}`;
}

export function parseComment(comment: string): { deployTaskId: number; stage: string; batch: number } | null {
  const match = /^fuel:(\d+):(provision|layer-\d+):(\d+)$/.exec(comment);
  if (!match) return null;
  return { deployTaskId: Number(match[1]), stage: String(match[2]), batch: Number(match[3]) };
}

export function createEngine(deps: EngineDeps) {
  const { store, commands, workflows, clock } = deps;
  const log = deps.log ?? (() => {});
  const now = () => clock.now().toISOString();

  async function deployTask(taskId: number): Promise<Task> {
    const task = await store.getTask(taskId);
    if (!task || !isDeploymentRoot(task)) throw new NotFoundError(`Deploy task ${taskId} not found`);
    return task;
  }

  /** Expands the graph on the cluster's nodes and stores pending history rows; idempotent. */
  async function plan(input: { taskId: number }): Promise<DeploymentOutline> {
    const task = await deployTask(input.taskId);
    if (task.plan) return task.plan;
    const cluster = await store.getCluster(task.clusterId);
    if (!cluster) throw new NotFoundError(`Cluster ${task.clusterId} not found`);
    const graph = (await store.getGraph(cluster.id)) ?? defaultGraph();
    const editable = (await store.getAttributes(cluster.id)) ?? defaultAttributes();
    const mode = task.mode ?? { force: false, resume: false };
    const scope = mode.scope ?? 'all';
    const selected = mode.nodes ? new Set(mode.nodes) : null;
    const members = (await store.listNodes()).filter(
      (n) => n.clusterId === cluster.id && !n.pendingDeletion && (selected === null || selected.has(n.id)),
    );

    const nodes: Node[] = [];
    for (const node of members) {
      if (node.pendingAddition || node.pendingRoles.length > 0) {
        const roles = [...new Set([...node.roles, ...node.pendingRoles])];
        nodes.push(await store.updateNode(node.id, { roles, pendingRoles: [], pendingAddition: false }));
      } else {
        nodes.push(node);
      }
    }

    const deployment =
      scope === 'provision'
        ? { instances: [], layers: [] }
        : planDeployment(
            graph,
            nodes.map((n) => ({ id: n.id, roles: n.roles })),
          );
    const toProvision =
      scope === 'deploy' ? [] : nodes.filter((n) => needsProvisioning(n.status, n.errorType));

    // Work already done: on ready nodes (and stopped ones when resuming), a task whose inputs are unchanged
    // since its last successful run there is planned as not needing to run. A forced redeploy runs everything.
    const fingerprints = new Map(graph.map((t) => [t.id, taskFingerprint(t, editable)]));
    const unchangedOn = new Map<number, Set<string>>();
    for (const node of nodes) {
      const eligible = node.status === 'ready' || (mode.resume && node.status === 'stopped');
      if (mode.force || !eligible) continue;
      const same = new Set<string>();
      for (const last of await store.lastRuns(node.id)) {
        if (fingerprints.get(last.taskName) === last.fingerprint) same.add(last.taskName);
      }
      unchangedOn.set(node.id, same);
    }
    const provisionCmd = provisionCommand(editable);
    const provisionLimit = provisionTimeout(editable);
    const rows: HistoryRow[] = [
      ...toProvision.map(
        (n): HistoryRow => ({
          deployTaskId: task.id,
          stage: PROVISION_STAGE,
          taskName: 'provision',
          nodeId: n.id,
          status: 'pending',
          timeStart: null,
          timeEnd: null,
          custom: {},
          cmd: provisionCmd,
          timeout: provisionLimit,
          retries: 0,
          failOnError: true,
          requires: [],
          layer: null,
          fingerprint: null,
          unchanged: false,
        }),
      ),
      ...deployment.instances.map(
        (i): HistoryRow => ({
          deployTaskId: task.id,
          stage: layerStage(i.layer),
          taskName: i.task,
          nodeId: i.nodeId,
          status: 'pending',
          timeStart: null,
          timeEnd: null,
          custom: {},
          cmd: i.cmd,
          timeout: i.timeout,
          retries: i.retries,
          failOnError: i.failOnError,
          requires: i.requires,
          layer: i.layer,
          fingerprint: fingerprints.get(i.task) ?? null,
          unchanged: unchangedOn.get(i.nodeId)?.has(i.task) ?? false,
        }),
      ),
    ];
    await store.putRows(rows);

    const byKey = new Map(deployment.instances.map((i) => [i.key, i]));
    const outline: DeploymentOutline = {
      provision: {
        nodeCount: toProvision.length,
        timeoutSeconds: stageTimeLimit(executionTimeout(provisionLimit, 0)),
      },
      layers: deployment.layers.map((keys, index) => ({
        taskId: task.id,
        stage: layerStage(index),
        timeoutSeconds: stageTimeLimit(layerTimeoutSeconds(keys.flatMap((k) => byKey.get(k) ?? []))),
      })),
    };
    if (task.provisionTaskId !== null)
      await store.updateTask(task.provisionTaskId, { total: toProvision.length });
    if (task.deploymentTaskId !== null) {
      await store.updateTask(task.deploymentTaskId, { total: deployment.instances.length });
    }
    const nodesBefore = Object.fromEntries(nodes.map((n) => [String(n.id), n.status]));
    await store.updateTask(task.id, { plan: outline, total: rows.length, nodesBefore });
    log('planned deployment', {
      taskId: task.id,
      provision: toProvision.length,
      instances: deployment.instances.length,
      layers: deployment.layers.length,
    });
    return outline;
  }

  async function checkStop(input: { taskId: number }): Promise<{ stopRequested: boolean }> {
    const task = await deployTask(input.taskId);
    return { stopRequested: task.stopRequestedAt !== null };
  }

  /**
   * Sends a stage's commands and arranges for the stage's token to be completed when every node
   * has reported back. Safe to run again after a crash: intents are recorded before sending,
   * and a batch whose intent already has a command (or a command with its comment) is not sent again.
   */
  async function dispatch(input: StageInput): Promise<{ sent: number }> {
    const { taskId, stage, token } = input;
    const prefix = stagePrefix(stage);
    // The stage is planned once: the intents of every batch are recorded before anything is sent. A dispatch
    // that crashed while recording them computes the same batches again (same rows, same failures).
    const planned = (await store.getStage(taskId, stage)).planned;
    const fresh = new Set<number>();
    let intents: CommandIntent[];
    if (planned) {
      intents = await store.queryIntents(taskId, stage);
    } else {
      intents = [];
      for (const intent of await planStage(taskId, stage)) {
        const recorded = await store.recordIntent(intent);
        intents.push(recorded.intent);
        if (recorded.created) fresh.add(intent.batch);
      }
    }

    const keys = new Set(
      intents.flatMap((i) => Object.values(i.targets).map((t) => instanceKey(t.taskName, t.nodeId))),
    );
    await store.openStage(taskId, stage, token, [...keys]);
    const unfinished = (await store.queryRows(taskId, prefix)).filter(
      (r) => keys.has(rowKey(r)) && (r.status === 'pending' || r.status === 'running'),
    );
    await markNodesBusy(stage, unfinished);

    let sent = 0;
    for (const intent of intents) {
      if (intent.commandId !== null) continue;
      const since = new Date(Date.parse(intent.createdAt) - 60_000);
      // An intent recorded by an earlier attempt may have been sent already (crash between SendCommand and its record)
      const earlier = fresh.has(intent.batch) ? null : await commands.findByComment(intent.comment, since);
      if (earlier !== null) {
        await store.setIntentCommand(taskId, stage, intent.batch, earlier);
        continue;
      }
      // Each batch is sent under a lease that a stop cannot overtake: once the stop flag is set,
      // no lease is granted and the batch is recorded as never started.
      const leaseUntil = new Date(clock.now().getTime() + DISPATCH_LEASE_MS).toISOString();
      if (!(await store.takeDispatchLease(taskId, leaseUntil))) {
        await abandonBatch(taskId, stage, intent);
        continue;
      }
      try {
        sent += await sendBatch(taskId, stage, intent);
      } finally {
        await store.releaseDispatchLease(taskId);
      }
    }

    // A node may have reported before its key was added to the outstanding set: close those now.
    const finished = (await store.queryRows(taskId, prefix)).filter(
      (r) => r.status !== 'pending' && r.status !== 'running',
    );
    for (const row of finished) await store.closeInstance(taskId, stage, rowKey(row));
    const state = await store.getStage(taskId, stage);
    if (state.outstanding.length === 0) await completeStage(taskId, stage, token);
    log('dispatched stage', {
      taskId,
      stage,
      commands: intents.length,
      sent,
      outstanding: state.outstanding.length,
    });
    return { sent };
  }

  /** Every command of the stage has reported: provisioning ends here; the state machine moves on. */
  async function completeStage(taskId: number, stage: string, token: string): Promise<void> {
    if (stage === PROVISION_STAGE) {
      const task = await deployTask(taskId);
      if (task.provisionTaskId !== null) {
        const rows = await store.queryRows(taskId, stagePrefix(stage));
        const failed = rows.filter((r) => r.status === 'error').length;
        const done = rows.filter((r) => r.status === 'ready').length;
        await store.finishTask(task.provisionTaskId, {
          status: failed > 0 ? 'error' : 'ready',
          progress: 100,
          timeEnd: now(),
          message:
            failed > 0
              ? `Provisioning failed on ${failed} of ${rows.length} nodes`
              : done < rows.length
                ? `Provisioning of ${done} of ${rows.length} nodes is done; the others were not started (stopped)`
                : `Provisioning of ${rows.length} ${rows.length === 1 ? 'node' : 'nodes'} is done`,
        });
      }
    }
    await workflows.complete(token, { stage });
    await store.markStageCompleted(taskId, stage, token);
  }

  async function sendBatch(taskId: number, stage: string, intent: CommandIntent): Promise<number> {
    const targets = Object.entries(intent.targets);
    for (const [, t] of targets) {
      const row = { deployTaskId: taskId, stage, taskName: t.taskName, nodeId: t.nodeId };
      await store.moveRow(row, ['pending'], { status: 'running', timeStart: now() });
    }
    const first = targets[0];
    const row = first ? await store.getRow(taskId, stage, first[1].taskName, first[1].nodeId) : null;
    if (!row) return 0;
    const commandId = await commands.send({
      instanceIds: targets.map(([instanceId]) => instanceId),
      parameters: {
        command: [row.cmd],
        timeout: [String(row.timeout)],
        retries: [String(row.retries)],
        executionTimeout: [String(executionTimeout(row.timeout, row.retries))],
      },
      comment: intent.comment,
      deliveryTimeoutSeconds: DELIVERY_TIMEOUT_S,
    });
    await store.setIntentCommand(taskId, stage, intent.batch, commandId);
    return targets.length;
  }

  /** A batch that a stop kept from being sent: its rows never started. */
  async function abandonBatch(taskId: number, stage: string, intent: CommandIntent): Promise<void> {
    const custom = {
      reason: 'not started: the deployment was stopped',
      skip_reason: 'stopped' satisfies SkipReason,
    };
    for (const t of Object.values(intent.targets)) {
      const row = { deployTaskId: taskId, stage, taskName: t.taskName, nodeId: t.nodeId };
      // a row already `running` may have been sent by a crashed attempt: its own result closes it
      if (await store.moveRow(row, ['pending'], { status: 'skipped', custom })) {
        await countDone(taskId, stage);
        await store.closeInstance(taskId, stage, instanceKey(t.taskName, t.nodeId));
      }
    }
  }

  /** Skips the rows that cannot run and batches the others into command intents (not yet recorded). */
  async function planStage(taskId: number, stage: string): Promise<CommandIntent[]> {
    const rows = await store.queryRows(taskId, stagePrefix(stage));
    const decision = decideLayer(rows, await store.failures(taskId));
    for (const { row, reason, kind } of decision.skip) {
      // the marker first: dependents in later layers must see it even if this Lambda dies right after
      if (kind === 'blocked') await store.markFailed(taskId, { instanceKey: rowKey(row), reason: 'blocked' });
      const moved = await store.moveRow(row, ['pending'], {
        status: 'skipped',
        custom: { reason, skip_reason: kind },
      });
      if (moved) await countDone(taskId, row.stage);
    }
    const batches = batchRows(decision.send);
    const nodeInstances = await instanceIdsOf(batches.flatMap((b) => b.rows.map((r) => r.nodeId)));
    return batches.map((batch, index) => ({
      deployTaskId: taskId,
      stage,
      batch: index,
      comment: commandComment(taskId, stage, index),
      commandId: null,
      targets: Object.fromEntries(
        batch.rows.map((r) => [
          nodeInstances.get(r.nodeId) ?? `missing-${r.nodeId}`,
          { taskName: r.taskName, nodeId: r.nodeId },
        ]),
      ),
      createdAt: now(),
    }));
  }

  async function instanceIdsOf(nodeIds: number[]): Promise<Map<number, string>> {
    const nodes = await store.getNodes(nodeIds);
    return new Map(nodes.map((n) => [n.id, n.instanceId]));
  }

  /** Nodes with work in flight in this stage show it: `provisioning` or `deploying`. */
  async function markNodesBusy(stage: string, unfinished: HistoryRow[]): Promise<void> {
    const nodeIds = [...new Set(unfinished.map((r) => r.nodeId))];
    const status = stage === PROVISION_STAGE ? 'provisioning' : 'deploying';
    for (const node of await store.getNodes(nodeIds)) {
      if (node.status === status || node.status === 'error') continue;
      await store.updateNode(node.id, { status, errorType: null, errorMsg: null, progress: 0 });
    }
  }

  async function countDone(taskId: number, stage: string): Promise<void> {
    const task = await deployTask(taskId);
    const child = stage === PROVISION_STAGE ? task.provisionTaskId : task.deploymentTaskId;
    await store.addTaskDone(task.id, 1);
    if (child !== null) await store.addTaskDone(child, 1);
  }

  /** Records a node's result for one command; completes the stage when it was the last one outstanding. */
  async function onCommandStatus(input: CommandStatusInput): Promise<void> {
    if (historyStatusOfInvocation(input.status) === null) return;
    const invocation = await commands.invocation(input.commandId, input.instanceId);
    // GetCommandInvocation is eventually consistent: fail so that the event is delivered again
    if (!invocation || historyStatusOfInvocation(invocation.status) === null) {
      throw new Error(`The result of ${input.commandId} on ${input.instanceId} is not visible yet`);
    }
    const origin = parseComment(invocation.comment);
    if (!origin) {
      log('ignored command status', { ...input, reason: 'not a deployment command' });
      return;
    }
    const intent = await store.getIntent(origin.deployTaskId, origin.stage, origin.batch);
    const target = intent?.targets[input.instanceId];
    if (!intent || !target) {
      log('ignored command status', { ...input, reason: 'unknown target' });
      return;
    }
    const { deployTaskId, stage } = origin;
    const task = await deployTask(deployTaskId);
    if (isTaskFinished(task.status)) {
      // a late result of a deployment that already ended (aborted): its statuses are settled
      log('ignored command status', { ...input, reason: 'the deployment has ended' });
      return;
    }
    const row = await store.getRow(deployTaskId, stage, target.taskName, target.nodeId);
    if (!row) return;
    const key = rowKey(row);
    const stageState = await store.getStage(deployTaskId, stage);
    if (!stageState.outstanding.includes(key)) {
      // Recorded and closed by an earlier delivery; make sure the stage did not miss its completion.
      if (
        stageState.outstanding.length === 0 &&
        stageState.token &&
        stageState.completedToken !== stageState.token
      )
        await completeStage(deployTaskId, stage, stageState.token);
      return;
    }

    const cancelledByStop = task.stop?.forcedAt != null && CANCELLED.has(invocation.status);
    // A provisioning cancelled by a forced stop did not finish: the node must be provisioned again.
    const errorType: NodeErrorType =
      cancelledByStop && stage !== PROVISION_STAGE
        ? 'stop_deployment'
        : stage === PROVISION_STAGE
          ? 'provision'
          : 'deploy';
    const outcome = recordedOutcome(invocation, row, errorType, cancelledByStop);
    // Side effects first, the row's move last: a delivery retried after a crash redoes them (they are idempotent),
    // and the next stage cannot start before the instance is closed below.
    if (outcome.failure) {
      await recordNodeFailure(task, row, errorType, outcome.failure);
    } else if (stage === PROVISION_STAGE) {
      await store.updateNode(row.nodeId, { status: 'provisioned', errorType: null, errorMsg: null });
    } else if (outcome.status === 'ready' && row.fingerprint !== null) {
      await store.recordLastRun({
        nodeId: row.nodeId,
        taskName: row.taskName,
        fingerprint: row.fingerprint,
        deployTaskId,
      });
    }
    const moved = await store.moveRow(row, ['running'], {
      status: outcome.status,
      timeStart: invocation.startedAt ?? row.timeStart,
      timeEnd: invocation.endedAt ?? now(),
      custom: outcome.custom,
    });
    if (moved) await countDone(deployTaskId, stage);
    const state = await store.closeInstance(deployTaskId, stage, key);
    if (state && state.outstanding.length === 0 && state.token) {
      await completeStage(deployTaskId, stage, state.token);
    }
  }

  /** What a finished command means for its history row: ready, error, or a failure ignored by `fail_on_error: false`. */
  function recordedOutcome(
    invocation: InvocationResult,
    row: HistoryRow,
    errorType: NodeErrorType,
    cancelledByStop: boolean,
  ) {
    const custom: Record<string, unknown> = {
      exit_code: invocation.responseCode,
      ssm_status: invocation.status,
      status_details: invocation.statusDetails,
      command_id: invocation.commandId,
      instance_id: invocation.instanceId,
      output_tail: invocation.stdoutTail,
      error_tail: invocation.stderrTail,
    };
    if (historyStatusOfInvocation(invocation.status) === 'ready') {
      return { status: 'ready' as const, custom, failure: null };
    }
    if (CANCELLED.has(invocation.status) && invocation.startedAt === null) {
      return {
        status: 'skipped' as const,
        custom: {
          ...custom,
          skip_reason: 'stopped' satisfies SkipReason,
          reason: 'not started: the deployment was stopped before the command reached the node',
        },
        failure: null,
      };
    }
    const detail = `${invocation.statusDetails || invocation.status}, exit code ${invocation.responseCode ?? 'none'}`;
    if (!row.failOnError) {
      return {
        status: 'skipped' as const,
        custom: {
          ...custom,
          skip_reason: 'fail_on_error' satisfies SkipReason,
          reason: `failure ignored (fail_on_error: false): ${detail}`,
        },
        failure: null,
      };
    }
    const failure = cancelledByStop
      ? `${row.taskName} was cancelled by a forced stop (${detail})`
      : `${row.taskName} failed (${detail})`;
    return {
      status: 'error' as const,
      custom: { ...custom, error_type: errorType, ...(cancelledByStop ? { cancelled_by_stop: true } : {}) },
      failure,
    };
  }

  /**
   * A node failed: nothing more runs on it, its dependents are blocked, and when the graph's fault
   * tolerance is exceeded the deployment is stopped gracefully (as a user's stop, ending in error).
   */
  async function recordNodeFailure(task: Task, row: HistoryRow, errorType: NodeErrorType, reason: string) {
    await store.markFailed(task.id, { instanceKey: rowKey(row), reason });
    await store.markFailed(task.id, { nodeId: row.nodeId, reason });
    await store.updateNode(row.nodeId, { status: 'error', errorType, errorMsg: reason });
    if (task.stopRequestedAt !== null) return;
    const graph = (await store.getGraph(task.clusterId)) ?? defaultGraph();
    const nodes = (await store.listNodes())
      .filter((n) => n.clusterId === task.clusterId)
      .map((n) => ({ id: n.id, roles: n.roles }));
    const failed = [...(await store.failures(task.id)).nodes.keys()];
    const verdict = judgeFailures(toleranceGroups(graph, nodes), nodes, failed);
    if (!verdict.exceeded) return;
    const at = clock.now();
    try {
      await store.requestStop(task.id, at.toISOString(), {
        cause: 'fault_tolerance',
        taskId: null,
        requestedAt: at.toISOString(),
        requestedBy: 'fault tolerance',
        message: verdict.reason,
        deadline: new Date(at.getTime() + (await stopTimeoutOf(task.clusterId)) * 1000).toISOString(),
        timeoutSeconds: await stopTimeoutOf(task.clusterId),
        forcedAt: null,
        forcedBecause: null,
      });
      log('fault tolerance exceeded: stopping', { taskId: task.id, reason: verdict.reason });
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
  }

  async function stopTimeoutOf(clusterId: number): Promise<number> {
    return stopTimeout((await store.getAttributes(clusterId)) ?? defaultAttributes());
  }

  /** Settles node, task and cluster statuses and releases the cluster's deployment lock. Idempotent. */
  async function finish(input: FinishInput): Promise<{ status: string }> {
    const found = await deployTask(input.taskId);
    // From here no stop can be requested, so the stop flag of `task` is final.
    const task = isTaskFinished(found.status) ? found : await store.beginFinish(found.id, now());
    const cluster = await store.getCluster(task.clusterId);
    // Order of the writes: nodes, the cluster (unlocked), the deploy task, the stop task. Whoever sees a task
    // ended can act on the cluster at once. A retry after a crash redoes only what is missing.
    const lockHeld = cluster?.deploymentTaskId === task.id;
    if (isTaskFinished(task.status)) {
      const settled = task.result.cluster_status;
      if (lockHeld && cluster && isClusterStatus(settled)) {
        await store.releaseDeployment(cluster.id, task.id, { status: settled });
      }
      await endStopTask(task, task.result.stop_task_status, task.result.stop_message);
      return { status: task.status };
    }
    const rows = await store.queryRows(task.id, ALL_ROWS_PREFIX);
    const failures = await store.failures(task.id);
    const stopped = task.stopRequestedAt !== null;
    const orchestrationFailed = input.failure !== null && input.failure !== undefined;

    const endReason: SkipReason = stopped ? 'stopped' : orchestrationFailed ? 'aborted' : 'blocked';
    const endText = stopped
      ? 'not started: the deployment was stopped'
      : orchestrationFailed
        ? 'not started: the deployment was aborted'
        : 'not started: a requirement did not succeed';
    for (const row of rows) {
      if (row.status === 'pending') {
        if (
          await store.moveRow(row, ['pending'], {
            status: 'skipped',
            custom: { reason: endText, skip_reason: endReason },
          })
        ) {
          row.status = 'skipped';
          row.custom = { reason: endText, skip_reason: endReason };
        }
      } else if (row.status === 'running') {
        const reason = 'no result was received before the deployment ended';
        if (
          await store.moveRow(row, ['running'], {
            status: 'error',
            timeEnd: now(),
            custom: { ...row.custom, reason },
          })
        ) {
          row.status = 'error';
          failures.nodes.set(row.nodeId, reason);
        }
      }
    }

    const rowsByNode = new Map<number, HistoryRow[]>();
    for (const row of rows) rowsByNode.set(row.nodeId, [...(rowsByNode.get(row.nodeId) ?? []), row]);
    // After a crash that followed the unlock, the nodes were settled already and may belong to a new deployment.
    // A deployment that was never planned never touched its nodes: their statuses stay as they are.
    // Only the nodes it planned are settled (a deployment of selected nodes leaves the others alone).
    const clusterNodes =
      lockHeld && task.plan !== null
        ? (await store.listNodes()).filter((n) => n.clusterId === task.clusterId && !n.pendingDeletion)
        : [];
    const planned = (n: Node) => task.nodesBefore === null || String(n.id) in task.nodesBefore;
    const members = clusterNodes.filter(planned);
    const finalStatuses: NodeStatus[] = clusterNodes.filter((n) => !planned(n)).map((n) => n.status);
    for (const node of members) {
      const nodeRows = rowsByNode.get(node.id) ?? [];
      const failedRow = nodeRows.find((r) => r.status === 'error');
      const failedAs: NodeErrorType | null =
        failures.nodes.has(node.id) || failedRow ? failureTypeOf(failedRow, node.errorType) : null;
      const provisionRow = nodeRows.find((r) => r.stage === PROVISION_STAGE);
      const settled = settleNode({
        status: node.status,
        before: task.nodesBefore?.[String(node.id)],
        provisioning: provisionRow ? (provisionRow.status === 'ready' ? 'done' : 'not_run') : null,
        rows: nodeRows
          .filter((r) => isLayerStage(r.stage))
          .map((r) => rowFate(r.status, (r.custom.skip_reason as SkipReason | undefined) ?? null)),
        failedAs,
        deploys: task.mode?.scope !== 'provision',
      });
      finalStatuses.push(settled.status);
      await store.updateNode(node.id, {
        status: settled.status,
        errorType: settled.errorType,
        progress: settled.progress,
        ...(settled.errorType === null ? { errorMsg: null } : {}),
      });
    }

    const failedRows = rows.filter((r) => r.status === 'error');
    const settlement = settleDeployment({
      orchestrationFailed,
      anyError: failedRows.length > 0,
      stop: task.stop ? { cause: task.stop.cause, forced: task.stop.forcedAt !== null } : null,
      nodes: finalStatuses,
    });
    const name = cluster?.name ?? String(task.clusterId);
    const message = deploymentMessage(name, settlement.outcome, task, rows, input.failure);
    const end = now();
    const childStatus = (provision: boolean) =>
      rows.some((r) => r.status === 'error' && provision === (r.stage === PROVISION_STAGE))
        ? 'error'
        : settlement.deployTask;
    if (task.provisionTaskId !== null) {
      await store.finishTask(task.provisionTaskId, {
        status: childStatus(true),
        progress: 100,
        timeEnd: end,
      });
    }
    if (task.deploymentTaskId !== null) {
      await store.finishTask(task.deploymentTaskId, {
        status: childStatus(false),
        progress: 100,
        timeEnd: end,
        message,
      });
    }
    const stopOutcome = settlement.stopTask === null ? null : stopMessage(name, task, rows);
    const result = {
      ...task.result,
      cluster_status: lockHeld ? settlement.cluster : task.result.cluster_status,
      stop_task_status: settlement.stopTask,
      stop_message: stopOutcome,
    };
    if (lockHeld && cluster) {
      await store.updateTask(task.id, { result });
      await store.releaseDeployment(cluster.id, task.id, { status: settlement.cluster });
    }
    await store.finishTask(task.id, {
      status: settlement.deployTask,
      progress: 100,
      timeEnd: end,
      message,
      result,
    });
    await endStopTask(task, settlement.stopTask, stopOutcome);
    log('finished deployment', {
      taskId: task.id,
      outcome: settlement.outcome,
      clusterStatus: settlement.cluster,
    });
    return { status: settlement.deployTask };
  }

  /**
   * Ends the user's stop task. The stop request writes it right after the stop flag; if the deployment
   * ended in between, the task is written here, ended, and the request finds it.
   */
  async function endStopTask(task: Task, status: unknown, message: unknown): Promise<void> {
    const stopTaskId = task.stop?.taskId;
    if (stopTaskId == null || (status !== 'ready' && status !== 'error')) return;
    const ending: Partial<Task> = {
      status,
      progress: 100,
      timeEnd: now(),
      message: typeof message === 'string' ? message : null,
    };
    if (await store.finishTask(stopTaskId, ending)) return;
    if (await store.getTask(stopTaskId)) return;
    try {
      await store.putTask({
        ...stopTaskRecord(task, stopTaskId, task.stop?.requestedAt ?? now()),
        ...ending,
      });
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      await store.finishTask(stopTaskId, ending);
    }
  }

  /** The error type a failed node carries: its failed row says how it failed (provisioning, a task, a forced stop). */
  function failureTypeOf(failedRow: HistoryRow | undefined, current: NodeErrorType | null): NodeErrorType {
    const recorded = failedRow?.custom.error_type;
    if (recorded === 'stop_deployment' || recorded === 'provision' || recorded === 'deploy') return recorded;
    if (failedRow?.stage === PROVISION_STAGE || current === 'provision') return 'provision';
    return current === 'stop_deployment' ? 'stop_deployment' : 'deploy';
  }

  /** What a message says ran: a top-level provisioning of selected nodes, or a deployment. */
  function subjectOf(task: Task, name: string): string {
    return `${task.name === 'provision' ? 'Provisioning' : 'Deployment'} of environment '${name}'`;
  }

  function deploymentMessage(
    name: string,
    outcome: Outcome,
    task: Task,
    rows: HistoryRow[],
    failure: FinishInput['failure'],
  ): string {
    const failed = rows.filter((r) => r.status === 'error');
    const listed = `${failed
      .slice(0, 10)
      .map((r) => `${r.taskName} on node ${r.nodeId}`)
      .join(', ')}${failed.length > 10 ? ` and ${failed.length - 10} more` : ''}`;
    const notStarted = rows.filter((r) => r.custom.skip_reason === 'stopped').length;
    const subject = subjectOf(task, name);
    if (failure) {
      return `${subject} has failed: ${failure.Cause ?? failure.Error ?? 'unknown error'}`;
    }
    if (task.stop?.cause === 'fault_tolerance') {
      return `${subject} was stopped: ${task.stop.message ?? 'fault tolerance exceeded'}. Failed tasks: ${listed}.`;
    }
    if (task.stop) {
      const done = rows.filter((r) => r.status === 'ready').length;
      return `${subject} was stopped: ${done} of ${rows.length} tasks done, ${notStarted} not started${failed.length > 0 ? `; failed tasks: ${listed}` : ''}.`;
    }
    if (outcome === 'completed') return `${subject} is done.`;
    return `${subject} has failed. Failed tasks: ${listed}.`;
  }

  function stopMessage(name: string, task: Task, rows: HistoryRow[]): string {
    const stop = task.stop;
    if (stop?.forcedAt) {
      const n = rows.filter(
        (r) => r.custom.cancelled_by_stop === true || r.custom.error_type === 'stop_deployment',
      ).length;
      const cancelled = `${n} running ${n === 1 ? 'task was' : 'tasks were'} cancelled`;
      if (stop.forcedBecause === 'timeout') {
        return `Timeout (${stop.timeoutSeconds} sec) was reached. ${cancelled}.`;
      }
      const subject = subjectOf(task, name);
      return `${subject} was stopped by force: ${cancelled}.`;
    }
    return `Deployment of environment '${name}' was successfully stopped.`;
  }

  /** The rows of a deployment whose command was sent and has not reported yet. */
  async function runningRows(taskId: number): Promise<HistoryRow[]> {
    return (await store.queryRows(taskId, ALL_ROWS_PREFIX)).filter((r) => r.status === 'running');
  }

  /**
   * Escalates a stop: running commands are cancelled (SSM CancelCommand); their nodes will end
   * `error` / `stop_deployment`. The stage still waits for each command to reach a terminal status.
   */
  async function forceStop(taskId: number, because: 'user' | 'timeout'): Promise<{ cancelled: number }> {
    let task: Task;
    try {
      task = await store.escalateStop(taskId, now(), because);
    } catch (err) {
      if (err instanceof ConditionFailedError) return { cancelled: 0 };
      throw err;
    }
    log('escalating stop', { taskId, because });
    return { cancelled: await cancelRunning(task) };
  }

  async function cancelRunning(task: Task): Promise<number> {
    const running = await runningRows(task.id);
    const keys = new Set(running.map(rowKey));
    let cancelled = 0;
    for (const stage of new Set(running.map((r) => r.stage))) {
      for (const intent of await store.queryIntents(task.id, stage)) {
        if (intent.commandId === null) continue;
        const instanceIds = Object.entries(intent.targets)
          .filter(([, t]) => keys.has(instanceKey(t.taskName, t.nodeId)))
          .map(([instanceId]) => instanceId);
        if (instanceIds.length === 0) continue;
        await commands.cancel(intent.commandId, instanceIds);
        cancelled += instanceIds.length;
      }
    }
    return cancelled;
  }

  /**
   * After a stop's flag is set: commands sent but not yet delivered (their node is unreachable, or the send
   * was a moment ago) are cancelled, so that they can never start after the stop is acknowledged.
   * Their rows end `skipped` ("not started") when the cancellation is reported.
   */
  async function cancelUndelivered(taskId: number): Promise<number> {
    const rows = await runningRows(taskId);
    if (rows.length === 0) return 0;
    const offline = new Set(
      (await store.getNodes(rows.map((r) => r.nodeId))).filter((n) => !n.online).map((n) => n.id),
    );
    const recent = clock.now().getTime() - RECENT_SEND_MS;
    const suspects = new Set(
      rows
        .filter((r) => offline.has(r.nodeId) || (r.timeStart !== null && Date.parse(r.timeStart) >= recent))
        .map(rowKey),
    );
    let cancelled = 0;
    for (const stage of new Set(rows.map((r) => r.stage))) {
      for (const intent of await store.queryIntents(taskId, stage)) {
        if (intent.commandId === null) continue;
        const undelivered: string[] = [];
        for (const [instanceId, t] of Object.entries(intent.targets)) {
          if (!suspects.has(instanceKey(t.taskName, t.nodeId))) continue;
          const invocation = await commands.invocation(intent.commandId, instanceId);
          if (invocation && NOT_STARTED.has(invocation.status)) undelivered.push(instanceId);
        }
        if (undelivered.length > 0) {
          await commands.cancel(intent.commandId, undelivered);
          cancelled += undelivered.length;
        }
      }
    }
    if (cancelled > 0) log('cancelled undelivered commands', { taskId, cancelled });
    return cancelled;
  }

  /**
   * Run periodically (every minute on AWS, every second locally): escalates stops past their deadline, and
   * gives up on cancelled commands whose nodes never answer, so that a stop always completes.
   */
  async function superviseStops(): Promise<{ escalated: number; abandoned: number }> {
    let escalated = 0;
    let abandoned = 0;
    const at = clock.now().getTime();
    for (const cluster of await store.listClusters()) {
      if (cluster.deploymentTaskId === null) continue;
      const task = await store.getTask(cluster.deploymentTaskId);
      if (task && (await settleIfNeverStarted(task))) continue;
      const stop = task?.stop;
      if (!task || !stop || isTaskFinished(task.status)) continue;
      if (stop.forcedAt === null) {
        if (at >= Date.parse(stop.deadline)) {
          await forceStop(task.id, 'timeout');
          escalated++;
        }
      } else {
        // Cancel again on every round: a command whose send was in flight at the first cancel is cancelled too.
        await cancelRunning(task);
        const grace = Math.min(stop.timeoutSeconds, 60) * 1000;
        const forcedAt = Date.parse(stop.forcedAt);
        if (at >= forcedAt + grace) abandoned += await abandonUnanswered(task, at >= forcedAt + 5 * grace);
      }
    }
    return { escalated, abandoned };
  }

  /**
   * A deploy task that holds its cluster's lock but whose execution never started (the API died between
   * taking the lock and StartExecution): after a grace period it is ended, and the cluster unlocked.
   */
  async function settleIfNeverStarted(task: Task): Promise<boolean> {
    if (task.executionArn !== null || task.status !== 'running' || task.timeStart === null) return false;
    if (clock.now().getTime() - Date.parse(task.timeStart) < START_GRACE_MS) return false;
    if ((await workflows.status(task.uuid)) !== null) return false;
    log('settling a deployment that never started', { taskId: task.id });
    await finish({
      taskId: task.id,
      failure: { Error: 'NotStarted', Cause: 'its execution never started; nothing was run' },
    });
    return true;
  }

  /**
   * Cancelled commands whose nodes do not answer: recorded as failed by the stop so that the stages complete.
   * Only offline nodes are given up on, unless `all` (a node that stays silent far past the grace period).
   */
  async function abandonUnanswered(task: Task, all: boolean): Promise<number> {
    const rows = await runningRows(task.id);
    const offline = new Set(
      (await store.getNodes(rows.map((r) => r.nodeId))).filter((n) => !n.online).map((n) => n.id),
    );
    const running = rows.filter((r) => all || offline.has(r.nodeId));
    for (const row of running) {
      const reason = `${row.taskName}: no result after the forced stop; node ${row.nodeId} did not answer`;
      await recordNodeFailure(task, row, 'stop_deployment', reason);
      const moved = await store.moveRow(row, ['running'], {
        status: 'error',
        timeEnd: now(),
        custom: { ...row.custom, reason, error_type: 'stop_deployment' },
      });
      if (moved) await countDone(task.id, row.stage);
      const state = await store.closeInstance(task.id, row.stage, rowKey(row));
      if (state && state.outstanding.length === 0 && state.token)
        await completeStage(task.id, row.stage, state.token);
    }
    if (running.length > 0) log('gave up on unanswered commands', { taskId: task.id, count: running.length });
    return running.length;
  }

  return { plan, checkStop, dispatch, onCommandStatus, finish, forceStop, cancelUndelivered, superviseStops };
}

export type Engine = ReturnType<typeof createEngine>;
