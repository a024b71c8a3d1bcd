/**
 * Tasks (Nailgun's transactions), one record type per kind:
 * - a deployment run: "Deploy changes" (`deploy`, with `provision` and `deployment` children) or a top-level
 *   `provision` / `deployment` of selected nodes; it owns an execution of the state machine and the stop state;
 * - a stage task: the `provision` or `deployment` child of a `deploy` run;
 * - a stop task: the `stop_deployment` task of an operator's stop;
 * - an action: `reset_environment`, `cluster_deletion`, which end at once.
 */

import { DEFAULT_GRAPH_TYPE } from './graph-types.js';
import type { LayerStage } from './stage.js';
import type { ClusterStatus, NodeStatus, TaskStatus } from './status.js';
import type { StopState } from './stop.js';
import { NO_STOP } from './stop.js';

interface TaskCommon {
  id: number;
  uuid: string;
  status: TaskStatus;
  progress: number;
  message: string | null;
  clusterId: number;
  timeStart: string | null;
  timeEnd: string | null;
  executionArn: string | null;
  /** Set by `DELETE tasks/{id}`: the API no longer shows the task; the engine still settles a running one. */
  deletedAt: string | null;
}

export type DeployScope = 'all' | 'provision' | 'deploy';

/** How a run treats work already done, and what it acts on. */
export interface DeployMode {
  /** Run everything, even what is unchanged since its last successful run. */
  force: boolean;
  /** Also skip unchanged work on stopped nodes (by default only on ready ones). */
  resume: boolean;
  /** `all`: provision what needs it and deploy; `provision` or `deploy` only. */
  scope: DeployScope;
  /** The nodes selected (`?nodes=`); null means every node of the cluster. */
  nodes: number[] | null;
  /**
   * The graph tasks selected to run (`PUT clusters/{id}/deploy_tasks/`): the others run nothing. Absent or
   * null: every task.
   */
  tasks?: string[] | null;
  /**
   * The type of the environment's graph the run runs (`deploy/?graph_type=`, `fuel2 graph execute`): `default`
   * for "Deploy changes" and its relatives. Absent in runs stored before graphs of other types could run:
   * they ran the default graph (`graphTypeOf`).
   */
  graphType?: string;
}

/** The type of the graph a run runs. */
export function graphTypeOf(mode: Pick<DeployMode, 'graphType'>): string {
  return mode.graphType ?? DEFAULT_GRAPH_TYPE;
}

/**
 * A run of a graph other than the default one: the operator asked for it by name on provisioned nodes, so
 * every task runs, nothing is provisioned, no last run is recorded, and it says nothing of the nodes' deployment
 * (domain/settlement.ts `settleNode`).
 */
export function runsOtherGraph(mode: Pick<DeployMode, 'graphType'>): boolean {
  return graphTypeOf(mode) !== DEFAULT_GRAPH_TYPE;
}

/** The shape of a planned deployment that the state machine iterates over: stage names and time limits only. */
export interface DeploymentOutline {
  provision: { nodeCount: number; timeoutSeconds: number };
  layers: OutlineLayer[];
}

export interface OutlineLayer {
  taskId: number;
  stage: LayerStage;
  timeoutSeconds: number;
}

/**
 * What a run's item keeps of its plan: the outline's layers are stored beside the run's rows, in items of
 * bounded size (the plans repository), so that the run's item does not grow with the number of layers.
 */
export type PlanSummary =
  | { provision: DeploymentOutline['provision']; layerCount: number }
  /** A run planned before the layers were stored apart: its item holds the whole outline. */
  | DeploymentOutline;

/** The number of layers of a planned run. */
export function layerCountOf(plan: PlanSummary): number {
  return 'layers' in plan ? plan.layers.length : plan.layerCount;
}

/** How a run ended, as its finish recorded it (a retried finish redoes what is missing from it). */
export interface RunOutcome {
  /** The cluster's status, when this run still held the cluster's lock when it settled. */
  clusterStatus: ClusterStatus | null;
  /** The operator's stop task, if any, ends with this status and message. */
  stopTaskStatus: 'ready' | 'error' | null;
  stopMessage: string | null;
}

export interface DeploymentRun extends TaskCommon {
  kind: 'run';
  name: 'deploy' | 'provision' | 'deployment';
  parentId: null;
  /** Finished and planned history rows; progress is derived from them. */
  done: number;
  total: number;
  children: { provision: number | null; deployment: number | null };
  mode: DeployMode;
  stop: StopState;
  /** While set and in the future, a dispatch is sending commands; a stop waits for it to end. */
  dispatchLeaseUntil: string | null;
  /** Set when the run starts settling: from then on no stop can be requested for it. */
  finishingAt: string | null;
  /**
   * Node statuses when the run was planned, by node id, in a run planned before they were kept with the plan
   * (the plans repository); null otherwise.
   */
  nodesBefore: Record<string, NodeStatus> | null;
  /** What the engine planned (kept so that a retried plan step returns the same answer). */
  plan: PlanSummary | null;
  outcome: RunOutcome | null;
}

export interface StageTask extends TaskCommon {
  kind: 'stage';
  name: 'provision' | 'deployment';
  parentId: number;
  done: number;
  total: number;
}

/** What a stop's follow-up did after the stop was answered, as its stop task shows it. */
export interface StopWork {
  /** When the follow-up ended. */
  at: string;
  /** From this time no dispatch held the send lease: no command of the run was sent after it. */
  sendsEndedAt: string;
  /** Invocations of commands not yet reported that were looked at. */
  checked: number;
  /** Commands sent but not yet delivered, cancelled so that they never start. */
  undeliveredCancelled: number;
  /** Running commands cancelled (a forced stop). */
  runningCancelled: number;
}

export interface StopTask extends TaskCommon {
  kind: 'stop';
  name: 'stop_deployment';
  parentId: null;
  deployTaskId: number;
  requestedBy: string | null;
  reason: string | null;
  /** Null until the stop's follow-up has run. */
  work: StopWork | null;
}

export interface ActionTask extends TaskCommon {
  kind: 'action';
  name: 'reset_environment' | 'cluster_deletion';
  parentId: null;
}

export type Task = DeploymentRun | StageTask | StopTask | ActionTask;

/** Which stage of its run a stage task reports on. */
export function stageTaskScope(task: StageTask): 'provision' | 'layers' {
  return task.name === 'provision' ? 'provision' : 'layers';
}

function common(id: number, clusterId: number, uuid: string, at: string): TaskCommon {
  return {
    id,
    uuid,
    status: 'running',
    progress: 0,
    message: null,
    clusterId,
    timeStart: at,
    timeEnd: null,
    executionArn: null,
    deletedAt: null,
  };
}

export interface NewRun {
  id: number;
  uuid: string;
  clusterId: number;
  mode: DeployMode;
  children: DeploymentRun['children'];
  message: string;
  at: string;
}

export function newRun(input: NewRun): DeploymentRun {
  return {
    ...common(input.id, input.clusterId, input.uuid, input.at),
    kind: 'run',
    name:
      input.mode.scope === 'all' ? 'deploy' : input.mode.scope === 'provision' ? 'provision' : 'deployment',
    parentId: null,
    message: input.message,
    done: 0,
    total: 0,
    children: input.children,
    mode: input.mode,
    stop: NO_STOP,
    dispatchLeaseUntil: null,
    finishingAt: null,
    nodesBefore: null,
    plan: null,
    outcome: null,
  };
}

export function newStageTask(
  input: { id: number; uuid: string; clusterId: number; parentId: number; at: string },
  name: StageTask['name'],
): StageTask {
  return {
    ...common(input.id, input.clusterId, input.uuid, input.at),
    kind: 'stage',
    name,
    parentId: input.parentId,
    done: 0,
    total: 0,
  };
}

/** The `stop_deployment` task of an operator's stop of `run`. */
export function newStopTask(
  run: DeploymentRun,
  input: { id: number; uuid: string; at: string; requestedBy: string | null; reason: string | null },
  message: string,
): StopTask {
  return {
    ...common(input.id, run.clusterId, input.uuid, input.at),
    kind: 'stop',
    name: 'stop_deployment',
    parentId: null,
    message,
    executionArn: run.executionArn,
    deployTaskId: run.id,
    requestedBy: input.requestedBy,
    reason: input.reason,
    work: null,
  };
}

/** An action that is done as soon as it is recorded. */
export function doneAction(
  input: { id: number; uuid: string; clusterId: number; at: string; endedAt: string },
  name: ActionTask['name'],
  message: string,
): ActionTask {
  return {
    ...common(input.id, input.clusterId, input.uuid, input.at),
    kind: 'action',
    name,
    parentId: null,
    status: 'ready',
    progress: 100,
    timeEnd: input.endedAt,
    message,
  };
}

/** The fields a use case or step may change on a stored task. */
export type TaskPatch = Partial<
  Pick<
    DeploymentRun,
    | 'status'
    | 'progress'
    | 'message'
    | 'timeStart'
    | 'timeEnd'
    | 'executionArn'
    | 'deletedAt'
    | 'total'
    | 'plan'
    | 'nodesBefore'
    | 'outcome'
  >
>;
