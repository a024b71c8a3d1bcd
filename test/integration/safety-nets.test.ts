/**
 * Limits that protect a deployment before it starts, and the net under an execution that ends without
 * reaching "Finish deployment" (aborted from the console, failed, timed out): no task stays running.
 */
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { Api, waitForTask } from '../helpers/target.js';

let runtime: Runtime;
let api: Api;

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 4, demo: false, authToken: 'nets' });
  api = new Api(runtime);
});

afterAll(async () => {
  await runtime?.stop();
});

async function clusterWith(name: string, nodeIds: number[], graph: unknown[]): Promise<number> {
  const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name });
  await api.ok(
    'POST',
    `/api/v1/clusters/${cluster.id}/assignment/`,
    nodeIds.map((id) => ({ id, roles: ['controller'] })),
  );
  await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, graph);
  return cluster.id;
}

describe('limits checked before a deployment starts', () => {
  it('refuses a graph too large to keep with 413, storing nothing', async () => {
    const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: 'large-graph' });
    const before = await api.ok('GET', `/api/v1/clusters/${cluster.id}/deployment_tasks/`);
    const graph = Array.from({ length: 900 }, (_, i) => ({
      id: `task-${i}`,
      type: 'shell',
      roles: ['controller'],
      parameters: { cmd: `echo ${'x'.repeat(400)}`, timeout: 60 },
    }));
    const res = await api.call<{ message: string }>(
      'PUT',
      `/api/v1/clusters/${cluster.id}/deployment_tasks/`,
      graph,
    );
    expect(res.status).toBe(413);
    expect(res.body.message).toMatch(/too large to keep/);
    expect(await api.ok('GET', `/api/v1/clusters/${cluster.id}/deployment_tasks/`)).toEqual(before);
  });

  it('refuses a deployment that would need more layers than an execution can hold', async () => {
    const chain = Array.from({ length: 999 }, (_, i) => ({
      id: `step-${i}`,
      type: 'shell',
      roles: ['controller'],
      requires: i > 0 ? [`step-${i - 1}`] : [],
      parameters: { cmd: 'true', timeout: 60 },
    }));
    chain.push({
      id: 'serial',
      type: 'shell',
      roles: ['controller'],
      requires: ['step-998'],
      parameters: { cmd: 'true', timeout: 60 },
      strategy: { type: 'one_by_one' },
    } as (typeof chain)[number]);
    const clusterId = await clusterWith('too-many-layers', [1, 2, 3], chain);
    const res = await api.call<{ message: string }>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/1002 layers, at most 1000/);
    expect(await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${clusterId}`)).toEqual([]);
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`)).status).toBe('new');
    await api.ok('DELETE', `/api/v1/clusters/${clusterId}/`);
  });
});

describe('an execution aborted outside the service', () => {
  it('is settled: the task ends in error, no row stays running, the cluster is unlocked', async () => {
    const clusterId = await clusterWith(
      'aborted',
      [4],
      [
        { id: 'first', type: 'shell', roles: ['controller'], parameters: { cmd: 'sleep 0.3', timeout: 60 } },
        {
          id: 'slow',
          type: 'shell',
          roles: ['controller'],
          requires: ['first'],
          parameters: { cmd: 'sleep 30', timeout: 60 },
        },
        {
          id: 'never',
          type: 'shell',
          roles: ['controller'],
          requires: ['slow'],
          parameters: { cmd: 'true', timeout: 60 },
        },
      ],
    );
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    for (let i = 0; i < 200; i++) {
      const rows = await api.ok<HistoryJson[]>(
        'GET',
        `/api/v1/transactions/${deploy.id}/deployment_history/`,
      );
      if (rows.some((r) => r.task_name === 'slow' && r.status === 'running')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const sfn = new SFNClient({
      endpoint: runtime.endpoints.sfn,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await sfn.send(
      new StopExecutionCommand({
        executionArn: String(deploy.execution_arn),
        cause: 'stopped from the console',
      }),
    );

    const ended = await waitForTask(api, deploy.id, 30_000);
    expect(ended.status).toBe('error');
    expect(ended.message).toContain('stopped from the console');
    const rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${deploy.id}/deployment_history/`);
    expect(rows.filter((r) => r.status === 'running')).toEqual([]);
    expect(rows.find((r) => r.task_name === 'first')?.status).toBe('ready');
    expect(rows.find((r) => r.task_name === 'slow')?.status).toBe('error');
    expect(rows.find((r) => r.task_name === 'never')?.status).toBe('skipped');
    const cluster = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`);
    expect(cluster).toMatchObject({ status: 'error', is_locked: false });
    const [node] = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    expect(node?.status).toBe('error');
    // a late result of the aborted run changes nothing
    await runtime.fleet.idle();
    expect(
      (await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${deploy.id}/deployment_history/`)).find(
        (r) => r.task_name === 'slow',
      )?.status,
    ).toBe('error');
  });
});
