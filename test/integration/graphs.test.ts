/**
 * Graphs by type over real HTTP against the embedded runtime: the environment's own default graph and the
 * release's, the limit of graph types (also under concurrent uploads), `deployment_tasks/?graph_type=` and the
 * DOT graph of a type, `graphs/` filters, a rename that keeps the tasks, and the bound on a list's reply size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphListTooLarge, MAX_GRAPH_LIST_BYTES } from '../../lambdas/api/routes.js';
import { MAX_GRAPH_TYPES } from '../../lambdas/domain/graph-types.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';

const TOKEN = 'graphs-test-token';
let rt: Runtime;

beforeAll(async () => {
  rt = await startRuntime({ port: 0, nodeCount: 1, demo: false, authToken: TOKEN });
});

afterAll(async () => {
  await rt?.stop();
});

interface Reply<T> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

interface Relation {
  model: string;
  model_id: number;
  type: string;
}
interface GraphJson {
  id: number | null;
  name: string | null;
  tasks: { id: string }[];
  relations: Relation[];
}
interface ErrorJson {
  message: string;
  errors: { field: string; message: string }[];
}

async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<Reply<T>> {
  const headers: Record<string, string> = { 'X-Auth-Token': TOKEN };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${rt.url}/api/v1/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // a text reply (the DOT graph)
  }
  return { status: res.status, body: parsed as T, text, headers: res.headers };
}

const shell = (id: string, requires: string[] = [], cmd = 'true') => ({
  id,
  type: 'shell',
  roles: '*',
  requires,
  parameters: { cmd, timeout: 60 },
});

let clusterCount = 0;
async function createCluster(): Promise<number> {
  const reply = await api<{ id: number }>('POST', 'clusters/', {
    name: `graphs-${process.pid}-${++clusterCount}`,
    release_id: 1,
  });
  expect(reply.status).toBe(201);
  return reply.body.id;
}

const typesOf = (graphs: GraphJson[]) => graphs.map((g) => g.relations.map((r) => `${r.model}:${r.type}`));

describe('graphs by type', () => {
  it("deleting the environment's own default graph gives it the release's graph back", async () => {
    const id = await createCluster();
    const releaseTasks = (await api<unknown[]>('GET', `clusters/${id}/deployment_tasks/`)).body;
    expect(releaseTasks.length).toBeGreaterThan(0);

    const own = [shell('a'), shell('b', ['a'])];
    expect((await api('PUT', `clusters/${id}/deployment_tasks/`, own)).status).toBe(200);
    expect((await api<{ is_customized: boolean }>('GET', `clusters/${id}/`)).body.is_customized).toBe(true);
    const customized = (await api<GraphJson[]>('GET', `clusters/${id}/deployment_graphs/`)).body;
    expect(typesOf(customized)).toEqual([['cluster:default']]);
    expect(customized[0]?.tasks).toEqual(own);

    expect((await api('DELETE', `clusters/${id}/deployment_graphs/default`)).status).toBe(204);
    expect((await api<{ is_customized: boolean }>('GET', `clusters/${id}/`)).body.is_customized).toBe(false);
    const back = (await api<GraphJson[]>('GET', `clusters/${id}/deployment_graphs/`)).body;
    expect(back).toEqual([
      {
        id: null,
        name: null,
        tasks: releaseTasks,
        relations: [{ model: 'release', model_id: 1, type: 'default' }],
      },
    ]);
    // what deployments run is the release's graph again
    expect((await api('GET', `clusters/${id}/deployment_tasks/`)).body).toEqual(releaseTasks);

    // the release's graph itself cannot be deleted
    const again = await api<ErrorJson>('DELETE', `clusters/${id}/deployment_graphs/default`);
    expect(again.status).toBe(404);
    expect(again.body.message).toMatch(/deploys the release's graph, which cannot be deleted/);
  });

  it(`keeps at most ${MAX_GRAPH_TYPES} types besides default: the next one is 400 and nothing is stored`, async () => {
    const id = await createCluster();
    for (let i = 1; i <= MAX_GRAPH_TYPES; i++) {
      const reply = await api('POST', `clusters/${id}/deployment_graphs/t${i}`, { tasks: [shell(`s${i}`)] });
      expect(reply.status, `t${i}`).toBe(200);
    }
    const before = (await api<GraphJson[]>('GET', `clusters/${id}/deployment_graphs/`)).body;
    expect(before).toHaveLength(MAX_GRAPH_TYPES + 1);

    const post = await api<ErrorJson>('POST', `clusters/${id}/deployment_graphs/one-more`, {
      tasks: [shell('x')],
    });
    expect(post.status).toBe(400);
    expect(post.body.message).toMatch(
      new RegExp(`keeps at most ${MAX_GRAPH_TYPES} graphs besides the default one: delete one first`),
    );
    const put = await api<ErrorJson>('PUT', `clusters/${id}/deployment_tasks/?graph_type=one-more`, [
      shell('x'),
    ]);
    expect(put.status).toBe(400);
    expect(put.body.message).toMatch(/delete one first/);
    expect((await api('GET', `clusters/${id}/deployment_graphs/one-more`)).status).toBe(404);
    expect((await api('GET', `clusters/${id}/deployment_graphs/`)).body).toEqual(before);

    // at the limit, a stored type is still replaced, and the default graph is not counted
    expect((await api('PUT', `clusters/${id}/deployment_graphs/t1`, { tasks: [shell('s1b')] })).status).toBe(
      200,
    );
    expect((await api('PUT', `clusters/${id}/deployment_tasks/`, [shell('d')])).status).toBe(200);
    // once one is deleted, another can be added
    expect((await api('DELETE', `clusters/${id}/deployment_graphs/t2`)).status).toBe(204);
    expect((await api('POST', `clusters/${id}/deployment_graphs/one-more`, { tasks: [] })).status).toBe(200);
  });

  it('concurrent uploads of new types never pass the limit, and a lost race is 409, never 500', async () => {
    const id = await createCluster();
    for (let i = 1; i < MAX_GRAPH_TYPES; i++) {
      expect((await api('POST', `clusters/${id}/deployment_graphs/t${i}`, { tasks: [] })).status).toBe(200);
    }
    const replies = await Promise.all(
      ['r1', 'r2', 'r3', 'r4', 'r5'].map((type) =>
        api('POST', `clusters/${id}/deployment_graphs/${type}`, { tasks: [shell(type)] }),
      ),
    );
    for (const reply of replies) expect([200, 400, 409]).toContain(reply.status);
    const stored = (await api<GraphJson[]>('GET', `clusters/${id}/deployment_graphs/`)).body;
    const others = stored.filter((g) => g.relations[0]?.type !== 'default');
    expect(others.length).toBeLessThanOrEqual(MAX_GRAPH_TYPES);
    expect(others.length - (MAX_GRAPH_TYPES - 1)).toBe(replies.filter((r) => r.status === 200).length);
  });

  it('PUT deployment_tasks/?graph_type=X stores a graph of that type; deployment_tasks and graph.gv read it', async () => {
    const id = await createCluster();
    const releaseTasks = (await api('GET', `clusters/${id}/deployment_tasks/`)).body;
    const tasks = [shell('p1'), shell('p2', ['p1']), shell('p3', ['p2'])];
    const put = await api<unknown[]>('PUT', `clusters/${id}/deployment_tasks/?graph_type=provision`, tasks);
    expect(put.status).toBe(200);
    expect(put.body).toEqual(tasks);

    const stored = await api<GraphJson>('GET', `clusters/${id}/deployment_graphs/provision`);
    expect(stored.body).toMatchObject({
      name: null,
      tasks,
      relations: [{ model: 'cluster', model_id: id, type: 'provision' }],
    });
    expect(typeof stored.body.id).toBe('number');
    expect((await api('GET', `clusters/${id}/deployment_tasks/?graph_type=provision`)).body).toEqual(tasks);
    const part = await api<{ id: string }[]>(
      'GET',
      `clusters/${id}/deployment_tasks/?graph_type=provision&end=p2`,
    );
    expect(part.body.map((t) => t.id)).toEqual(['p1', 'p2']);

    const dot = await api('GET', `clusters/${id}/deploy_tasks/graph.gv?graph_type=provision`);
    expect(dot.status).toBe(200);
    expect(dot.headers.get('content-type')).toMatch(/^text\/vnd\.graphviz/);
    expect(dot.text).toContain('"p1" -> "p2";');
    expect(dot.text).toContain('"p2" -> "p3";');
    expect(dot.text).not.toContain('hiera');

    // the default graph is untouched, and the environment is not customized by another type
    expect((await api('GET', `clusters/${id}/deployment_tasks/`)).body).toEqual(releaseTasks);
    expect((await api<{ is_customized: boolean }>('GET', `clusters/${id}/`)).body.is_customized).toBe(false);

    // a type the environment has none of is 404 on both reads
    expect((await api('GET', `clusters/${id}/deployment_tasks/?graph_type=rollback`)).status).toBe(404);
    expect((await api('GET', `clusters/${id}/deploy_tasks/graph.gv?graph_type=rollback`)).status).toBe(404);

    // a PUT without a body is an invalid graph, not an empty one
    const empty = await api<ErrorJson>('PUT', `clusters/${id}/deployment_tasks/?graph_type=provision`);
    expect(empty.status).toBe(400);
    expect((await api('GET', `clusters/${id}/deployment_tasks/?graph_type=provision`)).body).toEqual(tasks);
  });

  it('GET graphs/?clusters_ids=&graph_types= returns exactly the matching graphs', async () => {
    const a = await createCluster();
    const b = await createCluster();
    const c = await createCluster();
    for (const [id, type] of [
      [a, 'provision'],
      [a, 'rollback'],
      [b, 'provision'],
      [c, 'provision'],
    ] as const) {
      const reply = await api('POST', `clusters/${id}/deployment_graphs/${type}`, {
        name: `${type}-${id}`,
        tasks: [shell(`${type}-${id}`)],
      });
      expect(reply.status).toBe(200);
    }
    expect((await api('PUT', `clusters/${b}/deployment_tasks/`, [shell('own-b')])).status).toBe(200);
    const key = (g: GraphJson) => g.relations.map((r) => `${r.model}:${r.model_id}:${r.type}`).join();
    const read = async (query: string) => {
      const reply = await api<GraphJson[]>('GET', `graphs/${query}`);
      expect(reply.status, query).toBe(200);
      return reply.body.map(key);
    };

    expect(await read(`?clusters_ids=${a}&graph_types=provision`)).toEqual([`cluster:${a}:provision`]);
    expect(await read(`?clusters_ids=${a},${b}&graph_types=provision,default`)).toEqual([
      'release:1:default',
      `cluster:${a}:provision`,
      `cluster:${b}:default`,
      `cluster:${b}:provision`,
    ]);
    expect(await read(`?clusters_ids=${a}`)).toEqual([
      'release:1:default',
      `cluster:${a}:provision`,
      `cluster:${a}:rollback`,
    ]);
    expect(await read(`?clusters_ids=${c}&graph_types=rollback`)).toEqual([]);

    // without clusters_ids: every environment's graphs of those types, as each environment lists them
    const clusters = (await api<{ id: number }[]>('GET', 'clusters/')).body
      .map((x) => x.id)
      .sort((x, y) => x - y);
    const expected: string[] = [];
    for (const id of clusters) {
      const own = (await api<GraphJson[]>('GET', `clusters/${id}/deployment_graphs/`)).body;
      expected.push(...own.filter((g) => g.relations[0]?.type === 'rollback').map(key));
    }
    expect(expected).toContain(`cluster:${a}:rollback`);
    expect(await read('?graph_types=rollback')).toEqual(expected);

    // the names and tasks are those stored
    const [graph] = (await api<GraphJson[]>('GET', `graphs/?clusters_ids=${c}&graph_types=provision`)).body;
    expect(graph).toMatchObject({ name: `provision-${c}`, tasks: [shell(`provision-${c}`)] });

    const bad = await api<ErrorJson>('GET', 'graphs/?graph_types=no.dots');
    expect(bad.status).toBe(400);
  });

  it('PUT with only a name renames the graph and keeps its tasks (also the default graph)', async () => {
    const id = await createCluster();
    const tasks = [shell('k1'), shell('k2', ['k1'])];
    const created = await api<GraphJson>('POST', `clusters/${id}/deployment_graphs/custom`, {
      name: 'old',
      tasks,
    });
    expect(created.status).toBe(200);

    const renamed = await api<GraphJson>('PUT', `clusters/${id}/deployment_graphs/custom`, { name: 'new' });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toEqual({ ...created.body, name: 'new' });
    expect((await api('GET', `clusters/${id}/deployment_graphs/custom`)).body).toEqual(renamed.body);
    // `{}` changes nothing; `name: null` clears the name, the tasks still kept
    expect((await api('PUT', `clusters/${id}/deployment_graphs/custom`, {})).body).toEqual(renamed.body);
    const cleared = await api<GraphJson>('PUT', `clusters/${id}/deployment_graphs/custom`, { name: null });
    expect(cleared.body).toEqual({ ...created.body, name: null });

    // the default graph: a rename keeps what "Deploy changes" runs
    const own = [shell('d1'), shell('d2', ['d1'])];
    expect((await api('PUT', `clusters/${id}/deployment_tasks/`, own)).status).toBe(200);
    const named = await api<GraphJson>('PUT', `clusters/${id}/deployment_graphs/default`, { name: 'main' });
    expect(named.status).toBe(200);
    expect(named.body).toMatchObject({ name: 'main', tasks: own });
    expect((await api('GET', `clusters/${id}/deployment_tasks/`)).body).toEqual(own);
  });

  it('without tasks: renaming the release graph and creating an empty default graph are 400, nothing changed', async () => {
    const id = await createCluster();
    const releaseTasks = (await api('GET', `clusters/${id}/deployment_tasks/`)).body;

    const rename = await api<ErrorJson>('PUT', `clusters/${id}/deployment_graphs/default`, { name: 'x' });
    expect(rename.status).toBe(400);
    expect(rename.body.message).toMatch(/has no default graph of its own .*send "tasks"/);
    const create = await api<ErrorJson>('POST', `clusters/${id}/deployment_graphs/default`, { name: 'x' });
    expect(create.status).toBe(400);
    expect(create.body.message).toMatch(/would deploy nothing/);
    expect(create.body.errors).toEqual([{ field: 'tasks', message: 'is required for the default graph' }]);

    expect((await api<{ is_customized: boolean }>('GET', `clusters/${id}/`)).body.is_customized).toBe(false);
    const graphs = (await api<GraphJson[]>('GET', `clusters/${id}/deployment_graphs/`)).body;
    expect(typesOf(graphs)).toEqual([['release:default']]);
    expect((await api('GET', `clusters/${id}/deployment_tasks/`)).body).toEqual(releaseTasks);

    // a type the environment has none of: PUT is 404, POST without tasks creates it empty (as Nailgun does)
    expect((await api('PUT', `clusters/${id}/deployment_graphs/extra`, { name: 'x' })).status).toBe(404);
    const empty = await api<GraphJson>('POST', `clusters/${id}/deployment_graphs/extra`, { name: 'x' });
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ name: 'x', tasks: [] });
  });
});

describe('the size of a list of graphs', () => {
  it('graphListTooLarge: null up to the bound, then a 400 that says how to ask for less', () => {
    expect(MAX_GRAPH_LIST_BYTES).toBeLessThan(6 * 1000 * 1000);
    expect(graphListTooLarge(MAX_GRAPH_LIST_BYTES, 21, 'hint')).toBeNull();
    const err = graphListTooLarge(
      MAX_GRAPH_LIST_BYTES + 1,
      21,
      'read them one type at a time',
      'graph_types',
    );
    expect(err?.status).toBe(400);
    expect(err?.message).toBe(
      'The 21 graphs listed come to 5.0 MB, more than one reply holds (5.0 MB): read them one type at a time',
    );
    expect(err?.errors).toEqual([{ field: 'graph_types', message: err?.message }]);
    expect(graphListTooLarge(8 * 1024 * 1024, 3, 'h')?.errors).toEqual([]);
  });

  it('an environment whose graphs come to more than one reply holds: the lists are 400, each graph is read', async () => {
    const id = await createCluster();
    // about 395 KB each, just under DynamoDB's 400 KB item: 14 of them are over 5 MB
    const big = (name: string) => [shell(name, [], `echo ${'x'.repeat(395_000)}`)];
    expect((await api('PUT', `clusters/${id}/deployment_tasks/`, big('d'))).status).toBe(200);
    const types = Array.from({ length: 13 }, (_, i) => `big${i}`);
    for (const type of types) {
      const reply = await api('POST', `clusters/${id}/deployment_graphs/${type}`, { tasks: big(type) });
      expect(reply.status, type).toBe(200);
    }

    const list = await api<ErrorJson>('GET', `clusters/${id}/deployment_graphs/`);
    expect(list.status).toBe(400);
    expect(list.body.message).toMatch(
      new RegExp(
        `^The 14 graphs listed come to 5\\.\\d MB, more than one reply holds \\(5\\.0 MB\\): read them one type at a time with GET clusters/${id}/deployment_graphs/\\{type\\}/$`,
      ),
    );
    const all = await api<ErrorJson>('GET', `graphs/?clusters_ids=${id}`);
    expect(all.status).toBe(400);
    expect(all.body.message).toMatch(/ask for fewer with \?clusters_ids=1,2 and \?graph_types=a,b/);
    expect(all.body.errors[0]?.field).toBe('graph_types');

    // fewer at a time fit, and every graph reads on its own
    const some = await api<GraphJson[]>('GET', `graphs/?clusters_ids=${id}&graph_types=big0,big1`);
    expect(some.status).toBe(200);
    expect(some.body.map((g) => g.relations[0]?.type)).toEqual(['big0', 'big1']);
    for (const type of ['default', ...types]) {
      const one = await api<GraphJson>('GET', `clusters/${id}/deployment_graphs/${type}`);
      expect(one.status, type).toBe(200);
      expect(one.body.tasks[0]?.id).toBe(type === 'default' ? 'd' : type);
    }
  });
});
