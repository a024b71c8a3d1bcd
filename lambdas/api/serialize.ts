/** Entities in the object shapes of Nailgun's API (docs/api.md), as python-fuelclient reads them. */

import type { GraphView } from '../app/inventory/graphs.js';
import type { Release, Role } from '../app/inventory/releases.js';
import { RELEASE_ROLES } from '../domain/graph.js';
import { DEFAULT_GRAPH_TYPE } from '../domain/graph-types.js';
import type { HistoryRow } from '../domain/history.js';
import type { Cluster, Node } from '../domain/model.js';
import { progressPercent } from '../domain/plan.js';
import { isClusterLocked } from '../domain/status.js';
import { targetJson } from '../domain/targets.js';
import { graphTypeOf, type Task } from '../domain/task.js';
import type {
  ClusterJson,
  GraphJson,
  HistoryJson,
  NodeJson,
  ReleaseJson,
  RoleJson,
  TaskJson,
} from './wire.js';

export const FUEL_VERSION = '9.0';

export function clusterJson(c: Cluster): ClusterJson {
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    release_id: c.releaseId,
    is_locked: c.deploymentTaskId !== null || isClusterLocked(c.status),
    is_customized: c.isCustomized,
    changes: [],
    fuel_version: FUEL_VERSION,
    mode: 'ha_compact',
    net_provider: 'neutron',
    pending_release_id: null,
    ui_settings: {},
  };
}

export function nodeJson(n: Node): NodeJson {
  return {
    id: n.id,
    uid: String(n.id),
    name: n.name,
    status: n.status,
    error_type: n.errorType,
    error_msg: n.errorMsg,
    progress: n.progress,
    roles: n.roles,
    pending_roles: n.pendingRoles,
    primary_roles: n.primaryRoles,
    pending_addition: n.pendingAddition,
    pending_deletion: n.pendingDeletion,
    online: n.online,
    cluster: n.clusterId,
    ip: n.ip,
    mac: n.mac,
    hostname: n.hostname,
    fqdn: `${n.hostname}.domain.tld`,
    os_platform: n.osPlatform,
    platform_name: n.platformName,
    kernel_params: null,
    manufacturer: 'SSM',
    group_id: null,
    labels: n.labels ?? {},
    meta: { system: { ssm_instance_id: n.instanceId } },
  };
}

/** Nailgun's free-form `result` of a task: a run's outcome once it ended, a stop's who and why. */
function taskResult(t: Task): Record<string, unknown> {
  if (t.kind === 'stop') {
    const work = t.work;
    return {
      deploy_task_id: t.deployTaskId,
      requested_by: t.requestedBy,
      reason: t.reason,
      ...(work === null
        ? {}
        : {
            follow_up: {
              ended_at: work.at,
              sends_ended_at: work.sendsEndedAt,
              checked: work.checked,
              undelivered_cancelled: work.undeliveredCancelled,
              running_cancelled: work.runningCancelled,
            },
          }),
    };
  }
  if (t.kind !== 'run') return {};
  // a run being stopped (or stopped) says by whom, and whether the stop was forced, so that any client knows
  const stop =
    t.stop.phase === 'none'
      ? {}
      : {
          stop: {
            stop_task_id: t.stop.request.stopTaskId,
            requested_by: t.stop.request.by,
            requested_at: t.stop.request.at,
            forced_at: t.stop.phase === 'forced' ? t.stop.forced.at : null,
          },
        };
  if (t.outcome === null) return stop;
  return {
    ...stop,
    ...(t.outcome.clusterStatus !== null ? { cluster_status: t.outcome.clusterStatus } : {}),
    stop_task_status: t.outcome.stopTaskStatus,
    stop_message: t.outcome.stopMessage,
  };
}

export function taskJson(t: Task, consoleUrl?: (arn: string) => string): TaskJson {
  const running = t.status === 'running' || t.status === 'pending';
  const counted = t.kind === 'run' || t.kind === 'stage' ? t : null;
  return {
    id: t.id,
    uuid: t.uuid,
    name: t.name,
    status: t.status,
    progress: running
      ? Math.min(
          99,
          counted === null || counted.total === 0 ? 0 : progressPercent(counted.done, counted.total),
        )
      : t.progress,
    message: t.message,
    cluster: t.clusterId,
    result: taskResult(t),
    parent_id: t.parentId,
    time_start: t.timeStart,
    time_end: t.timeEnd,
    // a run's graph (`deploy/?graph_type=`); its stage tasks, stops and actions are the default graph's
    graph_type: t.kind === 'run' ? graphTypeOf(t.mode) : DEFAULT_GRAPH_TYPE,
    dry_run: false,
    execution_arn: t.executionArn,
    execution_url: t.executionArn && consoleUrl ? consoleUrl(t.executionArn) : null,
  };
}

/** Nailgun's free-form `custom` of a history row, from the row's typed outcome. */
function historyCustom(r: HistoryRow): Record<string, unknown> {
  const c = r.command;
  return {
    ...(c
      ? {
          exit_code: c.exitCode,
          ssm_status: c.ssmStatus,
          status_details: c.statusDetails,
          command_id: c.commandId,
          instance_id: c.instanceId,
          output_tail: c.outputTail,
          error_tail: c.errorTail,
        }
      : {}),
    ...(r.skipReason !== null ? { skip_reason: r.skipReason } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.errorType !== null ? { error_type: r.errorType } : {}),
    ...(r.cancelledByStop ? { cancelled_by_stop: true } : {}),
  };
}

/** Nailgun's history `node_id`: the node id as text, `master`, or null for the sync node. */
function nodeIdJson(target: number): string | null {
  const json = targetJson(target);
  return json === null ? null : String(json);
}

export function historyJson(r: HistoryRow): HistoryJson {
  return {
    task_name: r.taskName,
    deployment_graph_task_name: r.taskName,
    node_id: nodeIdJson(r.nodeId),
    status: r.status,
    time_start: r.timeStart,
    time_end: r.timeEnd,
    custom: historyCustom(r),
    type: r.stage === 'provision' ? 'provision' : r.taskType,
  };
}

export function graphJson(view: GraphView): GraphJson {
  const { graph, relations } = view;
  return { id: graph.id, name: graph.name, tasks: graph.tasks, relations };
}

export function releaseJson(r: Release): ReleaseJson {
  return { ...r, is_deployable: true, modes: ['ha_compact'], roles: [...RELEASE_ROLES] };
}

export function roleJson(r: Role): RoleJson {
  return { name: r.name, meta: r.meta, volumes_roles_mapping: [] };
}
