/**
 * Deploying again: unchanged work on ready nodes is skipped, changed tasks run, `redeploy` runs everything,
 * `?resume=1` skips work already done on stopped nodes, and `reset` starts from scratch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { Api, freeNodes, openTarget, shell, type Target, waitForTask } from '../helpers/target.js';

let target: Target;
let api: Api;
let clusterId: number;
let nodes: NodeJson[];

const graph = [
  shell('a', '*', 'echo a'),
  shell('b', '*', 'echo b', ['a']),
  shell('slow', ['controller'], 'sleep 1.2', ['b']),
  shell('c', ['controller'], 'echo c', ['slow']),
];

beforeAll(async () => {
  target = await openTarget(6);
  api = new Api(target);
  const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', {
    name: `restart-${Date.now()}`,
  });
  clusterId = cluster.id;
  nodes = await freeNodes(api, 2);
  await api.ok('POST', `/api/v1/clusters/${clusterId}/assignment/`, [
    { id: nodes[0]?.id, roles: ['controller'] },
    { id: nodes[1]?.id, roles: ['compute'] },
  ]);
  await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, graph);
});

afterAll(async () => {
  await target?.close();
});

async function deploy(path = 'changes/'): Promise<{ task: TaskJson; rows: HistoryJson[] }> {
  const started = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/${path}`, {});
  const task = await waitForTask(api, started.id);
  const rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${task.id}/deployment_history/`);
  return { task, rows };
}

const statusOf = (rows: HistoryJson[], task: string, node: number | undefined) =>
  rows.find((r) => r.task_name === task && r.node_id === String(node));

async function clusterStatus(): Promise<string> {
  return (await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`)).status;
}

describe('deploying again', () => {
  it('first deployment runs everything', async () => {
    const { task, rows } = await deploy();
    expect(task.status).toBe('ready');
    expect(rows.filter((r) => r.task_name !== 'provision').every((r) => r.status === 'ready')).toBe(true);
    expect(await clusterStatus()).toBe('operational');
  });

  it('skips, on ready nodes, every task whose inputs did not change', async () => {
    const sentBefore = target.runtime?.fleet.commandLog().length ?? 0;
    const { task, rows } = await deploy();
    expect(task.status).toBe('ready');
    expect(rows.some((r) => r.task_name === 'provision')).toBe(false);
    for (const row of rows) {
      expect(row.status).toBe('skipped');
      expect(row.custom.skip_reason).toBe('unchanged');
    }
    if (target.runtime) expect(target.runtime.fleet.commandLog()).toHaveLength(sentBefore);
    expect(await clusterStatus()).toBe('operational');
  });

  it('runs a changed task again, and only that', async () => {
    const changed = graph.map((t) =>
      t.id === 'b' ? { ...t, parameters: { cmd: 'echo b2', timeout: 60 } } : t,
    );
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, changed);
    const { rows } = await deploy();
    for (const node of nodes) {
      expect(statusOf(rows, 'b', node.id)?.status).toBe('ready');
      expect(statusOf(rows, 'a', node.id)?.status).toBe('skipped');
    }
    expect(statusOf(rows, 'c', nodes[0]?.id)?.status).toBe('skipped');
  });

  it('runs everything with changes/redeploy', async () => {
    const { rows } = await deploy('changes/redeploy/');
    expect(rows.every((r) => r.status === 'ready')).toBe(true);
    expect(rows).toHaveLength(2 + 2 + 2);
  });

  it('with ?resume=1 after a stop, skips on the stopped node the work already done there', async () => {
    // `a`, `slow` and `c` changed: they run again; the stop comes while `slow` runs on the controller
    const changed = graph.map((t) =>
      t.id === 'a' || t.id === 'slow' || t.id === 'c'
        ? { ...t, parameters: { cmd: `${t.parameters.cmd}; echo changed`, timeout: 60 } }
        : t,
    );
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, changed);
    const started = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    for (let i = 0; i < 200; i++) {
      const rows = await api.ok<HistoryJson[]>(
        'GET',
        `/api/v1/transactions/${started.id}/deployment_history/`,
      );
      if (statusOf(rows, 'slow', nodes[0]?.id)?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const stop = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/stop_deployment/`);
    expect((await waitForTask(api, stop.id)).status).toBe('ready');
    expect(await clusterStatus()).toBe('stopped');
    const controller = (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`)).find(
      (n) => n.id === nodes[0]?.id,
    );
    expect(controller?.status).toBe('stopped');

    const { rows } = await deploy('changes/?resume=1');
    // a, b and slow were done on the controller with these inputs: resumed, only the changed c runs there
    expect(statusOf(rows, 'b', nodes[0]?.id)?.custom.skip_reason).toBe('unchanged');
    expect(statusOf(rows, 'b', nodes[0]?.id)?.custom.skip_reason).toBe('unchanged');
    expect(statusOf(rows, 'a', nodes[0]?.id)?.custom.skip_reason).toBe('unchanged');
    expect(statusOf(rows, 'slow', nodes[0]?.id)?.custom.skip_reason).toBe('unchanged');
    expect(statusOf(rows, 'c', nodes[0]?.id)?.status).toBe('ready');
    expect(await clusterStatus()).toBe('operational');
  });

  it('starts from scratch after reset', async () => {
    const reset = await api.call<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/reset/`, {});
    expect(reset.status).toBe(202);
    expect(reset.body.name).toBe('reset_environment');
    expect(await clusterStatus()).toBe('new');
    const members = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    for (const node of members) expect(node.status).toBe('discover');
    const { task, rows } = await deploy();
    expect(task.status).toBe('ready');
    expect(rows.filter((r) => r.task_name === 'provision')).toHaveLength(2);
    expect(rows.every((r) => r.status === 'ready')).toBe(true);
    expect(await clusterStatus()).toBe('operational');
  });
});
