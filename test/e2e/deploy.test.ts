/**
 * End to end over HTTP: a cluster of three nodes deployed to `operational` with cross-node dependencies,
 * and failing tasks: a failure leaves its node and the cluster in `error` without running its dependents;
 * only a critical node's failure (Fuel 9.x: a critical role, or a group's fault tolerance exceeded) stops
 * the rest of the deployment. Runs against the embedded runtime, or FUEL_API_URL / FUEL_AUTH_TOKEN when set
 * (it needs 12 free nodes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { Api, freeNodes, openTarget, shell, type Target, waitForTask } from '../helpers/target.js';

let target: Target;
let api: Api;

beforeAll(async () => {
  target = await openTarget(12);
  api = new Api(target);
});

afterAll(async () => {
  await target?.close();
});

const cmd = (name: string, seconds = 0.3) => `echo "${name}"; sleep ${seconds}`;

/** controller: db -> api; compute: agent (needs db on the controller) -> network (needs api on the controller) */
const graph = [
  { id: 'base', type: 'shell', roles: '*', requires: [], parameters: { cmd: cmd('base'), timeout: 60 } },
  {
    id: 'db',
    type: 'shell',
    roles: ['controller'],
    requires: ['base'],
    parameters: { cmd: cmd('db', 0.6), timeout: 60 },
  },
  {
    id: 'api',
    type: 'shell',
    roles: ['controller'],
    requires: ['db'],
    parameters: { cmd: cmd('api'), timeout: 60 },
  },
  {
    id: 'agent',
    type: 'shell',
    roles: ['compute'],
    requires: ['base'],
    'cross-depends': [{ name: 'db', role: 'controller' }],
    parameters: { cmd: cmd('agent'), timeout: 60 },
  },
  {
    id: 'network',
    type: 'shell',
    roles: ['compute'],
    requires: ['agent'],
    'cross-depends': [{ name: 'api', role: 'controller' }],
    parameters: { cmd: cmd('network'), timeout: 60 },
  },
  { id: 'deploy_end', type: 'stage', requires: ['api', 'network'] },
];

/** The requirements of each task of `graph`, by role of the node holding the requirement. */
const requirements: Record<string, { task: string; sameNode: boolean; role?: string }[]> = {
  base: [],
  db: [{ task: 'base', sameNode: true }],
  api: [{ task: 'db', sameNode: true }],
  agent: [
    { task: 'base', sameNode: true },
    { task: 'db', sameNode: false, role: 'controller' },
  ],
  network: [
    { task: 'agent', sameNode: true },
    { task: 'api', sameNode: false, role: 'controller' },
  ],
};

describe('deploy a three-node cluster end to end', () => {
  let clusterId: number;
  let nodes: NodeJson[];
  let deploy: TaskJson;

  it('creates the cluster, assigns roles, uploads a graph and deploys to operational', async () => {
    const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', {
      name: `e2e-${Date.now()}`,
    });
    clusterId = cluster.id;
    expect(cluster.status).toBe('new');
    nodes = await freeNodes(api, 3);
    const roles = ['controller', 'compute', 'compute'];
    await api.ok(
      'POST',
      `/api/v1/clusters/${clusterId}/assignment/`,
      nodes.map((n, i) => ({ id: n.id, roles: [roles[i]] })),
    );
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, graph);

    deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    expect(deploy.name).toBe('deploy');
    expect(deploy.status).toBe('running');
    expect(deploy.execution_arn).toContain(':execution:');

    const ended = await waitForTask(api, deploy.id);
    expect(ended.status).toBe('ready');
    expect(ended.progress).toBe(100);

    const after = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`);
    expect(after.status).toBe('operational');
    expect(after.is_locked).toBe(false);
    const members = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    expect(members).toHaveLength(3);
    for (const node of members) {
      expect(node.status).toBe('ready');
      expect(node.progress).toBe(100);
      expect(node.error_type).toBeNull();
    }
    expect(members.map((n) => n.roles[0]).sort()).toEqual(['compute', 'compute', 'controller']);
  });

  it('records every task on every node as ready, none started before its requirements ended', async () => {
    const children = await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${clusterId}`);
    const deployment = children.find((t) => t.name === 'deployment' && t.status === 'ready');
    expect(deployment).toBeDefined();
    const rows = await api.ok<HistoryJson[]>(
      'GET',
      `/api/v1/transactions/${deployment?.id}/deployment_history/`,
    );
    // base on 3 nodes, db + api on the controller, agent + network on 2 computes; the stage on the sync node
    expect(rows).toHaveLength(3 + 2 + 4 + 1);
    const stage = rows.filter((r) => r.node_id === null);
    expect(stage.map((r) => [r.task_name, r.status, r.type])).toEqual([['deploy_end', 'skipped', 'stage']]);
    for (const row of rows.filter((r) => r.node_id !== null)) {
      expect(row.status).toBe('ready');
      expect(row.custom.exit_code).toBe(0);
    }
    const controller = String(nodes[0]?.id);
    const rowOf = (task: string, node: string | null) =>
      rows.find((r) => r.task_name === task && r.node_id === node);
    let checked = 0;
    for (const row of rows) {
      for (const need of requirements[row.task_name] ?? []) {
        const holder = need.sameNode ? row.node_id : need.role === 'controller' ? controller : row.node_id;
        const required = rowOf(need.task, holder);
        expect(required, `${need.task} on node ${holder}`).toBeDefined();
        const ended = Date.parse(String(required?.time_end));
        const started = Date.parse(String(row.time_start));
        expect(
          ended,
          `${row.task_name}@${row.node_id} started before ${need.task}@${holder} ended`,
        ).toBeLessThanOrEqual(started);
        checked++;
      }
    }
    // db and api: one each on the controller; agent and network: two each on both computes
    expect(checked).toBe(1 + 1 + 4 + 4);
  });
});

/** The deployment history of a run, and a lookup of one row by task and node. */
async function historyOf(runId: number): Promise<{
  rows: HistoryJson[];
  row: (task: string, node: number | undefined) => HistoryJson | undefined;
}> {
  const rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${runId}/deployment_history/`);
  return { rows, row: (task, node) => rows.find((r) => r.task_name === task && r.node_id === String(node)) };
}

async function membersOf(clusterId: number): Promise<Map<number, NodeJson>> {
  return new Map(
    (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`)).map((n) => [n.id, n]),
  );
}

describe('a failing task', () => {
  it('puts its node and the cluster in error and does not run its dependents', async () => {
    const cluster = await api.ok<{ id: number; name: string }>('POST', '/api/v1/clusters/', {
      name: `e2e-fail-${Date.now()}`,
    });
    const nodes = await freeNodes(api, 3);
    const [compute, cinder1, cinder2] = nodes;
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: compute?.id, roles: ['compute'] },
      { id: cinder1?.id, roles: ['cinder'] },
      { id: cinder2?.id, roles: ['cinder'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      // a compute may fail without stopping the deployment: the cinder nodes' independent work goes on
      { id: 'computes', type: 'group', roles: ['compute'], fault_tolerance: 1 },
      {
        id: 'hypervisor',
        type: 'shell',
        roles: ['compute'],
        parameters: { cmd: 'echo broken >&2; exit 3', timeout: 30 },
      },
      {
        id: 'after-hypervisor',
        type: 'shell',
        roles: ['compute'],
        requires: ['hypervisor'],
        parameters: { cmd: 'true', timeout: 30 },
      },
      {
        id: 'agent',
        type: 'shell',
        roles: ['cinder'],
        'cross-depends': [{ name: 'hypervisor', role: 'compute' }],
        parameters: { cmd: 'true', timeout: 30 },
      },
      { id: 'local', type: 'shell', roles: ['cinder'], parameters: { cmd: 'sleep 0.2', timeout: 30 } },
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    const ended = await waitForTask(api, deploy.id);
    expect(ended.status).toBe('error');
    // a failure, not a stop: the group tolerated it
    expect(ended.message).toBe(
      `Deployment of environment '${cluster.name}' has failed. Failed tasks: hypervisor on node ${compute?.id}.`,
    );

    const after = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`);
    expect(after.status).toBe('error');
    const byId = await membersOf(cluster.id);
    expect(byId.get(Number(compute?.id))).toMatchObject({ status: 'error', error_type: 'deploy' });
    // the cinder nodes ran `local` but not `agent`: work is left, so they are stopped, not ready
    expect(byId.get(Number(cinder1?.id))?.status).toBe('stopped');
    expect(byId.get(Number(cinder2?.id))?.status).toBe('stopped');

    const { rows, row } = await historyOf(deploy.id);
    expect(row('hypervisor', compute?.id)?.status).toBe('error');
    const failed = rows.find((r) => r.task_name === 'hypervisor');
    expect(failed?.custom.exit_code).toBe(3);
    expect(String(failed?.custom.error_tail)).toContain('broken');
    expect(row('after-hypervisor', compute?.id)?.status).toBe('skipped');
    expect(row('agent', cinder1?.id)?.status).toBe('skipped');
    expect(row('agent', cinder2?.id)?.status).toBe('skipped');
    expect(row('local', cinder1?.id)?.status).toBe('ready');
    expect(row('local', cinder2?.id)?.status).toBe('ready');
    expect(String(rows.find((r) => r.task_name === 'agent')?.custom.reason)).toContain('hypervisor@');

    if (target.runtime) {
      const sent = target.runtime.fleet.commandLog().filter((c) => c.parameters.command?.[0] === 'true');
      expect(sent).toHaveLength(0);
    }
  });

  it('on a compute in no fault-tolerance group fails it alone: the controllers deploy to the end', async () => {
    const cluster = await api.ok<{ id: number; name: string }>('POST', '/api/v1/clusters/', {
      name: `e2e-compute-fails-${Date.now()}`,
    });
    const [ctl1, ctl2, compute] = (await freeNodes(api, 3)).map((n) => n.id);
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: ctl1, roles: ['controller'] },
      { id: ctl2, roles: ['controller'] },
      { id: compute, roles: ['compute'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      shell('ctl-a', ['controller'], 'sleep 0.3'),
      shell('ctl-b', ['controller'], 'sleep 0.2', ['ctl-a']),
      shell('ctl-c', ['controller'], 'sleep 0.2', ['ctl-b']),
      shell('cmp-bad', ['compute'], 'echo no hypervisor >&2; exit 4'),
      shell('cmp-next', ['compute'], 'true', ['cmp-bad']),
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    const ended = await waitForTask(api, deploy.id);
    expect(ended.status).toBe('error');
    expect(ended.message).toBe(
      `Deployment of environment '${cluster.name}' has failed. Failed tasks: cmp-bad on node ${compute}.`,
    );
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`)).status).toBe('error');

    const { row } = await historyOf(deploy.id);
    const failedAt = Date.parse(String(row('cmp-bad', compute)?.time_end));
    expect(row('cmp-bad', compute)?.status).toBe('error');
    expect(row('cmp-next', compute)?.status).toBe('skipped');
    for (const ctl of [ctl1, ctl2]) {
      for (const task of ['ctl-a', 'ctl-b', 'ctl-c'])
        expect(row(task, ctl)?.status, `${task}@${ctl}`).toBe('ready');
      // the controllers went on after the compute had failed
      expect(Date.parse(String(row('ctl-c', ctl)?.time_start))).toBeGreaterThanOrEqual(failedAt);
    }
    const members = await membersOf(cluster.id);
    expect(members.get(ctl1 ?? 0)).toMatchObject({ status: 'ready', progress: 100, error_type: null });
    expect(members.get(ctl2 ?? 0)).toMatchObject({ status: 'ready', progress: 100, error_type: null });
    expect(members.get(compute ?? 0)).toMatchObject({ status: 'error', error_type: 'deploy' });
  });

  it('on a controller is critical: it stops the deployment, even in a tolerant group, and reads as a failure', async () => {
    const cluster = await api.ok<{ id: number; name: string }>('POST', '/api/v1/clusters/', {
      name: `e2e-controller-fails-${Date.now()}`,
    });
    const [ctl, compute] = (await freeNodes(api, 2)).map((n) => n.id);
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: ctl, roles: ['controller'] },
      { id: compute, roles: ['compute'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      // the group would tolerate the failure, but controller is a critical role (Nailgun's critical_roles)
      { id: 'controllers', type: 'group', roles: ['controller'], fault_tolerance: 1 },
      shell('ctl-bad', ['controller'], 'sleep 0.2; echo db broken >&2; exit 3'),
      shell('cmp-slow', ['compute'], 'sleep 1'),
      shell('cmp-next', ['compute'], 'true', ['cmp-slow']),
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    const ended = await waitForTask(api, deploy.id);
    expect(ended.status).toBe('error');
    expect(ended.message).toBe(
      `Deployment of environment '${cluster.name}' has failed: node ${ctl} (controller) failed: ` +
        `its role controller is critical. Failed tasks: ctl-bad on node ${ctl}.`,
    );
    expect((await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`)).status).toBe('error');

    const { row } = await historyOf(deploy.id);
    expect(row('ctl-bad', ctl)?.status).toBe('error');
    // the compute's running task finished; what came after it never started
    expect(row('cmp-slow', compute)?.status).toBe('ready');
    expect(row('cmp-next', compute)?.status).toBe('skipped');
    // worded as the failure it is, not as an operator's stop
    expect(row('cmp-next', compute)?.custom.reason).toBe('not started: the deployment failed');
    const members = await membersOf(cluster.id);
    expect(members.get(ctl ?? 0)).toMatchObject({ status: 'error', error_type: 'deploy' });
    expect(members.get(compute ?? 0)).toMatchObject({ status: 'stopped', error_type: null });
    if (target.runtime) {
      const sent = target.runtime.fleet.commandLog().filter((c) => c.parameters.command?.[0] === 'true');
      expect(sent).toHaveLength(0);
    }
  });
});
