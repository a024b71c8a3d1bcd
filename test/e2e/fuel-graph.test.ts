/**
 * End to end over HTTP with a graph in Fuel 9.0's format (the project's own fixture, using every feature the
 * service accepts) on a 3-controller, 2-compute, cinder, ceph-osd cluster: it is stored as uploaded, expands
 * per node as Nailgun expands it (one primary controller, master tasks on the master, stages on the sync node,
 * false conditions recorded as skipped), runs one task at a time per node with stages as global points, and
 * its commands run inside the simulated nodes, never on the host. Runs against the embedded runtime, or
 * FUEL_API_URL / FUEL_AUTH_TOKEN when set (10 free nodes and a master node).
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, GraphTaskJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { Api, freeNodes, openTarget, type Target, waitForTask } from '../helpers/target.js';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/fuel-format-graph.json', import.meta.url), 'utf8'),
) as { tasks: GraphTaskJson[] };

let target: Target;
let api: Api;
let clusterId: number;
let nodes: NodeJson[];
let deploy: TaskJson;
let rows: HistoryJson[];

const LAYOUT = [
  ['controller'],
  ['controller'],
  ['controller'],
  ['compute'],
  ['compute'],
  ['cinder'],
  ['ceph-osd'],
];

beforeAll(async () => {
  target = await openTarget(10);
  api = new Api(target);
  const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: 'fuel-format' });
  clusterId = cluster.id;
  nodes = await freeNodes(api, LAYOUT.length);
  await api.ok(
    'POST',
    `/api/v1/clusters/${clusterId}/assignment/`,
    nodes.map((n, i) => ({ id: n.id, roles: LAYOUT[i] })),
  );
}, 60_000);

afterAll(async () => {
  await target?.close();
});

/** The rows of one node (`String(id)`, `'master'` or null), by task name. */
function rowsOn(node: string | null): Map<string, HistoryJson> {
  return new Map(
    rows.filter((r) => r.node_id === node && r.type !== 'provision').map((r) => [r.task_name, r]),
  );
}

describe('a Fuel 9.0-format graph', () => {
  it('is stored as uploaded: GET returns what was PUT, unknown fields included, with no warning', async () => {
    const res = await fetch(`${target.url}/api/v1/clusters/${clusterId}/deployment_tasks/`, {
      method: 'PUT',
      headers: { 'X-Auth-Token': target.token, 'content-type': 'application/json' },
      body: JSON.stringify(fixture.tasks),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('warning')).toBeNull();
    const stored = await api.ok<GraphTaskJson[]>('GET', `/api/v1/clusters/${clusterId}/deployment_tasks/`);
    expect(stored).toEqual(fixture.tasks);
  });

  it('deploys to operational', async () => {
    deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    const ended = await waitForTask(api, deploy.id, 240_000);
    expect(ended.status, ended.message ?? '').toBe('ready');
    const cluster = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`);
    expect(cluster.status).toBe('operational');
    const deployment = (
      await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${clusterId}`)
    ).find((t) => t.name === 'deployment' && t.parent_id === deploy.id);
    rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${deployment?.id}/deployment_history/`);
  }, 300_000);

  it('elects exactly one primary controller, shown on the node, and only it runs the primary tasks', async () => {
    const members = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    const primaries = members.filter((n) => n.primary_roles.includes('controller'));
    expect(primaries.map((n) => n.id)).toEqual([nodes[0]?.id]);
    const runningPrimaryTasks = rows.filter(
      (r) => r.task_name === 'cluster-primary' || r.task_name === 'post-primary',
    );
    expect(new Set(runningPrimaryTasks.map((r) => r.node_id))).toEqual(new Set([String(nodes[0]?.id)]));
    expect(runningPrimaryTasks.map((r) => r.status)).toEqual(['ready', 'ready']);
  });

  it('expands per node as Nailgun does: a row for every task on every node it lands on', () => {
    const common = [
      'copy-keys',
      'sync-modules',
      'upload-configuration',
      'plugins-sync',
      'hiera',
      'check-keys',
    ];
    const controller = [...common, 'ceph-radosgw', 'heat', 'network-end'];
    const expected: [string | null, string[]][] = [
      [String(nodes[0]?.id), [...controller, 'cluster-primary', 'post-primary']],
      [String(nodes[1]?.id), [...controller, 'cluster']],
      [String(nodes[2]?.id), [...controller, 'cluster']],
      [String(nodes[3]?.id), [...common, 'top-role-compute', 'network-end']],
      [String(nodes[4]?.id), [...common, 'top-role-compute', 'network-end']],
      [String(nodes[5]?.id), [...common, 'cinder-volume', 'storage-prepare']],
      [String(nodes[6]?.id), [...common, 'ceph-osd', 'storage-prepare']],
      ['master', ['generate-keys']],
      [
        null,
        [
          'pre_deployment_start',
          'pre_deployment_end',
          'deploy_start',
          'deploy_end',
          'post_deployment_start',
          'post_deployment_end',
        ],
      ],
    ];
    for (const [node, tasks] of expected)
      expect([...rowsOn(node).keys()].sort(), `node ${node}`).toEqual(tasks.sort());
    expect(rows.filter((r) => r.type !== 'provision')).toHaveLength(
      expected.reduce((n, [, t]) => n + t.length, 0),
    );
  });

  it('records a false condition, a skipped task and a stage as skipped with their reason', () => {
    for (const node of nodes.slice(0, 3)) {
      const radosgw = rowsOn(String(node.id)).get('ceph-radosgw');
      expect(radosgw?.status).toBe('skipped');
      expect(radosgw?.custom.skip_reason).toBe('condition');
      expect(String(radosgw?.custom.reason)).toContain('settings:storage.objects_ceph == true');
      expect(rowsOn(String(node.id)).get('heat')?.status).toBe('ready');
      expect(rowsOn(String(node.id)).get('network-end')?.custom.skip_reason).toBe('noop');
    }
    for (const row of rows.filter((r) => r.task_name === 'plugins-sync')) {
      expect([row.status, row.custom.skip_reason]).toEqual(['skipped', 'condition']);
    }
    for (const row of rowsOn(null).values()) expect([row.status, row.type]).toEqual(['skipped', 'stage']);
    expect(rowsOn('master').get('generate-keys')?.status).toBe('ready');
  });

  it('runs one task at a time on each node', () => {
    const ran = rows.filter((r) => r.status === 'ready' && r.node_id !== null && r.type !== 'provision');
    const overlaps: string[] = [];
    for (const node of new Set(ran.map((r) => r.node_id))) {
      const mine = ran
        .filter((r) => r.node_id === node)
        .map((r) => ({
          name: r.task_name,
          start: Date.parse(String(r.time_start)),
          end: Date.parse(String(r.time_end)),
        }))
        .sort((a, b) => a.start - b.start);
      for (let i = 1; i < mine.length; i++) {
        const [before, after] = [mine[i - 1], mine[i]];
        if (before && after && after.start < before.end)
          overlaps.push(`${node}: ${after.name} during ${before.name}`);
      }
    }
    expect(overlaps).toEqual([]);
  });

  it('treats stages as global points: nothing after a stage starts anywhere before everything before it ended', () => {
    const ran = rows.filter((r) => r.status === 'ready' && r.type !== 'provision');
    const times = (names: string[]) => ran.filter((r) => names.includes(r.task_name));
    const pre = times(['generate-keys', 'copy-keys', 'sync-modules', 'upload-configuration']);
    const deployStage = times([
      'hiera',
      'cluster-primary',
      'cluster',
      'heat',
      'top-role-compute',
      'cinder-volume',
      'ceph-osd',
      'storage-prepare',
    ]);
    const post = times(['check-keys', 'post-primary']);
    const lastEnd = (list: HistoryJson[]) => Math.max(...list.map((r) => Date.parse(String(r.time_end))));
    const firstStart = (list: HistoryJson[]) =>
      Math.min(...list.map((r) => Date.parse(String(r.time_start))));
    expect(pre.length).toBe(1 + 7 * 3);
    expect(firstStart(deployStage)).toBeGreaterThanOrEqual(lastEnd(pre));
    expect(firstStart(post)).toBeGreaterThanOrEqual(lastEnd(deployStage));
  });

  it("ran each type's command inside the nodes: the master's key copied, astute.yaml uploaded, stand-ins used", () => {
    for (const node of nodes) {
      const check = rowsOn(String(node.id)).get('check-keys');
      expect(check?.status).toBe('ready');
      expect(String(check?.custom.output_tail)).toContain(`key of cluster ${clusterId}`);
    }
    const puppet = rowsOn(String(nodes[3]?.id)).get('top-role-compute');
    expect(String(puppet?.custom.output_tail)).toContain('roles/compute.pp');
    // nothing of it on the host
    expect(existsSync('/var/lib/astute/keys/node.pub')).toBe(false);
    expect(existsSync(`/etc/fuel/cluster/${clusterId}/astute.yaml`)).toBe(false);
    expect(existsSync(`/var/lib/fuel/keys/${clusterId}/node.pub`)).toBe(false);
  });

  it('keeps the same primary on the next deployment', async () => {
    const again = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/redeploy/`, {});
    expect((await waitForTask(api, again.id, 240_000)).status).toBe('ready');
    const members = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    expect(members.filter((n) => n.primary_roles.includes('controller')).map((n) => n.id)).toEqual([
      nodes[0]?.id,
    ]);
  }, 300_000);
});

describe('a compute that fails in a graph with stages', () => {
  it('fails alone: the controller goes past the stages and runs its post-deployment task', async () => {
    const cluster = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: 'staged-failure' });
    const [controller, compute] = await freeNodes(api, 2);
    await api.ok('POST', `/api/v1/clusters/${cluster.id}/assignment/`, [
      { id: controller?.id, roles: ['controller'] },
      { id: compute?.id, roles: ['compute'] },
    ]);
    const task = (id: string, groups: string[], cmd: string, extra: Record<string, unknown> = {}) => ({
      id,
      type: 'shell',
      version: '2.0.0',
      groups,
      parameters: { cmd, timeout: 30 },
      ...extra,
    });
    await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, [
      { id: 'deploy_start', type: 'stage' },
      { id: 'deploy_end', type: 'stage', requires: ['deploy_start'] },
      { id: 'post_deployment_start', type: 'stage', requires: ['deploy_end'] },
      { id: 'post_deployment_end', type: 'stage', requires: ['post_deployment_start'] },
      task('ctl', ['controller'], 'sleep 0.3', { requires: ['deploy_start'], required_for: ['deploy_end'] }),
      task('cmp', ['compute'], 'echo broken >&2; exit 3', {
        requires: ['deploy_start'],
        required_for: ['deploy_end'],
      }),
      task('post', ['controller', 'compute'], 'true', {
        requires: ['post_deployment_start'],
        required_for: ['post_deployment_end'],
      }),
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    const ended = await waitForTask(api, deploy.id);
    expect(ended.status).toBe('error');
    expect(ended.message).toContain(`Failed tasks: cmp on node ${compute?.id}`);
    const deployment = (
      await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${cluster.id}`)
    ).find((t) => t.name === 'deployment' && t.parent_id === deploy.id);
    const history = await api.ok<HistoryJson[]>(
      'GET',
      `/api/v1/transactions/${deployment?.id}/deployment_history/`,
    );
    const status = (name: string, node: string | null) =>
      history.find((r) => r.task_name === name && r.node_id === node)?.status;
    expect(status('post', String(controller?.id))).toBe('ready');
    expect(status('post', String(compute?.id))).toBe('skipped');
    expect(status('post_deployment_end', null)).toBe('skipped');
    const members = new Map(
      (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${cluster.id}`)).map((n) => [n.id, n]),
    );
    expect(members.get(controller?.id ?? 0)?.status).toBe('ready');
    expect(members.get(compute?.id ?? 0)).toMatchObject({ status: 'error', error_type: 'deploy' });
  }, 120_000);
});
