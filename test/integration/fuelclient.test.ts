/**
 * python-fuelclient against the service, over real HTTP: the exact requests the client sends, and every reply
 * field it reads (a column missing from a reply is a KeyError in the client, so each one is checked).
 *
 * The request sequence, with where each request comes from (openstack/python-fuelclient, 9.x unless noted;
 * the client itself is in test/helpers/fuelclient.ts):
 * - login (fuelclient/client.py APIClient.auth_required, initialize_keystone_client; keystoneclient
 *   keystoneclient/httpclient.py authenticate, keystoneclient/auth/identity/v2.py):
 *     GET  /api/v1/version                      (no headers) -> 401 or auth_required: true
 *     POST /keystone/v2.0/tokens  {"auth": {"passwordCredentials": {username, password}, "tenantName": T}}
 *     POST /keystone/v2.0/tokens  {"auth": {"token": {"id": tok}, "tenantId": access.token.tenant.id}}
 *                                 + X-Auth-Token: tok
 *   then on every API call: Content-Type + Accept application/json, X-Auth-Token: access.token.id.
 * - `fuel2 env create` (fuelclient/objects/environment.py Environment.create):
 *     POST /api/v1/clusters/ {"nodes": [], "tasks": [], name, release_id, net_segment_type}
 * - `fuel2 env add nodes` (objects/environment.py Environment.assign): POST /api/v1/clusters/{id}/assignment/
 * - `fuel2 env list` (fuelclient/commands/environment.py EnvList, fuelclient/v1/base_v1.py get_all):
 *     GET /api/v1/clusters/                     reads id, status, name, release_id
 * - `fuel2 env show ID` (EnvShow): GET /api/v1/clusters/{id}/   reads + fuel_version, is_customized, changes
 * - `fuel2 node list [--env ID]` (fuelclient/commands/node.py NodeList, fuelclient/v1/node.py get_all):
 *     9.0:   GET /api/v1/nodes/ and keeps cluster == ID;  later: GET /api/v1/nodes/?cluster_id=ID
 *     reads id, name, status, os_platform, roles, ip, mac, cluster, platform_name, online
 * - `fuel2 env deploy ID` (commands/environment.py EnvDeploy, fuelclient/v1/environment.py deploy_changes,
 *   objects/environment.py Environment.deploy_changes, fuelclient/objects/task.py DeployTask):
 *     PUT /api/v1/clusters/{id}/changes {}      (later: ?dry_run=0&noop_run=0) reads id, cluster
 *     GET /api/v1/nodes/?cluster_id={cluster}   (DeployTask.__init__ -> Environment.get_all_nodes) reads id
 * - `fuel --env ID stop` (fuelclient/cli/actions/interrupt.py StopAction) = `fuel2 env stop-deployment ID`
 *   (later, commands/environment.py EnvStopDeploy; objects/environment.py Environment.stop):
 *     PUT /api/v1/clusters/{id}/stop_deployment/ {}   reads id (and cluster)
 * - `fuel2 task show ID` (fuelclient/commands/task.py TaskShow, objects/task.py Task):
 *     GET /api/v1/transactions/{id}/            reads id, uuid, status, name, cluster, result, progress, message
 *                                               (10.0+: graph_type, dry_run); Task.wait polls it every 0.5 s
 * - `fuel2 task list --env ID` (commands/task.py TaskList, fuelclient/v1/task.py get_all):
 *     GET /api/v1/transactions/?cluster_id=ID
 * - `fuel2 task history show ID [-n ..] [-t ..] [-d ..]` (commands/task.py TaskHistoryShow):
 *     9.0 (fuelclient/objects/deployment_history.py):
 *       GET /api/v1/transactions/{id}/deployment_history/?nodes=..&statuses=..&tasks_names=..  (always all 3)
 *       reads deployment_graph_task_name, node_id, status, time_start, time_end
 *     later (fuelclient/v1/deployment_history.py): the given filters URL-encoded plus include_summary=0,
 *       renames deployment_graph_task_name -> task_name, reads task_name, node_id, status, time_start, time_end
 * - `fuel2 graph upload / download --cluster / list / delete --env ID -t TYPE` (fuelclient/v1/graph.py):
 *     GET  /api/v1/clusters/{id}/deployment_graphs/{type}   then PUT {"tasks"}, or POST {"tasks"} on 404
 *     GET  /api/v1/clusters/{id}/deployment_graphs/         reads id, name, tasks[].id, relations[] type/model/model_id
 *     DELETE /api/v1/clusters/{id}/deployment_graphs/{type}  (9.2)
 * - `fuel2 graph execute --env ID [--type T] [--nodes N..]` (9.0 fuelclient/v1/graph.py execute,
 *   commands/graph.py GraphExecute; objects/task.py DeployTask):
 *     PUT /api/v1/clusters/{id}/deploy/?nodes=1,2&graph_type=T {}   (each argument only when given) reads id, cluster
 *     GET /api/v1/nodes/?cluster_id={cluster}   reads id; then prints "Deployment was executed"
 * - `fuel graph --env ID --download` (fuelclient/cli/actions/graph.py, objects/environment.py):
 *     GET /api/v1/clusters/{id}/deployment_tasks[?end=..&start=..&include=..]   reads id (without --tasks)
 *     GET /api/v1/clusters/{id}/deploy_tasks/graph.gv?tasks=a%2Cb[&parents_for=..]   the DOT text
 * - `fuel node --node N --tasks .. | --skip .. --end ..` (fuelclient/cli/actions/node.py execute_tasks):
 *     GET /api/v1/nodes/{id}/ (env_id), [GET deployment_tasks as above], then
 *     PUT /api/v1/clusters/{env}/deploy_tasks/?nodes=N  ["task", ...]   reads id
 * - `fuel2 node update ID --name`, `fuel2 node label set` (fuelclient/v1/node.py):
 *     PUT /api/v1/nodes/{id}/ {"name"}; label set: GET /api/v1/nodes/{id}/, PUT /api/v1/nodes/{id}/ {"labels"}
 * - `fuel node --node-id N --delete-from-db --force` (cli/actions/node.py): DELETE /api/v1/nodes/?ids=N
 * - `fuel2 graph list` without --env (9.2 fuelclient/v1/graph.py get_all_graphs_list, commands/graph.py):
 *     GET /api/v1/graphs/                       reads id, name, tasks[].id, relations[] type/model/model_id
 * - `fuel release --rel ID` (9.0.0 fuelclient/cli/actions/release.py, objects/release.py):
 *     GET /api/v1/releases/{id}/                reads id, name, state, operating_system, version
 * - `fuel2 release list`, `fuel2 role list -r ID | -e ID` (9.2 commands/release.py, commands/role.py):
 *     GET /api/v1/releases/  reads id, name, state, operating_system, version
 *     GET /api/v1/releases/{id}/roles/ | /api/v1/clusters/{id}/roles/  reads name, meta.group/conflicts/description
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import {
  display,
  envAddNodes,
  envCreate,
  envDeploy,
  envList,
  envShow,
  envStopDeployment,
  FuelClient,
  FuelHttpError,
  GRAPH_LIST_COLUMNS,
  graphDelete,
  graphDownloadCluster,
  graphDownloadDot,
  graphExecute,
  graphExecute90,
  graphList,
  graphListAll,
  graphUpload,
  historyShow9,
  historyShowLater,
  nodeDeleteFromDb,
  nodeExecuteTasks,
  nodeLabelSet,
  nodeList,
  nodeUpdateName,
  OLD_ENV_LIST_KEYS,
  RELEASE_TABLE_KEYS,
  type Row,
  releaseList,
  releaseShow,
  roleList,
  TASK_SHOW_COLUMNS,
  taskDelete,
  taskList,
  taskShow,
  taskWait,
} from '../helpers/fuelclient.js';

const USER = 'fuel-operator';
const PASSWORD = 'p4ss-w0rd';
const TENANT = 'admin';

// The status values of reference/fuel.md, written out here rather than imported from the domain: the
// client's contract must not move when the service's lists do.
const CLUSTER_STATUSES = [
  'new',
  'deployment',
  'stopped',
  'operational',
  'error',
  'remove',
  'partially_deployed',
];
const NODE_STATUSES = [
  'discover',
  'provisioning',
  'provisioned',
  'deploying',
  'ready',
  'error',
  'removing',
  'stopped',
];
const TASK_STATUSES = ['pending', 'running', 'ready', 'error'];
const HISTORY_STATUSES = ['pending', 'running', 'ready', 'error', 'skipped'];

let runtime: Runtime;
let client: FuelClient;

beforeAll(async () => {
  runtime = await startRuntime({
    port: 0,
    nodeCount: 3,
    demo: false,
    authToken: 'fuelclient-static-token',
    adminUser: USER,
    adminPassword: PASSWORD,
  });
  client = new FuelClient(runtime.url, { username: USER, password: PASSWORD, tenantName: TENANT });
});

afterAll(async () => {
  await runtime?.stop();
});

const shell = (id: string, roles: string[] | '*', cmd: string, requires: string[] = []) => ({
  id,
  type: 'shell',
  roles,
  requires,
  parameters: { cmd, timeout: 60 },
});

/** The controller has a chain left when the stop comes; the computes finish early. */
const graph = [
  shell('base', '*', 'sleep 0.2'),
  shell('controller-1', ['controller'], 'sleep 3', ['base']),
  shell('controller-2', ['controller'], 'sleep 0.2', ['controller-1']),
  shell('controller-3', ['controller'], 'sleep 0.2', ['controller-2']),
  shell('compute-1', ['compute'], 'sleep 0.2', ['base']),
];

const get = (url: string) => ({ method: 'GET', url, body: null });
const put = (url: string, body: unknown) => ({ method: 'PUT', url, body: JSON.stringify(body) });

function expectTimestamp(value: unknown, what: string): void {
  expect(typeof value, what).toBe('string');
  expect(Number.isNaN(Date.parse(String(value))), what).toBe(false);
}

/** What fuelclient reads of a task (TaskShow columns), with Nailgun's types. */
function expectTaskShape(task: Row): void {
  expect(typeof task.id).toBe('number');
  expect(typeof task.uuid).toBe('string');
  expect(TASK_STATUSES).toContain(task.status);
  expect(typeof task.name).toBe('string');
  expect(typeof task.cluster).toBe('number');
  expect(typeof task.result).toBe('object');
  expect(typeof task.progress).toBe('number');
  expect(task.progress).toBeGreaterThanOrEqual(0);
  expect(task.progress).toBeLessThanOrEqual(100);
  expect(task.message === null || typeof task.message === 'string').toBe(true);
  expect(task.graph_type === null || typeof task.graph_type === 'string').toBe(true);
  expect(typeof task.dry_run).toBe('boolean');
}

/** What fuelclient reads of a node (NodeList columns). */
function expectNodeShape(node: Row): void {
  expect(typeof node.id).toBe('number');
  expect(typeof node.name).toBe('string');
  expect(NODE_STATUSES).toContain(node.status);
  expect(Array.isArray(node.roles)).toBe(true);
  expect(node.cluster === null || typeof node.cluster === 'number').toBe(true);
  expect(typeof node.online).toBe('boolean');
  expect(typeof node.mac).toBe('string');
  expect(node.ip === null || typeof node.ip === 'string').toBe(true);
  expect(node.os_platform === null || typeof node.os_platform === 'string').toBe(true);
  expect(node.platform_name === null || typeof node.platform_name === 'string').toBe(true);
}

/** A 9.0 history row (TaskHistoryShow columns). */
function expectHistoryRow9(row: Row): void {
  expect(typeof row.deployment_graph_task_name).toBe('string');
  expect(typeof row.node_id).toBe('string');
  expect(HISTORY_STATUSES).toContain(row.status);
  for (const key of ['time_start', 'time_end'] as const) {
    if (row[key] !== null) expectTimestamp(row[key], key);
  }
  if (row.status === 'ready' || row.status === 'error') {
    expectTimestamp(row.time_start, 'time_start');
    expectTimestamp(row.time_end, 'time_end');
    expect(Date.parse(String(row.time_end))).toBeGreaterThanOrEqual(Date.parse(String(row.time_start)));
  }
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('python-fuelclient (fuel2, Fuel 9.0) against the service', () => {
  let envId: number;
  let controllerId: number;
  let computeIds: number[];
  let deployId: number;
  let stopId: number;
  let deploymentChildId: number;

  it('logs in as the client does: version, Keystone password flow, then token flow', async () => {
    expect(await client.authRequired()).toBe(true);
    const { password, rescoped } = await client.login();
    expect(password.user.name).toBe(USER);
    expect(password.token.tenant.name).toBe(TENANT);
    expect(rescoped.token.tenant.id).toBe(password.token.tenant.id);

    const sent = client.take();
    expect(sent.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /api/v1/version',
      'POST /keystone/v2.0/tokens',
      'POST /keystone/v2.0/tokens',
    ]);
    expect(JSON.parse(sent[1]?.body ?? 'null')).toEqual({
      auth: { passwordCredentials: { username: USER, password: PASSWORD }, tenantName: TENANT },
    });
    expect(JSON.parse(sent[2]?.body ?? 'null')).toEqual({
      auth: { token: { id: password.token.id }, tenantId: password.token.tenant.id },
    });

    // the issued token is what the client sends from now on
    const clusters = await fetch(`${runtime.url}/api/v1/clusters/`, {
      headers: { 'X-Auth-Token': client.authToken, Accept: 'application/json' },
    });
    expect(clusters.status).toBe(200);
  });

  it('refuses a request without a token and a wrong password with 401', async () => {
    const anonymous = await fetch(`${runtime.url}/api/v1/clusters/`, {
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    });
    expect(anonymous.status).toBe(401);
    expect(typeof ((await anonymous.json()) as Row).message).toBe('string');

    const intruder = new FuelClient(runtime.url, { username: USER, password: 'wrong', tenantName: TENANT });
    const refused = await intruder.login().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(FuelHttpError);
    expect((refused as FuelHttpError).status).toBe(401);
    expect((refused as FuelHttpError).url).toBe('/keystone/v2.0/tokens');

    const wrongUser = new FuelClient(runtime.url, {
      username: 'nobody',
      password: PASSWORD,
      tenantName: TENANT,
    });
    expect(((await wrongUser.login().catch((err: unknown) => err)) as FuelHttpError).status).toBe(401);
  });

  it('sets up an environment: env create, add nodes, a graph of short shell tasks', async () => {
    await until('three discovered nodes', async () => {
      const nodes = await client.get<Row[]>('nodes/');
      return nodes.filter((n) => n.cluster === null && n.online === true).length >= 3 ? nodes : null;
    });
    const env = await envCreate(client, `fuelclient-${Date.now()}`, 1);
    expect(typeof env.id).toBe('number');
    envId = env.id as number;
    expect(env.status).toBe('new');

    const free = (await nodeList(client)).filter((n) => n.cluster === null).map((n) => n.id as number);
    free.sort((a, b) => a - b);
    expect(free.length).toBeGreaterThanOrEqual(3);
    controllerId = free[0] as number;
    computeIds = free.slice(1, 3);
    await envAddNodes(client, envId, [controllerId], ['controller']);
    await envAddNodes(client, envId, computeIds, ['compute']);
    await client.put(`clusters/${envId}/deployment_tasks/`, graph);
    client.take();
  });

  it('fuel2 env list / env show: GET clusters/ and clusters/{id}/ with every column', async () => {
    const rows = await envList(client);
    expect(client.take()).toEqual([get('/api/v1/clusters/')]);
    const env = rows.find((r) => r.id === envId);
    expect(env).toBeDefined();
    expect(env?.status).toBe('new');
    expect(typeof env?.name).toBe('string');
    expect(typeof env?.release_id).toBe('number');
    for (const row of rows) {
      expect(CLUSTER_STATUSES).toContain(row.status);
      for (const key of OLD_ENV_LIST_KEYS) expect(row).toHaveProperty(key);
    }

    const shown = await envShow(client, envId);
    expect(client.take()).toEqual([get(`/api/v1/clusters/${envId}/`)]);
    expect(typeof shown.fuel_version).toBe('string');
    expect(typeof shown.is_customized).toBe('boolean');
    expect(Array.isArray(shown.changes)).toBe(true);
  });

  it('fuel2 node list, all and --env (9.0: filtered on `cluster`; later: ?cluster_id=)', async () => {
    const all = await nodeList(client);
    expect(client.take()).toEqual([get('/api/v1/nodes/')]);
    expect(all.length).toBeGreaterThanOrEqual(3);
    for (const node of all) expectNodeShape(node);

    const members9 = await nodeList(client, envId, '9.0');
    expect(client.take()).toEqual([get('/api/v1/nodes/')]);
    expect(members9.map((n) => n.id).sort()).toEqual([controllerId, ...computeIds].sort());

    const members = await nodeList(client, envId, 'later');
    expect(client.take()).toEqual([get(`/api/v1/nodes/?cluster_id=${envId}`)]);
    expect(members.map((n) => n.id).sort()).toEqual([controllerId, ...computeIds].sort());
    for (const node of members) {
      expectNodeShape(node);
      expect(node.cluster).toBe(envId);
      expect(node.status).toBe('discover');
    }
    const controller = members.find((n) => n.id === controllerId);
    // pending roles until deployed, as in Nailgun
    expect([
      ...((controller?.roles as string[] | undefined) ?? []),
      ...((controller?.pending_roles as string[] | undefined) ?? []),
    ]).toContain('controller');
  });

  it('fuel2 env deploy: PUT clusters/{id}/changes {}, reads id and cluster, loads the nodes', async () => {
    const { task, nodes } = await envDeploy(client, envId, '9.0');
    expect(client.take()).toEqual([
      put(`/api/v1/clusters/${envId}/changes`, {}),
      get(`/api/v1/nodes/?cluster_id=${envId}`),
    ]);
    expectTaskShape(task);
    expect(task.cluster).toBe(envId);
    expect(task.name).toBe('deploy');
    expect(['pending', 'running']).toContain(task.status);
    deployId = task.id as number;
    expect(nodes.map((n) => n.id).sort()).toEqual([controllerId, ...computeIds].sort());
  });

  it('fuel2 task show while the deployment runs', async () => {
    const shown = await taskShow(client, deployId);
    expect(client.take()).toEqual([get(`/api/v1/transactions/${deployId}/`)]);
    expectTaskShape(shown);
    expect(shown.id).toBe(deployId);
    expect(shown.status).toBe('running');
    expect(shown.name).toBe('deploy');
    expect(shown.cluster).toBe(envId);
    expect(shown.progress as number).toBeLessThan(100);

    // the client's second deploy is refused while one runs (raise_for_status on a 4xx)
    const again = await envDeploy(client, envId).catch((err: unknown) => err);
    expect(again).toBeInstanceOf(FuelHttpError);
    expect((again as FuelHttpError).status).toBeGreaterThanOrEqual(400);
    expect((again as FuelHttpError).status).toBeLessThan(500);
    client.take();
  });

  it('waits, with history filters, until controller-1 runs and the computes are done with compute-1', async () => {
    await until('controller-1 running', async () => {
      const rows = await historyShow9(client, deployId, {
        nodes: [String(controllerId)],
        statuses: ['running'],
        tasksNames: ['controller-1'],
      });
      return rows.length === 1 ? rows : null;
    });
    expect(client.take()[0]).toEqual(
      get(
        `/api/v1/transactions/${deployId}/deployment_history/?nodes=${controllerId}&statuses=running` +
          '&tasks_names=controller-1',
      ),
    );
    await until('compute-1 ready on both computes', async () => {
      const rows = await historyShow9(client, deployId, { statuses: ['ready'], tasksNames: ['compute-1'] });
      return rows.length === 2 ? rows : null;
    });
    client.take();
  });

  it('stops the deployment: PUT clusters/{id}/stop_deployment/ {}, reads id (and cluster)', async () => {
    const stop = await envStopDeployment(client, envId);
    expect(client.take()).toEqual([put(`/api/v1/clusters/${envId}/stop_deployment/`, {})]);
    expectTaskShape(stop);
    expect(stop.name).toBe('stop_deployment');
    expect(stop.cluster).toBe(envId);
    expect(['pending', 'running']).toContain(stop.status);
    stopId = stop.id as number;

    // a second stop is refused with a message the client prints
    const again = await envStopDeployment(client, envId).catch((err: unknown) => err);
    expect((again as FuelHttpError).status).toBe(409);
    expect((again as FuelHttpError).body).toHaveProperty('message');
    client.take();
  });

  it('waits for the stop as Task.wait does (GET transactions/{id}/ every 0.5 s): ready, cluster stopped', async () => {
    const ended = await taskWait(client, stopId);
    const polls = client.take();
    expect(polls.length).toBeGreaterThan(0);
    for (const request of polls) expect(request).toEqual(get(`/api/v1/transactions/${stopId}/`));
    expectTaskShape(ended);
    expect(ended.status).toBe('ready');
    expect(ended.progress).toBe(100);
    expect(ended.name).toBe('stop_deployment');
    expect(String(ended.message)).toMatch(/was successfully stopped/);

    const deploy = await taskShow(client, deployId);
    expectTaskShape(deploy);
    expect(['ready', 'error']).toContain(deploy.status);

    const env = (await envList(client)).find((r) => r.id === envId);
    expect(env?.status).toBe('stopped');
    const shown = await envShow(client, envId);
    expect(shown.status).toBe('stopped');

    const members = new Map((await nodeList(client, envId, '9.0')).map((n) => [n.id, n]));
    for (const node of members.values()) expectNodeShape(node);
    expect(members.get(controllerId)?.status).toBe('stopped');
    for (const id of computeIds) expect(members.get(id)?.status).toBe('ready');
    client.take();
  });

  it('fuel2 task list --env finds the deployment transaction', async () => {
    const tasks = await taskList(client, envId);
    expect(client.take()).toEqual([get(`/api/v1/transactions/?cluster_id=${envId}`)]);
    for (const task of tasks) {
      expectTaskShape(task);
      expect(task.cluster).toBe(envId);
    }
    expect(tasks.map((t) => t.name)).toEqual(
      expect.arrayContaining(['deploy', 'deployment', 'stop_deployment']),
    );
    const child = tasks.find((t) => t.name === 'deployment' && (t.id as number) > deployId);
    expect(child).toBeDefined();
    deploymentChildId = child?.id as number;
    for (const task of tasks) display(TASK_SHOW_COLUMNS, task);
  });

  it('fuel2 task history show (9.0 request, every filter)', async () => {
    const all = await historyShow9(client, deployId);
    expect(client.take()).toEqual([
      get(`/api/v1/transactions/${deployId}/deployment_history/?nodes=&statuses=&tasks_names=`),
    ]);
    for (const row of all) expectHistoryRow9(row);
    expect(all.filter((r) => r.status === 'running' || r.status === 'pending')).toEqual([]);
    const status = (task: string, node: number) =>
      all.find((r) => r.deployment_graph_task_name === task && r.node_id === String(node))?.status;
    expect(status('controller-1', controllerId)).toBe('ready');
    expect(status('controller-2', controllerId)).toBe('skipped');
    expect(status('controller-3', controllerId)).toBe('skipped');
    for (const id of [controllerId, ...computeIds]) expect(status('base', id)).toBe('ready');
    for (const id of computeIds) expect(status('compute-1', id)).toBe('ready');

    const byNodes = await historyShow9(client, deployId, { nodes: computeIds.map(String) });
    expect(client.take()).toEqual([
      get(
        `/api/v1/transactions/${deployId}/deployment_history/?nodes=${computeIds.join(',')}&statuses=&tasks_names=`,
      ),
    ]);
    expect(byNodes.length).toBeGreaterThan(0);
    for (const row of byNodes) expect(computeIds.map(String)).toContain(row.node_id);

    const byStatuses = await historyShow9(client, deployId, { statuses: ['skipped', 'error'] });
    expect(byStatuses.map((r) => r.deployment_graph_task_name).sort()).toEqual([
      'controller-2',
      'controller-3',
    ]);

    const byNames = await historyShow9(client, deployId, { tasksNames: ['controller-1', 'compute-1'] });
    expect(byNames.map((r) => `${String(r.deployment_graph_task_name)}@${String(r.node_id)}`).sort()).toEqual(
      [`controller-1@${controllerId}`, ...computeIds.map((id) => `compute-1@${id}`)].sort(),
    );

    const combined = await historyShow9(client, deployId, {
      nodes: [String(controllerId)],
      statuses: ['ready'],
      tasksNames: ['base', 'controller-1', 'controller-2'],
    });
    expect(combined.map((r) => r.deployment_graph_task_name).sort()).toEqual(['base', 'controller-1']);
    client.take();

    // the deployment transaction (what `fuel2 task list` shows) has the graph's rows
    const child = await historyShow9(client, deploymentChildId);
    for (const row of child) expectHistoryRow9(row);
    expect(child.map((r) => r.deployment_graph_task_name)).toEqual(
      expect.arrayContaining(['base', 'controller-1', 'controller-2', 'controller-3', 'compute-1']),
    );
    client.take();
  });

  it('fuel2 task history show (later request: encoded params, include_summary, rename to task_name)', async () => {
    const { records, parameters } = await historyShowLater(client, deployId, {
      nodes: [String(controllerId), String(computeIds[0])],
      statuses: ['ready', 'skipped'],
      tasksNames: ['controller-1', 'controller-3', 'compute-1'],
    });
    expect(client.take()).toEqual([
      get(
        `/api/v1/transactions/${deployId}/deployment_history/?statuses=ready%2Cskipped` +
          `&nodes=${controllerId}%2C${computeIds[0]}&tasks_names=controller-1%2Ccontroller-3%2Ccompute-1` +
          '&include_summary=0',
      ),
    ]);
    expect(
      records.map((r) => `${String(r.task_name)}@${String(r.node_id)}:${String(r.status)}`).sort(),
    ).toEqual(
      [
        `compute-1@${computeIds[0]}:ready`,
        `controller-1@${controllerId}:ready`,
        `controller-3@${controllerId}:skipped`,
      ].sort(),
    );
    for (const record of records) {
      expect(Object.keys(record).sort()).toEqual(
        ['node_id', 'status', 'task_name', 'time_end', 'time_start'].sort(),
      );
      // --show-parameters: time_start.partition('.') / time_end.partition('.'): a string or null
      for (const key of ['time_start', 'time_end'] as const) {
        expect(record[key] === null || typeof record[key] === 'string').toBe(true);
      }
    }
    // no row keeps the legacy name as a task parameter: it was renamed
    for (const extra of parameters.values()) expect(extra).not.toHaveProperty('deployment_graph_task_name');
  });

  it('deploys again after the stop (later form ?dry_run=0&noop_run=0) to operational', async () => {
    const { task } = await envDeploy(client, envId, 'later');
    expect(client.take()).toEqual([
      put(`/api/v1/clusters/${envId}/changes?dry_run=0&noop_run=0`, {}),
      get(`/api/v1/nodes/?cluster_id=${envId}`),
    ]);
    expectTaskShape(task);
    expect(task.cluster).toBe(envId);
    const ended = await taskWait(client, task.id as number);
    expect(ended.status).toBe('ready');
    expect(ended.progress).toBe(100);
    expect((await envShow(client, envId)).status).toBe('operational');
    for (const node of await nodeList(client, envId, 'later')) expect(node.status).toBe('ready');

    const { records } = await historyShowLater(client, task.id as number, { nodes: [String(controllerId)] });
    const byName = new Map(records.map((r) => [r.task_name, r.status]));
    expect(byName.get('controller-2')).toBe('ready');
    expect(byName.get('controller-3')).toBe('ready');
    client.take();
  });

  it('fuel2 graph execute --env --nodes: PUT clusters/{id}/deploy/?nodes=..&graph_type=default&dry_run=', async () => {
    const task = await graphExecute(client, envId, [controllerId]);
    expect(client.take()).toEqual([
      put(`/api/v1/clusters/${envId}/deploy/?nodes=${controllerId}&graph_type=default&dry_run=`, {}),
      get(`/api/v1/nodes/?cluster_id=${envId}`),
    ]);
    expectTaskShape(task);
    expect(task.name).toBe('deployment');
    expect((await taskWait(client, task.id as number)).status).toBe('ready');
    client.take();
    // a type the environment does not have: refused, not silently replaced by the default one
    await expect(graphExecute(client, envId, [controllerId], 'custom_graph')).rejects.toMatchObject({
      status: 404,
    });
    client.take();
  });

  it('fuel2 graph upload / list / download / delete of a type, and the default type is deployment_tasks', async () => {
    const provision = [shell('prov-1', '*', 'true'), shell('prov-2', '*', 'true', ['prov-1'])];
    const base = `/api/v1/clusters/${envId}/deployment_graphs`;
    const post = (url: string, body: unknown) => ({ method: 'POST', url, body: JSON.stringify(body) });

    // first upload: the GET says 404, so the client POSTs
    await graphUpload(client, envId, 'provision', provision);
    expect(client.take()).toEqual([
      get(`${base}/provision`),
      post(`${base}/provision`, { tasks: provision }),
    ]);
    // second upload: the GET finds it, so the client PUTs
    const changed = [shell('prov-1', '*', 'true')];
    await graphUpload(client, envId, 'provision', changed);
    expect(client.take()).toEqual([get(`${base}/provision`), put(`${base}/provision`, { tasks: changed })]);
    expect(await graphDownloadCluster(client, envId, 'provision')).toEqual(changed);
    client.take();

    const rows = await graphList(client, envId);
    expect(client.take()).toEqual([get(`${base}/`)]);
    const byRelation = new Map(rows.map((r) => [String(r[GRAPH_LIST_COLUMNS.indexOf('relations')]), r]));
    const own = byRelation.get(`as "provision" to cluster(ID=${envId})`);
    expect(typeof own?.[0]).toBe('number');
    expect(own?.[2]).toBe('prov-1');
    // the default graph is the environment's own one (uploaded with deployment_tasks/)
    const ownDefault = byRelation.get(`as "default" to cluster(ID=${envId})`);
    expect(ownDefault?.[2]).toBe(
      graph
        .map((t) => t.id)
        .sort()
        .join(', '),
    );

    // the default type is the graph deployments run: the same as deployment_tasks/
    await graphUpload(client, envId, 'default', graph);
    expect(client.take()).toEqual([get(`${base}/default`), put(`${base}/default`, { tasks: graph })]);
    expect(await client.get(`clusters/${envId}/deployment_tasks/`)).toEqual(graph);
    client.take();

    // a graph of another type runs when named (and cannot be deleted while it does)
    const run = await graphExecute(client, envId, [controllerId], 'provision');
    expect(run.graph_type).toBe('provision');
    expect((await taskWait(client, run.id as number)).status).toBe('ready');
    client.take();

    await graphDelete(client, envId, 'provision');
    expect(client.take()).toEqual([{ method: 'DELETE', url: `${base}/provision`, body: null }]);
    await expect(graphDownloadCluster(client, envId, 'provision')).rejects.toMatchObject({ status: 404 });
    client.take();
  });

  it('fuel2 graph execute (9.0) --env --type [--nodes]: PUT clusters/{id}/deploy/?nodes=..&graph_type=.., "Deployment was executed"', async () => {
    const fix = [shell('fix-1', '*', 'true'), shell('fix-2', '*', 'true', ['fix-1'])];
    await graphUpload(client, envId, 'fix', fix);
    client.take();

    const { task, output } = await graphExecute90(client, envId, { type: 'fix', nodes: [controllerId] });
    expect(client.take()).toEqual([
      put(`/api/v1/clusters/${envId}/deploy/?nodes=${controllerId}&graph_type=fix`, {}),
      get(`/api/v1/nodes/?cluster_id=${envId}`),
    ]);
    expect(output).toBe('Deployment was executed\n');
    expectTaskShape(task);
    expect(task).toMatchObject({ name: 'deployment', cluster: envId, graph_type: 'fix' });
    expect((await taskWait(client, task.id as number)).status).toBe('ready');
    const rows = await client.get<Row[]>(`transactions/${String(task.id)}/deployment_history/`);
    expect(
      rows
        .map((r) => `${String(r.deployment_graph_task_name)}@${String(r.node_id)}:${String(r.status)}`)
        .sort(),
    ).toEqual([`fix-1@${controllerId}:ready`, `fix-2@${controllerId}:ready`]);
    client.take();

    // without --nodes: every node of the environment
    const all = await graphExecute90(client, envId, { type: 'fix' });
    expect(client.take()).toEqual([
      put(`/api/v1/clusters/${envId}/deploy/?graph_type=fix`, {}),
      get(`/api/v1/nodes/?cluster_id=${envId}`),
    ]);
    expect(all.output).toBe('Deployment was executed\n');
    expect((await taskWait(client, all.task.id as number)).status).toBe('ready');
    const everywhere = await client.get<Row[]>(`transactions/${String(all.task.id)}/deployment_history/`);
    expect(new Set(everywhere.map((r) => Number(r.node_id)))).toEqual(new Set([controllerId, ...computeIds]));
    expect((await envShow(client, envId)).status).toBe('operational');
    client.take();

    // a type the environment does not have: the client raises on the 404, and writes nothing
    const unknown = await graphExecute90(client, envId, { type: 'nope', nodes: [controllerId] }).catch(
      (e: unknown) => e,
    );
    expect(unknown).toBeInstanceOf(FuelHttpError);
    expect((unknown as FuelHttpError).status).toBe(404);
    expect(client.take()).toEqual([
      put(`/api/v1/clusters/${envId}/deploy/?nodes=${controllerId}&graph_type=nope`, {}),
    ]);
    await graphDelete(client, envId, 'fix');
    client.take();
  });

  it("fuel2 graph list without --env (9.2): GET graphs/, every environment's graphs, --release / --cluster", async () => {
    const rollback = [shell('rb-2', '*', 'true'), shell('rb-1', '*', 'true')];
    await graphUpload(client, envId, 'rollback', rollback);
    client.take();

    const rows = await graphListAll(client);
    expect(client.take()).toEqual([get('/api/v1/graphs/')]);
    const column = (name: (typeof GRAPH_LIST_COLUMNS)[number]) => GRAPH_LIST_COLUMNS.indexOf(name);
    const byRelation = new Map(rows.map((r) => [String(r[column('relations')]), r]));
    // the one environment of this file: its own default graph (deployment_tasks/), and the rollback graph
    expect([...byRelation.keys()].sort()).toEqual([
      `as "default" to cluster(ID=${envId})`,
      `as "rollback" to cluster(ID=${envId})`,
    ]);
    const own = byRelation.get(`as "rollback" to cluster(ID=${envId})`);
    expect(typeof own?.[column('id')]).toBe('number');
    expect(own?.[column('name')]).toBeNull();
    expect(own?.[column('tasks')]).toBe('rb-1, rb-2');
    const ownDefault = byRelation.get(`as "default" to cluster(ID=${envId})`);
    expect(ownDefault?.[column('tasks')]).toBe(
      graph
        .map((t) => t.id)
        .sort()
        .join(', '),
    );
    // sorted by id, as printed
    const ids = rows.map((r) => r[column('id')] as number);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    // the filters are the client's own: the same request, then the graphs of a relation of that model
    expect(await graphListAll(client, ['cluster'])).toEqual(rows);
    expect(await graphListAll(client, ['release'])).toEqual([]);
    expect(client.take()).toEqual([get('/api/v1/graphs/'), get('/api/v1/graphs/')]);

    await graphDelete(client, envId, 'rollback');
    client.take();
  });

  it('fuel graph --download: deployment_tasks (start/end, skip), then graph.gv as DOT text', async () => {
    const all = await graphDownloadDot(client, envId);
    const ids = graph.map((t) => t.id);
    expect(client.take()).toEqual([
      get(`/api/v1/clusters/${envId}/deployment_tasks`),
      get(`/api/v1/clusters/${envId}/deploy_tasks/graph.gv?tasks=${ids.join('%2C')}`),
    ]);
    expect(all.startsWith('strict digraph {')).toBe(true);
    expect(all).toContain('"controller-1" -> "controller-2";');
    expect(all).toContain('"base" -> "compute-1";');

    const part = await graphDownloadDot(client, envId, { end: 'controller-2', skip: ['base'] });
    expect(client.take()).toEqual([
      get(`/api/v1/clusters/${envId}/deployment_tasks?end=controller-2`),
      get(`/api/v1/clusters/${envId}/deploy_tasks/graph.gv?tasks=controller-1%2Ccontroller-2`),
    ]);
    // what is not selected is drawn as skipped
    expect(part).toContain('"base" [color=gray95];');
    expect(part).toContain('"controller-2" [color=yellowgreen, style=filled];');

    const parents = await graphDownloadDot(client, envId, {
      tasks: ['controller-2'],
      parentsFor: 'controller-2',
    });
    expect(client.take()).toEqual([
      get(`/api/v1/clusters/${envId}/deploy_tasks/graph.gv?tasks=controller-2&parents_for=controller-2`),
    ]);
    expect(parents.match(/\[/g)).toHaveLength(2);

    await expect(graphDownloadDot(client, envId, { tasks: ['nope'] })).rejects.toMatchObject({ status: 400 });
    client.take();
  });

  it('fuel node --node N --tasks / --skip --end: PUT deploy_tasks/?nodes= with the tasks, only they run', async () => {
    const task = await nodeExecuteTasks(client, [controllerId], { tasks: ['controller-2'] });
    expect(client.take()).toEqual([
      get(`/api/v1/nodes/${controllerId}/`),
      put(`/api/v1/clusters/${envId}/deploy_tasks/?nodes=${controllerId}`, ['controller-2']),
    ]);
    expectTaskShape(task as Row);
    expect(task?.name).toBe('deployment');
    expect((await taskWait(client, task?.id as number)).status).toBe('ready');
    const rows = await historyShow9(client, task?.id as number);
    const status = new Map(rows.map((r) => [r.deployment_graph_task_name, r.status]));
    // the one task named ran (even though unchanged); the others are in the plan and ran nothing
    expect(status.get('controller-2')).toBe('ready');
    for (const other of ['base', 'controller-1', 'controller-3']) expect(status.get(other)).toBe('skipped');
    for (const row of rows) expect(row.node_id).toBe(String(controllerId));
    client.take();

    const second = await nodeExecuteTasks(client, [controllerId], { end: 'controller-2', skip: ['base'] });
    expect(client.take()).toEqual([
      get(`/api/v1/nodes/${controllerId}/`),
      get(`/api/v1/clusters/${envId}/deployment_tasks?end=controller-2`),
      put(`/api/v1/clusters/${envId}/deploy_tasks/?nodes=${controllerId}`, ['controller-1', 'controller-2']),
    ]);
    expect((await taskWait(client, second?.id as number)).status).toBe('ready');
    const secondRows = new Map(
      (await historyShow9(client, second?.id as number)).map((r) => [r.deployment_graph_task_name, r.status]),
    );
    expect(secondRows.get('controller-1')).toBe('ready');
    expect(secondRows.get('controller-2')).toBe('ready');
    for (const other of ['base', 'controller-3']) expect(secondRows.get(other)).toBe('skipped');
    client.take();

    const unknown = await nodeExecuteTasks(client, [controllerId], { tasks: ['nope'] }).catch(
      (e: unknown) => e,
    );
    expect((unknown as FuelHttpError).status).toBe(400);
    expect((unknown as FuelHttpError).body).toMatchObject({
      message: 'Tasks nope are not present in deployment graph',
    });
    client.take();
  });

  it('fuel2 release list, role list --release / --env, and env create refuses an unknown release', async () => {
    const releases = await releaseList(client);
    expect(client.take()).toEqual([get('/api/v1/releases/')]);
    expect(releases.map((r) => r.id)).toEqual([1]);
    expect(typeof releases[0]?.name).toBe('string');
    expect(releases[0]?.version).toBe('mitaka-9.0');

    const roles = await roleList(client, 'releases', 1);
    expect(client.take()).toEqual([get('/api/v1/releases/1/roles/')]);
    const controller = roles.find((r) => r.name === 'controller');
    expect(controller?.group).toBe('base');
    expect(Array.isArray(controller?.conflicts)).toBe(true);
    expect(typeof controller?.description).toBe('string');
    await expect(roleList(client, 'releases', 2)).rejects.toMatchObject({ status: 404 });
    client.take();

    const envRoles = await roleList(client, 'clusters', envId);
    expect(client.take()).toEqual([get(`/api/v1/clusters/${envId}/roles/`)]);
    expect(envRoles.map((r) => r.name)).toEqual(expect.arrayContaining(['controller', 'compute']));

    // `fuel release --rel 1` (9.0.0): GET releases/1/, the same values as the list's row
    const shown = await releaseShow(client, 1);
    expect(client.take()).toEqual([get('/api/v1/releases/1/')]);
    expect(shown).toEqual(RELEASE_TABLE_KEYS.map((key) => releases[0]?.[key]));
    expect(shown).toEqual([1, 'Mitaka on Ubuntu 14.04', 'available', 'Ubuntu', 'mitaka-9.0']);
    const missing = await releaseShow(client, 2).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(FuelHttpError);
    expect((missing as FuelHttpError).status).toBe(404);
    expect(client.take()).toEqual([get('/api/v1/releases/2/')]);

    const refused = await envCreate(client, `fuelclient-r2-${Date.now()}`, 2).catch((e: unknown) => e);
    expect((refused as FuelHttpError).status).toBe(400);
    expect(JSON.stringify((refused as FuelHttpError).body)).toMatch(/release 2 does not exist/);
    client.take();
  });

  it('fuel2 node update --name, node label set, and delete-from-db of a free node only', async () => {
    const [computeId] = computeIds as [number];
    const renamed = await nodeUpdateName(client, computeId, 'compute-a');
    expect(client.take()).toEqual([put(`/api/v1/nodes/${computeId}/`, { name: 'compute-a' })]);
    expect(renamed.name).toBe('compute-a');
    expect(renamed.id).toBe(computeId);

    expect(await nodeLabelSet(client, [computeId], ['rack=r1', 'ssd'])).toEqual([String(computeId)]);
    expect(await nodeLabelSet(client, [computeId], ['rack=r2'])).toEqual([String(computeId)]);
    expect(client.take()).toEqual([
      get(`/api/v1/nodes/${computeId}/`),
      put(`/api/v1/nodes/${computeId}/`, { labels: { rack: 'r1', ssd: null } }),
      get(`/api/v1/nodes/${computeId}/`),
      put(`/api/v1/nodes/${computeId}/`, { labels: { rack: 'r2', ssd: null } }),
    ]);
    const listed = (await nodeList(client)).find((n) => n.id === computeId);
    expect(listed?.labels).toEqual({ rack: 'r2', ssd: null });
    client.take();

    // a node of the environment is not deleted
    const refused = await nodeDeleteFromDb(client, [computeId], true).catch((e: unknown) => e);
    expect(client.take()).toEqual([{ method: 'DELETE', url: `/api/v1/nodes/?ids=${computeId}`, body: null }]);
    expect((refused as FuelHttpError).status).toBe(409);
    // a check of the client's, not of the service: without --force it refuses an online node itself
    await expect(nodeDeleteFromDb(client, [computeId])).rejects.toThrow(/online/);
    client.take();

    await client.post(`clusters/${envId}/unassignment/`, [{ id: computeId }]);
    await nodeDeleteFromDb(client, [computeId], true);
    expect(client.take().at(-1)).toEqual({
      method: 'DELETE',
      url: `/api/v1/nodes/?ids=${computeId}`,
      body: null,
    });
    // gone, or (its instance still registered) discovered again as a new free node: its name and labels are gone
    const back = (await nodeList(client)).find((n) => n.id === computeId);
    if (back !== undefined) {
      expect(back.cluster).toBeNull();
      expect(back.labels).toEqual({});
      expect(back.name).not.toBe('compute-a');
    }
    client.take();
  });

  it('fuel2 task delete: DELETE transactions/{id}/?force=0, then the task is gone', async () => {
    await taskDelete(client, stopId);
    expect(client.take()).toEqual([
      { method: 'DELETE', url: `/api/v1/transactions/${stopId}/?force=0`, body: null },
    ]);
    await expect(taskShow(client, stopId)).rejects.toMatchObject({ status: 404 });
    client.take();
  });
});
