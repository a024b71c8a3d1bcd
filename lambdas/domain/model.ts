/** The entities the service keeps, in domain terms (field names of the API are mapped in the API layer). */
import type {
  ClusterStatus,
  HistoryStatus,
  NodeErrorType,
  NodeStatus,
  TaskName,
  TaskStatus,
} from './status.js';

export interface Cluster {
  id: number;
  name: string;
  status: ClusterStatus;
  releaseId: number;
  isCustomized: boolean;
  /** The deploy task that holds the cluster's deployment lock, if any. */
  deploymentTaskId: number | null;
  createdAt: string;
}

export interface Node {
  id: number;
  instanceId: string;
  name: string;
  hostname: string;
  ip: string;
  mac: string;
  platformName: string;
  osPlatform: string;
  status: NodeStatus;
  errorType: NodeErrorType | null;
  errorMsg: string | null;
  progress: number;
  roles: string[];
  pendingRoles: string[];
  pendingAddition: boolean;
  pendingDeletion: boolean;
  online: boolean;
  clusterId: number | null;
  discoveredAt: string;
}

export interface Task {
  id: number;
  uuid: string;
  name: TaskName;
  status: TaskStatus;
  progress: number;
  message: string | null;
  clusterId: number;
  parentId: number | null;
  result: Record<string, unknown>;
  timeStart: string | null;
  timeEnd: string | null;
  graphType: string;
  dryRun: boolean;
  executionArn: string | null;
  /** Counters of finished and planned history rows; progress is derived from them. */
  done: number;
  total: number;
  /** Child task ids of a `deploy` task. */
  provisionTaskId: number | null;
  deploymentTaskId: number | null;
  /** The stop flag of a running deploy task: set once, read by every layer before it dispatches. */
  stopRequestedAt: string | null;
  stop: StopRequest | null;
  /** While set and in the future, a dispatch is sending commands; a stop waits for it to end. */
  dispatchLeaseUntil: string | null;
  /** Set when the deployment starts settling: from then on no stop can be requested for it. */
  finishingAt: string | null;
  /** Node statuses when the deployment was planned, by node id. */
  nodesBefore: Record<string, NodeStatus> | null;
  /** What the engine planned for a deploy task (kept so that a retried plan step returns the same answer). */
  plan: DeploymentOutline | null;
  /** How a deploy task treats work already done: `force` runs everything, `resume` also skips on stopped nodes. */
  mode: DeployMode | null;
  /** Set by `DELETE tasks/{id}`: the API no longer shows the task; the engine still settles a running one. */
  deletedAt?: string | null;
}

export interface DeployMode {
  force: boolean;
  resume: boolean;
  /** `all`: provision what needs it and deploy; `provision` or `deploy` only. Absent means `all`. */
  scope?: DeployScope;
  /** The nodes selected (`?nodes=`); absent or null means every node of the cluster. */
  nodes?: number[] | null;
}

export type DeployScope = 'all' | 'provision' | 'deploy';

/** The fingerprint of a task's last successful run on a node. */
export interface LastRun {
  nodeId: number;
  taskName: string;
  fingerprint: string;
  deployTaskId: number;
}

export type StopCause = 'user' | 'fault_tolerance';

/** Who stopped a deployment, when and why; and whether it was escalated (running commands cancelled). */
export interface StopRequest {
  cause: StopCause;
  /** The stop_deployment task of a user's stop. */
  taskId: number | null;
  requestedAt: string;
  requestedBy: string;
  message: string | null;
  /** Past this time the stop is escalated. */
  deadline: string;
  timeoutSeconds: number;
  forcedAt: string | null;
  forcedBecause: 'user' | 'timeout' | null;
}

/** The shape of a planned deployment that the state machine iterates over: stage names and time limits only. */
export interface DeploymentOutline {
  provision: { nodeCount: number; timeoutSeconds: number };
  layers: { taskId: number; stage: string; timeoutSeconds: number }[];
}

/** One task of the graph on one node, within one deployment (Fuel's deployment history row). */
export interface HistoryRow {
  deployTaskId: number;
  stage: string;
  taskName: string;
  nodeId: number;
  status: HistoryStatus;
  timeStart: string | null;
  timeEnd: string | null;
  custom: Record<string, unknown>;
  cmd: string;
  timeout: number;
  retries: number;
  failOnError: boolean;
  requires: string[];
  layer: number | null;
  /** Fingerprint of the task's inputs (definition and cluster settings) in this deployment. */
  fingerprint: string | null;
  /** Planned as not needing to run: unchanged since its last successful run on this node. */
  unchanged: boolean;
}

export const PROVISION_STAGE = 'provision';

export function layerStage(layer: number): string {
  return `layer-${layer}`;
}

export function isLayerStage(stage: string): boolean {
  return stage.startsWith('layer-');
}

export function instanceKey(taskName: string, nodeId: number): string {
  return `${taskName}@${nodeId}`;
}
