/**
 * docs/openapi.yaml against the embedded runtime: every documented operation is called for real, and every
 * reply (status, content type, body, required headers) is validated against the schema the document gives
 * for that path, method and status. The other way round: every route the router serves is documented, every
 * documented path is served, every documented status code is seen at least once, and every example in the
 * document matches its schema.
 */
import { readFileSync } from 'node:fs';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { nailgunRoutes } from '../../lambdas/api/routes.js';
import type { ClusterJson, DeploymentPreviewJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { Service } from '../../lambdas/app/service.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { shell } from '../helpers/target.js';

// ---- the document ----

interface Ref {
  $ref: string;
}
interface MediaType {
  schema?: unknown;
  example?: unknown;
  examples?: Record<string, Ref | { value: unknown }>;
}
interface ResponseObject {
  description: string;
  content?: Record<string, MediaType>;
  headers?: Record<string, { required?: boolean; schema?: unknown }>;
}
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
  example?: unknown;
}
interface RequestBody {
  required?: boolean;
  content: Record<string, MediaType>;
}
interface Operation {
  summary?: string;
  operationId?: string;
  security?: unknown[];
  parameters?: (Parameter | Ref)[];
  requestBody?: RequestBody | Ref;
  responses: Record<string, ResponseObject | Ref>;
}
const METHODS = ['get', 'put', 'post', 'delete'] as const;
type Method = (typeof METHODS)[number];
type PathItem = { servers?: { url: string }[]; parameters?: (Parameter | Ref)[] } & Partial<
  Record<Method, Operation>
>;
interface OpenApiDoc {
  openapi: string;
  servers: { url: string }[];
  security: unknown[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, unknown>;
    responses: Record<string, ResponseObject>;
    securitySchemes: Record<string, { type: string; in?: string; name?: string }>;
    [section: string]: unknown;
  };
}

const DOC_PATH = new URL('../../docs/openapi.yaml', import.meta.url);
const doc = parse(readFileSync(DOC_PATH, 'utf8')) as OpenApiDoc;

const isRef = (v: unknown): v is Ref =>
  typeof v === 'object' && v !== null && typeof (v as Partial<Ref>).$ref === 'string';

/** The value a local `#/...` JSON pointer names in the document. */
function pointer(ref: string): unknown {
  if (!ref.startsWith('#/')) throw new Error(`only local references are used: ${ref}`);
  let at: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof at !== 'object' || at === null || !(key in at)) throw new Error(`dangling reference ${ref}`);
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** Follows `$ref`s (of responses, parameters, request bodies, examples) to the object itself. */
function deref<T>(value: T | Ref): T {
  let at: unknown = value;
  for (let hops = 0; isRef(at); hops++) {
    if (hops > 10) throw new Error('reference loop');
    at = pointer(at.$ref);
  }
  return at as T;
}

interface Op {
  method: Method;
  path: string;
  operation: Operation;
  item: PathItem;
}

const operations: Op[] = Object.entries(doc.paths).flatMap(([path, item]) =>
  METHODS.flatMap((method) => {
    const operation = item[method];
    return operation ? [{ method, path, operation, item }] : [];
  }),
);

function findOp(method: string, path: string): Op {
  const op = operations.find((o) => o.method === method.toLowerCase() && o.path === path);
  if (!op) throw new Error(`${method} ${path} is not documented`);
  return op;
}

const isPublic = (op: Op) => (op.operation.security ?? doc.security).length === 0;

function parametersOf(op: Op): Parameter[] {
  return [...(op.item.parameters ?? []), ...(op.operation.parameters ?? [])].map((p) => deref(p));
}

// ---- schemas ----

const SCHEMAS_ID = 'urn:fuel-sls:openapi:schemas';

/** Points `#/components/schemas/X` at the schemas registered with Ajv. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === '$ref' && typeof inner === 'string') {
      if (!inner.startsWith('#/components/schemas/'))
        throw new Error(`schema $ref outside schemas: ${inner}`);
      out[key] = `${SCHEMAS_ID}#/$defs/${inner.slice('#/components/schemas/'.length)}`;
    } else {
      out[key] = rewriteRefs(inner);
    }
  }
  return out;
}

const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
addFormats(ajv);
// the OpenAPI 3.1 dialect's annotations
ajv.addVocabulary(['example', 'xml', 'externalDocs']);
ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(doc.components.schemas) });

const compiled = new Map<unknown, ValidateFunction>();
function validator(schema: unknown): ValidateFunction {
  let found = compiled.get(schema);
  if (!found) {
    found = ajv.compile(rewriteRefs(schema) as object);
    compiled.set(schema, found);
  }
  return found;
}

/** Ajv's errors, naming the offending property of `additionalProperties` and the values of `enum`. */
function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => {
      const where = e.instancePath || '(root)';
      const extra =
        e.keyword === 'additionalProperties'
          ? `: '${String(e.params.additionalProperty)}'`
          : e.keyword === 'enum'
            ? `: ${JSON.stringify(e.params.allowedValues)}`
            : '';
      return `${where} ${e.message ?? e.keyword}${extra}`;
    })
    .join('; ');
}

function expectValid(schema: unknown, value: unknown, what: string): void {
  const validate = validator(schema);
  if (!validate(value)) {
    const shown = JSON.stringify(value);
    throw new Error(
      `${what} does not match the documented schema: ${describeErrors(validate.errors)}\n` +
        `value: ${shown.length > 2000 ? `${shown.slice(0, 2000)}...` : shown}`,
    );
  }
}

// ---- calls, each reply validated ----

let rt: Runtime;
const TOKEN = 'openapi-token';
const covered = new Set<string>();
let callCount = 0;

interface Reply<T> {
  status: number;
  body: T;
  headers: Headers;
}

interface CallOptions {
  /** Path parameter `{id}`. */
  id?: number | string;
  /** Path parameter `{type}` (a graph type); default `provision`. */
  type?: string;
  query?: Record<string, string>;
  /** A JSON value, sent as application/json. */
  json?: unknown;
  /** A raw body, sent with `contentType` (application/json unless told). */
  raw?: string;
  contentType?: string;
  /** The X-Auth-Token; null sends none. Default: the static token. */
  token?: string | null;
}

/** The URL of a documented path: its own server, or alternately `/api/v1` and `/api`, with and without a slash. */
function urlOf(path: string, options: CallOptions): string {
  const item = doc.paths[path];
  const own = item?.servers?.[0]?.url;
  const n = callCount++;
  const server = own !== undefined ? own.replace(/\/+$/, '') : (doc.servers[n % 2]?.url ?? '/api/v1');
  const concrete = path
    .replace('{id}', encodeURIComponent(String(options.id ?? '')))
    .replace('{type}', encodeURIComponent(options.type ?? 'provision'));
  const slash = Math.floor(n / 2) % 2 === 0 ? '/' : '';
  const query = options.query ? `?${new URLSearchParams(options.query).toString()}` : '';
  return `${rt.url}${server}${concrete}${slash}${query}`;
}

async function send(method: string, url: string, options: CallOptions) {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers['X-Auth-Token'] = token;
  let body: string | undefined;
  if (options.json !== undefined) body = JSON.stringify(options.json);
  else if (options.raw !== undefined) body = options.raw;
  if (body !== undefined) headers['Content-Type'] = options.contentType ?? 'application/json';
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Checks a reply against a documented response: content type, required headers, and the body's schema. */
function checkReply(
  response: ResponseObject,
  reply: { status: number; headers: Headers; text: string },
  what: string,
): unknown {
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    if (header.required) expect(reply.headers.get(name), `${what}: header ${name}`).not.toBeNull();
  }
  const media = Object.entries(response.content ?? {});
  if (media.length === 0) {
    expect(reply.text, `${what}: documented without content`).toBe('');
    return null;
  }
  const [[type, content]] = media as [[string, MediaType]];
  expect(reply.headers.get('content-type') ?? '', `${what}: content type`).toMatch(
    new RegExp(`^${type.replace(/[/+.]/g, '\\$&')}\\b`),
  );
  // a text reply (the DOT graph) is validated as the string it is
  const body: unknown = type.startsWith('text/') ? reply.text : JSON.parse(reply.text);
  expectValid(content.schema, body, what);
  return body;
}

/** Calls a documented operation, expects `status`, and validates the reply against the document. */
async function call<T = unknown>(
  method: string,
  path: string,
  status: number,
  options: CallOptions = {},
): Promise<Reply<T>> {
  const op = findOp(method, path);
  const reply = await send(method, urlOf(path, options), options);
  const what = `${method} ${path} -> ${reply.status}`;
  expect(reply.status, `${what}: ${reply.text.slice(0, 500)}`).toBe(status);
  const documented = op.operation.responses[String(status)];
  if (!documented) throw new Error(`${what}: status ${status} is not documented`);
  const body = checkReply(deref(documented), reply, what);
  // what the server accepted, the document accepts too
  const request = op.operation.requestBody && deref(op.operation.requestBody).content['application/json'];
  if (status < 300 && options.json !== undefined && request?.schema !== undefined) {
    expectValid(request.schema, options.json, `${what}: the request body sent`);
  }
  covered.add(`${method.toUpperCase()} ${path} ${status}`);
  return { status: reply.status, body: body as T, headers: reply.headers };
}

// ---- the scenario's helpers (the replies' shapes are the wire types of lambdas/api/wire.ts) ----

async function waitTask(id: number, timeoutMs = 30_000): Promise<TaskJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await send('GET', `${rt.url}/api/v1/tasks/${id}/`, {});
    const task = JSON.parse(res.text) as TaskJson;
    if (task.status === 'ready' || task.status === 'error') {
      return (await call<TaskJson>('GET', '/tasks/{id}', 200, { id })).body;
    }
    if (Date.now() > deadline) throw new Error(`task ${id} still ${task.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A graph of quick shell tasks; `slowSeconds` adds a task that keeps a deployment running that long. */
function graph(slowSeconds = 0) {
  return [
    shell('prep', '*', 'sleep 0.1'),
    shell('conf', ['controller', 'compute'], 'sleep 0.1', ['prep']),
    ...(slowSeconds > 0 ? [shell('slow', '*', `sleep ${slowSeconds}`, ['conf'])] : []),
  ];
}

/** The example request body of an operation, if it has one. */
function exampleBody(op: Op): unknown {
  return op.operation.requestBody
    ? exampleOf(deref(op.operation.requestBody).content['application/json'])
    : undefined;
}

/** The required query parameters of an operation, from their examples (comma-separated lists). */
function requiredQuery(op: Op): Record<string, string> | undefined {
  const required = parametersOf(op).filter((p) => p.in === 'query' && p.required);
  if (required.length === 0) return undefined;
  return Object.fromEntries(
    required.map((p) => [p.name, Array.isArray(p.example) ? p.example.join(',') : String(p.example)]),
  );
}

/** The example a media type documents (the first one), dereferenced. */
function exampleOf(media: MediaType | undefined): unknown {
  if (!media) return undefined;
  if (media.example !== undefined) return media.example;
  const first = Object.values(media.examples ?? {})[0];
  return first === undefined ? undefined : deref<{ value: unknown }>(first).value;
}

const BIG_BODY = JSON.stringify('x'.repeat(1024 * 1024 + 10));

beforeAll(async () => {
  rt = await startRuntime({ port: 0, nodeCount: 6, demo: false, authToken: TOKEN });
});

afterAll(async () => {
  await rt?.stop();
});

// ---- the document itself ----

describe('the document', () => {
  it('is OpenAPI 3.1 with the static token as a global header key, and the public routes without it', () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.servers.map((s) => s.url)).toEqual(['/api/v1', '/api']);
    expect(doc.components.securitySchemes.authToken).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-Auth-Token',
    });
    expect(doc.security).toEqual([{ authToken: [] }]);
    expect(operations.filter(isPublic).map((o) => `${o.method} ${o.path}`)).toEqual([
      'get /version',
      'post /keystone/v2.0/tokens',
    ]);
    for (const op of operations) {
      expect(op.operation.summary, `${op.method} ${op.path}: summary`).toBeTruthy();
      expect(op.operation.operationId, `${op.method} ${op.path}: operationId`).toBeTruthy();
    }
  });

  it('documents exactly the routes the router serves', () => {
    const login = {
      user: 'admin',
      password: async () => 'admin',
      signingKey: async () => 'key',
      staticToken: async () => 'token',
    };
    const served = nailgunRoutes({} as Service, login)
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`)
      .sort();
    const documented = operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
    expect(documented).toEqual(served);
  });

  it("documents exactly the query parameters each route's schema reads", () => {
    const login = {
      user: 'admin',
      password: async () => 'admin',
      signingKey: async () => 'key',
      staticToken: async () => 'token',
    };
    const served = Object.fromEntries(
      nailgunRoutes({} as Service, login).map((r) => [
        `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`,
        [...r.queryNames].sort(),
      ]),
    );
    const documented = Object.fromEntries(
      operations.map((o) => [
        `${o.method.toUpperCase()} ${o.path}`,
        parametersOf(o)
          .filter((p) => p.in === 'query')
          .map((p) => p.name)
          .sort(),
      ]),
    );
    expect(documented).toEqual(served);
  });

  it('has an example for every operation, and every example matches its schema', () => {
    const media: [string, MediaType][] = [];
    for (const op of operations) {
      const name = `${op.method} ${op.path}`;
      const body = op.operation.requestBody ? deref(op.operation.requestBody) : undefined;
      for (const [type, m] of Object.entries(body?.content ?? {})) media.push([`${name} request ${type}`, m]);
      let examples = 0;
      for (const [status, response] of Object.entries(op.operation.responses)) {
        for (const [type, m] of Object.entries(deref(response).content ?? {})) {
          media.push([`${name} ${status} ${type}`, m]);
          if (status.startsWith('2') && exampleOf(m) !== undefined) examples++;
        }
      }
      const success = Object.entries(op.operation.responses).find(([s]) => s.startsWith('2'));
      expect(success, `${name}: a success reply`).toBeDefined();
      if (success && deref(success[1]).content) {
        expect(examples, `${name}: an example of the success reply`).toBeGreaterThan(0);
      }
      for (const p of parametersOf(op)) {
        if (p.example !== undefined) expectValid(p.schema, p.example, `${name} parameter ${p.name} example`);
      }
    }
    for (const [name, response] of Object.entries(doc.components.responses)) {
      for (const [type, m] of Object.entries(response.content ?? {})) media.push([`${name} ${type}`, m]);
    }
    let checked = 0;
    for (const [what, m] of media) {
      if (m.example !== undefined) {
        expectValid(m.schema, m.example, `${what} example`);
        checked++;
      }
      for (const [key, example] of Object.entries(m.examples ?? {})) {
        expectValid(m.schema, deref<{ value: unknown }>(example).value, `${what} example ${key}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });
});

// ---- the runtime against the document ----

describe('the embedded runtime answers as documented', () => {
  let c1: ClusterJson;
  let c2: ClusterJson;
  let n1: NodeJson;
  let n2: NodeJson;
  let n3: NodeJson;
  let deploy1: TaskJson;
  let stop1: TaskJson;

  it('version and the Keystone-compatible login', async () => {
    const version = await call<{ auth_required: boolean }>('GET', '/version', 200, { token: null });
    expect(version.body.auth_required).toBe(true);
    await call('GET', '/version', 200, { token: null });

    const password = await call<{ access: { token: { id: string } } }>('POST', '/keystone/v2.0/tokens', 200, {
      token: null,
      json: { auth: { passwordCredentials: { username: 'admin', password: 'admin' }, tenantName: 'admin' } },
    });
    const rescoped = await call<{ access: { token: { id: string } } }>('POST', '/keystone/v2.0/tokens', 200, {
      token: null,
      json: { auth: { token: { id: password.body.access.token.id }, tenantId: 'admin' } },
    });
    await call('GET', '/clusters', 200, { token: rescoped.body.access.token.id });
    await call('POST', '/keystone/v2.0/tokens', 401, {
      token: null,
      json: { auth: { passwordCredentials: { username: 'admin', password: 'wrong' } } },
    });
    await call('POST', '/keystone/v2.0/tokens', 401, {
      token: null,
      json: { auth: { token: { id: 'fsl1.forged.token' } } },
    });
    await call('POST', '/keystone/v2.0/tokens', 400, { token: null, json: { auth: {} } });
  });

  it('environments, settings, graph and node membership', async () => {
    const nodes = (await call<NodeJson[]>('GET', '/nodes', 200)).body;
    const free = nodes.filter((n) => n.cluster === null && n.online).sort((a, b) => a.id - b.id);
    expect(free.length).toBeGreaterThanOrEqual(3);
    [n1, n2, n3] = free as [NodeJson, NodeJson, NodeJson];

    c1 = (await call<ClusterJson>('POST', '/clusters', 201, { json: { name: 'openapi-1' } })).body;
    c2 = (
      await call<ClusterJson>('POST', '/clusters', 201, {
        json: {
          name: 'openapi-2',
          release: 1,
          mode: 'ha_compact',
          net_provider: 'neutron',
          net_segment_type: 'vlan',
          nodes: [],
          tasks: [],
        },
      })
    ).body;
    await call('POST', '/clusters', 409, { json: { name: 'openapi-1' } });
    await call('POST', '/clusters', 400, { json: { release_id: 1 } });
    await call('POST', '/clusters', 400, { json: { name: 'with-nodes', nodes: [n1.id] } });
    await call('POST', '/clusters', 400, { raw: '{"name": ' });

    await call('GET', '/clusters', 200);
    await call('GET', '/clusters/{id}', 200, { id: c1.id });
    await call('PUT', '/clusters/{id}', 200, { id: c2.id, json: { name: 'openapi-2b' } });
    await call('PUT', '/clusters/{id}', 409, { id: c2.id, json: { name: 'openapi-1' } });
    await call('PUT', '/clusters/{id}', 400, { id: c2.id, json: { name: '  ' } });

    await call('GET', '/clusters/{id}/attributes', 200, { id: c1.id });
    await call('PUT', '/clusters/{id}/attributes', 200, {
      id: c1.id,
      json: {
        editable: { deployment: { stop_timeout: { value: 60 } }, provision: { timeout: { value: 120 } } },
      },
    });
    await call('PUT', '/clusters/{id}/attributes', 400, {
      id: c1.id,
      json: { editable: { provision: { cmd: { value: '' } } } },
    });

    await call('GET', '/clusters/{id}/deployment_tasks', 200, { id: c1.id });
    await call('PUT', '/clusters/{id}/deployment_tasks', 200, { id: c1.id, json: graph(3) });
    await call('PUT', '/clusters/{id}/deployment_tasks', 400, {
      id: c1.id,
      json: [shell('a', '*', 'true', ['missing'])],
    });
    // valid, under the 1 MiB body limit, but more than one stored item holds
    const huge = Array.from({ length: 900 }, (_, i) => shell(`t${i}`, '*', `echo ${'x'.repeat(400)}`));
    await call('PUT', '/clusters/{id}/deployment_tasks', 413, { id: c1.id, json: huge });

    await call('POST', '/clusters/{id}/assignment', 200, {
      id: c1.id,
      json: [
        { id: n1.id, roles: ['controller'] },
        { id: n2.id, roles: ['compute'] },
      ],
    });
    await call('POST', '/clusters/{id}/assignment', 400, {
      id: c1.id,
      json: [{ id: 999_999, roles: ['compute'] }],
    });
    await call('POST', '/clusters/{id}/assignment', 400, { id: c1.id, json: [{ id: n3.id, roles: [] }] });
    await call('POST', '/clusters/{id}/unassignment', 400, { id: c1.id, json: [{ id: n3.id }] });

    await call('GET', '/nodes', 200, { query: { cluster_id: String(c1.id) } });
    await call('GET', '/nodes', 200, { query: { cluster_id: 'None' } });
    await call('GET', '/nodes', 400, { query: { cluster_id: 'abc' } });
    await call('GET', '/nodes/{id}', 200, { id: n1.id });
  });

  it('graphs by type, the DOT graph, releases and roles, node edits and deletion', async () => {
    const id = c2.id;
    const graphs = (
      await call<{ relations: { model: string }[] }[]>('GET', '/clusters/{id}/deployment_graphs', 200, { id })
    ).body;
    expect(graphs.map((g) => g.relations[0]?.model)).toEqual(['release']);
    await call('GET', '/clusters/{id}/deployment_graphs/{type}', 200, { id, type: 'default' });
    await call('GET', '/clusters/{id}/deployment_graphs/{type}', 404, { id, type: 'provision' });
    await call('GET', '/clusters/{id}/deployment_graphs/{type}', 400, { id, type: 'no.dots' });
    const tasks = graph();
    await call('POST', '/clusters/{id}/deployment_graphs/{type}', 200, { id, json: { name: 'p', tasks } });
    await call('POST', '/clusters/{id}/deployment_graphs/{type}', 409, { id, json: { tasks } });
    await call('POST', '/clusters/{id}/deployment_graphs/{type}', 400, {
      id,
      json: { tasks, on_success: {} },
    });
    await call('PUT', '/clusters/{id}/deployment_graphs/{type}', 200, { id, json: { tasks: [] } });
    await call('PUT', '/clusters/{id}/deployment_graphs/{type}', 404, { id, type: 'other', json: { tasks } });
    await call('PUT', '/clusters/{id}/deployment_graphs/{type}', 400, { id, json: { tasks: [{ id: 'x' }] } });
    await call('GET', '/graphs', 200, { query: { clusters_ids: String(id), graph_types: 'provision' } });
    await call('GET', '/graphs', 400, { query: { clusters_ids: 'abc' } });
    await call('DELETE', '/clusters/{id}/deployment_graphs/{type}', 204, { id });
    await call('DELETE', '/clusters/{id}/deployment_graphs/{type}', 404, { id });

    const dot = await call<string>('GET', '/clusters/{id}/deploy_tasks/graph.gv', 200, { id: c1.id });
    expect(dot.body).toContain('"prep" -> "conf";');
    await call('GET', '/clusters/{id}/deploy_tasks/graph.gv', 400, { id: c1.id, query: { tasks: 'nope' } });
    await call('GET', '/clusters/{id}/deployment_tasks', 200, { id: c1.id, query: { end: 'conf' } });
    await call('GET', '/clusters/{id}/deployment_tasks', 400, { id: c1.id, query: { start: 'nope' } });
    await call('PUT', '/clusters/{id}/deploy_tasks', 400, {
      id: c1.id,
      query: { nodes: String(n1.id) },
      json: [],
    });

    await call('GET', '/releases', 200);
    await call('GET', '/releases/{id}', 200, { id: 1 });
    await call('GET', '/releases/{id}/roles', 200, { id: 1 });
    await call('GET', '/clusters/{id}/roles', 200, { id: c1.id });

    await call('PUT', '/nodes/{id}', 200, {
      id: n3.id,
      json: { name: 'openapi-n3', labels: { rack: 'r1', x: null } },
    });
    await call('PUT', '/nodes/{id}', 400, { id: n3.id, json: { status: 'ready' } });
    await call('PUT', '/nodes/{id}', 409, { id: n3.id, json: { hostname: n1.hostname } });
    await call('DELETE', '/nodes', 409, { query: { ids: String(n1.id) } });
    await call('DELETE', '/nodes', 404, { query: { ids: '999999' } });
    await call('DELETE', '/nodes', 400, { query: { ids: 'abc' } });
    const spare = (await call<NodeJson[]>('GET', '/nodes', 200)).body
      .filter((n) => n.cluster === null && ![n1.id, n2.id, n3.id].includes(n.id))
      .sort((a, b) => b.id - a.id)[0];
    expect(spare).toBeDefined();
    await call('DELETE', '/nodes', 204, { query: { ids: String(spare?.id) } });
  });

  it('deploys, refuses changes while deploying, and stops gracefully', async () => {
    deploy1 = (await call<TaskJson>('PUT', '/clusters/{id}/changes', 202, { id: c1.id, json: {} })).body;
    expect(deploy1.name).toBe('deploy');
    expect(deploy1.execution_arn).toMatch(/^arn:/);
    expect(deploy1.execution_url).toMatch(/^https:/);

    const id = c1.id;
    await call('PUT', '/clusters/{id}/changes', 409, { id, json: {} });
    await call('GET', '/clusters/{id}/changes/preview', 409, { id });
    await call('PUT', '/clusters/{id}/changes/redeploy', 409, { id, json: {} });
    await call('PUT', '/clusters/{id}/provision', 409, { id, query: { nodes: String(n1.id) } });
    await call('PUT', '/clusters/{id}/deploy', 409, { id, query: { nodes: String(n1.id) } });
    await call('PUT', '/clusters/{id}/deploy_tasks', 409, {
      id,
      query: { nodes: String(n1.id) },
      json: ['prep'],
    });
    await call('PUT', '/clusters/{id}/deployment_graphs/{type}', 409, {
      id,
      type: 'default',
      json: { tasks: graph() },
    });
    await call('DELETE', '/clusters/{id}/deployment_graphs/{type}', 409, { id, type: 'default' });
    await call('PUT', '/clusters/{id}/reset', 409, { id });
    await call('DELETE', '/clusters/{id}', 409, { id });
    await call('PUT', '/clusters/{id}/attributes', 403, {
      id,
      json: { editable: { deployment: { stop_timeout: { value: 30 } } } },
    });
    await call('PUT', '/clusters/{id}/deployment_tasks', 409, { id, json: graph() });
    await call('POST', '/clusters/{id}/assignment', 409, { id, json: [{ id: n3.id, roles: ['compute'] }] });
    await call('POST', '/clusters/{id}/unassignment', 409, { id, json: [{ id: n2.id }] });
    await call('DELETE', '/tasks/{id}', 409, { id: deploy1.id });
    await call('DELETE', '/transactions/{id}', 409, { id: deploy1.id });
    await call('GET', '/clusters/{id}', 200, { id });
    await call('GET', '/tasks', 200, { query: { cluster_id: String(id) } });

    stop1 = (
      await call<TaskJson>('PUT', '/clusters/{id}/stop_deployment', 202, {
        id,
        json: { message: 'stopped by the OpenAPI test' },
      })
    ).body;
    expect(stop1.name).toBe('stop_deployment');
    await call('PUT', '/clusters/{id}/stop_deployment', 409, { id });

    expect((await waitTask(deploy1.id)).status).toMatch(/^(ready|error)$/);
    expect((await waitTask(stop1.id)).status).toBe('ready');
    expect((await call<ClusterJson>('GET', '/clusters/{id}', 200, { id })).body.status).toBe('stopped');
  });

  it('restarts, reports history, deploys selected nodes and resets', async () => {
    const id = c1.id;
    const preview = await call<DeploymentPreviewJson>('GET', '/clusters/{id}/changes/preview', 200, {
      id,
      query: { resume: '1' },
    });
    expect(preview.body).toMatchObject({ cluster: id, resume: true });
    await call('GET', '/clusters/{id}/changes/preview', 200, { id, query: { nodes: String(n2.id) } });
    await call('GET', '/clusters/{id}/changes/preview', 400, { id, query: { resume: 'maybe' } });
    await call('GET', '/clusters/{id}/changes/preview', 400, { id: c2.id });
    await call('PUT', '/clusters/{id}/deployment_tasks', 200, { id, json: graph() });
    const deploy2 = (await call<TaskJson>('PUT', '/clusters/{id}/changes/redeploy', 202, { id })).body;
    expect((await waitTask(deploy2.id)).status).toBe('ready');

    await call('GET', '/transactions', 200);
    const listed = await call<TaskJson[]>('GET', '/transactions', 200, {
      query: { cluster_id: String(id), statuses: 'ready,error', transaction_types: 'deploy,stop_deployment' },
    });
    expect(listed.body.map((t) => t.id)).toEqual(expect.arrayContaining([deploy2.id, stop1.id]));
    await call('GET', '/transactions/{id}', 200, { id: deploy2.id });
    const rows = await call<unknown[]>('GET', '/transactions/{id}/deployment_history', 200, {
      id: deploy2.id,
    });
    expect(rows.body.length).toBeGreaterThan(0);
    await call('GET', '/transactions/{id}/deployment_history', 200, {
      id: deploy2.id,
      query: { nodes: `${n1.id},${n2.id}`, statuses: 'ready,skipped', tasks_names: 'prep,conf' },
    });
    const stopped = await call<unknown[]>('GET', '/transactions/{id}/deployment_history', 200, {
      id: deploy1.id,
    });
    expect(stopped.body.length).toBeGreaterThan(0);
    await call('GET', '/transactions/{id}/deployment_history', 200, { id: stop1.id });
    await call('GET', '/transactions/{id}/deployment_history', 400, {
      id: deploy2.id,
      query: { statuses: 'finished' },
    });
    await call('GET', '/transactions', 400, { query: { transaction_types: 'launch' } });

    await call('PUT', '/clusters/{id}/stop_deployment', 400, { id, json: {} });
    await call('PUT', '/clusters/{id}/changes', 400, { id, query: { resume: 'maybe' } });
    await call('PUT', '/clusters/{id}/changes', 400, { id: c2.id, json: {} });

    await call('PUT', '/clusters/{id}/reset', 202, { id, query: { force: '0' } });
    await call('PUT', '/clusters/{id}/deploy', 400, { id, query: { nodes: String(n1.id) } });
    await call('PUT', '/clusters/{id}/provision', 400, { id });
    const provision = (
      await call<TaskJson>('PUT', '/clusters/{id}/provision', 202, { id, query: { nodes: String(n1.id) } })
    ).body;
    expect(provision.name).toBe('provision');
    expect((await waitTask(provision.id)).status).toBe('ready');
    await call('PUT', '/clusters/{id}/provision', 400, { id, query: { nodes: String(n1.id) } });
    const deployment = (
      await call<TaskJson>('PUT', '/clusters/{id}/deploy', 202, { id, query: { nodes: String(n1.id) } })
    ).body;
    expect(deployment.name).toBe('deployment');
    expect((await waitTask(deployment.id)).status).toBe('ready');
    const selected = (
      await call<TaskJson>('PUT', '/clusters/{id}/deploy_tasks', 202, {
        id,
        query: { nodes: String(n1.id) },
        json: ['conf'],
      })
    ).body;
    expect(selected.name).toBe('deployment');
    expect((await waitTask(selected.id)).status).toBe('ready');
    const resumed = (
      await call<TaskJson>('PUT', '/clusters/{id}/changes', 202, { id, query: { resume: '1' }, json: {} })
    ).body;
    expect((await waitTask(resumed.id)).status).toBe('ready');
    const everyTask = (await call<TaskJson[]>('GET', '/tasks', 200)).body;

    // paged lists: one page and its X-Next-Marker, the page after it; a marker of another list is refused
    const newest = await call<TaskJson[]>('GET', '/tasks', 200, { query: { limit: '1', order_by: '-id' } });
    const marker = newest.headers.get('x-next-marker') ?? '';
    expect(newest.body.map((t) => t.id)).toEqual([Math.max(...everyTask.map((t) => t.id))]);
    expect(marker).not.toBe('');
    expect(newest.headers.get('link')).toContain('rel="next"');
    const older = await call<TaskJson[]>('GET', '/tasks', 200, {
      query: { limit: '1', order_by: '-id', marker },
    });
    expect(older.body.map((t) => t.id)).toEqual([everyTask.map((t) => t.id).sort((a, b) => b - a)[1]]);
    await call('GET', '/transactions', 200, {
      query: { cluster_id: String(id), transaction_types: 'deploy', limit: '2' },
    });
    await call('GET', '/transactions', 400, { query: { cluster_id: String(id), marker } });
    await call('GET', '/tasks', 400, { query: { limit: '0' } });
    const firstRows = await call<unknown[]>('GET', '/transactions/{id}/deployment_history', 200, {
      id: deploy2.id,
      query: { limit: '1' },
    });
    expect(firstRows.body).toHaveLength(1);
    await call('GET', '/transactions/{id}/deployment_history', 200, {
      id: deploy2.id,
      query: { limit: '1000', marker: firstRows.headers.get('x-next-marker') ?? '' },
    });
    await call('GET', '/transactions/{id}/deployment_history', 400, {
      id: deploy2.id,
      query: { limit: '1001' },
    });

    await call('DELETE', '/tasks/{id}', 400, { id: deployment.id, query: { force: 'yes' } });
    await call('DELETE', '/tasks/{id}', 204, { id: deployment.id });
    await call('DELETE', '/tasks/{id}', 404, { id: deployment.id });
    await call('DELETE', '/transactions/{id}', 400, { id: deployment.id, query: { force: 'yes' } });
    await call('GET', '/tasks/{id}', 404, { id: deployment.id });

    await call('POST', '/clusters/{id}/unassignment', 200, { id, json: [{ id: n2.id }] });
    const deletion = await call<TaskJson>('DELETE', '/clusters/{id}', 202, { id });
    expect(deletion.body.name).toBe('cluster_deletion');
    await call('GET', '/clusters/{id}', 404, { id });
    await call('DELETE', '/clusters/{id}', 404, { id });
  });

  it('forces the deletion of a running task', async () => {
    await call('POST', '/clusters/{id}/assignment', 200, {
      id: c2.id,
      json: [{ id: n3.id, roles: ['compute'] }],
    });
    await call('PUT', '/clusters/{id}/deployment_tasks', 200, { id: c2.id, json: graph(2) });
    const running = (await call<TaskJson>('PUT', '/clusters/{id}/changes', 202, { id: c2.id })).body;
    // python-fuelclient's path for the same operation
    await call('DELETE', '/transactions/{id}', 204, { id: running.id, query: { force: '1' } });
    await call('GET', '/transactions/{id}', 404, { id: running.id });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const cluster = (await call<ClusterJson>('GET', '/clusters/{id}', 200, { id: c2.id })).body;
      if (!cluster.is_locked) break;
      if (Date.now() > deadline) throw new Error('the forced stop did not unlock the environment');
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('every protected operation answers 401 without a valid token (so every documented path is served)', async () => {
    for (const op of operations.filter((o) => !isPublic(o))) {
      const body = exampleBody(op);
      const query = requiredQuery(op);
      for (const token of [null, 'wrong-token']) {
        await call(op.method, op.path, 401, { id: c2.id, token, json: body, query });
      }
    }
  });

  it('a malformed id answers 400 and an unknown one 404 on every path with an id', async () => {
    for (const op of operations.filter((o) => o.path.includes('{id}'))) {
      const body = exampleBody(op);
      const query = requiredQuery(op);
      for (const bad of ['abc', '0x3', '3e0', '-1', '0']) {
        const reply = await call<{ errors: { field: string }[] }>(op.method, op.path, 400, {
          id: bad,
          json: body,
          query,
        });
        expect(reply.body.errors[0]?.field).toBe('id');
      }
      await call(op.method, op.path, 404, { id: 999_999, json: body, query });
    }
  });

  it('every operation that reads a body answers 415, 413 and 400 for a wrong one', async () => {
    for (const op of operations.filter((o) => o.operation.requestBody)) {
      const token = isPublic(op) ? null : TOKEN;
      await call(op.method, op.path, 415, { id: c2.id, token, raw: '{}', contentType: 'text/plain' });
      await call(op.method, op.path, 413, { id: c2.id, token, raw: BIG_BODY });
      await call(op.method, op.path, 400, { id: c2.id, token, raw: '{"unterminated": ' });
    }
    for (const path of ['/nodes', '/tasks', '/transactions']) {
      await call('GET', path, 400, { query: { cluster_id: '1.5' } });
    }
  });

  it('an undocumented path answers 404 and an undocumented method 405 with Allow, as documented', async () => {
    const notFound = doc.components.responses.NotFound as ResponseObject;
    for (const path of [
      '/api/v1/nope',
      '/api/v2/clusters',
      '/api/v1/clusters/1/nope',
      '/keystone/v3/auth/tokens',
    ]) {
      const reply = await send('GET', `${rt.url}${path}`, {});
      expect(reply.status, path).toBe(404);
      checkReply(notFound, reply, `GET ${path}`);
    }
    const notAllowed = doc.components.responses.MethodNotAllowed as ResponseObject;
    for (const [path, item] of Object.entries(doc.paths)) {
      const allowed = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
      for (const method of [
        'PATCH',
        ...['GET', 'PUT', 'POST', 'DELETE'].filter((m) => !allowed.includes(m)),
      ]) {
        const reply = await send(method, urlOf(path, { id: 1 }), { token: null });
        expect(reply.status, `${method} ${path}`).toBe(405);
        checkReply(notAllowed, reply, `${method} ${path}`);
        const allow = (reply.headers.get('allow') ?? '').split(',').map((m) => m.trim());
        expect(allow.sort(), `${method} ${path}: Allow`).toEqual([...allowed].sort());
      }
    }
  });

  it('every documented status code of every operation was seen', () => {
    const documented = operations.flatMap((op) =>
      Object.keys(op.operation.responses).map((status) => `${op.method.toUpperCase()} ${op.path} ${status}`),
    );
    expect(documented.filter((d) => !covered.has(d))).toEqual([]);
    expect([...covered].filter((c) => !documented.includes(c))).toEqual([]);
  });
});
