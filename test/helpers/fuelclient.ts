/**
 * A stand-in for python-fuelclient (the `fuel2` CLI of Fuel 9.0, plus the later forms of the same
 * commands): its HTTP client, its Keystone v2.0 login through keystoneclient, and the requests and reply
 * reads of the commands the tests drive. Every request is recorded, so a test can check the exact sequence.
 *
 * Sources (openstack/python-fuelclient, stable/mitaka = 9.x unless noted; openstack/python-keystoneclient):
 * - fuelclient/client.py, APIClient: `root = http://host:port`, `api_root = root + /api/v1/`,
 *   `keystone_base = root + /keystone/v2.0`. `auth_required`: a bare `requests.get(api_root + 'version')`
 *   (no headers); 401 -> True, else `raise_for_status()` and `json()['auth_required']`.
 *   `initialize_keystone_client`: `keystoneclient.v2_0.client.Client(auth_url=keystone_base, username,
 *   password, tenant_name)` (which authenticates once), then `.authenticate()` again.
 *   Session headers on every API call: `Content-Type: application/json`, `Accept: application/json`,
 *   `X-Auth-Token: <keystone_client.auth_token>`. `get_request(api, params)`: GET api_root + api, then
 *   `raise_for_status()` and `resp.json()`. `put_request(api, data, **params)`: PUT with
 *   `data=json.dumps(data)` and the query `params`. `post_request(api, data)`: POST `json.dumps(data)`.
 * - keystoneclient/httpclient.py `authenticate()` + keystoneclient/auth/identity/v2.py `Auth.get_auth_ref`:
 *   POST auth_url + '/tokens'. First `{"auth": {"passwordCredentials": {username, password},
 *   "tenantName": T}}`; `process_token()` then requires `access.user.id` and, the token being scoped
 *   (`'tenant' in access.token`), `access.token.tenant.id`, which becomes `project_id`. The second
 *   `authenticate()` reuses the (not soon expiring: `access.token.expires`) token: `Token` plugin,
 *   `{"auth": {"token": {"id": <token>}, "tenantId": <access.token.tenant.id>}}` with header
 *   `X-Auth-Token: <token>`. `auth_token` = `access.token.id`.
 * - fuelclient/common/data_utils.py `get_display_data_single`: every column must be a key of the reply
 *   (`KeyError('<f> is not found in the supplied data.')`); null values are fine.
 * - graphs (9.0.0 fuelclient/v1/graph.py GraphClient, fuelclient/commands/graph.py; delete from 9.2):
 *   `upload`: GET clusters/{id}/deployment_graphs/{type} (no trailing slash), then PUT `{"tasks": data}`, or
 *   POST the same when the GET said 404; `download --cluster`: the same GET, `.get('tasks', [])`; `list`:
 *   GET clusters/{id}/deployment_graphs/, prints id, name, the sorted task ids, and each relation
 *   `as "{type}" to {model}(ID={model_id})`; `delete` (9.2): DELETE clusters/{id}/deployment_graphs/{type}.
 *   `execute` (9.0): PUT clusters/{id}/deploy/?nodes=1,2&graph_type=T (each only when given) with `{}`, then
 *   DeployTask loads the nodes; prints "Deployment was executed".
 * - `fuel graph --env N --download` (fuelclient/cli/actions/graph.py, objects/environment.py
 *   get_tasks, get_deployment_tasks_graph): without --tasks (or with --skip/--start/--end) first
 *   GET clusters/{id}/deployment_tasks with params end/start/include (requests drops the None ones), the task
 *   ids less --skip; then GET clusters/{id}/deploy_tasks/graph.gv with params tasks (joined with `,`),
 *   parents_for, remove (None dropped), read as text.
 * - `fuel node --node N.. --tasks T.. | --skip | --start | --end` (fuelclient/cli/actions/node.py
 *   execute_tasks): GET nodes/{id}/ of each node (`env_id`), the task list as above, then
 *   PUT clusters/{env}/deploy_tasks/?nodes=1,2 with the task ids as the body; reads `id`.
 * - `fuel node --node-id N.. --delete-from-db [--force]` (cli/actions/node.py, objects/node.py
 *   NodeCollection.delete_by_ids): without --force GET nodes/{id}/ each (online nodes are refused by the
 *   client itself); DELETE nodes/?ids=1,2 (204 is read as `{}`).
 * - `fuel2 node update ID --name N` (v1/node.py update): PUT nodes/{id}/ `{"name": N}`, prints NodeShow's
 *   columns (9.0 also lists numa_nodes, supported_hugepages, distances, which NodeShow copies from
 *   `meta.numa_topology` and NodeUpdate does not: a KeyError on Nailgun 9.0 as well; not checked here).
 *   `fuel2 node label set -l k=v -n ID..` (set_labels_for_nodes): per node GET nodes/{id}/ (its labels),
 *   then PUT nodes/{id}/ `{"labels": merged}`, reads `id`; `label list`: GET nodes/, reads labels.
 * - `fuel2 graph list` without --env (9.2 fuelclient/v1/graph.py GraphClient.list -> get_all_graphs_list,
 *   commands/graph.py GraphList): GET graphs/ (no params); `--cluster` / `--release` / `--plugins` keep the
 *   graphs with a relation whose model is that word; each row a copy with relations and tasks formatted as
 *   9.0's, then data_utils.get_display_data_multi (`.get`: a missing column is None, but relations and tasks
 *   are read with `[]`), sorted by id (Python 2: a null id sorts first).
 * - `fuel release --rel N` (9.0.0 fuelclient/cli/actions/release.py ReleaseAction.list, objects/release.py
 *   `instance_api_path = releases/{0}/`, objects/base.py get_fresh_data): GET releases/{id}/, printed with
 *   cli/formatting.py format_table's acceptable_keys id, name, state, operating_system, version (`value[key]`:
 *   a KeyError for a missing one). fuel2 9.0 and 9.2 have no `release show`.
 * - `fuel2 release list` (9.2 commands/release.py): GET releases/, columns id, name, state, operating_system,
 *   version. `fuel2 role list -r ID | -e ID` (9.2 v1/role.py, objects/role.py): GET releases/{id}/roles/ or
 *   clusters/{id}/roles/, pops `meta` and reads its group, conflicts, description; columns name, group,
 *   conflicts, description.
 */
import { expect } from 'vitest';

export interface RecordedRequest {
  method: string;
  /** Path and query string as sent (after `http://host:port`). */
  url: string;
  body: string | null;
}

export class FuelHttpError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`${method} ${url} -> ${status}: ${JSON.stringify(body)}`);
  }
}

export interface KeystoneAccess {
  token: { id: string; expires: string; issued_at?: string; tenant: { id: string; name: string } };
  user: { id: string; name: string };
  serviceCatalog: unknown[];
}

export type Row = Record<string, unknown>;

/** keystoneclient's `STALE_TOKEN_DURATION` (s): a token expiring sooner is not reused by `authenticate()`. */
const STALE_TOKEN_DURATION_S = 30;

/** `requests`' encoding of `params=`: urlencode, so `,` becomes `%2C` and a space `+`. */
function encodeParams(params: Record<string, string>): string {
  return Object.entries(params)
    .map(
      ([k, v]) =>
        `${encodeURIComponent(k).replace(/%20/g, '+')}=${encodeURIComponent(v).replace(/%20/g, '+')}`,
    )
    .join('&');
}

export class FuelClient {
  readonly requests: RecordedRequest[] = [];
  private token: string | null = null;

  constructor(
    private readonly root: string,
    private readonly credentials: { username: string; password: string; tenantName: string },
  ) {}

  /** The requests sent since the last call, in order (the log is then emptied). */
  take(): RecordedRequest[] {
    return this.requests.splice(0, this.requests.length);
  }

  get authToken(): string {
    if (this.token === null) throw new Error('not logged in');
    return this.token;
  }

  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | null,
  ): Promise<{ status: number; body: unknown }> {
    this.requests.push({ method, url, body });
    const res = await fetch(`${this.root}${url}`, { method, headers, body: body ?? undefined });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // not JSON: kept as text (python-fuelclient would fail on `resp.json()`)
    }
    return { status: res.status, body: parsed };
  }

  /** APIClient.auth_required: a bare GET of `version` (no token, no headers). */
  async authRequired(): Promise<boolean> {
    const url = '/api/v1/version';
    const res = await this.send('GET', url, {}, null);
    if (res.status === 401) return true;
    if (res.status >= 400) throw new FuelHttpError('GET', url, res.status, res.body);
    return Boolean((res.body as Row).auth_required);
  }

  /** One keystoneclient `POST /keystone/v2.0/tokens`; throws on an error status as keystoneclient does. */
  async keystoneTokens(auth: Row, token?: string): Promise<KeystoneAccess> {
    const url = '/keystone/v2.0/tokens';
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'User-Agent': 'python-keystoneclient',
    };
    if (token !== undefined) headers['X-Auth-Token'] = token;
    const res = await this.send('POST', url, headers, JSON.stringify({ auth }));
    if (res.status >= 400) throw new FuelHttpError('POST', url, res.status, res.body);
    return (res.body as { access: KeystoneAccess }).access;
  }

  /**
   * APIClient.initialize_keystone_client: the password flow (keystoneclient's constructor), then the token
   * flow (the explicit `authenticate()`), checking each access document as keystoneclient reads it.
   */
  async login(): Promise<{ password: KeystoneAccess; rescoped: KeystoneAccess }> {
    const { username, password, tenantName } = this.credentials;
    const first = await this.keystoneTokens({ passwordCredentials: { username, password }, tenantName });
    checkAccess(first);
    const rescoped = await this.keystoneTokens(
      { token: { id: first.token.id }, tenantId: first.token.tenant.id },
      first.token.id,
    );
    checkAccess(rescoped);
    this.token = rescoped.token.id;
    return { password: first, rescoped };
  }

  private apiHeaders(): Record<string, string> {
    return { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Auth-Token': this.authToken };
  }

  private async api<T>(method: string, api: string, data: unknown, params?: Record<string, string>) {
    const query = params && Object.keys(params).length > 0 ? encodeParams(params) : '';
    const url = `/api/v1/${api}${query === '' ? '' : `${api.includes('?') ? '&' : '?'}${query}`}`;
    const res = await this.send(
      method,
      url,
      this.apiHeaders(),
      data === undefined ? null : JSON.stringify(data),
    );
    if (res.status >= 400) throw new FuelHttpError(method, url, res.status, res.body);
    return res.body as T;
  }

  /** APIClient.get_request(api, params=...) */
  get<T = unknown>(api: string, params?: Record<string, string>): Promise<T> {
    return this.api<T>('GET', api, undefined, params);
  }

  /** APIClient.put_request(api, data, **params) */
  put<T = unknown>(api: string, data: unknown, params?: Record<string, string>): Promise<T> {
    return this.api<T>('PUT', api, data, params);
  }

  /** APIClient.delete_request(api, params=...) */
  delete(api: string, params?: Record<string, string>): Promise<unknown> {
    return this.api('DELETE', api, undefined, params);
  }

  /** APIClient.post_request(api, data) */
  post<T = unknown>(api: string, data: unknown): Promise<T> {
    return this.api<T>('POST', api, data);
  }
}

/** What keystoneclient needs from an access document (AccessInfoV2, HTTPClient.process_token). */
export function checkAccess(access: KeystoneAccess): void {
  expect(typeof access.token.id).toBe('string');
  expect(access.token.id.length).toBeGreaterThan(0);
  const expires = Date.parse(access.token.expires);
  expect(Number.isNaN(expires)).toBe(false);
  expect(expires - Date.now()).toBeGreaterThan(STALE_TOKEN_DURATION_S * 1000);
  expect(typeof access.token.tenant.id).toBe('string');
  expect(access.token.tenant.id.length).toBeGreaterThan(0);
  expect(typeof access.user.id).toBe('string');
  expect(access.user.id.length).toBeGreaterThan(0);
  expect(Array.isArray(access.serviceCatalog)).toBe(true);
}

/** fuelclient/common/data_utils.py get_display_data_single: a missing column is a KeyError. */
export function display(columns: readonly string[], row: Row): unknown[] {
  return columns.map((field) => {
    if (!(field in row)) throw new Error(`${field} is not found in the supplied data.`);
    return row[field];
  });
}

export function displayAll(columns: readonly string[], rows: Row[]): unknown[][] {
  return rows.map((row) => display(columns, row));
}

// ---- the columns each command prints (a KeyError for any one missing) ----

/** fuelclient/commands/environment.py EnvList.columns */
export const ENV_LIST_COLUMNS = ['id', 'status', 'name', 'release_id'] as const;
/** fuelclient/commands/environment.py EnvShow.columns (also EnvCreate, EnvUpdate) */
export const ENV_SHOW_COLUMNS = [
  'id',
  'status',
  'fuel_version',
  'name',
  'release_id',
  'is_customized',
  'changes',
] as const;
/** fuelclient/cli/actions/environment.py EnvironmentAction.list acceptable_keys (old `fuel env`) */
export const OLD_ENV_LIST_KEYS = ['id', 'status', 'name', 'release_id', 'pending_release_id'] as const;
/** fuelclient/commands/node.py NodeList.columns */
export const NODE_LIST_COLUMNS = [
  'id',
  'name',
  'status',
  'os_platform',
  'roles',
  'ip',
  'mac',
  'cluster',
  'platform_name',
  'online',
] as const;
/** fuelclient/commands/task.py TaskShow.columns: 9.0, and the later (10.0+) additions graph_type, dry_run */
export const TASK_SHOW_COLUMNS_9 = [
  'id',
  'uuid',
  'status',
  'name',
  'cluster',
  'result',
  'progress',
  'message',
];
export const TASK_SHOW_COLUMNS = [...TASK_SHOW_COLUMNS_9, 'graph_type', 'dry_run'] as const;
/** fuelclient/commands/task.py TaskList.columns (9.0: without graph_type, dry_run) */
export const TASK_LIST_COLUMNS = [
  'id',
  'status',
  'name',
  'graph_type',
  'cluster',
  'result',
  'dry_run',
  'progress',
] as const;
/** fuelclient/commands/task.py TaskHistoryShow.columns of 9.0 */
export const HISTORY_COLUMNS_9 = [
  'deployment_graph_task_name',
  'node_id',
  'status',
  'time_start',
  'time_end',
] as const;
/** fuelclient/v1/deployment_history.py DeploymentHistoryClient.history_records_keys (10.0+) */
export const HISTORY_RECORDS_KEYS = ['task_name', 'node_id', 'status', 'time_start', 'time_end'] as const;

// ---- the commands ----

/**
 * `fuel2 env list`: EnvironmentClient.get_all() -> `GET clusters/`; BaseListCommand sorts by `id`.
 * (fuelclient/v1/base_v1.py, fuelclient/objects/environment.py class_api_path)
 */
export async function envList(c: FuelClient): Promise<Row[]> {
  const rows = await c.get<Row[]>('clusters/');
  displayAll(ENV_LIST_COLUMNS, rows);
  return rows;
}

/** `fuel2 env show ID`: `GET clusters/{id}/` (objects/environment.py instance_api_path). */
export async function envShow(c: FuelClient, id: number): Promise<Row> {
  const row = await c.get<Row>(`clusters/${id}/`);
  display(ENV_SHOW_COLUMNS, row);
  return row;
}

/**
 * `fuel2 env create NAME -r REL`: Environment.create posts
 * `{"nodes": [], "tasks": [], "name", "release_id", "net_segment_type"}` to `clusters/`.
 */
export async function envCreate(c: FuelClient, name: string, releaseId: number): Promise<Row> {
  const row = await c.post<Row>('clusters/', {
    nodes: [],
    tasks: [],
    name,
    release_id: releaseId,
    net_segment_type: 'vlan',
  });
  display(ENV_SHOW_COLUMNS, row);
  return row;
}

/**
 * `fuel2 env add nodes -e ENV -n IDS -r ROLES`: Environment.assign ->
 * `POST clusters/{id}/assignment/` `[{"id": node, "roles": roles}]`.
 */
export async function envAddNodes(c: FuelClient, env: number, nodes: number[], roles: string[]) {
  return c.post(
    `clusters/${env}/assignment/`,
    nodes.map((id) => ({ id, roles })),
  );
}

/**
 * `fuel2 node list [--env ENV]`.
 * - 9.0 (fuelclient/v1/node.py NodeClient.get_all): `GET nodes/`, then keeps `n['cluster'] == env`
 *   (Python int comparison).
 * - later (objects Node.get_by_env_id): `GET nodes/?cluster_id=ENV`.
 */
export async function nodeList(c: FuelClient, env?: number, style: '9.0' | 'later' = '9.0'): Promise<Row[]> {
  let rows: Row[];
  if (env === undefined) rows = await c.get<Row[]>('nodes/');
  else if (style === '9.0') rows = (await c.get<Row[]>('nodes/')).filter((n) => n.cluster === env);
  else rows = await c.get<Row[]>('nodes/', { cluster_id: String(env) });
  displayAll(NODE_LIST_COLUMNS, rows);
  return rows;
}

/**
 * `fuel2 env deploy ID`: Environment.deploy_changes -> `PUT clusters/{id}/changes` with `{}` (9.0; 10.0+
 * adds `?dry_run=0&noop_run=0`), then `DeployTask.init_with_data(data)` reads `data["id"]` and
 * `data["cluster"]` and loads the environment's nodes: `GET nodes/?cluster_id={cluster}` (each read by `id`).
 * (fuelclient/objects/environment.py, fuelclient/objects/task.py, fuelclient/commands/environment.py)
 */
export async function envDeploy(
  c: FuelClient,
  id: number,
  style: '9.0' | 'later' = '9.0',
): Promise<{ task: Row; nodes: Row[] }> {
  const task = await c.put<Row>(
    `clusters/${id}/changes`,
    {},
    style === 'later' ? { dry_run: '0', noop_run: '0' } : undefined,
  );
  expect(task).toHaveProperty('id');
  expect(task).toHaveProperty('cluster');
  const nodes = await c.get<Row[]>(`nodes/?cluster_id=${String(task.cluster)}`);
  for (const node of nodes) expect(node).toHaveProperty('id');
  return { task, nodes };
}

/**
 * `fuel --env ID stop` (9.0, fuelclient/cli/actions/interrupt.py StopAction) and `fuel2 env
 * stop-deployment ID` (later, fuelclient/commands/environment.py EnvStopDeploy): Environment.stop ->
 * `PUT clusters/{id}/stop_deployment/` with `{}`; `Task.init_with_data` reads `id`; fuel2 prints
 * `data['id']` and `data['cluster']`, the old CLI prints the whole task and `data["id"]`.
 */
export async function envStopDeployment(c: FuelClient, id: number): Promise<Row> {
  const task = await c.put<Row>(`clusters/${id}/stop_deployment/`, {});
  expect(task).toHaveProperty('id');
  expect(task).toHaveProperty('cluster');
  return task;
}

/** `fuel2 task show ID`: TaskClient.get_by_id -> Task(id).data -> `GET transactions/{id}/`. */
export async function taskShow(c: FuelClient, id: number): Promise<Row> {
  const row = await c.get<Row>(`transactions/${id}/`);
  display(TASK_SHOW_COLUMNS, row);
  return row;
}

/**
 * fuelclient/objects/task.py Task.wait: `while not is_finished: sleep(0.5)`, is_finished = the fresh
 * `status` (`GET transactions/{id}/`) in (ready, error). Bounded here.
 */
export async function taskWait(c: FuelClient, id: number, timeoutMs = 60_000): Promise<Row> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await taskShow(c, id);
    if (row.status === 'ready' || row.status === 'error') return row;
    if (Date.now() > deadline)
      throw new Error(`task ${id} still ${String(row.status)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * `fuel2 task list --env ENV`: TaskClient.get_all(env_id) -> `GET transactions/?cluster_id=ENV`
 * (fuelclient/v1/task.py; filters statuses / transaction_types joined with commas).
 */
export async function taskList(c: FuelClient, env: number): Promise<Row[]> {
  const rows = await c.get<Row[]>('transactions/', { cluster_id: String(env) });
  displayAll(TASK_LIST_COLUMNS, rows);
  return rows;
}

export interface HistoryFilters {
  nodes?: string[];
  statuses?: string[];
  tasksNames?: string[];
}

/**
 * `fuel2 task history show ID [--nodes N..] [--statuses S..] [--tasks-names T..]`, 9.0:
 * fuelclient/objects/deployment_history.py DeploymentHistory.get_all formats
 * `transactions/{id}/deployment_history/?nodes={nodes}&statuses={statuses}&tasks_names={tasks_names}`
 * (each list joined with `,`, `""` when not given: all three parameters are always sent), and the command
 * prints TaskHistoryShow.columns (deployment_graph_task_name, node_id, status, time_start, time_end).
 */
export async function historyShow9(c: FuelClient, id: number, filters: HistoryFilters = {}): Promise<Row[]> {
  const join = (v?: string[]) => (v && v.length > 0 ? v.join(',') : '');
  const rows = await c.get<Row[]>(
    `transactions/${id}/deployment_history/?nodes=${join(filters.nodes)}&statuses=${join(filters.statuses)}` +
      `&tasks_names=${join(filters.tasksNames)}`,
  );
  displayAll(HISTORY_COLUMNS_9, rows);
  return rows;
}

/**
 * The same command in the later client (fuelclient/v1/deployment_history.py DeploymentHistoryClient.get_all):
 * `GET transactions/{id}/deployment_history/` with `params` (only the given filters, joined with `,`, plus
 * `include_summary=0|1`); then "rename legacy field for Fuel 9.0": `deployment_graph_task_name` ->
 * `task_name`; drops rows whose `task_name` is not in `--tasks-names`; keeps the history_records_keys (and
 * `summary`) of each row; other keys become the task's parameters (`--show-parameters`).
 */
export async function historyShowLater(
  c: FuelClient,
  id: number,
  filters: HistoryFilters = {},
  options: { includeSummary?: boolean } = {},
): Promise<{ records: Row[]; parameters: Map<string, Row> }> {
  const params: Record<string, string> = {};
  if (filters.statuses && filters.statuses.length > 0) params.statuses = filters.statuses.join(',');
  if (filters.nodes && filters.nodes.length > 0) params.nodes = filters.nodes.join(',');
  if (filters.tasksNames && filters.tasksNames.length > 0) params.tasks_names = filters.tasksNames.join(',');
  params.include_summary = options.includeSummary ? '1' : '0';
  const raw = await c.get<Row[]>(`transactions/${id}/deployment_history/`, params);
  const records: Row[] = [];
  const parameters = new Map<string, Row>();
  for (const original of raw) {
    const record = { ...original };
    if ('deployment_graph_task_name' in record) {
      record.task_name = record.deployment_graph_task_name;
      delete record.deployment_graph_task_name;
    }
    const taskName = record.task_name;
    if (typeof taskName !== 'string')
      throw new Error(`a history row without task_name: ${JSON.stringify(original)}`);
    if (filters.tasksNames && filters.tasksNames.length > 0 && !filters.tasksNames.includes(taskName))
      continue;
    const kept: Row = {};
    const extra = parameters.get(taskName) ?? {};
    for (const [key, value] of Object.entries(record)) {
      if ((HISTORY_RECORDS_KEYS as readonly string[]).includes(key) || key === 'summary') kept[key] = value;
      else extra[key] = value;
    }
    if (options.includeSummary) kept.summary = kept.summary ?? null;
    parameters.set(taskName, extra);
    records.push(kept);
  }
  displayAll(HISTORY_RECORDS_KEYS, records);
  return { records, parameters };
}

/**
 * `fuel2 graph execute --env ENV --nodes N.. [--type T] [--dry-run]` (fuelclient/v1/graph.py execute):
 * `PUT clusters/{env}/deploy/?nodes=1,2&graph_type=T&dry_run=` with `{}`, reads `id` and `cluster`, then
 * loads the environment's nodes like `env deploy`.
 */
export async function graphExecute(c: FuelClient, env: number, nodes: number[], graphType = 'default') {
  const task = await c.put<Row>(
    `clusters/${env}/deploy/?nodes=${nodes.join(',')}&graph_type=${graphType}&dry_run=`,
    {},
  );
  expect(task).toHaveProperty('id');
  expect(task).toHaveProperty('cluster');
  await c.get<Row[]>(`nodes/?cluster_id=${String(task.cluster)}`);
  return task;
}

/**
 * `fuel2 graph execute --env ENV [--type T] [--nodes N..]` of Fuel 9.0 (9.0.0 fuelclient/v1/graph.py
 * GraphClient.execute, fuelclient/commands/graph.py GraphExecute): `PUT clusters/{env}/deploy/?` followed by
 * the arguments given, `nodes=1,2` (with --nodes) and `graph_type=T` (with --type), joined with `&`, body `{}`;
 * `DeployTask.init_with_data` reads `id` and `cluster` and loads the environment's nodes (`GET
 * nodes/?cluster_id=`, each read by `id`); then the command writes "Deployment was executed" to stdout.
 */
export async function graphExecute90(
  c: FuelClient,
  env: number,
  options: { type?: string; nodes?: number[] },
): Promise<{ task: Row; output: string }> {
  const args: string[] = [];
  if (options.nodes && options.nodes.length > 0) args.push(`nodes=${options.nodes.join(',')}`);
  if (options.type) args.push(`graph_type=${options.type}`);
  const task = await c.put<Row>(`clusters/${env}/deploy/?${args.join('&')}`, {});
  expect(task).toHaveProperty('id');
  expect(task).toHaveProperty('cluster');
  const nodes = await c.get<Row[]>(`nodes/?cluster_id=${String(task.cluster)}`);
  for (const node of nodes) expect(node).toHaveProperty('id');
  return { task, output: 'Deployment was executed\n' };
}

/** `fuel2 task delete [--force] ID` (fuelclient/v1/task.py delete_by_id): `DELETE transactions/{id}/?force=0|1`. */
export async function taskDelete(c: FuelClient, id: number, force = false): Promise<void> {
  await c.delete(`transactions/${id}/`, { force: force ? '1' : '0' });
}

// ---- graphs by type, the DOT graph, selected tasks, releases, roles, node edits ----

/** `fuel2 graph upload --env ENV -t TYPE -f FILE` (9.0): GET, then PUT `{"tasks"}`, or POST on a 404. */
export async function graphUpload(c: FuelClient, env: number, type: string, tasks: unknown[]): Promise<void> {
  const api = `clusters/${env}/deployment_graphs/${type}`;
  try {
    await c.get(api);
  } catch (err) {
    if (err instanceof FuelHttpError && err.status === 404) {
      await c.post(api, { tasks });
      return;
    }
    throw err;
  }
  await c.put(api, { tasks });
}

/** `fuel2 graph download --env ENV --cluster -t TYPE`: the graph's `tasks`. */
export async function graphDownloadCluster(c: FuelClient, env: number, type: string): Promise<unknown[]> {
  const graph = await c.get<Row>(`clusters/${env}/deployment_graphs/${type}`);
  return (graph.tasks as unknown[] | undefined) ?? [];
}

/** fuelclient/commands/graph.py GraphList.columns */
export const GRAPH_LIST_COLUMNS = ['id', 'name', 'tasks', 'relations'] as const;

/** `fuel2 graph list --env ENV` (9.0): the rows as printed (tasks and relations formatted). */
export async function graphList(c: FuelClient, env: number): Promise<unknown[][]> {
  const rows = await c.get<Row[]>(`clusters/${env}/deployment_graphs/`);
  const shown = rows.map((row) => ({
    ...row,
    relations: (row.relations as Row[])
      .map((r) => `as "${String(r.type)}" to ${String(r.model)}(ID=${String(r.model_id)})`)
      .join('\n'),
    tasks: (row.tasks as Row[])
      .map((t) => String(t.id))
      .sort()
      .join(', '),
  }));
  return displayAll(GRAPH_LIST_COLUMNS, shown);
}

/** `fuel2 graph delete --environment ENV -t TYPE` (9.2). */
export async function graphDelete(c: FuelClient, env: number, type: string): Promise<void> {
  await c.delete(`clusters/${env}/deployment_graphs/${type}`);
}

export interface TaskSelection {
  tasks?: string[];
  skip?: string[];
  start?: string;
  end?: string;
}

/** Environment.get_tasks: the ids of `GET deployment_tasks` (with end/start/include), less `skip`. */
async function selectTasks(c: FuelClient, env: number, s: TaskSelection): Promise<string[]> {
  // requests: params in the dict's order (end, start, include), None left out, a list repeated
  const query = [
    ...(s.end !== undefined ? [`end=${encodeURIComponent(s.end)}`] : []),
    ...(s.start !== undefined ? [`start=${encodeURIComponent(s.start)}`] : []),
    ...(s.tasks ?? []).map((t) => `include=${encodeURIComponent(t)}`),
  ].join('&');
  const api = `clusters/${env}/deployment_tasks${query === '' ? '' : `?${query}`}`;
  const ids = (await c.get<Row[]>(api)).map((t) => String(t.id));
  const skip = new Set(s.skip ?? []);
  return ids.filter((id) => !skip.has(id));
}

/** `fuel graph --env ENV --download [--tasks ..] [--skip ..] [--start T] [--end T] [--parents-for T]`. */
export async function graphDownloadDot(
  c: FuelClient,
  env: number,
  s: TaskSelection & { parentsFor?: string; remove?: string[] } = {},
): Promise<string> {
  let tasks = s.tasks ?? [];
  if (tasks.length === 0 || s.skip || s.end || s.start) tasks = await selectTasks(c, env, s);
  const params: Record<string, string> = { tasks: tasks.join(',') };
  if (s.parentsFor !== undefined) params.parents_for = s.parentsFor;
  if (s.remove) params.remove = s.remove.join(',');
  const dot = await c.get<unknown>(`clusters/${env}/deploy_tasks/graph.gv`, params);
  if (typeof dot !== 'string') throw new Error(`graph.gv is not text: ${JSON.stringify(dot)}`);
  return dot;
}

/** `fuel node --node IDS --tasks .. | --skip .. | --start T | --end T`: null when there is nothing to run. */
export async function nodeExecuteTasks(
  c: FuelClient,
  nodes: number[],
  s: TaskSelection,
): Promise<Row | null> {
  const envs = new Set<unknown>();
  for (const id of nodes) envs.add((await c.get<Row>(`nodes/${id}/`)).cluster);
  if (envs.size !== 1) throw new Error('Inputed nodes assigned to multiple environments!');
  const env = [...envs][0] as number;
  let tasks = s.tasks ?? null;
  if (s.skip || s.end || s.start) tasks = await selectTasks(c, env, s);
  if (!tasks || tasks.length === 0) return null;
  const task = await c.put<Row>(`clusters/${env}/deploy_tasks/?nodes=${nodes.join(',')}`, tasks);
  expect(task).toHaveProperty('id');
  return task;
}

/** `fuel node --node-id IDS --delete-from-db [--force]`. */
export async function nodeDeleteFromDb(c: FuelClient, ids: number[], force = false): Promise<void> {
  if (!force) {
    const online = [];
    for (const id of ids) if ((await c.get<Row>(`nodes/${id}/`)).online) online.push(id);
    if (online.length > 0) throw new Error(`Nodes with ids ${online.join(', ')} cannot be deleted: online`);
  }
  await c.delete(`nodes/?ids=${ids.join(',')}`);
}

/** fuelclient/commands/node.py NodeShow.columns, without the numa fields (see the header). */
export const NODE_SHOW_COLUMNS = [
  'id',
  'name',
  'status',
  'os_platform',
  'roles',
  'kernel_params',
  'pending_roles',
  'ip',
  'mac',
  'error_type',
  'pending_addition',
  'hostname',
  'fqdn',
  'platform_name',
  'cluster',
  'online',
  'progress',
  'pending_deletion',
  'group_id',
  'manufacturer',
] as const;

/** `fuel2 node update ID --name NAME`. */
export async function nodeUpdateName(c: FuelClient, id: number, name: string): Promise<Row> {
  const node = await c.put<Row>(`nodes/${id}/`, { name });
  display(NODE_SHOW_COLUMNS, node);
  return node;
}

/** `fuel2 node label set -l k=v.. -n IDS`: per node, its labels merged with the new ones. */
export async function nodeLabelSet(c: FuelClient, ids: number[], labels: string[]): Promise<string[]> {
  const update: Record<string, string | null> = {};
  for (const label of labels) {
    const [key = '', ...rest] = label.split('=');
    const value = rest.join('=').trim();
    update[key.trim()] = value === '' ? null : value;
  }
  const done: string[] = [];
  for (const id of ids) {
    const current = ((await c.get<Row>(`nodes/${id}/`)).labels as Record<string, unknown> | undefined) ?? {};
    const result = await c.put<Row>(`nodes/${id}/`, { labels: { ...current, ...update } });
    done.push(String(result.id));
  }
  return done;
}

/** fuelclient/commands/release.py ReleaseList.columns */
export const RELEASE_LIST_COLUMNS = ['id', 'name', 'state', 'operating_system', 'version'] as const;

export async function releaseList(c: FuelClient): Promise<Row[]> {
  const rows = await c.get<Row[]>('releases/');
  displayAll(RELEASE_LIST_COLUMNS, rows);
  return rows;
}

/** `fuel release --rel N` (9.0.0): the row format_table prints (acceptable_keys, each a KeyError when missing). */
export const RELEASE_TABLE_KEYS = ['id', 'name', 'state', 'operating_system', 'version'] as const;

export async function releaseShow(c: FuelClient, id: number): Promise<unknown[]> {
  const release = await c.get<Row>(`releases/${id}/`);
  return display(RELEASE_TABLE_KEYS, release);
}

/** The filters of `fuel2 graph list` (9.2): `--cluster`, `--plugins`, `--release` (append_const). */
export type GraphListFilter = 'cluster' | 'plugins' | 'release';

/**
 * `fuel2 graph list [--cluster] [--plugins] [--release]` without `--env` (9.2): GET graphs/, the graphs
 * with a relation of a model named in the filters (all without filters), as printed, sorted by id.
 */
export async function graphListAll(c: FuelClient, filters?: GraphListFilter[]): Promise<unknown[][]> {
  const all = await c.get<Row[]>('graphs/');
  const wanted = filters && filters.length > 0 ? new Set<string>(filters) : null;
  const graphs = all.filter(
    (g) => !wanted || (g.relations as Row[]).some((r) => wanted.has(String(r.model))),
  );
  const shown = graphs.map((d) => {
    if (!('relations' in d)) throw new Error("KeyError: 'relations'");
    if (!('tasks' in d)) throw new Error("KeyError: 'tasks'");
    return {
      ...d,
      relations: (d.relations as Row[])
        .map((r) => `as "${String(r.type)}" to ${String(r.model)}(ID=${String(r.model_id)})`)
        .join('\n'),
      tasks: (d.tasks as Row[])
        .map((t) => {
          if (!('id' in t)) throw new Error("KeyError: 'id'");
          return String(t.id);
        })
        .sort()
        .join(', '),
    };
  });
  // get_display_data_multi: `data.get(field)`, a missing column is None
  const rows = shown.map((row) => GRAPH_LIST_COLUMNS.map((field) => (row as Row)[field] ?? null));
  // sorted by the id column; Python 2 orders None before any number
  const before = (a: unknown, b: unknown) => (a === null ? b !== null : b !== null && Number(a) < Number(b));
  return rows.sort((a, b) => (before(a[0], b[0]) ? -1 : before(b[0], a[0]) ? 1 : 0));
}

/** fuelclient/commands/role.py RoleList.columns */
export const ROLE_LIST_COLUMNS = ['name', 'group', 'conflicts', 'description'] as const;

/** `fuel2 role list --release ID | --env ID`: RoleClient.get_all lifts group, conflicts, description out of meta. */
export async function roleList(c: FuelClient, owner: 'releases' | 'clusters', id: number): Promise<Row[]> {
  const rows = (await c.get<Row[]>(`${owner}/${id}/roles/`)).map((role) => {
    const { meta, ...rest } = role;
    if (typeof meta !== 'object' || meta === null)
      throw new Error(`role without meta: ${JSON.stringify(role)}`);
    const m = meta as Row;
    return { ...rest, group: m.group, conflicts: m.conflicts, description: m.description };
  });
  displayAll(ROLE_LIST_COLUMNS, rows);
  return rows;
}
