/**
 * The Nailgun HTTP API against the embedded runtime: real HTTP, real dynalite, the local Step Functions
 * server and the local SSM fleet. Every rejected request is followed by a re-read of what it targeted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ClusterJson,
  ErrorJson,
  GraphTaskJson,
  HistoryJson,
  NodeJson,
  TaskJson,
} from '../../lambdas/api/wire.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';

const TOKEN = 't0ken';
const json_ = { 'Content-Type': 'application/json' };

interface Setting {
  value: unknown;
}
type Editable = Record<string, Record<string, Setting>>;

interface Reply<T> {
  status: number;
  headers: Headers;
  body: T;
}

interface CallOptions {
  /** A JSON value to send (as application/json). */
  json?: unknown;
  /** A raw body, sent as is. */
  raw?: string;
  /** The X-Auth-Token to send; null sends none. */
  token?: string | null;
  headers?: Record<string, string>;
}

let rt: Runtime;

async function call<T = ErrorJson>(
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers['X-Auth-Token'] = token;
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['Content-Type'] ??= 'application/json';
  } else if (options.raw !== undefined) {
    body = options.raw;
  }
  const res = await fetch(`${rt.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text === '' ? null : JSON.parse(text)) as T };
}

const get = <T>(path: string) => call<T>('GET', path);

async function ok<T>(path: string): Promise<T> {
  const res = await get<T>(path);
  expect(res.status, `GET ${path}`).toBe(200);
  return res.body;
}

async function createCluster(name: string): Promise<ClusterJson> {
  const res = await call<ClusterJson>('POST', '/api/clusters/', { json: { name } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const node = (id: number) => ok<NodeJson>(`/api/nodes/${id}/`);
const allNodes = () => ok<NodeJson[]>('/api/nodes/');
const allClusters = () => ok<ClusterJson[]>('/api/clusters/');

function expectError(res: Reply<ErrorJson>, status: number, message: RegExp): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  expect(typeof res.body.message).toBe('string');
  expect(Array.isArray(res.body.errors)).toBe(true);
  expect(res.body.message).toMatch(message);
}

beforeAll(async () => {
  rt = await startRuntime({ port: 0, authToken: TOKEN, nodeCount: 4, demo: false });
});

afterAll(async () => {
  await rt?.stop();
});

describe('auth', () => {
  it('GET /api/version is public and says that auth is required', async () => {
    const res = await call<{ auth_required: boolean; release: string }>('GET', '/api/version', {
      token: null,
    });
    expect(res.status).toBe(200);
    expect(res.body.auth_required).toBe(true);
    expect(res.body.release).toBe('9.0');
  });

  it('every other route answers 401 without or with a wrong X-Auth-Token, and changes nothing', async () => {
    const c = await createCluster('auth-env');
    const before = {
      clusters: await allClusters(),
      nodes: await allNodes(),
      graph: await ok<GraphTaskJson[]>(`/api/clusters/${c.id}/deployment_tasks/`),
      attributes: await ok<{ editable: Editable }>(`/api/clusters/${c.id}/attributes/`),
    };
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/clusters/'],
      ['POST', '/api/clusters/', { name: 'sneaky' }],
      ['GET', `/api/clusters/${c.id}/`],
      ['PUT', `/api/clusters/${c.id}/`, { name: 'renamed-by-stranger' }],
      ['DELETE', `/api/clusters/${c.id}/`],
      ['POST', `/api/clusters/${c.id}/assignment/`, [{ id: 1, roles: ['controller'] }]],
      ['POST', `/api/clusters/${c.id}/unassignment/`, [{ id: 1 }]],
      ['GET', `/api/clusters/${c.id}/deployment_tasks/`],
      ['PUT', `/api/clusters/${c.id}/deployment_tasks/`, []],
      ['GET', `/api/clusters/${c.id}/attributes/`],
      ['PUT', `/api/clusters/${c.id}/attributes/`, { editable: { provision: { cmd: { value: 'x' } } } }],
      ['PUT', `/api/clusters/${c.id}/changes/`, {}],
      ['GET', '/api/nodes/'],
      ['GET', '/api/nodes/1/'],
      ['GET', '/api/tasks/'],
      ['GET', '/api/tasks/1/'],
      ['GET', '/api/transactions/'],
      ['GET', '/api/transactions/1/'],
      ['GET', '/api/transactions/1/deployment_history/'],
    ];
    for (const [method, path, json] of routes) {
      for (const token of [null, 'wrong', 'T0KEN', `${TOKEN}x`, '']) {
        const res = await call(method, path, { token, json });
        expect(res.status, `${method} ${path} with token ${JSON.stringify(token)}`).toBe(401);
        expect(res.body.message).toMatch(/X-Auth-Token/);
      }
    }
    expect(await allClusters()).toEqual(before.clusters);
    expect(await allNodes()).toEqual(before.nodes);
    expect(await ok(`/api/clusters/${c.id}/deployment_tasks/`)).toEqual(before.graph);
    expect(await ok(`/api/clusters/${c.id}/attributes/`)).toEqual(before.attributes);
  });
});

describe('routing', () => {
  it('serves /api/clusters, /api/clusters/ and /api/v1/clusters/ alike', async () => {
    await createCluster('routing-env');
    const a = await call<ClusterJson[]>('GET', '/api/clusters');
    const b = await call<ClusterJson[]>('GET', '/api/clusters/');
    const c = await call<ClusterJson[]>('GET', '/api/v1/clusters/');
    const d = await call<ClusterJson[]>('GET', '/api/v1/clusters');
    for (const res of [a, b, c, d]) expect(res.status).toBe(200);
    expect(a.body.map((x) => x.name)).toContain('routing-env');
    expect(b.body).toEqual(a.body);
    expect(c.body).toEqual(a.body);
    expect(d.body).toEqual(a.body);
  });

  it('answers 404 JSON {message, errors} for unknown paths', async () => {
    for (const path of [
      '/api/bogus',
      '/api/clusters/1/bogus/',
      '/api/v2/clusters',
      '/nope',
      '/api/nodes/1/x/y',
    ]) {
      const res = await call('GET', path);
      expectError(res, 404, /No such resource/);
      expect(res.body.message).toContain(path);
      expect(res.body.errors).toEqual([]);
    }
  });

  it('answers 405 with an Allow header for a known path and another method', async () => {
    const list = await call('DELETE', '/api/clusters/');
    expectError(list, 405, /DELETE/);
    expect(list.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'POST']);

    const one = await call('PATCH', '/api/clusters/1/');
    expectError(one, 405, /PATCH/);
    expect(one.headers.get('allow')?.split(', ').sort()).toEqual(['DELETE', 'GET', 'PUT']);

    const changes = await call('POST', '/api/clusters/1/changes/', { json: {} });
    expectError(changes, 405, /POST/);
    expect(changes.headers.get('allow')).toBe('PUT');

    const version = await call('POST', '/api/version/', { json: {} });
    expect(version.status).toBe(405);
    expect(version.headers.get('allow')).toBe('GET');
  });

  it('answers 400 naming the id for non-numeric, negative, fractional and huge ids in the path', async () => {
    const before = await allClusters();
    const cases: [string, string, RegExp][] = [
      ['GET', '/api/clusters/abc/', /'abc'.*must be a number/],
      ['GET', '/api/clusters/-1/', /'-1'.*must be positive/],
      ['GET', '/api/clusters/0/', /'0'.*must be positive/],
      ['GET', '/api/nodes/1.5/', /'1\.5'.*must be an integer/],
      ['GET', '/api/clusters/99999999999999/', /'99999999999999'.*too large/],
      ['DELETE', '/api/clusters/abc/', /'abc'/],
      ['GET', '/api/transactions/xyz/deployment_history/', /'xyz'/],
    ];
    for (const [method, path, message] of cases) {
      const res = await call(method, path);
      expectError(res, 400, message);
      expect(res.body.message).toMatch(/Invalid id/);
      expect(res.body.errors[0]?.field).toBe('id');
    }
    expect(await allClusters()).toEqual(before);
  });

  it('rejects ids in hex or exponent notation instead of aliasing a decimal id', async () => {
    const c = await createCluster('alias-env');
    // '/clusters/0x1' must not be cluster 1
    for (const raw of [`0x${c.id.toString(16)}`, `${c.id}e0`, ` ${c.id}`]) {
      const res = await call('GET', `/api/clusters/${encodeURIComponent(raw)}/`);
      expectError(res, 400, /Invalid id/);
    }
  });

  it('answers 400 to a malformed percent-encoding in the path', async () => {
    const res = await call('GET', '/api/clusters/%E0%A4%A/');
    expect(res.status).toBe(400);
  });
});

describe('clusters', () => {
  it('creates a cluster with the Nailgun shape', async () => {
    const res = await call<ClusterJson>('POST', '/api/clusters/', { json: { name: 'alpha' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'alpha',
      status: 'new',
      release_id: 1,
      is_locked: false,
      is_customized: false,
      changes: [],
      fuel_version: '9.0',
    });
    expect(Number.isInteger(res.body.id)).toBe(true);
    expect(await ok(`/api/clusters/${res.body.id}/`)).toEqual(res.body);

    // the one release is 1: another is refused, and nothing is created
    const unknownRelease = await call('POST', '/api/v1/clusters', {
      json: { name: 'alpha-r2', release_id: 2 },
    });
    expectError(unknownRelease, 400, /release 2 does not exist/);
    expect((await allClusters()).some((c) => c.name === 'alpha-r2')).toBe(false);
  });

  it('rejects a duplicate name with 409 (also after trimming) and creates nothing', async () => {
    const before = await allClusters();
    for (const name of ['alpha', '  alpha ']) {
      const res = await call('POST', '/api/clusters/', { json: { name } });
      expectError(res, 409, /'alpha' already exists/);
    }
    expect(await allClusters()).toEqual(before);
  });

  it('rejects invalid bodies with 400 naming the field, and creates nothing', async () => {
    const before = await allClusters();
    const cases: [unknown, RegExp][] = [
      [{}, /name/],
      [{ name: '' }, /name: must not be empty/],
      [{ name: '   ' }, /name: must not be empty/],
      [{ name: 'x'.repeat(101) }, /name: must be at most 100 characters/],
      [{ name: 42 }, /name: must be a string/],
      [{ name: 'typed', release_id: 'one' }, /release_id/],
      [{ name: 'typed', release_id: -3 }, /release_id/],
      [{ name: 'with-nodes', nodes: [1] }, /nodes/],
      [['alpha'], /\(body\)/],
      [null, /\(body\)/],
    ];
    for (const [json, message] of cases) {
      const res = await call('POST', '/api/clusters/', { raw: JSON.stringify(json), headers: json_ });
      expectError(res, 400, message);
      expect(res.body.message).toMatch(/^Invalid request body/);
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
    const empty = await call('POST', '/api/clusters/', { headers: json_ });
    expectError(empty, 400, /Invalid request body/);
    expect(await allClusters()).toEqual(before);
  });

  it("accepts python-fuelclient's env create body", async () => {
    const res = await call<ClusterJson>('POST', '/api/clusters/', {
      json: { name: 'from-fuelclient', release_id: 1, nodes: [], tasks: [], net_segment_type: 'vlan' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'from-fuelclient', release_id: 1, status: 'new' });
  });

  it('rejects malformed JSON with 400 and a non-JSON content type with 415', async () => {
    const before = await allClusters();
    const malformed = await call('POST', '/api/clusters/', { raw: '{"name": "half', headers: json_ });
    expectError(malformed, 400, /Malformed JSON/);
    const text = await call('POST', '/api/clusters/', {
      raw: JSON.stringify({ name: 'as-text' }),
      headers: { 'Content-Type': 'text/plain' },
    });
    expectError(text, 415, /text\/plain.*application\/json/);
    const form = await call('POST', '/api/clusters/', {
      raw: 'name=as-form',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expectError(form, 415, /Unsupported content type/);
    expect(await allClusters()).toEqual(before);
  });

  it('lists and gets clusters; an unknown cluster is 404', async () => {
    const list = await allClusters();
    const alpha = list.find((c) => c.name === 'alpha');
    expect(alpha).toBeDefined();
    expect(new Set(list.map((c) => c.id)).size).toBe(list.length);
    expect(await ok(`/api/clusters/${alpha?.id}/`)).toEqual(alpha);

    const missing = await call('GET', '/api/clusters/987654/');
    expectError(missing, 404, /Cluster 987654 not found/);
    for (const [method, path] of [
      ['PUT', '/api/clusters/987654/'],
      ['DELETE', '/api/clusters/987654/'],
      ['GET', '/api/clusters/987654/attributes/'],
      ['GET', '/api/clusters/987654/deployment_tasks/'],
      ['PUT', '/api/clusters/987654/changes/'],
    ] as const) {
      const res = await call(method, path, method === 'GET' ? {} : { json: { name: 'ghost' } });
      expectError(res, 404, /987654/);
    }
  });

  it('renames with PUT; a taken or empty name is rejected and changes nothing', async () => {
    const c = await createCluster('to-rename');
    const res = await call<ClusterJson>('PUT', `/api/clusters/${c.id}/`, { json: { name: 'renamed' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...c, name: 'renamed' });
    expect(await ok(`/api/clusters/${c.id}/`)).toEqual(res.body);

    const taken = await call('PUT', `/api/clusters/${c.id}/`, { json: { name: 'alpha' } });
    expectError(taken, 409, /'alpha' already exists/);
    const empty = await call('PUT', `/api/clusters/${c.id}/`, { json: { name: '' } });
    expectError(empty, 400, /name: must not be empty/);
    const wrongType = await call('PUT', `/api/clusters/${c.id}/`, { json: { name: ['x'] } });
    expectError(wrongType, 400, /name: must be a string/);
    expect(await ok(`/api/clusters/${c.id}/`)).toEqual(res.body);
  });

  it('deletes with 202 and a task, and frees the nodes', async () => {
    const c = await createCluster('doomed');
    const assign = await call('POST', `/api/clusters/${c.id}/assignment/`, {
      json: [{ id: 3, roles: ['compute'] }],
    });
    expect(assign.status).toBe(200);
    expect((await node(3)).cluster).toBe(c.id);

    const res = await call<TaskJson>('DELETE', `/api/clusters/${c.id}/`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      name: 'cluster_deletion',
      cluster: c.id,
      status: 'ready',
      progress: 100,
    });
    expect(res.body.message).toMatch(/'doomed' was deleted/);
    expect(await ok(`/api/tasks/${res.body.id}/`)).toMatchObject({
      id: res.body.id,
      name: 'cluster_deletion',
    });

    expectError(await call('GET', `/api/clusters/${c.id}/`), 404, /not found/);
    expect((await allClusters()).map((x) => x.id)).not.toContain(c.id);
    expect(await node(3)).toMatchObject({
      cluster: null,
      status: 'discover',
      roles: [],
      pending_roles: [],
      pending_addition: false,
      pending_deletion: false,
    });
    expectError(await call('DELETE', `/api/clusters/${c.id}/`), 404, /not found/);
  });
});

describe('nodes', () => {
  it('lists the discovered nodes with the Nailgun node shape', async () => {
    const nodes = await allNodes();
    expect(nodes.map((n) => n.id).sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
    for (const n of nodes) {
      expect(n).toMatchObject({
        status: 'discover',
        error_type: null,
        progress: 0,
        roles: [],
        pending_roles: [],
        pending_addition: false,
        pending_deletion: false,
        online: true,
        cluster: null,
        kernel_params: null,
      });
      expect(typeof n.name).toBe('string');
      expect(n.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(n.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      expect(n.hostname.length).toBeGreaterThan(0);
      expect(n.fqdn).toBe(`${n.hostname}.domain.tld`);
      expect(typeof n.os_platform).toBe('string');
      expect(typeof n.platform_name).toBe('string');
      expect(typeof n.meta).toBe('object');
      expect(n.meta).not.toBeNull();
      expect('kernel_params' in n).toBe(true);
    }
    expect(new Set(nodes.map((n) => n.mac)).size).toBe(4);
    expect(await node(2)).toEqual(nodes.find((n) => n.id === 2));
  });

  it('filters by ?cluster_id= and answers 404 / 400 for unknown or invalid ids', async () => {
    const c = await createCluster('node-filter');
    expect(
      (await call('POST', `/api/clusters/${c.id}/assignment/`, { json: [{ id: 4, roles: ['compute'] }] }))
        .status,
    ).toBe(200);

    const inCluster = await ok<NodeJson[]>(`/api/nodes/?cluster_id=${c.id}`);
    expect(inCluster.map((n) => n.id)).toEqual([4]);
    const unassigned = await ok<NodeJson[]>('/api/nodes/?cluster_id=None');
    expect(unassigned.map((n) => n.id).sort()).toEqual([1, 2, 3]);
    expect(await ok<NodeJson[]>('/api/nodes/?cluster_id=987654')).toEqual([]);
    expectError(await call('GET', '/api/nodes/?cluster_id=abc'), 400, /cluster_id/);
    expectError(await call('GET', '/api/nodes/987654/'), 404, /Node 987654 not found/);

    expect((await call('POST', `/api/clusters/${c.id}/unassignment/`, { json: [{ id: 4 }] })).status).toBe(
      200,
    );
    expect((await node(4)).cluster).toBeNull();
  });
});

describe('assignment', () => {
  let a: ClusterJson;
  let b: ClusterJson;

  beforeAll(async () => {
    a = await createCluster('assign-a');
    b = await createCluster('assign-b');
  });

  it('assigns a node: pending roles, pending addition, cluster set', async () => {
    const res = await call<NodeJson[]>('POST', `/api/clusters/${a.id}/assignment/`, {
      json: [{ id: 3, roles: ['controller'] }],
    });
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(1);
    expect(res.body[0]).toMatchObject({
      id: 3,
      cluster: a.id,
      pending_roles: ['controller'],
      pending_addition: true,
      roles: [],
    });
    expect(await node(3)).toEqual(res.body[0]);
    expect((await ok<NodeJson[]>(`/api/nodes/?cluster_id=${a.id}`)).map((n) => n.id)).toEqual([3]);
  });

  it('rejects an unknown node id, naming it, and assigns none of the list', async () => {
    const before = await allNodes();
    const res = await call('POST', `/api/clusters/${b.id}/assignment/`, {
      json: [
        { id: 4, roles: ['compute'] },
        { id: 9999, roles: ['compute'] },
      ],
    });
    expectError(res, 400, /node 9999 does not exist/);
    expect(res.body.errors).toContainEqual({ field: '[1].id', message: 'node 9999 does not exist' });
    expect(await allNodes()).toEqual(before);
  });

  it('rejects a node that belongs to another cluster and changes nothing', async () => {
    const before = await allNodes();
    const res = await call('POST', `/api/clusters/${b.id}/assignment/`, {
      json: [
        { id: 4, roles: ['compute'] },
        { id: 3, roles: ['compute'] },
      ],
    });
    expect([400, 409]).toContain(res.status);
    expect(res.body.message).toMatch(new RegExp(`node 3 already belongs to environment ${a.id}`));
    expect(await allNodes()).toEqual(before);
    expect(await node(3)).toMatchObject({ cluster: a.id, pending_roles: ['controller'] });
  });

  it('rejects an unknown role, naming it', async () => {
    const before = await allNodes();
    const res = await call('POST', `/api/clusters/${b.id}/assignment/`, {
      json: [{ id: 4, roles: ['compute', 'wizard'] }],
    });
    expectError(res, 400, /role 'wizard' is not known/);
    expect(await allNodes()).toEqual(before);
  });

  it('rejects an empty list, missing or empty roles, bad ids and duplicates with 400', async () => {
    const before = await allNodes();
    const cases: [unknown, RegExp][] = [
      [[], /must assign at least one node/],
      [[{ id: 4 }], /roles/],
      [[{ id: 4, roles: [] }], /must name at least one role/],
      [[{ id: '4', roles: ['compute'] }], /must be a node id/],
      [{ id: 4, roles: ['compute'] }, /must be a list/],
      [
        [
          { id: 4, roles: ['compute'] },
          { id: 4, roles: ['cinder'] },
        ],
        /more than once/,
      ],
    ];
    for (const [json, message] of cases) {
      const res = await call('POST', `/api/clusters/${b.id}/assignment/`, { json });
      expectError(res, 400, message);
    }
    expectError(
      await call('POST', '/api/clusters/987654/assignment/', { json: [{ id: 4, roles: ['compute'] }] }),
      404,
      /987654/,
    );
    expect(await allNodes()).toEqual(before);
  });

  it('rejects unassigning a node that is not in the cluster, changing nothing', async () => {
    const before = await allNodes();
    const res = await call('POST', `/api/clusters/${b.id}/unassignment/`, { json: [{ id: 3 }] });
    expectError(res, 400, new RegExp(`node 3 is not in environment ${b.id}`));
    const mixed = await call('POST', `/api/clusters/${a.id}/unassignment/`, { json: [{ id: 3 }, { id: 4 }] });
    expectError(mixed, 400, new RegExp(`node 4 is not in environment ${a.id}`));
    expectError(await call('POST', `/api/clusters/${a.id}/unassignment/`, { json: [] }), 400, /at least one/);
    expect(await allNodes()).toEqual(before);
  });

  it('unassigns a node: back to discovery without roles', async () => {
    const res = await call('POST', `/api/clusters/${a.id}/unassignment/`, { json: [{ id: 3 }] });
    expect(res.status).toBe(200);
    expect(await node(3)).toMatchObject({
      cluster: null,
      status: 'discover',
      roles: [],
      pending_roles: [],
      pending_addition: false,
    });
    expect(await ok<NodeJson[]>(`/api/nodes/?cluster_id=${a.id}`)).toEqual([]);
  });
});

const tinyGraph: GraphTaskJson[] = [
  { id: 'a', type: 'shell', roles: ['controller'], parameters: { cmd: 'echo a', timeout: 60 } },
  {
    id: 'b',
    type: 'shell',
    roles: ['controller'],
    requires: ['a'],
    parameters: { cmd: 'echo b', timeout: 60 },
  },
];

describe('deployment_tasks', () => {
  let c: ClusterJson;
  beforeAll(async () => {
    c = await createCluster('graph-env');
  });
  const path = () => `/api/clusters/${c.id}/deployment_tasks/`;

  it('GET returns the default graph', async () => {
    const graph = await ok<GraphTaskJson[]>(path());
    expect(Array.isArray(graph)).toBe(true);
    expect(graph.length).toBeGreaterThan(1);
    for (const t of graph) {
      expect(typeof t.id).toBe('string');
      expect(t.type).toBe('shell');
      expect(t.roles === '*' || Array.isArray(t.roles)).toBe(true);
      expect(typeof t.parameters?.cmd).toBe('string');
    }
    expect(new Set(graph.map((t) => t.id)).size).toBe(graph.length);
  });

  it('rejects invalid graphs with 400 naming the tasks, and stores nothing', async () => {
    const before = await ok<GraphTaskJson[]>(path());
    const cases: [unknown, RegExp][] = [
      [
        [
          { id: 'x', type: 'shell', requires: ['y'], parameters: { cmd: 'true' } },
          { id: 'y', type: 'shell', requires: ['x'], parameters: { cmd: 'true' } },
        ],
        /cycle: (x -> y -> x|y -> x -> y)/,
      ],
      [
        [{ id: 'lonely', type: 'shell', requires: ['ghost'], parameters: { cmd: 'true' } }],
        /task 'lonely' requires unknown task 'ghost'/,
      ],
      [[{ id: 'nocmd', type: 'shell', roles: ['controller'] }], /task 'nocmd'.*parameters\.cmd/],
      [[{ id: 'blank', type: 'shell', parameters: { cmd: '   ' } }], /task 'blank'.*parameters\.cmd/],
      [{ id: 'a', type: 'shell' }, /must be a JSON array/],
      ['graph', /must be a JSON array/],
      [[{ id: 'r', type: 'shell', roles: ['wizard'], parameters: { cmd: 'true' } }], /unknown role 'wizard'/],
      [[{ id: 'bad', type: 'ansible', parameters: { cmd: 'true' } }], /task 'bad'.*type/],
    ];
    for (const [json, message] of cases) {
      const res = await call('PUT', path(), { json });
      expectError(res, 400, message);
      expect(res.body.message).toMatch(/^Invalid deployment graph/);
    }
    expect(await ok(path())).toEqual(before);
    expect((await ok<ClusterJson>(`/api/clusters/${c.id}/`)).is_customized).toBe(false);
  });

  it('PUT of a valid graph round-trips and marks the cluster customized', async () => {
    const res = await call<GraphTaskJson[]>('PUT', path(), { json: tinyGraph });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(tinyGraph);
    expect(await ok(path())).toEqual(tinyGraph);
    expect(await ok(`/api/v1/clusters/${c.id}/deployment_tasks`)).toEqual(tinyGraph);
    expect((await ok<ClusterJson>(`/api/clusters/${c.id}/`)).is_customized).toBe(true);
  });
});

describe('attributes', () => {
  let c: ClusterJson;
  beforeAll(async () => {
    c = await createCluster('attr-env');
  });
  const path = () => `/api/clusters/${c.id}/attributes/`;

  it('GET returns the editable tree with provision.cmd.value', async () => {
    const res = await ok<{ editable: Editable }>(path());
    expect(typeof res.editable.provision?.cmd?.value).toBe('string');
    expect(res.editable.provision?.timeout?.value).toBe(1800);
    expect(res.editable.deployment?.stop_timeout?.value).toBe(600);
  });

  it('PUT merges: the changed setting is replaced, the others are kept', async () => {
    const before = await ok<{ editable: Editable }>(path());
    const res = await call<{ editable: Editable }>('PUT', path(), {
      json: { editable: { provision: { cmd: { value: 'echo provisioned' } } } },
    });
    expect(res.status).toBe(200);
    expect(res.body.editable.provision?.cmd?.value).toBe('echo provisioned');
    expect(res.body.editable.provision?.timeout).toEqual(before.editable.provision?.timeout);
    expect(res.body.editable.provision?.metadata).toEqual(before.editable.provision?.metadata);
    expect(res.body.editable.deployment).toEqual(before.editable.deployment);
    expect(await ok(path())).toEqual(res.body);
  });

  it('rejects an empty provision command and a non-object editable with 400, changing nothing', async () => {
    const before = await ok<{ editable: Editable }>(path());
    const cases: [unknown, RegExp][] = [
      [
        { editable: { provision: { cmd: { value: '' } } } },
        /editable\.provision\.cmd\.value: must be a non-empty/,
      ],
      [{ editable: { provision: { cmd: { value: '  ' } } } }, /editable\.provision\.cmd\.value/],
      [{ editable: { provision: { cmd: { value: 42 } } } }, /editable\.provision\.cmd\.value/],
      [{ editable: { provision: { timeout: { value: -5 } } } }, /editable\.provision\.timeout\.value/],
      [{ editable: 'everything' }, /editable: must be an object/],
      [{ editable: null }, /editable/],
      [{}, /editable/],
    ];
    for (const [json, message] of cases) {
      const res = await call('PUT', path(), { json });
      expectError(res, 400, message);
    }
    expect(await ok(path())).toEqual(before);
  });

  it('rejects a setting or group that is not an object, keeping provision.cmd.value', async () => {
    // schemas.ts attributesBody only checks provision.cmd.value when present; {cmd: 'oops'} or
    // {provision: 'x'} pass, and mergeAttributes() replaces the stored setting or group with them.
    const before = await ok<{ editable: Editable }>(path());
    for (const editable of [{ provision: { cmd: 'oops' } }, { provision: 'x' }]) {
      const res = await call('PUT', path(), { json: { editable } });
      expect(res.status, JSON.stringify(editable)).toBe(400);
    }
    const after = await ok<{ editable: Editable }>(path());
    expect(after).toEqual(before);
    expect(typeof after.editable.provision?.cmd?.value).toBe('string');
  });
});

describe('deploy', () => {
  let c: ClusterJson;
  let deploy: TaskJson;

  beforeAll(async () => {
    c = await createCluster('deploy-env');
  });

  it('PUT changes on a cluster without nodes is 400 and starts nothing', async () => {
    const res = await call('PUT', `/api/clusters/${c.id}/changes/`, { json: {} });
    expectError(res, 400, /no nodes to deploy/);
    expect(await ok<TaskJson[]>(`/api/transactions/?cluster_id=${c.id}`)).toEqual([]);
    expect(await ok<ClusterJson>(`/api/clusters/${c.id}/`)).toEqual(c);
  });

  it('starts a deployment: 202 with a running deploy task', async () => {
    expect((await call('PUT', `/api/clusters/${c.id}/deployment_tasks/`, { json: tinyGraph })).status).toBe(
      200,
    );
    // A provisioning command that takes a moment keeps the deployment running while the locks are checked.
    const attrs = await call('PUT', `/api/clusters/${c.id}/attributes/`, {
      json: { editable: { provision: { cmd: { value: 'sleep 2 && echo "provisioned $(hostname)"' } } } },
    });
    expect(attrs.status).toBe(200);
    const assign = await call('POST', `/api/clusters/${c.id}/assignment/`, {
      json: [
        { id: 1, roles: ['controller'] },
        { id: 2, roles: ['controller'] },
      ],
    });
    expect(assign.status).toBe(200);

    const res = await call<TaskJson>('PUT', `/api/clusters/${c.id}/changes/`, { json: {} });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    deploy = res.body;
    expect(deploy).toMatchObject({ name: 'deploy', status: 'running', cluster: c.id, parent_id: null });
    expect(Number.isInteger(deploy.id)).toBe(true);
    expect(deploy.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(deploy.execution_arn).toMatch(/^arn:aws:states:/);
  });

  it('locks the cluster while the deployment runs: 409 for deploy, assignment and graph changes', async () => {
    const cluster = await ok<ClusterJson>(`/api/clusters/${c.id}/`);
    expect(cluster).toMatchObject({ status: 'deployment', is_locked: true });
    const graph = await ok<GraphTaskJson[]>(`/api/clusters/${c.id}/deployment_tasks/`);
    const nodesBefore = await allNodes();

    expectError(await call('PUT', `/api/clusters/${c.id}/changes/`, { json: {} }), 409, /locked|already/);
    expectError(
      await call('POST', `/api/clusters/${c.id}/assignment/`, { json: [{ id: 3, roles: ['controller'] }] }),
      409,
      /Cannot assign nodes.*locked/,
    );
    expectError(
      await call('PUT', `/api/clusters/${c.id}/deployment_tasks/`, {
        json: [{ id: 'z', type: 'shell', roles: ['controller'], parameters: { cmd: 'echo z' } }],
      }),
      409,
      /Cannot change the deployment graph.*locked/,
    );
    expectError(await call('DELETE', `/api/clusters/${c.id}/`), 409, /Cannot delete the environment/);

    expect(await ok(`/api/clusters/${c.id}/deployment_tasks/`)).toEqual(graph);
    expect((await node(3)).cluster).toBeNull();
    const deploys = await ok<TaskJson[]>(`/api/transactions/?cluster_id=${c.id}&transaction_types=deploy`);
    expect(deploys.map((t) => t.id)).toEqual([deploy.id]);
    expect((await allNodes()).map((n) => n.cluster)).toEqual(nodesBefore.map((n) => n.cluster));
  });

  it('runs to ready: cluster operational, nodes ready with their roles', async () => {
    const deadline = Date.now() + 60_000;
    let current = await ok<TaskJson>(`/api/tasks/${deploy.id}/`);
    while ((current.status === 'running' || current.status === 'pending') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      current = await ok<TaskJson>(`/api/tasks/${deploy.id}/`);
    }
    expect(current.status, current.message ?? '').toBe('ready');
    expect(current.progress).toBe(100);
    expect(current.time_end).not.toBeNull();

    expect(await ok<ClusterJson>(`/api/clusters/${c.id}/`)).toMatchObject({
      status: 'operational',
      is_locked: false,
    });
    for (const id of [1, 2]) {
      expect(await node(id)).toMatchObject({
        status: 'ready',
        cluster: c.id,
        roles: ['controller'],
        pending_roles: [],
        pending_addition: false,
        error_type: null,
        progress: 100,
      });
    }
    expect((await node(3)).status).toBe('discover');
  }, 90_000);

  it('lists the transactions of the cluster, with statuses= and transaction_types= filters', async () => {
    const all = await ok<TaskJson[]>(`/api/transactions/?cluster_id=${c.id}`);
    const names = all.map((t) => t.name).sort();
    expect(names).toEqual(['deploy', 'deployment', 'provision']);
    for (const t of all) {
      expect(t.status).toBe('ready');
      expect(t.cluster).toBe(c.id);
      if (t.name !== 'deploy') expect(t.parent_id).toBe(deploy.id);
    }
    expect(await ok(`/api/tasks/?cluster_id=${c.id}`)).toEqual(all);

    const provisions = await ok<TaskJson[]>(
      `/api/transactions/?cluster_id=${c.id}&transaction_types=provision`,
    );
    expect(provisions.map((t) => t.name)).toEqual(['provision']);
    const two = await ok<TaskJson[]>(
      `/api/transactions/?cluster_id=${c.id}&transaction_types=deploy,deployment`,
    );
    expect(two.map((t) => t.name).sort()).toEqual(['deploy', 'deployment']);
    expect(await ok(`/api/transactions/?cluster_id=${c.id}&statuses=running,error`)).toEqual([]);
    expect(await ok(`/api/transactions/?cluster_id=${c.id}&statuses=ready`)).toEqual(all);

    const everywhere = await ok<TaskJson[]>('/api/transactions/?transaction_types=cluster_deletion');
    expect(everywhere.length).toBeGreaterThan(0);
    expect(everywhere.every((t) => t.name === 'cluster_deletion')).toBe(true);

    expectError(await call('GET', '/api/transactions/?statuses=bogus'), 400, /statuses/);
    expectError(await call('GET', '/api/transactions/?transaction_types=nap'), 400, /transaction_types/);
    expectError(await call('GET', '/api/transactions/?cluster_id=-2'), 400, /cluster_id/);
  });

  it('records the deployment history per task and node, with tasks_names= and nodes= filters', async () => {
    const all = await ok<TaskJson[]>(`/api/transactions/?cluster_id=${c.id}&transaction_types=deployment`);
    const deployment = all[0];
    expect(deployment).toBeDefined();
    const base = `/api/transactions/${deployment?.id}/deployment_history/`;

    const rows = await ok<HistoryJson[]>(base);
    expect(rows.map((r) => `${r.task_name}@${r.node_id}`).sort()).toEqual(['a@1', 'a@2', 'b@1', 'b@2']);
    for (const r of rows) {
      expect(r.deployment_graph_task_name).toBe(r.task_name);
      expect(typeof r.node_id).toBe('string');
      expect(r.status).toBe('ready');
      expect(r.time_start).not.toBeNull();
      expect(r.time_end).not.toBeNull();
      expect(r.custom.exit_code).toBe(0);
    }
    for (const nodeId of ['1', '2']) {
      const a = rows.find((r) => r.task_name === 'a' && r.node_id === nodeId);
      const b = rows.find((r) => r.task_name === 'b' && r.node_id === nodeId);
      // b requires a: it starts only after a ended on that node.
      expect(Date.parse(b?.time_start ?? '')).toBeGreaterThanOrEqual(Date.parse(a?.time_end ?? ''));
    }

    const onlyB = await ok<HistoryJson[]>(`${base}?tasks_names=b`);
    expect(onlyB.map((r) => r.node_id).sort()).toEqual(['1', '2']);
    expect(onlyB.every((r) => r.task_name === 'b')).toBe(true);
    const node1 = await ok<HistoryJson[]>(`${base}?nodes=1`);
    expect(node1.map((r) => r.task_name).sort()).toEqual(['a', 'b']);
    expect(node1.every((r) => r.node_id === '1')).toBe(true);
    expect(await ok<HistoryJson[]>(`${base}?nodes=2&tasks_names=a`)).toEqual(
      rows.filter((r) => r.node_id === '2' && r.task_name === 'a'),
    );
    expect(await ok(`${base}?statuses=error`)).toEqual([]);
    expect(await ok(`${base}?nodes=3`)).toEqual([]);

    const whole = await ok<HistoryJson[]>(`/api/transactions/${deploy.id}/deployment_history/`);
    expect(whole.map((r) => `${r.task_name}@${r.node_id}`).sort()).toEqual([
      'a@1',
      'a@2',
      'b@1',
      'b@2',
      'provision@1',
      'provision@2',
    ]);

    expectError(await call('GET', `${base}?statuses=bogus`), 400, /statuses/);
    expectError(await call('GET', `${base}?nodes=abc`), 400, /nodes/);
    expectError(
      await call('GET', '/api/transactions/987654/deployment_history/'),
      404,
      /Task 987654 not found/,
    );
  });
});
