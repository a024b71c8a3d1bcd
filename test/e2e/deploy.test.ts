/**
 * End to end over HTTP: a cluster of three nodes deployed to `operational` with cross-node dependencies,
 * and a failing task that leaves its node and the cluster in `error` without running its dependents.
 * Runs against the embedded runtime, or FUEL_API_URL / FUEL_AUTH_TOKEN when set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { Api, freeNodes, openTarget, type Target, waitForTask } from '../helpers/target.js';

let target: Target;
let api: Api;

beforeAll(async () => {
  target = await openTarget(6);
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
    // base on 3 nodes, db + api on the controller, agent + network on 2 computes
    expect(rows).toHaveLength(3 + 2 + 4);
    for (const row of rows) {
      expect(row.status).toBe('ready');
      expect(row.custom.exit_code).toBe(0);
    }
    const controller = String(nodes[0]?.id);
    const rowOf = (task: string, node: string) =>
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

describe('a failing task', () => {
  it('puts its node and the cluster in error and does not run its dependents', async () => {
    const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', {
      name: `e2e-fail-${Date.now()}`,
    });
    const nodes = await freeNodes(api, 3);
    const [controller, compute1, compute2] = nodes;
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: controller?.id, roles: ['controller'] },
      { id: compute1?.id, roles: ['compute'] },
      { id: compute2?.id, roles: ['compute'] },
    ]);
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      // the controller may fail without stopping the deployment: the computes' independent work goes on
      { id: 'controllers', type: 'group', roles: ['controller'], fault_tolerance: 1 },
      {
        id: 'db',
        type: 'shell',
        roles: ['controller'],
        parameters: { cmd: 'echo broken >&2; exit 3', timeout: 30 },
      },
      {
        id: 'after-db',
        type: 'shell',
        roles: ['controller'],
        requires: ['db'],
        parameters: { cmd: 'true', timeout: 30 },
      },
      {
        id: 'agent',
        type: 'shell',
        roles: ['compute'],
        'cross-depends': [{ name: 'db', role: 'controller' }],
        parameters: { cmd: 'true', timeout: 30 },
      },
      { id: 'local', type: 'shell', roles: ['compute'], parameters: { cmd: 'sleep 0.2', timeout: 30 } },
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    const ended = await waitForTask(api, deploy.id);
    expect(ended.status).toBe('error');
    expect(ended.message).toContain('db');

    const after = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`);
    expect(after.status).toBe('error');
    const byId = new Map(
      (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${cluster.id}`)).map((n) => [n.id, n]),
    );
    expect(byId.get(Number(controller?.id))).toMatchObject({ status: 'error', error_type: 'deploy' });
    // the computes ran `local` but not `agent`: work is left, so they are stopped, not ready
    expect(byId.get(Number(compute1?.id))?.status).toBe('stopped');
    expect(byId.get(Number(compute2?.id))?.status).toBe('stopped');

    const rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${deploy.id}/deployment_history/`);
    const status = (task: string, node: number | undefined) =>
      rows.find((r) => r.task_name === task && r.node_id === String(node))?.status;
    expect(status('db', controller?.id)).toBe('error');
    const failed = rows.find((r) => r.task_name === 'db');
    expect(failed?.custom.exit_code).toBe(3);
    expect(String(failed?.custom.error_tail)).toContain('broken');
    expect(status('after-db', controller?.id)).toBe('skipped');
    expect(status('agent', compute1?.id)).toBe('skipped');
    expect(status('agent', compute2?.id)).toBe('skipped');
    expect(status('local', compute1?.id)).toBe('ready');
    expect(status('local', compute2?.id)).toBe('ready');
    expect(String(rows.find((r) => r.task_name === 'agent')?.custom.reason)).toContain('db@');

    if (target.runtime) {
      const sent = target.runtime.fleet.commandLog().filter((c) => c.parameters.command?.[0] === 'true');
      expect(sent).toHaveLength(0);
    }
  });
});
