/**
 * Running a graph of another type than `default` (`PUT clusters/{id}/deploy/?nodes=&graph_type=`, what
 * `fuel2 graph execute --env --type --nodes` sends) over HTTP against the embedded runtime: an environment
 * deployed with its default graph runs its `fix` graph on one node, every task of it, twice (unchanged tasks
 * run again), leaving the default graph's last runs and the nodes' statuses as they were; the run's task says
 * `graph_type: fix`. A custom graph stopped while a task runs leaves the stopped node `stopped` and the others
 * as they were, and "Deploy changes" then runs the default graph to operational. Refused with nothing
 * started: a type the environment does not have (404), a node not provisioned (400), provisioning a graph
 * (400). A graph gone between the request and the plan step fails the run, saying so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, ErrorJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { Repositories } from '../../lambdas/app/ports.js';
import type { LastRun } from '../../lambdas/domain/model.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { gated, openGate } from '../helpers/gates.js';
import { Api, freeNodes, shell, waitForRow, waitForTask } from '../helpers/target.js';

/**
 * Set by the last test: the `fix` graph is taken away behind the API, once its run is stored (after the
 * request's last read of the graph) and before the plan step reads it (which first reads the run).
 */
let takeGraphAway = false;
let graphTaken = false;

/** Every function's repositories: reading a `fix` run not planned yet deletes the graph, when armed. */
function takingGraphAway(real: Repositories): Repositories {
  const tasks = Object.create(real.tasks) as Repositories['tasks'];
  tasks.getRun = async (id) => {
    const run = await real.tasks.getRun(id);
    if (takeGraphAway && run?.status === 'running' && run.plan === null && run.mode.graphType === 'fix') {
      takeGraphAway = false;
      // through the test's own clients: the function whose read this is makes no such call
      graphTaken = await runtime.repos.clusters.deleteTypedGraph(run.clusterId, 'fix');
    }
    return run;
  };
  return { ...real, tasks };
}

let runtime: Runtime;
let api: Api;
let clusterId: number;
let clusterName: string;
/** The controller and the compute, deployed; a third node joins later, not provisioned. */
let ctl: NodeJson;
let cmp: NodeJson;

/** The default graph: what "Deploy changes" runs. */
const defaultGraph = [
  shell('base', '*', 'echo base'),
  shell('app', ['controller'], 'echo app', ['base']),
  shell('work', ['compute'], 'echo work', ['base']),
];

/** The `fix` graph: two tasks, one of them with the id of a default task (`base`) and another command. */
const fixGraph = [shell('fix-a', '*', 'echo fix-a'), shell('base', '*', 'echo base fixed', ['fix-a'])];

const path = (rest: string) => `/api/v1/clusters/${clusterId}/${rest}`;

/** Lets a task held by `gated(gate, ...)` go on a node. */
function openGateOn(node: NodeJson, gate: string): void {
  openGate(runtime.fleet, gate, [node?.meta.system.ssm_instance_id ?? '']);
}

async function history(taskId: number): Promise<HistoryJson[]> {
  return api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${taskId}/deployment_history/`);
}

/** Each row as `task@node:status`, sorted. */
const summary = (rows: HistoryJson[]) => rows.map((r) => `${r.task_name}@${r.node_id}:${r.status}`).sort();

async function cluster(): Promise<ClusterJson> {
  return api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`);
}

/** Node id -> status, of the environment's nodes. */
async function nodeStatuses(): Promise<Record<number, string>> {
  const nodes = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
  return Object.fromEntries(nodes.map((n) => [n.id, n.status]));
}

async function taskIds(): Promise<number[]> {
  return (await api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${clusterId}`)).map((t) => t.id);
}

/** A node's last successful runs, as stored (what "Deploy changes" decides its skips by). */
async function lastRuns(node: NodeJson): Promise<LastRun[]> {
  return (await runtime.repos.nodes.lastRuns(node.id)).sort((a, b) => a.taskName.localeCompare(b.taskName));
}

async function deployChanges(): Promise<TaskJson> {
  const started = await api.ok<TaskJson>('PUT', path('changes/'), {});
  expect(started.graph_type).toBe('default');
  return waitForTask(api, started.id);
}

beforeAll(async () => {
  runtime = await startRuntime({
    port: 0,
    nodeCount: 4,
    demo: false,
    authToken: 'graph-execute',
    decorate: { repos: takingGraphAway },
  });
  api = new Api(runtime);
  clusterName = `graph-execute-${Date.now()}`;
  clusterId = (await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name: clusterName })).id;
  [ctl, cmp] = (await freeNodes(api, 2)) as [NodeJson, NodeJson];
  await api.ok('POST', path('assignment/'), [
    { id: ctl.id, roles: ['controller'] },
    { id: cmp.id, roles: ['compute'] },
  ]);
  await api.ok('PUT', path('deployment_tasks/'), defaultGraph);
});

afterAll(async () => {
  await runtime?.stop();
});

describe('a graph of another type, run on deployed nodes', () => {
  it('the environment is deployed with its default graph first', async () => {
    const run = await deployChanges();
    expect(run.status).toBe('ready');
    expect((await cluster()).status).toBe('operational');
    expect(await nodeStatuses()).toEqual({ [ctl.id]: 'ready', [cmp.id]: 'ready' });
  });

  it('runs exactly the fix tasks on the node named, every time, and records no last run', async () => {
    const before = { ctl: await lastRuns(ctl), cmp: await lastRuns(cmp) };
    expect(before.ctl.map((r) => r.taskName)).toEqual(['app', 'base']);
    const created = await api.call('POST', path('deployment_graphs/fix'), { name: 'fix', tasks: fixGraph });
    expect(created.status).toBe(200);

    for (const round of [1, 2]) {
      const res = await api.call<TaskJson>('PUT', path(`deploy/?nodes=${ctl.id}&graph_type=fix`), {});
      expect(res.status, `round ${round}`).toBe(202);
      expect(res.body).toMatchObject({ name: 'deployment', status: 'running', graph_type: 'fix' });
      expect(res.body.message).toBe(
        `Deployment of the 'fix' graph of environment '${clusterName}' (node ${ctl.id}) is running`,
      );
      const ended = await waitForTask(api, res.body.id);
      expect(ended, `round ${round}`).toMatchObject({ status: 'ready', progress: 100, graph_type: 'fix' });
      expect(ended.message).toBe(`Deployment of the 'fix' graph of environment '${clusterName}' is done.`);

      // the fix graph's tasks only, on that node only, run (not skipped) though unchanged in round 2
      const rows = await history(res.body.id);
      expect(summary(rows), `round ${round}`).toEqual(
        [`base@${ctl.id}:ready`, `fix-a@${ctl.id}:ready`].sort(),
      );
      const base = rows.find((r) => r.task_name === 'base');
      expect(String(base?.custom.output_tail)).toContain('base fixed');
      expect(rows.every((r) => r.custom.exit_code === 0)).toBe(true);

      expect((await cluster()).status).toBe('operational');
      expect(await nodeStatuses()).toEqual({ [ctl.id]: 'ready', [cmp.id]: 'ready' });
    }
    // the task list shows the run's graph too
    const listed = await api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${clusterId}`);
    expect(listed.filter((t) => t.graph_type === 'fix')).toHaveLength(2);

    // what the default graph last ran is untouched: the fix graph's `base` ran ready twice, and is not it
    expect(await lastRuns(ctl)).toEqual(before.ctl);
    expect(await lastRuns(cmp)).toEqual(before.cmp);

    // so "Deploy changes" decides as it did before the fix runs: every default task is unchanged
    const again = await deployChanges();
    expect(again.status).toBe('ready');
    const rows = await history(again.id);
    expect(summary(rows)).toEqual(
      [
        `app@${ctl.id}:skipped`,
        `base@${cmp.id}:skipped`,
        `base@${ctl.id}:skipped`,
        `work@${cmp.id}:skipped`,
      ].sort(),
    );
    expect(rows.every((r) => r.custom.skip_reason === 'unchanged')).toBe(true);
  });

  it('stopped while a task runs: the stopped node says so, the other keeps its status; "Deploy changes" then runs the default graph', async () => {
    // fix-a, in the first layer on both nodes, holds each until its gate there opens; fix-b follows it on the
    // controller only. The compute's gate opens first: it is done before the stop, the controller is not.
    const held = [
      shell('fix-a', '*', gated('fix-hold', 'echo fix-a')),
      shell('fix-b', ['controller'], 'echo fix-b', ['fix-a']),
    ];
    await api.ok('PUT', path('deployment_graphs/fix'), { tasks: held });
    // without nodes: every node of the environment
    const started = await api.ok<TaskJson>('PUT', path('deploy/?graph_type=fix'), {});
    expect(started).toMatchObject({ name: 'deployment', graph_type: 'fix' });
    await waitForRow(api, started.id, 'fix-a', 'running');
    openGateOn(cmp, 'fix-hold');
    // (the controller's fix-a is still held: a ready one is the compute's)
    await waitForRow(api, started.id, 'fix-a', 'ready');
    // the graph a run uses cannot be edited or deleted under it
    expect((await api.call('DELETE', path('deployment_graphs/fix'))).status).toBe(409);

    const stop = await api.ok<TaskJson>('PUT', path('stop_deployment/'), {});
    openGateOn(ctl, 'fix-hold');
    expect((await waitForTask(api, stop.id)).status).toBe('ready');
    const stopped = await waitForTask(api, started.id);
    // a stopped run did not finish
    expect(stopped).toMatchObject({ status: 'error', graph_type: 'fix' });
    expect(stopped.message).toMatch(
      new RegExp(
        `^Deployment of the 'fix' graph of environment '${clusterName}' was stopped: 2 of 3 tasks done, 1 not started`,
      ),
    );
    expect(summary(await history(started.id))).toEqual(
      [`fix-a@${cmp.id}:ready`, `fix-a@${ctl.id}:ready`, `fix-b@${ctl.id}:skipped`].sort(),
    );
    expect(await nodeStatuses()).toEqual({ [ctl.id]: 'stopped', [cmp.id]: 'ready' });
    const nodes = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    expect(nodes.find((n) => n.id === ctl.id)?.progress).toBeLessThan(100);
    expect(await cluster()).toMatchObject({ status: 'stopped', is_locked: false });

    // "Deploy changes": the default graph; every task on the stopped node, the unchanged ones skipped elsewhere
    const run = await deployChanges();
    expect(run).toMatchObject({ status: 'ready', graph_type: 'default' });
    expect(summary(await history(run.id))).toEqual(
      [
        `app@${ctl.id}:ready`,
        `base@${cmp.id}:skipped`,
        `base@${ctl.id}:ready`,
        `work@${cmp.id}:skipped`,
      ].sort(),
    );
    expect((await cluster()).status).toBe('operational');
    expect(await nodeStatuses()).toEqual({ [ctl.id]: 'ready', [cmp.id]: 'ready' });
  });

  it('deploy_tasks/ takes the graph type too: the tasks named, of that graph', async () => {
    const res = await api.call<TaskJson>('PUT', path(`deploy_tasks/?nodes=${ctl.id}&graph_type=fix`), [
      'fix-b',
    ]);
    expect(res.status).toBe(202);
    expect(res.body.graph_type).toBe('fix');
    expect((await waitForTask(api, res.body.id)).status).toBe('ready');
    const rows = await history(res.body.id);
    expect(summary(rows)).toEqual([`fix-a@${ctl.id}:skipped`, `fix-b@${ctl.id}:ready`].sort());
    expect(rows.find((r) => r.task_name === 'fix-a')?.custom.reason).toBe(
      'not among the tasks selected to run',
    );

    // a task of the default graph is not one of the fix graph's
    const unknown = await api.call<ErrorJson>('PUT', path(`deploy_tasks/?nodes=${ctl.id}&graph_type=fix`), [
      'app',
    ]);
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toBe('Tasks app are not present in deployment graph');
    expect((await cluster()).status).toBe('operational');
  });

  it('refuses, with nothing started: a type the environment does not have, nodes not provisioned, provisioning', async () => {
    const tasksBefore = await taskIds();
    const unknown = await api.call<ErrorJson>('PUT', path(`deploy/?nodes=${ctl.id}&graph_type=nope`), {});
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toBe(`Graph with type: nope is not defined in environment '${clusterName}'`);
    const badName = await api.call<ErrorJson>('PUT', path(`deploy/?nodes=${ctl.id}&graph_type=no%20pe`), {});
    expect(badName.status).toBe(400);
    expect(badName.body.message).toMatch(/^Invalid query: graph_type: must be a graph type/);
    // the default graph still needs its nodes listed
    const noNodes = await api.call<ErrorJson>('PUT', path('deploy/'), {});
    expect(noNodes.status).toBe(400);
    expect(noNodes.body).toMatchObject({
      message: expect.stringMatching(
        /^Invalid query: nodes: must list node ids, like \?nodes=1,2: the default graph/,
      ),
      errors: [{ field: 'nodes' }],
    });

    // a third node joins, not provisioned: named or not, the fix graph does not run on it
    const [fresh] = (await freeNodes(api, 1)) as [NodeJson];
    await api.ok('POST', path('assignment/'), [{ id: fresh.id, roles: ['compute'] }]);
    const notProvisioned = `node ${fresh.id} is not provisioned (status 'discover'): provision it first`;
    for (const query of [
      `nodes=${fresh.id}&graph_type=fix`,
      `nodes=${ctl.id},${fresh.id}&graph_type=fix`,
      'graph_type=fix',
    ]) {
      const res = await api.call<ErrorJson>('PUT', path(`deploy/?${query}`), {});
      expect(res.status, query).toBe(400);
      expect(res.body.message, query).toBe(notProvisioned);
    }
    // provisioning runs no graph
    const provision = await api.call<ErrorJson>(
      'PUT',
      path(`provision/?nodes=${fresh.id}&graph_type=fix`),
      {},
    );
    expect(provision.status).toBe(400);
    expect(provision.body.message).toMatch(/^Invalid query: graph_type: provisioning runs no graph/);

    expect(await taskIds()).toEqual(tasksBefore);
    expect(await cluster()).toMatchObject({ status: 'operational', is_locked: false });
    expect(await nodeStatuses()).toEqual({ [ctl.id]: 'ready', [cmp.id]: 'ready', [fresh.id]: 'discover' });
    await api.ok('POST', path('unassignment/'), [{ id: fresh.id }]);
  });

  it('a graph gone between the request and the plan step fails the run, saying so; nothing ran', async () => {
    // The API keeps a locked environment's graphs from edits (409 above): the graph is taken away behind it
    takeGraphAway = true;
    const started = await api.ok<TaskJson>('PUT', path(`deploy/?nodes=${ctl.id}&graph_type=fix`), {});
    const ended = await waitForTask(api, started.id);
    expect(graphTaken).toBe(true);
    expect(ended).toMatchObject({ status: 'error', graph_type: 'fix' });
    // the plan step's error, as the execution's failure carries it, is the run's message
    expect(ended.message).toBe(
      `Deployment of the 'fix' graph of environment '${clusterName}' has failed: Environment '${clusterName}' no longer has a graph of type 'fix': it was deleted after the deployment was requested, and nothing was run`,
    );
    expect(await history(started.id)).toEqual([]);
    // the nodes are as they were; the environment is unlocked, and deploys again
    expect(await nodeStatuses()).toEqual({ [ctl.id]: 'ready', [cmp.id]: 'ready' });
    expect((await cluster()).is_locked).toBe(false);
    expect((await api.call('GET', path('deployment_graphs/fix'))).status).toBe(404);
    expect((await deployChanges()).status).toBe('ready');
    expect((await cluster()).status).toBe('operational');
  });
});
