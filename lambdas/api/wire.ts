/**
 * The wire types of the API: the JSON objects Nailgun's routes answer with (docs/openapi.yaml), declared once.
 * `serialize.ts` produces them; the command line and the tests read them.
 */
import type { GraphTask, TaskType } from '../domain/graph.js';
import type {
  ClusterStatus,
  HistoryStatus,
  NodeErrorType,
  NodeStatus,
  TaskName,
  TaskStatus,
} from '../domain/status.js';

/**
 * The header of a page of a list (`?limit=`) that more follows: the marker to send for the next page. A
 * page without it ends the list.
 */
export const NEXT_MARKER_HEADER = 'x-next-marker';

/** An environment (`GET /clusters/{id}/`). */
export interface ClusterJson {
  id: number;
  name: string;
  status: ClusterStatus;
  release_id: number;
  /** No edits and no second deployment while locked. */
  is_locked: boolean;
  /** A graph was uploaded. */
  is_customized: boolean;
  /** Pending changes (always empty here). */
  changes: Record<string, unknown>[];
  fuel_version: string;
  mode: 'ha_compact';
  net_provider: 'neutron';
  pending_release_id: null;
  ui_settings: Record<string, unknown>;
}

/** A node (`GET /nodes/{id}/`). */
export interface NodeJson {
  id: number;
  /** The id as a string. */
  uid: string;
  name: string;
  status: NodeStatus;
  error_type: NodeErrorType | null;
  error_msg: string | null;
  progress: number;
  /** Deployed roles. */
  roles: string[];
  /** Roles assigned and not deployed yet. */
  pending_roles: string[];
  /** Roles this node holds as the elected primary (`controller` when it runs the `primary-controller` tasks). */
  primary_roles: string[];
  pending_addition: boolean;
  pending_deletion: boolean;
  online: boolean;
  /** The environment's id, or null. */
  cluster: number | null;
  ip: string;
  mac: string;
  hostname: string;
  fqdn: string;
  os_platform: string;
  platform_name: string;
  kernel_params: null;
  manufacturer: string;
  group_id: null;
  labels: Record<string, string | null>;
  meta: { system: { ssm_instance_id: string } };
}

/** A task, Nailgun's transaction (`GET /tasks/{id}/`, `GET /transactions/{id}/`). */
export interface TaskJson {
  id: number;
  /** Also the name of the Step Functions execution of a deployment. */
  uuid: string;
  name: TaskName;
  status: TaskStatus;
  /** At most 99 while pending or running. */
  progress: number;
  message: string | null;
  cluster: number;
  /** Free-form: a run's outcome once it ended, a stop's `deploy_task_id`, `requested_by` and `reason`. */
  result: Record<string, unknown>;
  /** The `deploy` task of a `provision` or `deployment` child. */
  parent_id: number | null;
  time_start: string | null;
  time_end: string | null;
  graph_type: string;
  dry_run: boolean;
  /** The Step Functions execution of a deployment (and of its stop), or null. */
  execution_arn: string | null;
  /** The AWS console page of that execution, or null. */
  execution_url: string | null;
}

/** One graph task (or provisioning) on one node within one deployment (`GET /transactions/{id}/deployment_history/`). */
export interface HistoryJson {
  task_name: string;
  /** The same as `task_name` (python-fuelclient reads this one). */
  deployment_graph_task_name: string;
  /** The node's id as text; `master` for the master node, null for the sync node (stages). */
  node_id: string | null;
  status: HistoryStatus;
  time_start: string | null;
  time_end: string | null;
  /** Free-form: the command's outcome, `reason` and `skip_reason` of a skipped row, `error_type` of a failed one. */
  custom: Record<string, unknown>;
  /** The task's type (`puppet`, `shell`, `stage`...), or `provision`. */
  type: 'provision' | TaskType;
}

/** A task of a deployment graph in the upload format (`GET|PUT /clusters/{id}/deployment_tasks/`). */
export type GraphTaskJson = GraphTask;

/** Every 4xx and 5xx reply: what is wrong, and which field says so. */
export interface ErrorJson {
  message: string;
  errors: { field: string; message: string }[];
}

/** One entry of the plan in a restart preview: a task on one node, its layer, and what becomes of it. */
export interface PreviewTaskJson {
  task_name: string;
  /** The engine layer (the Step Functions Map iteration, from 0) it runs, or is decided, in. */
  layer: number;
  action: 'run' | 'skip';
  /** Why, in the operator's words: `node was stopped`, `input changed since its last run`, `new task`... */
  reason: string;
  /** What the history will record as `custom.skip_reason` for a skipped entry; null when it runs. */
  skip_reason: 'unchanged' | 'condition' | 'noop' | null;
}

/** One node in a restart preview; the master (`master`) and the sync node (null, stages) too. */
export interface PreviewNodeJson {
  /** As in the deployment history: the node's id as text, `master`, or null for the sync node. */
  node_id: string | null;
  name: string;
  /** Whether "Deploy changes" provisions it first. */
  provision: boolean;
  provision_reason: string | null;
  tasks: PreviewTaskJson[];
}

/** What "Deploy changes" would run now, and why (`GET /clusters/{id}/changes/preview/?resume=`). */
export interface DeploymentPreviewJson {
  cluster: number;
  resume: boolean;
  nodes: PreviewNodeJson[];
  /** Layers of the whole plan (entries hold their index, 0 to layers - 1). */
  layers: number;
  /** Over the entries listed: how many run and how many are skipped, and the nodes provisioned. */
  summary: { run: number; skip: number; provision: number };
}

/** A graph of a type (`GET /clusters/{id}/deployment_graphs/{type}/`), Nailgun 9.0's shape. */
export interface GraphJson {
  /** null: the release's built-in graph (not stored), or a graph stored before graphs were numbered. */
  id: number | null;
  name: string | null;
  tasks: GraphTask[];
  relations: { model: 'cluster' | 'release'; model_id: number; type: string }[];
}

/** The release (`GET /releases/{id}/`). */
export interface ReleaseJson {
  id: number;
  name: string;
  version: string;
  operating_system: string;
  description: string;
  state: string;
  is_deployable: boolean;
  modes: string[];
  roles: string[];
}

/** A role of a release or of an environment (`GET /releases/{id}/roles/`). */
export interface RoleJson {
  name: string;
  meta: {
    name: string;
    description: string;
    group: string;
    conflicts: string[];
    has_primary: boolean;
  };
  volumes_roles_mapping: unknown[];
}
