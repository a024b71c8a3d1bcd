/**
 * A command sent to a node that cannot be reached yet is cancelled by the stop's follow-up, which runs after
 * the 202 and says on the stop task what it cancelled: when the node comes back it receives nothing, and
 * the row says the task never started. No command is sent after the 202.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { Api, waitForTask } from '../helpers/target.js';

let runtime: Runtime;
let api: Api;

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 6, demo: false, authToken: 'undelivered' });
  api = new Api(runtime);
});

afterAll(async () => {
  await runtime?.stop();
});

const history = (id: number) =>
  api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${id}/deployment_history/`);

/** What the stop's follow-up did, once it has run (the stop task's `result.follow_up`). */
async function followUpOf(stopTaskId: number): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const task = await api.ok<TaskJson>('GET', `/api/v1/tasks/${stopTaskId}/`);
    const followUp = (task.result as Record<string, unknown>).follow_up;
    if (followUp) return followUp as Record<string, unknown>;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the follow-up of stop task ${stopTaskId} never ran`);
}

describe('a stop with a command waiting for an unreachable node', () => {
  it('cancels the undelivered command: nothing reaches the node after the 202', async () => {
    const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: 'undelivered' });
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: 1, roles: ['controller'] },
      { id: 2, roles: ['compute'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      { id: 'base', type: 'shell', roles: ['compute'], parameters: { cmd: 'true', timeout: 60 } },
      { id: 'slow', type: 'shell', roles: ['controller'], parameters: { cmd: 'sleep 1.5', timeout: 60 } },
      {
        id: 'late',
        type: 'shell',
        roles: ['compute'],
        requires: ['base'],
        parameters: { cmd: 'echo late', timeout: 60 },
      },
      {
        id: 'last',
        type: 'shell',
        roles: ['compute'],
        requires: ['late'],
        parameters: { cmd: 'true', timeout: 60 },
      },
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    // the compute finishes `base`, then becomes unreachable while the controller's `slow` holds the layer
    for (let i = 0; i < 200; i++) {
      const rows = await history(deploy.id);
      if (rows.find((r) => r.task_name === 'base')?.status === 'ready') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await api.ok('POST', '/_local/nodes/2/offline');
    for (let i = 0; i < 200; i++) {
      const rows = await history(deploy.id);
      if (rows.find((r) => r.task_name === 'late')?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const stop = await api.call<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/stop_deployment/`);
    const ackAt = Date.now();
    expect(stop.status).toBe(202);
    const followUp = await followUpOf(stop.body.id);
    expect(followUp).toMatchObject({ undelivered_cancelled: 1, running_cancelled: 0 });
    await api.ok('POST', '/_local/nodes/2/online');

    expect((await waitForTask(api, stop.body.id, 30_000)).status).toBe('ready');
    await runtime.fleet.idle();
    expect(runtime.fleet.commandLog().filter((c) => Date.parse(c.sentAt) > ackAt)).toEqual([]);
    const late = runtime.fleet.commandLog().filter((c) => Date.parse(c.receivedAt) > ackAt);
    expect(late).toEqual([]);
    expect(runtime.fleet.commandLog().some((c) => c.parameters.command?.[0] === 'echo late')).toBe(false);

    const rows = await history(deploy.id);
    const lateRow = rows.find((r) => r.task_name === 'late');
    expect(lateRow?.status).toBe('skipped');
    expect(String(lateRow?.custom.reason)).toMatch(/before the command reached the node/);
    expect(rows.find((r) => r.task_name === 'slow')?.status).toBe('ready');
    const nodes = new Map(
      (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${cluster.id}`)).map((n) => [n.id, n]),
    );
    expect(nodes.get(1)?.status).toBe('ready');
    expect(nodes.get(2)?.status).toBe('stopped');
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`)).status).toBe('stopped');
  });
});

describe('a forced stop during provisioning', () => {
  it('leaves the node to be provisioned again by the next deployment', async () => {
    const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', {
      name: 'forced-provisioning',
    });
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [{ id: 3, roles: ['controller'] }]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      { id: 'only', type: 'shell', roles: '*', parameters: { cmd: 'true', timeout: 60 } },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/attributes/`, {
      editable: { provision: { cmd: { value: 'sleep 30' } } },
    });
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    for (let i = 0; i < 200; i++) {
      if ((await history(deploy.id)).find((r) => r.task_name === 'provision')?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const stop = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/stop_deployment/?force=1`);
    const ended = await waitForTask(api, stop.id, 30_000);
    expect(ended.status).toBe('error');
    expect(ended.message).toMatch(/by force/);
    const [node] = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${cluster.id}`);
    expect(node).toMatchObject({ status: 'error', error_type: 'provision' });

    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/attributes/`, {
      editable: { provision: { cmd: { value: 'true' } } },
    });
    const again = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    expect((await waitForTask(api, again.id)).status).toBe('ready');
    const rows = await history(again.id);
    expect(rows.find((r) => r.task_name === 'provision')?.status).toBe('ready');
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`)).status).toBe('operational');
  });
});

describe('a fault-tolerance stop', () => {
  it('can be escalated with ?force=1, which answers with the deploy task it stops', async () => {
    const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: 'tolerance-force' });
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: 5, roles: ['controller'] },
      { id: 6, roles: ['compute'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      {
        id: 'fails',
        type: 'shell',
        roles: ['controller'],
        parameters: { cmd: 'sleep 0.3; exit 1', timeout: 60 },
      },
      { id: 'long', type: 'shell', roles: ['compute'], parameters: { cmd: 'sleep 30', timeout: 60 } },
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    for (let i = 0; i < 200; i++) {
      if ((await history(deploy.id)).find((r) => r.task_name === 'fails')?.status === 'error') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const plain = await api.call<{ message: string }>(
      'PUT',
      `/api/v1/clusters/${cluster.id}/stop_deployment/`,
    );
    expect(plain.status).toBe(409);
    expect(plain.body.message).toBe('Stopping deployment task is already launched');

    const forced = await api.call<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/stop_deployment/?force=1`);
    expect(forced.status).toBe(202);
    expect(forced.body).toMatchObject({ id: deploy.id, name: 'deploy' });
    const ended = await waitForTask(api, deploy.id, 30_000);
    expect(ended.status).toBe('error');
    expect(ended.message).toMatch(/fault-tolerance|critical/);
    const nodes = new Map(
      (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${cluster.id}`)).map((n) => [n.id, n]),
    );
    expect(nodes.get(5)).toMatchObject({ status: 'error', error_type: 'deploy' });
    expect(nodes.get(6)).toMatchObject({ status: 'error', error_type: 'stop_deployment' });
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`)).status).toBe('error');
  });
});
