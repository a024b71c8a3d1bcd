/** Entities in the object shapes of Nailgun's API (reference/fuel.md), as python-fuelclient reads them. */
import type { Cluster, HistoryRow, Node, Task } from '../domain/model.js';
import { progressPercent } from '../domain/plan.js';
import { isClusterLocked } from '../domain/status.js';

export const FUEL_VERSION = '9.0';

export function clusterJson(c: Cluster) {
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

export function nodeJson(n: Node) {
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
    labels: {},
    meta: { system: { ssm_instance_id: n.instanceId } },
  };
}

export function taskJson(t: Task, consoleUrl?: (arn: string) => string) {
  const running = t.status === 'running' || t.status === 'pending';
  return {
    id: t.id,
    uuid: t.uuid,
    name: t.name,
    status: t.status,
    progress: running ? Math.min(99, t.total === 0 ? 0 : progressPercent(t.done, t.total)) : t.progress,
    message: t.message,
    cluster: t.clusterId,
    result: t.result,
    parent_id: t.parentId,
    time_start: t.timeStart,
    time_end: t.timeEnd,
    graph_type: t.graphType,
    dry_run: t.dryRun,
    execution_arn: t.executionArn,
    execution_url: t.executionArn && consoleUrl ? consoleUrl(t.executionArn) : null,
  };
}

export function historyJson(r: HistoryRow) {
  return {
    task_name: r.taskName,
    deployment_graph_task_name: r.taskName,
    node_id: String(r.nodeId),
    status: r.status,
    time_start: r.timeStart,
    time_end: r.timeEnd,
    custom: r.custom,
    type: r.stage === 'provision' ? 'provision' : 'shell',
  };
}
