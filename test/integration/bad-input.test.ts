/**
 * Bad input over real HTTP against the embedded runtime: one table, one request per case. Each case checks the
 * status, the one error model (`{"message": string, "errors": [{field, message}]}`, JSON), that the message
 * names what is wrong, the `Allow` header of a 405, and that the whole DynamoDB table is the same afterwards.
 */
import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorJson, HistoryJson, TaskJson } from '../../lambdas/api/wire.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, TABLE_NAME } from '../../local/local-dynamodb.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';

const TOKEN = 'bad-input-token';
const MB = 1024 * 1024;

interface Fixtures {
  /** Unlocked (`partially_deployed`): nodes 1, 2, 3 with a graph; node 1 provisioned, 2 and 3 not. */
  open: { id: number; name: string; nodes: number[]; provisioned: number; unprovisioned: number };
  /** Locked: a deployment runs a long `sleep` on its node. */
  locked: { id: number; node: number; deployTaskId: number; deploymentTaskId: number };
  /** Another cluster, with one node. */
  other: { id: number; name: string; node: number };
  /** A node in no cluster. */
  freeNode: number;
  /** The finished `provision` task of the open cluster. */
  finishedTaskId: number;
}

interface Request {
  method: string;
  path: string;
  /** A JSON value, sent as application/json. */
  json?: unknown;
  /** A raw body, sent as is (as application/json unless `contentType` says otherwise). */
  raw?: string;
  contentType?: string;
  /** The X-Auth-Token; null sends none. */
  token?: string | null;
}

interface Case {
  name: string;
  request: (f: Fixtures) => Request;
  status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415;
  /** What the message must say: the field (or the resource) and why. */
  message: RegExp | ((f: Fixtures) => RegExp);
  /** A field the `errors` list must name. */
  field?: string;
  /** The `Allow` header of a 405. */
  allow?: string;
}

let rt: Runtime;
let db: DynamoDBClient;
let fx: Fixtures;

async function send(req: Request): Promise<{ status: number; headers: Headers; text: string }> {
  const headers: Record<string, string> = {};
  const token = req.token === undefined ? TOKEN : req.token;
  if (token !== null) headers['X-Auth-Token'] = token;
  const body = req.json !== undefined ? JSON.stringify(req.json) : req.raw;
  if (body !== undefined) headers['Content-Type'] = req.contentType ?? 'application/json';
  const res = await fetch(`${rt.url}${req.path}`, { method: req.method, headers, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function ok<T>(method: string, path: string, json?: unknown): Promise<T> {
  const res = await send({ method, path, json });
  if (res.status >= 300) throw new Error(`${method} ${path} -> ${res.status}: ${res.text}`);
  return (res.text === '' ? null : JSON.parse(res.text)) as T;
}

/** JSON with object keys sorted at every level, so that equal items compare equal as text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * Every item of the table, sorted by pk and sk, nothing dropped.
 *
 * What writes in the background, and why nothing needs excluding here:
 * - the running deployment of the locked cluster: the engine writes its rows (`TX#<id>` ROW/STAGE/CMD items),
 *   its tasks (`TASK`), its node (`NODE`) and last runs (`LASTRUN#`) only when a command changes status or a
 *   stage ends. Its only command is a `sleep` far longer than this suite, so none of that happens while the
 *   table runs (there is no heartbeat; the dispatch lease is written when a stage is sent, before `settle`);
 * - discovery (every 5 s) writes a node only when its `online` or `ip` changed: the fleet does not change;
 * - the watchdog (every 1 s) acts only on stops and on deployments whose execution never started: none here.
 * `settle()` checks this before the table: two snapshots a second apart must be equal.
 */
async function snapshot(): Promise<string[]> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({ TableName: TABLE_NAME, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  const key = (i: Record<string, AttributeValue>) => `${i.pk?.S ?? ''}\u0000${i.sk?.S ?? ''}`;
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)).map(canonical);
}

async function settle(timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let previous = await snapshot();
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const current = await snapshot();
    if (canonical(current) === canonical(previous)) return;
    if (Date.now() > deadline) throw new Error('the table still changes in the background');
    previous = current;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== null) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function cluster(name: string, nodes: number[], graph: unknown[]): Promise<number> {
  const { id } = await ok<{ id: number }>('POST', '/api/clusters/', { name });
  await ok(
    'POST',
    `/api/clusters/${id}/assignment/`,
    nodes.map((n) => ({ id: n, roles: ['compute'] })),
  );
  await ok('PUT', `/api/clusters/${id}/deployment_tasks/`, graph);
  return id;
}

beforeAll(async () => {
  rt = await startRuntime({ port: 0, authToken: TOKEN, nodeCount: 6, demo: false });
  db = new DynamoDBClient({
    endpoint: rt.endpoints.dynamodb,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });

  const quick = [{ id: 'base', type: 'shell', roles: ['compute'], parameters: { cmd: 'true', timeout: 60 } }];
  const openId = await cluster('bad-open', [1, 2, 3], quick);
  const provision = await ok<TaskJson>('PUT', `/api/clusters/${openId}/provision/?nodes=1`);
  await waitFor('the provisioning of node 1', async () => {
    const t = await ok<TaskJson>('GET', `/api/tasks/${provision.id}/`);
    const c = await ok<{ is_locked: boolean }>('GET', `/api/clusters/${openId}/`);
    return t.status === 'ready' && !c.is_locked ? t : null;
  });

  const otherId = await cluster('bad-other', [5], quick);

  const long = [{ id: 'long', type: 'shell', roles: '*', parameters: { cmd: 'sleep 600', timeout: 900 } }];
  const lockedId = await cluster('bad-locked', [4], long);
  const deploy = await ok<TaskJson>('PUT', `/api/clusters/${lockedId}/changes/`, {});
  await waitFor('the long task to run', async () => {
    const rows = await ok<HistoryJson[]>('GET', `/api/transactions/${deploy.id}/deployment_history/`);
    return rows.some((r) => r.task_name === 'long' && r.status === 'running') ? true : null;
  });
  const children = await ok<TaskJson[]>('GET', `/api/tasks/?cluster_id=${lockedId}`);
  const deployment = children.find((t) => t.name === 'deployment' && t.parent_id === deploy.id);
  if (!deployment) throw new Error('the deploy task has no deployment child');

  fx = {
    open: { id: openId, name: 'bad-open', nodes: [1, 2, 3], provisioned: 1, unprovisioned: 2 },
    locked: { id: lockedId, node: 4, deployTaskId: deploy.id, deploymentTaskId: deployment.id },
    other: { id: otherId, name: 'bad-other', node: 5 },
    freeNode: 6,
    finishedTaskId: provision.id,
  };
  await settle();
}, 60_000);

afterAll(async () => {
  db?.destroy();
  await rt?.stop();
});

// ---- the table ----

const clusters = '/api/clusters';
const open = (f: Fixtures, rest = '') => `${clusters}/${f.open.id}/${rest}`;
const locked = (f: Fixtures, rest = '') => `${clusters}/${f.locked.id}/${rest}`;
const shell = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'shell',
  roles: ['compute'],
  parameters: { cmd: 'true' },
  ...extra,
});
const lockedMessage = (action: string) => (f: Fixtures) =>
  new RegExp(
    `^Cannot ${action}: environment 'bad-locked' is locked.*deployment task ${f.locked.deployTaskId}`,
  );

/** A syntactically valid JSON array of about `bytes` bytes. */
const bigArray = (bytes: number) => `[${'"x",'.repeat(Math.ceil(bytes / 4))}"x"]`;

const cases: Case[] = [
  // ---- the body as a whole: JSON, content type, size ----
  {
    name: 'malformed JSON body',
    request: () => ({ method: 'POST', path: `${clusters}/`, raw: '{"name": "half' }),
    status: 400,
    message: /^Malformed JSON body: /,
  },
  {
    name: 'JSON sent as text/plain',
    request: () => ({
      method: 'POST',
      path: `${clusters}/`,
      raw: '{"name":"as-text"}',
      contentType: 'text/plain',
    }),
    status: 415,
    message: /content type 'text\/plain'.*send application\/json/,
  },
  {
    name: 'a form body for a graph',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      raw: 'id=a&type=shell',
      contentType: 'application/x-www-form-urlencoded',
    }),
    status: 415,
    message: /Unsupported content type 'application\/x-www-form-urlencoded'/,
  },
  {
    name: 'a 2 MB body',
    request: () => ({ method: 'POST', path: `${clusters}/`, raw: bigArray(2 * MB) }),
    status: 413,
    message: /Request body too large: at most 1048576 bytes/,
  },
  {
    name: 'a 2 MB graph',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      json: Array.from({ length: 20_000 }, (_, i) => shell(`t${i}`, { parameters: { cmd: 'x'.repeat(60) } })),
    }),
    status: 413,
    message: /Request body too large/,
  },
  {
    name: 'a cluster body that is an array',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: [{ name: 'in-a-list' }] }),
    status: 400,
    message: /^Invalid request body: \(body\): .*expected object, received array/,
    field: '(body)',
  },
  {
    name: 'a cluster body that is a string',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: 'bad-string' }),
    status: 400,
    message: /\(body\): .*expected object, received string/,
  },
  {
    name: 'no body where one is required',
    request: () => ({ method: 'POST', path: `${clusters}/` }),
    status: 400,
    message: /\(body\): is missing: send a JSON body/,
  },

  // ---- cluster fields ----
  {
    name: 'name is a number',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: 42 } }),
    status: 400,
    message: /name: must be a string/,
    field: 'name',
  },
  {
    name: 'empty name',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: '' } }),
    status: 400,
    message: /name: must not be empty/,
    field: 'name',
  },
  {
    name: 'blank name',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: ' \t ' } }),
    status: 400,
    message: /name: must not be empty/,
  },
  {
    name: '101-character name',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: 'n'.repeat(101) } }),
    status: 400,
    message: /name: must be at most 100 characters/,
  },
  {
    name: '101-emoji name',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: '🌸'.repeat(101) } }),
    status: 400,
    message: /name: must be at most 100 characters/,
  },
  {
    name: 'name with a control character',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: 'line\nbreak' } }),
    status: 400,
    message: /name: must not contain control characters/,
  },
  {
    name: 'name with a lone surrogate',
    request: () => ({ method: 'POST', path: `${clusters}/`, raw: '{"name": "broken-\\ud800"}' }),
    status: 400,
    message: /name: must be valid Unicode/,
  },
  {
    name: 'release_id is a string',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: 'typed', release_id: 'one' } }),
    status: 400,
    message: /release_id: .*expected number, received string/,
    field: 'release_id',
  },
  {
    name: 'nodes in the create body',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: 'with-nodes', nodes: [1] } }),
    status: 400,
    message: /nodes: nodes are assigned with POST clusters\/\{id\}\/assignment\//,
  },
  {
    name: 'duplicate cluster name',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: 'bad-open' } }),
    status: 409,
    message: /Environment with name 'bad-open' already exists/,
  },
  {
    name: 'duplicate cluster name with surrounding spaces',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: '  bad-other ' } }),
    status: 409,
    message: /'bad-other' already exists/,
  },
  {
    name: 'rename to a taken name',
    request: (f) => ({ method: 'PUT', path: open(f), json: { name: 'bad-other' } }),
    status: 409,
    message: /'bad-other' already exists/,
  },
  {
    name: 'rename with a list for a name',
    request: (f) => ({ method: 'PUT', path: open(f), json: { name: ['x'] } }),
    status: 400,
    message: /name: must be a string/,
  },

  // ---- ids in paths ----
  {
    name: 'negative id in the path',
    request: () => ({ method: 'GET', path: `${clusters}/-1/` }),
    status: 400,
    message: /Invalid id '-1' in the path: must be positive/,
    field: 'id',
  },
  {
    name: 'zero id in the path',
    request: () => ({ method: 'DELETE', path: `${clusters}/0/` }),
    status: 400,
    message: /Invalid id '0' in the path: must be positive/,
  },
  {
    name: '2^53 id in the path',
    request: () => ({ method: 'PUT', path: `${clusters}/9007199254740992/changes/`, json: {} }),
    status: 400,
    message: /Invalid id '9007199254740992' in the path: is too large/,
  },
  {
    name: 'non-numeric id in the path',
    request: () => ({ method: 'GET', path: '/api/nodes/abc/' }),
    status: 400,
    message: /Invalid id 'abc' in the path: must be a number/,
  },
  {
    name: 'fractional id in the path',
    request: () => ({ method: 'DELETE', path: '/api/tasks/1.5/' }),
    status: 400,
    message: /Invalid id '1\.5' in the path: must be an integer/,
  },
  {
    name: 'hex id in the path',
    request: (f) => ({ method: 'DELETE', path: `${clusters}/0x${f.open.id.toString(16)}/` }),
    status: 400,
    message: /Invalid id '0x\d+' in the path: must be a number/,
  },
  {
    name: 'exponent id in the path',
    request: () => ({ method: 'GET', path: '/api/transactions/1e0/deployment_history/' }),
    status: 400,
    message: /Invalid id '1e0' in the path/,
  },
  {
    name: 'malformed percent-encoding in the path',
    request: () => ({ method: 'GET', path: `${clusters}/%E0%A4%A/` }),
    status: 400,
    message: /Malformed percent-encoding in the path/,
  },

  // ---- unknown resources ----
  {
    name: 'unknown cluster',
    request: () => ({ method: 'PUT', path: `${clusters}/99999/reset/`, json: {} }),
    status: 404,
    message: /Cluster 99999 not found/,
  },
  {
    name: 'graph of an unknown cluster',
    request: () => ({ method: 'PUT', path: `${clusters}/99999/deployment_tasks/`, json: [shell('a')] }),
    status: 404,
    message: /Cluster 99999 not found/,
  },
  {
    name: 'unknown node',
    request: () => ({ method: 'GET', path: '/api/nodes/99999/' }),
    status: 404,
    message: /Node 99999 not found/,
  },
  {
    name: 'unknown task',
    request: () => ({ method: 'DELETE', path: '/api/tasks/99999/?force=1' }),
    status: 404,
    message: /Task 99999 not found/,
  },
  {
    name: 'history of an unknown transaction',
    request: () => ({ method: 'GET', path: '/api/transactions/99999/deployment_history/' }),
    status: 404,
    message: /Task 99999 not found/,
  },

  // ---- query parameters ----
  {
    name: '?cluster_id=-1 on nodes',
    request: () => ({ method: 'GET', path: '/api/nodes/?cluster_id=-1' }),
    status: 400,
    message: /^Invalid query: cluster_id: must be positive/,
    field: 'cluster_id',
  },
  {
    name: '?cluster_id=abc on tasks',
    request: () => ({ method: 'GET', path: '/api/tasks/?cluster_id=abc' }),
    status: 400,
    message: /cluster_id: must be a number/,
  },
  {
    name: '?cluster_id=2^53 on transactions',
    request: () => ({ method: 'GET', path: '/api/transactions/?cluster_id=9007199254740992' }),
    status: 400,
    message: /cluster_id: is too large/,
  },
  {
    name: '?statuses=bogus',
    request: () => ({ method: 'GET', path: '/api/transactions/?statuses=running,bogus' }),
    status: 400,
    message: /statuses\[1\]: Invalid option: expected one of "pending"\|"running"/,
    field: 'statuses[1]',
  },
  {
    name: '?transaction_types=nope',
    request: () => ({ method: 'GET', path: '/api/transactions/?transaction_types=nope' }),
    status: 400,
    message: /transaction_types\[0\]: Invalid option/,
  },
  {
    name: '?nodes=abc on a history',
    request: (f) => ({
      method: 'GET',
      path: `/api/transactions/${f.finishedTaskId}/deployment_history/?nodes=abc`,
    }),
    status: 400,
    message: /nodes\[0\]: must be a number/,
  },
  {
    name: '?nodes=0x1 on a history',
    request: (f) => ({
      method: 'GET',
      path: `/api/transactions/${f.finishedTaskId}/deployment_history/?nodes=0x1`,
    }),
    status: 400,
    message: /nodes\[0\]: must be a number/,
  },
  {
    name: '?force=2 on reset',
    request: (f) => ({ method: 'PUT', path: open(f, 'reset/?force=2'), json: {} }),
    status: 400,
    message: /force: must be 1 or 0/,
    field: 'force',
  },
  {
    name: '?force=yes on a task deletion',
    request: (f) => ({ method: 'DELETE', path: `/api/tasks/${f.finishedTaskId}/?force=yes` }),
    status: 400,
    message: /force: must be 1 or 0/,
  },
  {
    name: '?resume=maybe on changes',
    request: (f) => ({ method: 'PUT', path: open(f, 'changes/?resume=maybe'), json: {} }),
    status: 400,
    message: /resume: must be 1 or 0/,
  },
  {
    name: '?dry_run=1 on changes',
    request: (f) => ({ method: 'PUT', path: open(f, 'changes/?dry_run=1'), json: {} }),
    status: 400,
    message: /dry_run: dry runs are not supported/,
  },
  {
    name: '?noop_run=1 on redeploy',
    request: (f) => ({ method: 'PUT', path: open(f, 'changes/redeploy/?noop_run=1'), json: {} }),
    status: 400,
    message: /noop_run: noop runs are not supported/,
  },
  {
    name: '?nodes=abc on provision',
    request: (f) => ({ method: 'PUT', path: open(f, 'provision/?nodes=abc'), json: {} }),
    status: 400,
    message: /nodes\[0\]: must be a number/,
  },
  {
    name: '?nodes=2,,3 on provision',
    request: (f) => ({ method: 'PUT', path: open(f, 'provision/?nodes=2,,3'), json: {} }),
    status: 400,
    message: /nodes\[1\]: must be a number/,
  },
  {
    name: 'provision without ?nodes=',
    request: (f) => ({ method: 'PUT', path: open(f, 'provision/'), json: {} }),
    status: 400,
    message: /nodes: must list node ids, like \?nodes=1,2/,
  },
  {
    name: '?nodes=-2 on deploy',
    request: (f) => ({ method: 'PUT', path: open(f, 'deploy/?nodes=-2'), json: {} }),
    status: 400,
    message: /nodes\[0\]: must be positive/,
  },

  // ---- bodies of actions that take none ----
  {
    name: 'changes with a list body',
    request: (f) => ({ method: 'PUT', path: open(f, 'changes/'), json: [1, 2] }),
    status: 400,
    message: /\(body\): must be empty or a JSON object: this action takes no body/,
  },
  {
    name: 'redeploy with a number body',
    request: (f) => ({ method: 'PUT', path: open(f, 'changes/redeploy/'), json: 2 }),
    status: 400,
    message: /\(body\): must be empty or a JSON object: this action takes no body/,
    field: '(body)',
  },
  {
    name: 'reset with a string body',
    request: (f) => ({ method: 'PUT', path: open(f, 'reset/'), json: 'now' }),
    status: 400,
    message: /\(body\): must be empty or a JSON object/,
  },
  {
    name: 'cluster deletion with malformed JSON',
    request: (f) => ({ method: 'DELETE', path: open(f), raw: '{"confirm": tru' }),
    status: 400,
    message: /^Malformed JSON body/,
  },
  {
    name: 'task deletion with a body',
    request: (f) => ({ method: 'DELETE', path: `/api/tasks/${f.finishedTaskId}/`, json: [f.finishedTaskId] }),
    status: 400,
    message: /\(body\): must be empty or a JSON object/,
  },

  // ---- assignment and unassignment ----
  {
    name: 'assignment body is an object',
    request: (f) => ({ method: 'POST', path: open(f, 'assignment/'), json: { id: 6, roles: ['compute'] } }),
    status: 400,
    message: /\(body\): must be a list of \{"id", "roles"\}/,
  },
  {
    name: 'assignment with an empty list',
    request: (f) => ({ method: 'POST', path: open(f, 'assignment/'), json: [] }),
    status: 400,
    message: /must assign at least one node/,
  },
  {
    name: 'assignment id is a string',
    request: (f) => ({
      method: 'POST',
      path: open(f, 'assignment/'),
      json: [{ id: '6', roles: ['compute'] }],
    }),
    status: 400,
    message: /\[0\]\.id: must be a node id \(number\)/,
    field: '[0].id',
  },
  {
    name: 'assignment id is negative',
    request: (f) => ({
      method: 'POST',
      path: open(f, 'assignment/'),
      json: [{ id: -6, roles: ['compute'] }],
    }),
    status: 400,
    message: /\[0\]\.id: must be a positive node id/,
  },
  {
    name: 'assignment id is 2^53',
    request: (f) => ({
      method: 'POST',
      path: open(f, 'assignment/'),
      json: [{ id: 2 ** 53, roles: ['compute'] }],
    }),
    status: 400,
    message: /\[0\]\.id: is too large for a node id/,
  },
  {
    name: 'assignment id is fractional',
    request: (f) => ({
      method: 'POST',
      path: open(f, 'assignment/'),
      json: [{ id: 6.5, roles: ['compute'] }],
    }),
    status: 400,
    message: /\[0\]\.id: must be an integer node id/,
  },
  {
    name: 'assignment roles is a string',
    request: (f) => ({ method: 'POST', path: open(f, 'assignment/'), json: [{ id: 6, roles: 'compute' }] }),
    status: 400,
    message: /\[0\]\.roles: must be a list of role names/,
    field: '[0].roles',
  },
  {
    name: 'assignment without roles',
    request: (f) => ({ method: 'POST', path: open(f, 'assignment/'), json: [{ id: 6, roles: [] }] }),
    status: 400,
    message: /\[0\]\.roles: must name at least one role/,
  },
  {
    name: 'assignment of an unknown node',
    request: (f) => ({
      method: 'POST',
      path: open(f, 'assignment/'),
      json: [
        { id: 6, roles: ['compute'] },
        { id: 99999, roles: ['compute'] },
      ],
    }),
    status: 400,
    message: /node 99999 does not exist/,
    field: '[1].id',
  },
  {
    name: 'assignment of a node of another cluster',
    request: (f) => ({ method: 'POST', path: open(f, 'assignment/'), json: [{ id: 5, roles: ['compute'] }] }),
    status: 400,
    message: (f) => new RegExp(`node 5 already belongs to environment ${f.other.id}`),
    field: '[0].id',
  },
  {
    name: 'assignment of a role not in the release or the graph',
    request: (f) => ({
      method: 'POST',
      path: open(f, 'assignment/'),
      json: [{ id: 6, roles: ['compute', 'wizard'] }],
    }),
    status: 400,
    message: /role 'wizard' is not known to the release or the graph/,
    field: '[0].roles',
  },
  {
    name: 'assignment listing a node twice',
    request: (f) => ({
      method: 'POST',
      path: open(f, 'assignment/'),
      json: [
        { id: 6, roles: ['compute'] },
        { id: 6, roles: ['cinder'] },
      ],
    }),
    status: 400,
    message: /node 6 is listed more than once/,
    field: '[1].id',
  },
  {
    name: 'unassignment of a node not in the cluster',
    request: (f) => ({ method: 'POST', path: open(f, 'unassignment/'), json: [{ id: 6 }] }),
    status: 400,
    message: (f) => new RegExp(`node 6 is not in environment ${f.open.id}`),
  },
  {
    name: 'unassignment id is a string',
    request: (f) => ({ method: 'POST', path: open(f, 'unassignment/'), json: [{ id: 'x' }] }),
    status: 400,
    message: /\[0\]\.id: must be a node id \(number\)/,
  },

  // ---- graphs ----
  {
    name: 'graph that is an object',
    request: (f) => ({ method: 'PUT', path: open(f, 'deployment_tasks/'), json: shell('a') }),
    status: 400,
    message: /^Invalid deployment graph: the graph must be a JSON array of tasks/,
  },
  {
    name: 'graph with a cycle',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      json: [
        shell('a', { requires: ['c'] }),
        shell('b', { requires: ['a'] }),
        shell('c', { requires: ['b'] }),
      ],
    }),
    status: 400,
    message: /dependency cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)/,
  },
  {
    name: 'graph task requiring itself',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      json: [shell('narcissus', { requires: ['narcissus'] })],
    }),
    status: 400,
    message: /task 'narcissus' depends on itself in requires/,
    field: 'narcissus.requires',
  },
  {
    name: 'graph with an unknown requirement',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      json: [shell('lonely', { requires: ['ghost'] })],
    }),
    status: 400,
    message: /task 'lonely' requires unknown task 'ghost'/,
  },
  {
    name: 'graph task of an invalid type',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      json: [shell('ansible-task', { type: 'ansible' })],
    }),
    status: 400,
    message: /task 'ansible-task': type: Invalid option: expected one of "puppet"\|"shell"/,
  },
  {
    name: 'graph task with a role not in the release',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      json: [shell('r', { roles: ['wizard'] })],
    }),
    status: 400,
    message: /task 'r' names unknown role 'wizard' in roles/,
  },
  {
    name: 'graph task with a string timeout',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      json: [shell('slow', { parameters: { cmd: 'true', timeout: '60' } })],
    }),
    status: 400,
    message: /task 'slow': parameters\.timeout: .*expected number, received string/,
  },
  {
    name: 'graph of 10,000 tasks',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'deployment_tasks/'),
      json: Array.from({ length: 10_000 }, (_, i) => shell(`t${i}`)),
    }),
    status: 400,
    message: /the graph has 10000 tasks, more than the limit of 1000/,
  },

  // ---- attributes ----
  {
    name: 'attributes with a group that is not an object',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'attributes/'),
      json: { editable: { provision: 'fast' } },
    }),
    status: 400,
    message: /editable\.provision: must be an object of settings/,
    field: 'editable.provision',
  },
  {
    name: 'attributes without editable',
    request: (f) => ({ method: 'PUT', path: open(f, 'attributes/'), json: { provision: {} } }),
    status: 400,
    message: /editable: must be an object of setting groups/,
  },
  {
    name: 'attributes with a negative provisioning timeout',
    request: (f) => ({
      method: 'PUT',
      path: open(f, 'attributes/'),
      json: { editable: { provision: { timeout: { value: -1 } } } },
    }),
    status: 400,
    message: /editable\.provision\.timeout\.value: must be a positive integer/,
  },

  // ---- the locked cluster: every change is a conflict ----
  // (Nailgun lets a locked environment be renamed; here the name is part of what the deployment runs with,
  // so a rename waits for the deployment too.)
  {
    name: 'rename of the locked cluster',
    request: (f) => ({ method: 'PUT', path: locked(f, ''), json: { name: 'renamed-while-locked' } }),
    status: 409,
    message: lockedMessage('rename the environment'),
  },
  {
    name: 'assignment on the locked cluster',
    request: (f) => ({
      method: 'POST',
      path: locked(f, 'assignment/'),
      json: [{ id: 6, roles: ['compute'] }],
    }),
    status: 409,
    message: lockedMessage('assign nodes'),
  },
  {
    name: 'unassignment on the locked cluster',
    request: (f) => ({ method: 'POST', path: locked(f, 'unassignment/'), json: [{ id: f.locked.node }] }),
    status: 409,
    message: lockedMessage('unassign nodes'),
  },
  {
    name: 'graph PUT on the locked cluster',
    request: (f) => ({ method: 'PUT', path: locked(f, 'deployment_tasks/'), json: [shell('a')] }),
    status: 409,
    message: lockedMessage('change the deployment graph'),
  },
  {
    name: 'attributes PUT on the locked cluster',
    request: (f) => ({
      method: 'PUT',
      path: locked(f, 'attributes/'),
      json: { editable: { provision: { cmd: { value: 'true' } } } },
    }),
    status: 403,
    message: lockedMessage('change the settings'),
  },
  {
    name: 'changes on the locked cluster',
    request: (f) => ({ method: 'PUT', path: locked(f, 'changes/'), json: {} }),
    status: 409,
    message: lockedMessage('deploy'),
  },
  {
    name: 'redeploy on the locked cluster',
    request: (f) => ({ method: 'PUT', path: locked(f, 'changes/redeploy/'), json: {} }),
    status: 409,
    message: lockedMessage('deploy'),
  },
  {
    name: 'reset of the locked cluster',
    request: (f) => ({ method: 'PUT', path: locked(f, 'reset/'), json: {} }),
    status: 409,
    message: lockedMessage('reset the environment'),
  },
  {
    name: 'deletion of the locked cluster',
    request: (f) => ({ method: 'DELETE', path: locked(f) }),
    status: 409,
    message: lockedMessage('delete the environment'),
  },
  {
    name: 'provision/?nodes= on the locked cluster',
    request: (f) => ({ method: 'PUT', path: locked(f, `provision/?nodes=${f.locked.node}`), json: {} }),
    status: 409,
    message: lockedMessage('provision'),
  },
  {
    name: 'deploy/?nodes= on the locked cluster',
    request: (f) => ({ method: 'PUT', path: locked(f, `deploy/?nodes=${f.locked.node}`), json: {} }),
    status: 409,
    message: lockedMessage('deploy'),
  },
  {
    name: 'deletion of the running deploy task without force',
    request: (f) => ({ method: 'DELETE', path: `/api/tasks/${f.locked.deployTaskId}/` }),
    status: 409,
    message: (f) => new RegExp(`Task ${f.locked.deployTaskId} \\(deploy\\) is running: .*\\?force=1`),
  },
  {
    name: 'deletion of a running child task without force',
    request: (f) => ({ method: 'DELETE', path: `/api/tasks/${f.locked.deploymentTaskId}/?force=0` }),
    status: 409,
    message: (f) => new RegExp(`Task ${f.locked.deploymentTaskId} \\(deployment\\) is running`),
  },
  {
    name: 'stop with ?force=2 (the stop must not start)',
    request: (f) => ({ method: 'PUT', path: locked(f, 'stop_deployment/?force=2'), json: {} }),
    status: 400,
    message: /force: must be 1 or 0/,
  },
  {
    name: 'stop with a list body (the stop must not start)',
    request: (f) => ({ method: 'PUT', path: locked(f, 'stop_deployment/'), json: ['why'] }),
    status: 400,
    message: /\(body\): must be an object like \{"message": "why"\}/,
  },
  {
    name: 'stop with a 1001-character message',
    request: (f) => ({
      method: 'PUT',
      path: locked(f, 'stop_deployment/'),
      json: { message: 'm'.repeat(1001) },
    }),
    status: 400,
    message: /message: must be at most 1000 characters/,
  },

  // ---- actions that do not fit the state ----
  {
    name: 'stop with nothing running',
    request: (f) => ({ method: 'PUT', path: open(f, 'stop_deployment/'), json: {} }),
    status: 400,
    message: (f) => new RegExp(`^Nothing to stop - deployment is not running on environment '${f.open.id}'`),
  },
  {
    name: 'provision/?nodes= of a node already provisioned',
    request: (f) => ({ method: 'PUT', path: open(f, `provision/?nodes=${f.open.provisioned}`), json: {} }),
    status: 400,
    message: (f) =>
      new RegExp(`node ${f.open.provisioned} is already provisioned \\(status 'provisioned'\\)`),
  },
  {
    name: 'deploy/?nodes= of a node not provisioned',
    request: (f) => ({ method: 'PUT', path: open(f, `deploy/?nodes=${f.open.unprovisioned}`), json: {} }),
    status: 400,
    message: (f) => new RegExp(`node ${f.open.unprovisioned} is not provisioned \\(status 'discover'\\)`),
  },
  {
    name: 'provision/?nodes= of a node of another cluster',
    request: (f) => ({ method: 'PUT', path: open(f, `provision/?nodes=${f.other.node}`), json: {} }),
    status: 400,
    message: (f) => new RegExp(`node ${f.other.node} is not in environment ${f.open.id}`),
  },

  // ---- methods, paths, auth ----
  {
    name: 'PUT on the node list',
    request: () => ({ method: 'PUT', path: '/api/v1/nodes/', json: [] }),
    status: 405,
    message: /Method PUT is not allowed on \/api\/v1\/nodes\/; allowed: GET, DELETE/,
    allow: 'GET, DELETE',
  },
  {
    name: 'POST on changes',
    request: (f) => ({ method: 'POST', path: open(f, 'changes/'), json: {} }),
    status: 405,
    message: /Method POST is not allowed.*allowed: PUT/,
    allow: 'PUT',
  },
  {
    name: 'PUT on a task',
    request: (f) => ({ method: 'PUT', path: `/api/tasks/${f.finishedTaskId}/`, json: {} }),
    status: 405,
    message: /Method PUT is not allowed/,
    allow: 'GET, DELETE',
  },
  {
    name: 'unknown path',
    request: () => ({ method: 'GET', path: '/api/v1/plugins/' }),
    status: 404,
    message: /No such resource: \/api\/v1\/plugins\//,
  },
  {
    name: 'unknown sub-resource of a cluster',
    request: (f) => ({ method: 'PUT', path: open(f, 'network_configuration/'), json: {} }),
    status: 404,
    message: /No such resource: .*network_configuration/,
  },
  {
    name: 'no token',
    request: () => ({ method: 'POST', path: `${clusters}/`, json: { name: 'anonymous' }, token: null }),
    status: 401,
    message: /Authentication required: send a valid X-Auth-Token header/,
  },
  {
    name: 'wrong token',
    request: (f) => ({ method: 'DELETE', path: open(f), token: `${TOKEN}-not` }),
    status: 401,
    message: /Authentication required/,
  },
  {
    name: 'empty token on a stop',
    request: (f) => ({ method: 'PUT', path: locked(f, 'stop_deployment/?force=1'), json: {}, token: '' }),
    status: 401,
    message: /X-Auth-Token/,
  },
];

describe('bad input: status, a message that names the problem, and an unchanged store', () => {
  it('has a case for every kind of bad input', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases)('$name -> $status', async (c) => {
    const before = await snapshot();
    const req = c.request(fx);
    const res = await send(req);
    const where = `${req.method} ${req.path} -> ${res.status} ${res.text.slice(0, 500)}`;

    expect(res.status, where).toBe(c.status);
    expect(res.headers.get('content-type'), where).toMatch(/^application\/json/);
    const body = JSON.parse(res.text) as ErrorJson;
    expect(Object.keys(body).sort(), where).toEqual(['errors', 'message']);
    expect(typeof body.message, where).toBe('string');
    expect(Array.isArray(body.errors), where).toBe(true);
    for (const e of body.errors)
      expect(e, where).toEqual({ field: expect.any(String), message: expect.any(String) });
    expect(body.message, where).toMatch(typeof c.message === 'function' ? c.message(fx) : c.message);
    if (c.field !== undefined)
      expect(
        body.errors.map((e) => e.field),
        where,
      ).toContain(c.field);
    if (c.status === 405) expect(res.headers.get('allow'), where).toBe(c.allow);

    expect(await snapshot(), where).toEqual(before);
  });
});

describe('unicode names that are valid', () => {
  it('keeps them as sent, normalized to NFC, and refuses another spelling of the same name', async () => {
    const created = await send({ method: 'POST', path: `${clusters}/`, json: { name: 'Zürich-☁' } });
    expect(created.status, created.text).toBe(201);
    const { id, name } = JSON.parse(created.text) as { id: number; name: string };
    expect(name).toBe('Zürich-☁');
    expect((await ok<{ name: string }>('GET', `${clusters}/${id}/`)).name).toBe('Zürich-☁');

    // the same name decomposed (u + combining diaeresis) is the same name
    const before = await snapshot();
    const decomposed = await send({ method: 'POST', path: `${clusters}/`, json: { name: 'Zu\u0308rich-☁' } });
    expect(decomposed.status, decomposed.text).toBe(409);
    expect(JSON.parse(decomposed.text).message).toMatch(/'Zürich-☁' already exists/);
    expect(await snapshot()).toEqual(before);

    const renamed = await send({ method: 'PUT', path: `${clusters}/${id}/`, json: { name: '東京-🌸' } });
    expect(renamed.status, renamed.text).toBe(200);
    expect((await ok<{ name: string }>('GET', `${clusters}/${id}/`)).name).toBe('東京-🌸');

    // 100 characters of two UTF-16 units each is 100 characters
    const emoji = await send({ method: 'POST', path: `${clusters}/`, json: { name: '🌸'.repeat(100) } });
    expect(emoji.status, emoji.text).toBe(201);
    const names = (await ok<{ name: string }[]>('GET', `${clusters}/`)).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['東京-🌸', '🌸'.repeat(100)]));
  });
});
