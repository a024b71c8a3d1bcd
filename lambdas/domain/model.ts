/** The inventory the service keeps, in domain terms (field names of the API are mapped in the API layer). */
import type { ClusterStatus, NodeErrorType, NodeStatus } from './status.js';

export interface Cluster {
  id: number;
  name: string;
  status: ClusterStatus;
  releaseId: number;
  isCustomized: boolean;
  /** The deployment run that holds the cluster's deployment lock, if any. */
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
  /** Roles this node holds as the elected primary (Nailgun's `primary_roles`), e.g. `controller`. */
  primaryRoles: string[];
  pendingAddition: boolean;
  pendingDeletion: boolean;
  online: boolean;
  clusterId: number | null;
  discoveredAt: string;
  /** Nailgun's free-form labels (`fuel2 node label set`): a value may be null (a label without one). */
  labels?: Record<string, string | null>;
}

/** The fingerprint of a task's last successful run on a node. */
export interface LastRun {
  nodeId: number;
  taskName: string;
  fingerprint: string;
  deployTaskId: number;
}
