/**
 * The restart preview (`GET clusters/{id}/changes/preview/?resume=`) against the embedded runtime: before a
 * first deployment, after a stop (resume 0 and 1), and after a change of the graph, it lists exactly what
 * the `PUT clusters/{id}/changes/` that follows runs and skips, on which node and in which layer (compared
 * with that run's history rows); it writes nothing, answers 409 while a deployment runs, and 400 for bad
 * input. A condition on the run's id (`deployment_id`) is previewed with the id the run then gets, and marked
 * as decided when the deployment is planned.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, DeploymentPreviewJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { taskDurations } from '../../lambdas/app/engine/plan.js';
import type { HistoryRow } from '../../lambdas/domain/history.js';
import { targetJson } from '../../lambdas/domain/targets.js';
import type { Runtime } from '../../local/runtime.js';
import { gated, openGate } from '../helpers/gates.js';
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
let runtime: Runtime;
let api: Api;
let clusterId: number;
let nodes: NodeJson[];

/** The graph; a variant changes the command of a, b, slow and c (their inputs). */
const graph = (variant = '') => [
  shell('a', '*', `echo a${variant}`),
  shell('b', '*', `echo b${variant}`, ['a']),
  shell('slow', ['controller'], `sleep 1.5; echo slow${variant}`, ['b']),
  shell('c', ['controller'], `echo c${variant}`, ['slow']),
  { ...shell('off', '*', 'echo never', ['a']), condition: 'settings:deployment.stop_timeout.value == 1' },
  shell('on-master', ['master'], 'echo master', ['b']),
  { id: 'deploy_end', type: 'stage', requires: ['c', 'b'] },
];

/** Lets a task held by `gated(gate, ...)` go on a node. */
function openGateOn(node: NodeJson | undefined, gate: string): void {
  openGate(runtime.fleet, gate, [node?.meta.system.ssm_instance_id ?? '']);
}

/** `off`'s condition is false (the stop timeout is 600 s, not 1). */
const OFF = expect.stringMatching(/^skip: condition is false/);

beforeAll(async () => {
  target = await openTarget(6);
  if (!target.runtime)
    throw new Error('this suite reads the runtime repositories: run it without FUEL_API_URL');
  runtime = target.runtime;
  api = new Api(target);
  clusterId = (await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: `preview-${Date.now()}` })).id;
  nodes = await freeNodes(api, 3);
  await api.ok('POST', `/api/v1/clusters/${clusterId}/assignment/`, [
    { id: nodes[0]?.id, roles: ['controller'] },
    { id: nodes[1]?.id, roles: ['compute'] },
    { id: nodes[2]?.id, roles: ['compute'] },
  ]);
  await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, graph());
});

afterAll(async () => {
  await target?.close();
});

const preview = (query = '') =>
  api.ok<DeploymentPreviewJson>('GET', `/api/v1/clusters/${clusterId}/changes/preview/${query}`);

/**
 * The preview against the run's stored rows: the same entries (task, node, layer), `run` ones ended ready,
 * `skip` ones skipped with the recorded skip reason, and a provision row exactly for the nodes it provisions.
 */
async function expectRunAsPreviewed(p: DeploymentPreviewJson, runId: number): Promise<HistoryRow[]> {
  const rows = await runtime.repos.history.rows(runId, 'all');
  const rowOf = new Map(rows.map((r) => [`${r.taskName}@${String(targetJson(r.nodeId))}`, r]));
  const previewed = p.nodes.flatMap((n) => n.tasks.map((t) => ({ ...t, node: n.node_id ?? 'null' })));
  expect(previewed).toHaveLength(rows.filter((r) => r.layer !== null).length);
  for (const entry of previewed) {
    const row = rowOf.get(`${entry.task_name}@${entry.node}`);
    const what = `${entry.task_name} on ${entry.node}`;
    expect(row, what).toBeDefined();
    expect(row?.layer, `${what}: layer`).toBe(entry.layer);
    if (entry.action === 'run') {
      expect(row?.status, `${what} (${entry.reason})`).toBe('ready');
    } else {
      expect(row?.status, `${what} (${entry.reason})`).toBe('skipped');
      expect(row?.skipReason, what).toBe(entry.skip_reason);
    }
  }
  const provisioned = rows.filter((r) => r.taskName === 'provision').map((r) => String(r.nodeId));
  expect(provisioned.sort()).toEqual(
    p.nodes
      .filter((n) => n.provision)
      .map((n) => n.node_id)
      .sort(),
  );
  return rows;
}

async function deploy(query = ''): Promise<TaskJson> {
  const started = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/${query}`, {});
  return waitForTask(api, started.id);
}

const tasksOf = (p: DeploymentPreviewJson, node: number | undefined) =>
  Object.fromEntries(
    (p.nodes.find((n) => n.node_id === String(node))?.tasks ?? []).map((t) => [
      t.task_name,
      `${t.action}: ${t.reason}`,
    ]),
  );

describe('the restart preview', () => {
  it('before the first deployment: every node provisioned and every task run, as the deployment does', async () => {
    const first = await preview();
    expect(first.cluster).toBe(clusterId);
    expect(first.resume).toBe(false);
    expect(first.nodes.map((n) => n.node_id)).toEqual([...nodes.map((n) => String(n.id)), 'master', null]);
    for (const n of first.nodes.slice(0, 3)) {
      expect(n).toMatchObject({ provision: true, provision_reason: 'node is not provisioned yet' });
    }
    expect(tasksOf(first, nodes[0]?.id)).toEqual({
      a: 'run: node is being provisioned',
      b: 'run: node is being provisioned',
      slow: 'run: node is being provisioned',
      c: 'run: node is being provisioned',
      off: OFF,
    });
    const master = first.nodes.find((n) => n.node_id === 'master');
    expect(master?.tasks).toEqual([
      expect.objectContaining({
        task_name: 'on-master',
        action: 'run',
        reason: 'runs on the master node every time',
      }),
    ]);
    const sync = first.nodes.find((n) => n.node_id === null);
    expect(sync?.tasks.map((t) => [t.task_name, t.action, t.skip_reason])).toEqual([
      ['deploy_end', 'skip', 'noop'],
    ]);
    const layers = first.nodes.flatMap((n) => n.tasks.map((t) => t.layer));
    expect(Math.max(...layers)).toBe(first.layers - 1);
    expect(first.summary).toEqual({ run: 9, skip: 4, provision: 3 });

    // nothing was written: the cluster is as it was, no task was created
    const cluster = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`);
    expect(cluster).toMatchObject({ status: 'new', is_locked: false });
    expect(await api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${clusterId}`)).toEqual([]);
    expect(await preview()).toEqual(first);

    const run = await deploy();
    expect(run.status).toBe('ready');
    await expectRunAsPreviewed(first, run.id);
  });

  it('answers 409 while the deployment runs, and after a stop lists what resume 0 and 1 run', async () => {
    // every task changed, and `d` is new: the stop comes while `slow` runs, held by a gate until the stop was
    // accepted (it finishes then, `c` and `d` do not start)
    const second = [
      ...graph('-2').map((t) =>
        t.id === 'slow' ? shell('slow', ['controller'], gated('slow-2', 'echo slow-2'), ['b']) : t,
      ),
      shell('d', ['controller'], 'echo d', ['c']),
    ];
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, second);
    const started = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
    await waitForRow(api, started.id, 'slow', 'running');
    const locked = await api.call<{ message: string }>(
      'GET',
      `/api/v1/clusters/${clusterId}/changes/preview/`,
    );
    expect(locked.status).toBe(409);
    expect(locked.body.message).toMatch(/^Cannot preview the deployment: environment '.*' is locked/);
    const stop = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/stop_deployment/`);
    openGateOn(nodes[0], 'slow-2');
    expect((await waitForTask(api, stop.id)).status).toBe('ready');
    expect((await waitForTask(api, started.id)).status).toBe('error');
    const statuses = (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`)).map((n) => [
      n.id,
      n.status,
    ]);
    // the controller was stopped during `slow`; the computes had finished
    expect(statuses).toEqual([
      [nodes[0]?.id, 'stopped'],
      [nodes[1]?.id, 'ready'],
      [nodes[2]?.id, 'ready'],
    ]);

    const again = await preview();
    expect(tasksOf(again, nodes[0]?.id)).toEqual({
      a: 'run: node was stopped',
      b: 'run: node was stopped',
      slow: 'run: node was stopped',
      c: 'run: node was stopped',
      d: 'run: node was stopped',
      off: OFF,
    });
    expect(tasksOf(again, nodes[1]?.id)).toMatchObject({
      a: 'skip: ran ready with the same input',
      b: 'skip: ran ready with the same input',
    });
    const resumed = await preview('?resume=1');
    expect(resumed.resume).toBe(true);
    expect(tasksOf(resumed, nodes[0]?.id)).toEqual({
      a: 'skip: ran ready with the same input (resume)',
      b: 'skip: ran ready with the same input (resume)',
      slow: 'skip: ran ready with the same input (resume)',
      c: 'run: input changed since its last run',
      d: 'run: never ran',
      off: OFF,
    });
    expect(resumed.nodes.every((n) => !n.provision)).toBe(true);
    expect(resumed.summary.run).toBeLessThan(again.summary.run);

    const run = await deploy('?resume=1');
    expect(run.status).toBe('ready');
    await expectRunAsPreviewed(resumed, run.id);
  });

  it('after a change of the graph, lists the changed and new tasks, as the deployment runs them', async () => {
    const changed = [...graph('-3'), shell('added', ['compute'], 'echo added', ['b'])];
    await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, changed);
    const p = await preview();
    expect(tasksOf(p, nodes[1]?.id)).toEqual({
      a: 'run: input changed since its last run',
      b: 'run: input changed since its last run',
      off: OFF,
      added: 'run: new task',
    });
    const run = await deploy();
    expect(run.status).toBe('ready');
    await expectRunAsPreviewed(p, run.id);
  });

  it('lists only the nodes asked for, and refuses bad input with a 400 that changes nothing', async () => {
    const one = await preview(`?nodes=${nodes[1]?.id}`);
    expect(one.nodes.map((n) => n.node_id)).toEqual([String(nodes[1]?.id)]);
    const all = await preview();
    expect(one.layers).toBe(all.layers);
    expect(one.nodes[0]).toEqual(all.nodes.find((n) => n.node_id === String(nodes[1]?.id)));

    for (const [query, message] of [
      ['?resume=maybe', 'resume'],
      ['?nodes=abc', 'nodes'],
      ['?nodes=999999', 'node 999999 is not in environment'],
    ] as const) {
      const reply = await api.call<{ message: string }>(
        'GET',
        `/api/v1/clusters/${clusterId}/changes/preview/${query}`,
      );
      expect(reply.status, query).toBe(400);
      expect(reply.body.message, query).toContain(message);
    }
    expect((await api.call('GET', '/api/v1/clusters/999999/changes/preview/')).status).toBe(404);
    expect((await api.call('PUT', `/api/v1/clusters/${clusterId}/changes/preview/`)).status).toBe(405);
    const tasks = await api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${clusterId}`);
    expect(tasks.filter((t) => t.status === 'running')).toEqual([]);
  });

  it('a condition on deployment_id: previewed with the id the run gets, marked, run as previewed', async () => {
    const own = (await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: `preview-id-${Date.now()}` }))
      .id;
    const [node] = await freeNodes(api, 1);
    await api.ok('POST', `/api/v1/clusters/${own}/assignment/`, [{ id: node?.id, roles: ['compute'] }]);
    // on every run; on the run with this id (legacy); on the run after it (yaql)
    const graphFor = (id: number) => [
      shell('a', '*', 'echo a'),
      { ...shell('any-run', '*', 'echo any', ['a']), condition: { yaql_exp: '$.deployment_id > 0' } },
      { ...shell('this-run', '*', 'echo this', ['a']), condition: `settings:deployment_id == ${id}` },
      {
        ...shell('next-run', '*', 'echo next', ['a']),
        condition: { yaql_exp: `$.deployment_id = ${id + 1}` },
      },
    ];
    const previewOwn = () => api.ok<DeploymentPreviewJson>('GET', `/api/v1/clusters/${own}/changes/preview/`);
    const tasksOfOwn = (p: DeploymentPreviewJson) =>
      Object.fromEntries(
        (p.nodes.find((n) => n.node_id === String(node?.id))?.tasks ?? []).map((t) => [
          t.task_name,
          `${t.action}: ${t.reason}`,
        ]),
      );
    // the id previewed, as the reasons name it
    const idPreviewed = (p: DeploymentPreviewJson) =>
      Number(/previewed as (\d+)\)$/.exec(tasksOfOwn(p)['any-run'] ?? '')?.[1]);
    await api.ok('PUT', `/api/v1/clusters/${own}/deployment_tasks/`, graphFor(0));
    const expected = idPreviewed(await previewOwn());
    expect(expected).toBeGreaterThan(0);
    // uploading a graph takes no task id: the preview still expects the same one
    await api.ok('PUT', `/api/v1/clusters/${own}/deployment_tasks/`, graphFor(expected));
    const p = await previewOwn();
    const decidedThen =
      '(decided when the deployment is planned: the condition reads deployment_id, ' +
      `previewed as ${expected})`;
    expect(tasksOfOwn(p)).toEqual({
      a: 'run: node is being provisioned',
      'any-run': `run: node is being provisioned ${decidedThen}`,
      'this-run': `run: node is being provisioned ${decidedThen}`,
      'next-run': `skip: condition is false: yaql_exp: $.deployment_id = ${expected + 1} ${decidedThen}`,
    });

    const started = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${own}/changes/`, {});
    expect(started.id).toBe(expected);
    expect((await waitForTask(api, started.id)).status).toBe('ready');
    const rows = await expectRunAsPreviewed(p, started.id);
    expect(
      Object.fromEntries(rows.filter((r) => r.layer !== null).map((r) => [r.taskName, r.status])),
    ).toEqual({ a: 'ready', 'any-run': 'ready', 'this-run': 'ready', 'next-run': 'skipped' });
    // what each task took is kept for the next plan in one item, as the run's rows say
    const durations = await runtime.repos.plans.durations(started.id);
    expect(durations && [...durations.keys()].sort()).toEqual(['a', 'any-run', 'this-run']);
    expect(durations).toEqual(taskDurations(rows));
  });

  it('an environment without nodes: the 400 the deployment gives', async () => {
    const empty = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: `empty-${Date.now()}` });
    const reply = await api.call<{ message: string }>('GET', `/api/v1/clusters/${empty.id}/changes/preview/`);
    expect(reply.status).toBe(400);
    expect(reply.body.message).toBe(`Environment '${empty.name}' has no nodes to deploy`);
  });
});
