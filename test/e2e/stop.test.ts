/**
 * Stop a running deployment over HTTP, check the truthful statuses, change the graph, deploy again.
 * Against the embedded runtime the fleet's command log proves nothing was sent after the stop's 202.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import {
  Api,
  freeNodes,
  openTarget,
  shell,
  type Target,
  waitForRow,
  waitForTask,
} from '../helpers/target.js';

let target: Target;
let api: Api;

beforeAll(async () => {
  target = await openTarget(6);
  api = new Api(target);
});

afterAll(async () => {
  await target?.close();
});

/** computes finish early; the controller has a chain of tasks left when the stop comes */
const graph = [
  shell('base', '*', 'sleep 0.2'),
  shell('controller-1', ['controller'], 'sleep 1.5', ['base']),
  shell('controller-2', ['controller'], 'sleep 0.3', ['controller-1']),
  shell('controller-3', ['controller'], 'sleep 0.3', ['controller-2']),
  shell('compute-1', ['compute'], 'sleep 0.2', ['base']),
];

async function rowsOf(taskId: number): Promise<HistoryJson[]> {
  return api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${taskId}/deployment_history/`);
}

describe('stop a deployment, change the graph, deploy again', () => {
  let clusterId: number;
  let nodes: NodeJson[];
  let deploy: TaskJson;
  let stop: TaskJson;
  let acknowledgedAt: number;

  it('answers 400 when nothing runs', async () => {
    const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: `stop-${Date.now()}` });
    clusterId = cluster.id;
    const res = await api.call<{ message: string }>('PUT', `/api/v1/clusters/${clusterId}/stop_deployment/`);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe(
      `Nothing to stop - deployment is not running on environment '${clusterId}'`,
    );
  });

  it('stops in the middle: running tasks finish, nothing new starts', async () => {
    nodes = await freeNodes(api, 3);
    await api.ok(
      'POST',
      `/api/v1/clusters/${clusterId}/assignment/`,
      nodes.map((n, i) => ({ id: n.id, roles: [i === 0 ? 'controller' : 'compute'] })),
    );
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, graph);
    deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    await waitForRow(api, deploy.id, 'controller-1', 'running');

    const res = await api.call<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/stop_deployment/`, {
      message: 'maintenance window closed',
    });
    acknowledgedAt = Date.now();
    expect(res.status).toBe(202);
    stop = res.body;
    expect(stop.name).toBe('stop_deployment');
    expect(stop.status).toBe('running');

    const again = await api.call<{ message: string }>(
      'PUT',
      `/api/v1/clusters/${clusterId}/stop_deployment/`,
    );
    expect(again.status).toBe(409);
    expect(again.body.message).toBe('Stopping deployment task is already launched');

    const refused = await api.call<{ message: string }>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/is being stopped/);

    const ended = await waitForTask(api, stop.id, 60_000);
    expect(ended.status).toBe('ready');
    expect(ended.progress).toBe(100);
    const cluster = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`);
    expect(ended.message).toBe(`Deployment of environment '${cluster.name}' was successfully stopped.`);
    expect(cluster.status).toBe('stopped');
    expect(cluster.is_locked).toBe(false);
    // the deployment did not finish: it must not read `ready` (Fuel's clients would report it finished)
    const stopped = await api.ok<TaskJson>('GET', `/api/v1/tasks/${deploy.id}/`);
    expect(stopped.status).toBe('error');
    expect(stopped.progress).toBeLessThan(100);
    expect(stopped.message).toMatch(/was stopped: \d+ of \d+ tasks done/);
  });

  it('leaves truthful statuses: finished nodes ready, the controller stopped, nothing running', async () => {
    const members = new Map(
      (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`)).map((n) => [n.id, n]),
    );
    expect(members.get(nodes[0]?.id ?? 0)?.status).toBe('stopped');
    expect(members.get(nodes[1]?.id ?? 0)?.status).toBe('ready');
    expect(members.get(nodes[2]?.id ?? 0)?.status).toBe('ready');

    const rows = await rowsOf(deploy.id);
    expect(rows.filter((r) => r.status === 'running' || r.status === 'pending')).toEqual([]);
    const byTask = (task: string) => rows.find((r) => r.task_name === task);
    expect(byTask('controller-1')?.status).toBe('ready');
    for (const task of ['controller-2', 'controller-3']) {
      expect(byTask(task)?.status).toBe('skipped');
      expect(String(byTask(task)?.custom.reason)).toMatch(/stopped/);
    }
    if (target.runtime) {
      const log = target.runtime.fleet.commandLog();
      const late = log.filter((c) => Date.parse(c.receivedAt) > acknowledgedAt);
      expect(late).toEqual([]);
      expect(log.some((c) => c.parameters.command?.[0] === 'sleep 0.3')).toBe(false);
    }
  });

  it('deploys again after the graph changed, without provisioning again, to operational', async () => {
    const changed = graph.map((t) =>
      t.id === 'controller-3' ? { ...t, parameters: { cmd: 'sleep 0.1', timeout: 60 } } : t,
    );
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, changed);
    const again = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    const ended = await waitForTask(api, again.id);
    expect(ended.status).toBe('ready');
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`)).status).toBe('operational');
    const members = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    for (const node of members) expect(node.status).toBe('ready');
    const rows = await rowsOf(again.id);
    expect(rows.some((r) => r.task_name === 'provision')).toBe(false);
    const controller = String(nodes[0]?.id);
    for (const task of ['base', 'controller-1', 'controller-2', 'controller-3']) {
      expect(rows.find((r) => r.task_name === task && r.node_id === controller)?.status).toBe('ready');
    }
  });
});

describe('fault tolerance exceeded', () => {
  it('stops the deployment gracefully: running work finishes, nothing new starts, the cluster ends in error', async () => {
    const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', {
      name: `tolerance-${Date.now()}`,
    });
    const nodes = await freeNodes(api, 3);
    const [controller, compute1, compute2] = nodes.map((n) => n.id);
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: controller, roles: ['controller'] },
      { id: compute1, roles: ['compute'] },
      { id: compute2, roles: ['compute'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      // computes tolerate no failure (the controller is critical by its role)
      { id: 'computes', type: 'group', roles: ['compute'], fault_tolerance: 0 },
      // fails on the second compute only (simulated nodes have FUEL_NODE_NAME; real ones their hostname)
      shell(
        'compute-setup',
        ['compute'],
        `[ "\${FUEL_NODE_NAME:-$(hostname)}" = "${nodes[2]?.hostname}" ] && exit 4; sleep 0.2`,
      ),
      shell('controller-slow', ['controller'], 'sleep 1'),
      shell('controller-next', ['controller'], 'true', ['controller-slow']),
      shell('compute-next', ['compute'], 'true', ['compute-setup']),
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    const ended = await waitForTask(api, deploy.id);
    expect(ended.status).toBe('error');
    expect(ended.message).toMatch(/1 of 2 nodes of group 'computes' failed; it tolerates 0/);
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`)).status).toBe('error');

    const rows = await rowsOf(deploy.id);
    const row = (task: string, node: number | undefined) =>
      rows.find((r) => r.task_name === task && r.node_id === String(node));
    expect(row('compute-setup', compute2)?.status).toBe('error');
    expect(row('compute-setup', compute1)?.status).toBe('ready');
    // the controller's running task finished; what came after never started
    expect(row('controller-slow', controller)?.status).toBe('ready');
    expect(row('controller-next', controller)?.status).toBe('skipped');
    expect(row('compute-next', compute1)?.status).toBe('skipped');
    // worded as the failure it is, not as an operator's stop
    expect(row('controller-next', controller)?.custom.reason).toBe('not started: the deployment failed');
    const members = new Map(
      (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${cluster.id}`)).map((n) => [n.id, n]),
    );
    expect(members.get(compute2 ?? 0)).toMatchObject({ status: 'error', error_type: 'deploy' });
    expect(members.get(compute1 ?? 0)?.status).toBe('stopped');
    expect(members.get(controller ?? 0)?.status).toBe('stopped');
  });
});
