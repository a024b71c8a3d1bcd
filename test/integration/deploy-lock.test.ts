/** At most one deployment runs per cluster: concurrent "Deploy changes" requests give exactly one 202. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, TaskJson } from '../../lambdas/api/wire.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { Api, waitForTask } from '../helpers/target.js';

let runtime: Runtime;
let api: Api;

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 2, demo: false, authToken: 'lock' });
  api = new Api(runtime);
});

afterAll(async () => {
  await runtime?.stop();
});

describe('the deployment lock', () => {
  it('lets exactly one of 20 concurrent deploy requests through, and the others change nothing', async () => {
    const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: 'lock' });
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: 1, roles: ['controller'] },
      { id: 2, roles: ['compute'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      { id: 'work', type: 'shell', roles: '*', parameters: { cmd: 'sleep 0.5', timeout: 30 } },
    ]);

    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.call<TaskJson & { message: string }>('PUT', `/api/v1/clusters/${cluster.id}/changes/`),
      ),
    );
    const accepted = replies.filter((r) => r.status === 202);
    const refused = replies.filter((r) => r.status === 409);
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.body.message).toMatch(/locked|already being deployed/);

    const deploy = accepted[0]?.body as TaskJson;
    expect((await waitForTask(api, deploy.id)).status).toBe('ready');
    const deploys = await api.ok<TaskJson[]>(
      'GET',
      `/api/v1/transactions/?cluster_id=${cluster.id}&transaction_types=deploy`,
    );
    expect(deploys.map((t) => t.id)).toEqual([deploy.id]);
    // one command per node for the single task: nothing ran twice
    const work = runtime.fleet.commandLog().filter((c) => c.parameters.command?.[0] === 'sleep 0.5');
    expect(work).toHaveLength(2);
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`)).status).toBe('operational');
  });
});
