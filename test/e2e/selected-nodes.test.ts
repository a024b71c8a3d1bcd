/**
 * Provisioning and deploying selected nodes (`provision/?nodes=`, `deploy/?nodes=`), and deleting tasks
 * (`DELETE tasks/{id}/`, `?force=1` for a running one), over HTTP.
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
  target = await openTarget(10);
  api = new Api(target);
});

afterAll(async () => {
  await target?.close();
});

const graph = [shell('base', '*', 'sleep 0.1'), shell('app', '*', 'sleep 0.1', ['base'])];

async function environment(prefix: string, count: number, tasks: unknown[] = graph) {
  const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: `${prefix}-${Date.now()}` });
  const nodes = await freeNodes(api, count);
  await api.ok(
    'POST',
    `/api/v1/clusters/${cluster.id}/assignment/`,
    nodes.map((n) => ({ id: n.id, roles: ['compute'] })),
  );
  await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, tasks);
  return { id: cluster.id, name: cluster.name, nodes: nodes.map((n) => n.id) };
}

async function nodeStatus(id: number): Promise<string> {
  return (await api.ok<NodeJson>('GET', `/api/v1/nodes/${id}/`)).status;
}

async function clusterOf(id: number): Promise<ClusterJson> {
  return api.ok<ClusterJson>('GET', `/api/v1/clusters/${id}/`);
}

async function waitUnlocked(id: number, timeoutMs = 60_000): Promise<ClusterJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const cluster = await clusterOf(id);
    if (!cluster.is_locked) return cluster;
    if (Date.now() > deadline) throw new Error(`cluster ${id} still locked (${cluster.status})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('provision and deploy selected nodes', () => {
  let env: { id: number; name: string; nodes: number[] };

  it('provision/?nodes= provisions only those nodes, in a top-level provision task', async () => {
    env = await environment('selected', 3);
    const [a, b, c] = env.nodes as [number, number, number];
    const res = await api.call<TaskJson & { parent_id: number | null; cluster: number }>(
      'PUT',
      `/api/v1/clusters/${env.id}/provision/?nodes=${a},${b}`,
    );
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      name: 'provision',
      parent_id: null,
      cluster: env.id,
      status: 'running',
    });
    expect(res.body.execution_arn).toMatch(/^arn:aws:states:/);

    const done = await waitForTask(api, res.body.id);
    expect(done.status).toBe('ready');
    expect(done.message).toMatch(/^Provisioning of environment '.*' is done\.$/);
    expect([await nodeStatus(a), await nodeStatus(b), await nodeStatus(c)]).toEqual([
      'provisioned',
      'provisioned',
      'discover',
    ]);
    const cluster = await clusterOf(env.id);
    expect(cluster.status).toBe('partially_deployed');
    expect(cluster.is_locked).toBe(false);

    const rows = await api.ok<HistoryJson[]>(
      'GET',
      `/api/v1/transactions/${res.body.id}/deployment_history/`,
    );
    expect(rows.map((r) => `${r.task_name}@${r.node_id}:${r.status}`).sort()).toEqual(
      [`provision@${a}:ready`, `provision@${b}:ready`].sort(),
    );
  });

  it('deploy/?nodes= runs the graph on those nodes only, in a top-level deployment task', async () => {
    const [a, , c] = env.nodes as [number, number, number];
    const res = await api.call<TaskJson & { parent_id: number | null }>(
      'PUT',
      `/api/v1/clusters/${env.id}/deploy/?nodes=${a}`,
    );
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ name: 'deployment', parent_id: null });
    expect((await waitForTask(api, res.body.id)).status).toBe('ready');

    const rows = await api.ok<HistoryJson[]>(
      'GET',
      `/api/v1/transactions/${res.body.id}/deployment_history/`,
    );
    expect(rows.map((r) => `${r.task_name}@${r.node_id}:${r.status}`).sort()).toEqual([
      `app@${a}:ready`,
      `base@${a}:ready`,
    ]);
    expect(await nodeStatus(a)).toBe('ready');
    expect(await nodeStatus(c)).toBe('discover');
    expect((await clusterOf(env.id)).status).toBe('partially_deployed');
  });

  it('refuses nodes in the wrong state or outside the environment with 400, changing nothing', async () => {
    const [a, b, c] = env.nodes as [number, number, number];
    const other = (await freeNodes(api, 1))[0]?.id ?? 0;
    const cases: [string, RegExp][] = [
      [`provision/?nodes=${a}`, new RegExp(`node ${a} is already provisioned`)],
      [`deploy/?nodes=${c}`, new RegExp(`node ${c} is not provisioned`)],
      [`deploy/?nodes=${b},${other}`, new RegExp(`node ${other} is not in environment ${env.id}`)],
      ['deploy/', /nodes/],
      ['provision/?nodes=abc', /nodes.*must be a number/],
      ['provision/?nodes=0', /nodes.*must be positive/],
      [`provision/?nodes=${c}&dry_run=1`, /dry_run.*not supported/],
      // (a graph of another type runs on deploy/: test/integration/graph-execute.test.ts)
      [`provision/?nodes=${c}&graph_type=custom`, /graph_type.*provisioning runs no graph/],
    ];
    for (const [path, message] of cases) {
      const res = await api.call<{ message: string }>('PUT', `/api/v1/clusters/${env.id}/${path}`);
      expect(res.status, path).toBe(400);
      expect(res.body.message, path).toMatch(message);
    }
    expect((await clusterOf(env.id)).status).toBe('partially_deployed');
    expect(await nodeStatus(b)).toBe('provisioned');
  });

  it('"Deploy changes" then provisions the rest and deploys everything; the cluster is operational', async () => {
    const [a, b, c] = env.nodes as [number, number, number];
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${env.id}/changes/`, {});
    expect((await waitForTask(api, deploy.id)).status).toBe('ready');
    const rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${deploy.id}/deployment_history/`);
    // only the node never provisioned is provisioned; the deployed node's unchanged tasks are skipped
    expect(rows.filter((r) => r.task_name === 'provision').map((r) => r.node_id)).toEqual([String(c)]);
    expect(rows.filter((r) => r.node_id === String(a)).every((r) => r.status === 'skipped')).toBe(true);
    expect(rows.filter((r) => r.node_id === String(b)).every((r) => r.status === 'ready')).toBe(true);
    expect((await clusterOf(env.id)).status).toBe('operational');
  });

  it('a provisioning of selected nodes stops gracefully: cluster stopped, nodes truthful', async () => {
    const stopEnv = await environment('selected-stop', 2);
    await api.ok('PUT', `/api/v1/clusters/${stopEnv.id}/attributes/`, {
      editable: { provision: { cmd: { value: 'sleep 2' } } },
    });
    const [a, b] = stopEnv.nodes as [number, number];
    const run = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${stopEnv.id}/provision/?nodes=${a}`);
    await waitForRow(api, run.id, 'provision', 'running');
    const stop = await api.call<TaskJson>('PUT', `/api/v1/clusters/${stopEnv.id}/stop_deployment/`);
    expect(stop.status).toBe(202);
    expect((await waitForTask(api, stop.body.id)).status).toBe('ready');
    expect((await waitForTask(api, run.id)).status).toBe('ready');
    expect((await clusterOf(stopEnv.id)).status).toBe('stopped');
    expect(await nodeStatus(b)).toBe('discover');
    // the running provisioning finished: the node keeps its OS
    expect(await nodeStatus(a)).toBe('provisioned');
  });
});

describe('DELETE tasks/{id}/', () => {
  it('deletes a finished task: 204, then 404 and gone from the lists', async () => {
    const env = await environment('del-done', 1);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${env.id}/changes/`, {});
    await waitForTask(api, deploy.id);
    const children = (
      await api.ok<(TaskJson & { parent_id: number | null })[]>('GET', `/api/v1/tasks/?cluster_id=${env.id}`)
    ).filter((t) => t.parent_id === deploy.id);
    expect(children.map((t) => t.name).sort()).toEqual(['deployment', 'provision']);

    const res = await api.call('DELETE', `/api/v1/tasks/${deploy.id}/`);
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expect((await api.call('GET', `/api/v1/tasks/${deploy.id}/`)).status).toBe(404);
    expect((await api.call('GET', `/api/v1/transactions/${deploy.id}/deployment_history/`)).status).toBe(404);
    const left = await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${env.id}`);
    expect(left.map((t) => t.id)).not.toContain(deploy.id);
    for (const child of children) expect(left.map((t) => t.id)).not.toContain(child.id);
    expect((await api.call('DELETE', `/api/v1/tasks/${deploy.id}/`)).status).toBe(404);
    expect((await clusterOf(env.id)).status).toBe('operational');
  });

  it('a running task: 409 without force; with ?force=1 the deployment is force-stopped and the task hidden', async () => {
    const env = await environment('del-running', 1, [shell('long', '*', 'sleep 30')]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${env.id}/changes/`, {});
    await waitForRow(api, deploy.id, 'long', 'running');
    const refused = await api.call<{ message: string }>('DELETE', `/api/v1/tasks/${deploy.id}/`);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/is running.*force=1/);
    expect((await api.call('GET', `/api/v1/tasks/${deploy.id}/`)).status).toBe(200);

    const started = Date.now();
    const res = await api.call('DELETE', `/api/v1/tasks/${deploy.id}/?force=1`);
    expect(res.status).toBe(204);
    expect((await api.call('GET', `/api/v1/tasks/${deploy.id}/`)).status).toBe(404);
    const cluster = await waitUnlocked(env.id);
    // the 30 s command was cancelled, not waited for
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(cluster.status).toBe('error');
    const [nodeId] = env.nodes as [number];
    const node = await api.ok<NodeJson>('GET', `/api/v1/nodes/${nodeId}/`);
    expect(node).toMatchObject({ status: 'error', error_type: 'stop_deployment' });
    // the stop it caused is visible and ended; the environment deploys again
    const tasks = await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${env.id}`);
    const stop = tasks.find((t) => t.name === 'stop_deployment');
    expect(stop?.status).toBe('error');
    await api.ok('PUT', `/api/v1/clusters/${env.id}/deployment_tasks/`, [shell('long', '*', 'true')]);
    const again = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${env.id}/changes/`, {});
    expect((await waitForTask(api, again.id)).status).toBe('ready');
    expect((await clusterOf(env.id)).status).toBe('operational');
  });

  it('a forced delete during provisioning counts the cancelled provisioning; the node is provisioned again next time', async () => {
    const env = await environment('del-provision', 1);
    await api.ok('PUT', `/api/v1/clusters/${env.id}/attributes/`, {
      editable: { provision: { cmd: { value: 'sleep 30' } } },
    });
    const [nodeId] = env.nodes as [number];
    const run = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${env.id}/provision/?nodes=${nodeId}`);
    await waitForRow(api, run.id, 'provision', 'running');
    // fuel2 deletes through transactions/
    expect((await api.call('DELETE', `/api/v1/transactions/${run.id}/?force=1`)).status).toBe(204);
    expect((await waitUnlocked(env.id)).status).toBe('error');
    const tasks = await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${env.id}`);
    expect(tasks.map((t) => t.name)).toEqual(['stop_deployment']);
    expect(tasks[0]?.message).toBe(
      `Provisioning of environment '${env.name}' was stopped by force: 1 running task was cancelled.`,
    );
    expect(await api.ok<NodeJson>('GET', `/api/v1/nodes/${nodeId}/`)).toMatchObject({
      status: 'error',
      error_type: 'provision',
    });
    await api.ok('PUT', `/api/v1/clusters/${env.id}/attributes/`, {
      editable: { provision: { cmd: { value: 'true' } } },
    });
    const again = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${env.id}/provision/?nodes=${nodeId}`);
    expect((await waitForTask(api, again.id)).status).toBe('ready');
    expect(await nodeStatus(nodeId)).toBe('provisioned');
  });

  it('deploy/?nodes= takes force=1 (runs every task again) and refuses noop_run=1', async () => {
    const env = await environment('deploy-force', 1);
    const [nodeId] = env.nodes as [number];
    const first = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${env.id}/changes/`, {});
    await waitForTask(api, first.id);
    const refused = await api.call<{ message: string }>(
      'PUT',
      `/api/v1/clusters/${env.id}/deploy/?nodes=${nodeId}&noop_run=1`,
    );
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/noop_run.*not supported/);
    const plain = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${env.id}/deploy/?nodes=${nodeId}&force=0`);
    await waitForTask(api, plain.id);
    const skipped = await api.ok<HistoryJson[]>(
      'GET',
      `/api/v1/transactions/${plain.id}/deployment_history/`,
    );
    expect(skipped.map((r) => r.status)).toEqual(['skipped', 'skipped']);
    const forced = await api.ok<TaskJson>(
      'PUT',
      `/api/v1/clusters/${env.id}/deploy/?nodes=${nodeId}&force=1&noop_run=0`,
    );
    await waitForTask(api, forced.id);
    const ran = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${forced.id}/deployment_history/`);
    expect(ran.map((r) => r.status)).toEqual(['ready', 'ready']);
  });

  it('unknown and malformed ids: 404 and 400', async () => {
    expect((await api.call('DELETE', '/api/v1/tasks/999999/')).status).toBe(404);
    expect((await api.call('DELETE', '/api/v1/tasks/abc/')).status).toBe(400);
    expect((await api.call('DELETE', '/api/v1/tasks/1/?force=maybe')).status).toBe(400);
  });
});
