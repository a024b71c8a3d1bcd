/**
 * Edits of a cluster racing each other and racing "Deploy changes", over real HTTP against the embedded
 * runtime (real dynalite, no transactions): a lost race answers 409 (or 404 once the cluster is gone), never
 * 500; it leaves no partial effect; a name belongs to one cluster; and no edit is written once a deployment
 * holds the cluster's lock. Where a race needs a precise interleaving, a repository call of the edit is held
 * (a decorator on the port) until the test lets it go. Also: what a request that died leaves behind (an edit
 * lease, a name claim) ends by itself, and what DynamoDB cannot keep is refused before anything is written.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { Repositories } from '../../lambdas/app/ports.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, TABLE_NAME } from '../../local/local-dynamodb.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { Holds } from '../helpers/holds.js';
import { Api, waitForTask } from '../helpers/target.js';

type Reply<T = unknown> = { status: number; body: T };
type Message = { message: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const holds = new Holds();

function holding(real: Repositories): Repositories {
  const clusters = Object.create(real.clusters) as Repositories['clusters'];
  clusters.putGraph = async (clusterId, tasks) => {
    await holds.pass('putGraph');
    return real.clusters.putGraph(clusterId, tasks);
  };
  clusters.putAttributes = async (clusterId, editable) => {
    await holds.pass('putAttributes');
    return real.clusters.putAttributes(clusterId, editable);
  };
  const nodes = Object.create(real.nodes) as Repositories['nodes'];
  nodes.update = async (id, patch, expectClusterId) => {
    if (patch.pendingAddition === true && typeof patch.clusterId === 'number') await holds.pass('assignNode');
    return real.nodes.update(id, patch, expectClusterId);
  };
  return { ...real, clusters, nodes };
}

let runtime: Runtime;
let api: Api;
/** The runtime's table, to write what a request that died half-way leaves behind. */
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  runtime = await startRuntime({
    port: 0,
    nodeCount: 4,
    demo: false,
    authToken: 'edit-races',
    decorate: { repos: holding },
  });
  api = new Api(runtime);
  doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: runtime.endpoints.dynamodb,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    }),
  );
});

afterAll(async () => {
  doc?.destroy();
  await runtime?.stop();
});

const clusters = '/api/v1/clusters';

async function createCluster(name: string): Promise<ClusterJson> {
  return api.ok<ClusterJson>('POST', `${clusters}/`, { name });
}

async function clusterNames(): Promise<string[]> {
  return (await api.ok<ClusterJson[]>('GET', `${clusters}/`)).map((c) => c.name);
}

function expectNo500(replies: Reply[]): void {
  expect(replies.filter((r) => r.status >= 500)).toEqual([]);
}

/** Nodes in no cluster, by ascending id. */
async function freeNodes(): Promise<number[]> {
  const nodes = await api.ok<NodeJson[]>('GET', '/api/v1/nodes/');
  return nodes
    .filter((n) => n.cluster === null)
    .map((n) => n.id)
    .sort((a, b) => a - b);
}

describe('cluster names under concurrency', () => {
  it('creates one cluster of 20 concurrent creates with one name; the others answer 409', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.call<ClusterJson & Message>('POST', `${clusters}/`, { name: 'twin' }),
      ),
    );
    expectNo500(replies);
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
    const refused = replies.filter((r) => r.status === 409);
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.body.message).toBe("Environment with name 'twin' already exists");
    expect((await clusterNames()).filter((n) => n === 'twin')).toHaveLength(1);
  });

  it('gives a name to one of several clusters renamed (or created) to it at once; only the winner frees its old name', async () => {
    const mine = await Promise.all(Array.from({ length: 8 }, (_, i) => createCluster(`rename-from-${i}`)));
    const replies = await Promise.all([
      ...mine.map((c) => api.call<Message>('PUT', `${clusters}/${c.id}/`, { name: 'rename-to' })),
      api.call<Message>('POST', `${clusters}/`, { name: 'rename-to' }),
    ]);
    expectNo500(replies);
    expect(replies.filter((r) => r.status === 200 || r.status === 201)).toHaveLength(1);
    for (const r of replies.filter((r) => r.status === 409)) {
      expect(r.body.message).toBe("Environment with name 'rename-to' already exists");
    }
    const names = await clusterNames();
    expect(names.filter((n) => n === 'rename-to')).toHaveLength(1);
    // a renamed cluster's old name is free again; a refused one keeps its name (and its claim)
    const renamed = mine.filter((_, i) => replies[i]?.status === 200);
    for (const c of mine) {
      const again = await api.call('POST', `${clusters}/`, { name: c.name });
      expect(again.status).toBe(renamed.includes(c) ? 201 : 409);
    }
  });

  it('keeps clusters stored before names were claimed working: rename, delete, and their names stay unique', async () => {
    // as an earlier version stored it: a cluster item without a name claim
    const id = await runtime.repos.clusters.nextId();
    await runtime.repos.clusters.create({
      id,
      name: 'legacy',
      status: 'new',
      releaseId: 1,
      isCustomized: false,
      deploymentTaskId: null,
      createdAt: new Date().toISOString(),
    });
    expect((await api.call('POST', `${clusters}/`, { name: 'legacy' })).status).toBe(409);
    expect((await api.call('PUT', `${clusters}/${id}/`, { name: 'legacy-renamed' })).status).toBe(200);
    expect((await api.call('POST', `${clusters}/`, { name: 'legacy-renamed' })).status).toBe(409);
    const old = await api.call<ClusterJson>('POST', `${clusters}/`, { name: 'legacy' });
    expect(old.status).toBe(201);
    expect((await api.call('DELETE', `${clusters}/${id}/`)).status).toBe(202);
    expect((await api.call('POST', `${clusters}/`, { name: 'legacy-renamed' })).status).toBe(201);

    // and one deleted before it was ever renamed
    const other = await runtime.repos.clusters.nextId();
    await runtime.repos.clusters.create({
      id: other,
      name: 'legacy-2',
      status: 'new',
      releaseId: 1,
      isCustomized: false,
      deploymentTaskId: null,
      createdAt: new Date().toISOString(),
    });
    expect((await api.call('DELETE', `${clusters}/${other}/`)).status).toBe(202);
    expect((await api.call('POST', `${clusters}/`, { name: 'legacy-2' })).status).toBe(201);
  });
});

describe('what a request that died half-way leaves behind', () => {
  const past = new Date(Date.now() - 3_600_000).toISOString();

  it('ends by itself: an expired edit lease lets edits and deployments through', async () => {
    const c = await createCluster('dead-lease');
    await doc.send(
      new UpdateCommand({
        TableName: TABLE_NAME,
        Key: { pk: 'CLUSTER', sk: `C#${String(c.id).padStart(10, '0')}` },
        UpdateExpression: 'SET editLease = :l, editLeaseUntil = :u',
        ExpressionAttributeValues: { ':l': 'lease-of-a-dead-request', ':u': past },
      }),
    );
    const edited = await api.call('PUT', `${clusters}/${c.id}/attributes/`, {
      editable: { g: { s: { value: 1 } } },
    });
    expect(edited.status).toBe(200);
    expect((await api.call('PUT', `${clusters}/${c.id}/`, { name: 'dead-lease-renamed' })).status).toBe(200);
    expect((await api.call('DELETE', `${clusters}/${c.id}/`)).status).toBe(202);
  });

  it('ends by itself: a stale claim on a name (its cluster gone) is taken over', async () => {
    await doc.send(
      new PutCommand({
        TableName: TABLE_NAME,
        Item: {
          pk: 'CLUSTER_NAME',
          sk: 'orphan-name',
          entity: 'cluster-name',
          clusterId: 999_999,
          claimedAt: past,
        },
      }),
    );
    expect((await api.call('POST', `${clusters}/`, { name: 'orphan-name' })).status).toBe(201);
    // a young claim of a cluster on its way is not: it may still be created
    await doc.send(
      new PutCommand({
        TableName: TABLE_NAME,
        Item: {
          pk: 'CLUSTER_NAME',
          sk: 'name-on-its-way',
          entity: 'cluster-name',
          clusterId: 999_998,
          claimedAt: new Date().toISOString(),
        },
      }),
    );
    const refused = await api.call<Message>('POST', `${clusters}/`, { name: 'name-on-its-way' });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toBe("Environment with name 'name-on-its-way' already exists");
  });
});

describe('edits racing each other', () => {
  it('answers a rename, an assignment and a second delete racing a delete with 200 or 404, never 500', async () => {
    const all: Reply<Message>[] = [];
    for (let round = 0; round < 8; round++) {
      const c = await createCluster(`doomed-${round}`);
      const [member, stranger] = await freeNodes();
      await api.ok('POST', `${clusters}/${c.id}/assignment/`, [{ id: member, roles: ['controller'] }]);
      const [rename, remove, again, assign] = await Promise.all([
        api.call<Message>('PUT', `${clusters}/${c.id}/`, { name: `doomed-${round}-renamed` }),
        api.call<Message>('DELETE', `${clusters}/${c.id}/`),
        api.call<Message>('DELETE', `${clusters}/${c.id}/`),
        api.call<Message>('POST', `${clusters}/${c.id}/assignment/`, [{ id: stranger, roles: ['compute'] }]),
      ]);
      const replies = [rename, remove, again, assign] as Reply<Message>[];
      all.push(...replies);
      expectNo500(replies);
      // what lost to the delete says the cluster is gone, not that something changed or locked it
      for (const r of replies.filter((r) => r.status === 404)) {
        expect(r.body.message).toBe(`Cluster ${c.id} not found`);
      }
      expect([200, 404]).toContain(rename?.status);
      expect([200, 404]).toContain(assign?.status);
      expect([remove?.status, again?.status].sort()).toEqual([202, 404]);
      expect((await api.call('GET', `${clusters}/${c.id}/`)).status).toBe(404);
      // no node is left in the deleted cluster, and both names are free again
      const nodes = await api.ok<NodeJson[]>('GET', '/api/v1/nodes/');
      expect(nodes.filter((n) => n.cluster === c.id)).toEqual([]);
      for (const name of [`doomed-${round}`, `doomed-${round}-renamed`]) {
        const created = await api.call<ClusterJson>('POST', `${clusters}/`, { name });
        expect(created.status, `name '${name}' free again`).toBe(201);
        await api.ok('DELETE', `${clusters}/${created.body.id}/`);
      }
    }
    expectNo500(all);
  });

  it('leaves a reset racing unassignments all done or not at all, node by node', async () => {
    for (let round = 0; round < 5; round++) {
      const c = await createCluster(`reset-race-${round}`);
      const nodes = await freeNodes();
      expect(nodes.length).toBeGreaterThanOrEqual(3);
      // as a finished deployment leaves them: deployed roles, ready, the cluster operational
      for (const id of nodes) {
        await runtime.repos.nodes.update(id, {
          clusterId: c.id,
          roles: ['controller'],
          pendingRoles: [],
          pendingAddition: false,
          status: 'ready',
        });
      }
      await runtime.repos.clusters.update(c.id, { status: 'operational' });

      const leaving = nodes.slice(0, 2);
      const [reset, ...unassigned] = await Promise.all([
        api.call<Message>('PUT', `${clusters}/${c.id}/reset/`),
        ...leaving.map((id) => api.call<Message>('POST', `${clusters}/${c.id}/unassignment/`, [{ id }])),
      ]);
      const replies = [reset as Reply<Message>, ...unassigned];
      expectNo500(replies);
      expect([202, 409]).toContain(reset?.status);

      const cluster = await api.ok<ClusterJson>('GET', `${clusters}/${c.id}/`);
      const after = await api.ok<NodeJson[]>('GET', '/api/v1/nodes/');
      for (const [i, id] of leaving.entries()) {
        const node = after.find((n) => n.id === id);
        expect([200, 409, 400]).toContain(unassigned[i]?.status);
        if (unassigned[i]?.status === 200) {
          expect(node).toMatchObject({ cluster: null, status: 'discover', roles: [], pending_roles: [] });
        }
      }
      const members = after.filter((n) => n.cluster === c.id);
      if (reset?.status === 202) {
        expect(cluster.status).toBe('new');
        for (const n of members) {
          expect(n).toMatchObject({ status: 'discover', roles: [], pending_roles: ['controller'] });
        }
      } else {
        // refused: nothing of it was written
        expect(cluster.status).toBe('operational');
        for (const n of members) expect(n).toMatchObject({ status: 'ready', roles: ['controller'] });
        expect(reset?.body.message).toMatch(/reset/);
      }
      await api.ok('DELETE', `${clusters}/${c.id}/`);
    }
  });

  it('serializes concurrent settings changes of one cluster: none is lost', async () => {
    const c = await createCluster('many-settings');
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        api.call('PUT', `${clusters}/${c.id}/attributes/`, {
          editable: { [`group_${i}`]: { setting: { value: i, type: 'number' } } },
        }),
      ),
    );
    expectNo500(replies);
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    const { editable } = await api.ok<{ editable: Record<string, unknown> }>(
      'GET',
      `${clusters}/${c.id}/attributes/`,
    );
    for (let i = 0; i < 10; i++)
      expect(editable[`group_${i}`]).toEqual({ setting: { value: i, type: 'number' } });
  });
});

/**
 * An edit whose write is held at `hold` (it passed every check before it), and "Deploy changes" sent while it
 * is held. The hold is let go once the deploy answered, or after a second if it does not answer meanwhile.
 */
async function raceWithDeploy(
  clusterId: number,
  hold: string,
  edit: () => Promise<Reply<Message>>,
): Promise<{ edit: Reply<Message>; deploy: Reply<TaskJson & Message>; deployAnsweredWhileHeld: boolean }> {
  const gate = holds.arm(hold);
  const editing = edit();
  await gate.entered;
  let held = true;
  const deploying = api.call<TaskJson & Message>('PUT', `${clusters}/${clusterId}/changes/`).then((r) => ({
    reply: r,
    whileHeld: held,
  }));
  await Promise.race([deploying, sleep(1000)]);
  held = false;
  gate.release();
  const [edited, deployed] = await Promise.all([editing, deploying]);
  return { edit: edited, deploy: deployed.reply, deployAnsweredWhileHeld: deployed.whileHeld };
}

const shell = (id: string, roles: string[], extra: Record<string, unknown> = {}) => ({
  id,
  type: 'shell',
  roles,
  parameters: { cmd: `echo ${id}`, timeout: 60 },
  ...extra,
});

describe('edits racing "Deploy changes"', () => {
  it('runs no graph that Deploy changes did not validate: an upload in progress is waited for, then checked', async () => {
    const c = await createCluster('graph-vs-deploy');
    const [controller, compute] = await freeNodes();
    await api.ok('POST', `${clusters}/${c.id}/assignment/`, [
      { id: controller, roles: ['controller'] },
      { id: compute, roles: ['compute'] },
    ]);
    await api.ok('PUT', `${clusters}/${c.id}/deployment_tasks/`, [shell('fine', ['controller'])]);
    // accepted at upload, but a cycle through cross-depends once planned on a controller and a compute node
    const cyclic = [
      shell('a', ['controller'], { 'cross-depends': [{ name: 'b', role: ['compute'] }] }),
      shell('b', ['compute'], { 'cross-depends': [{ name: 'a', role: ['controller'] }] }),
    ];

    const race = await raceWithDeploy(c.id, 'putGraph', () =>
      api.call<Message>('PUT', `${clusters}/${c.id}/deployment_tasks/`, cyclic),
    );
    expectNo500([race.edit, race.deploy]);
    expect(race.deployAnsweredWhileHeld).toBe(false);
    expect(race.edit.status).toBe(200);
    expect(race.deploy.status).toBe(400);
    expect(race.deploy.body.message).toMatch(/dependency cycle/);
    const stored = await api.ok<{ id: string }[]>('GET', `${clusters}/${c.id}/deployment_tasks/`);
    expect(stored.map((t) => t.id)).toEqual(['a', 'b']);
    const cluster = await api.ok<ClusterJson>('GET', `${clusters}/${c.id}/`);
    expect(cluster).toMatchObject({ status: 'new', is_locked: false });
    const tasks = await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${c.id}`);
    expect(tasks).toEqual([]);
    // and once the graph is fixed, it deploys
    await api.ok('PUT', `${clusters}/${c.id}/deployment_tasks/`, [shell('fine', ['controller'])]);
    const deploy = await api.ok<TaskJson>('PUT', `${clusters}/${c.id}/changes/`);
    expect((await waitForTask(api, deploy.id)).status).toBe('ready');
    await api.ok('DELETE', `${clusters}/${c.id}/`);
  });

  it('deploys with the settings of a settings change in progress, written before the lock', async () => {
    const c = await createCluster('settings-vs-deploy');
    const [node] = await freeNodes();
    await api.ok('POST', `${clusters}/${c.id}/assignment/`, [{ id: node, roles: ['controller'] }]);
    await api.ok('PUT', `${clusters}/${c.id}/deployment_tasks/`, [shell('fine', ['controller'])]);
    const marker = 'provisioned-with-the-new-settings';

    const race = await raceWithDeploy(c.id, 'putAttributes', () =>
      api.call<Message>('PUT', `${clusters}/${c.id}/attributes/`, {
        editable: { provision: { cmd: { value: `echo ${marker}` } } },
      }),
    );
    expectNo500([race.edit, race.deploy]);
    expect(race.deployAnsweredWhileHeld).toBe(false);
    expect(race.edit.status).toBe(200);
    expect(race.deploy.status).toBe(202);
    expect((await waitForTask(api, race.deploy.body.id)).status).toBe('ready');
    const provisioned = runtime.fleet
      .commandLog()
      .filter((r) => JSON.stringify(r.parameters).includes(marker));
    expect(provisioned).toHaveLength(1);
    await api.ok('DELETE', `${clusters}/${c.id}/`);
  });

  it('deploys the nodes of an assignment in progress, written before the lock', async () => {
    const c = await createCluster('assignment-vs-deploy');
    const [first, second] = await freeNodes();
    await api.ok('POST', `${clusters}/${c.id}/assignment/`, [{ id: first, roles: ['controller'] }]);
    await api.ok('PUT', `${clusters}/${c.id}/deployment_tasks/`, [
      shell('everywhere', ['controller', 'compute']),
    ]);

    const race = await raceWithDeploy(c.id, 'assignNode', () =>
      api.call<Message>('POST', `${clusters}/${c.id}/assignment/`, [{ id: second, roles: ['compute'] }]),
    );
    expectNo500([race.edit, race.deploy]);
    expect(race.deployAnsweredWhileHeld).toBe(false);
    expect(race.edit.status).toBe(200);
    expect(race.deploy.status).toBe(202);
    expect((await waitForTask(api, race.deploy.body.id)).status).toBe('ready');
    const nodes = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${c.id}`);
    expect(nodes.map((n) => [n.id, n.status, n.roles]).sort()).toEqual(
      [
        [first, 'ready', ['controller']],
        [second, 'ready', ['compute']],
      ].sort(),
    );
    await api.ok('DELETE', `${clusters}/${c.id}/`);
  });
});

/** An object nested `levels` deep around a number. */
function nestedObject(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { deeper: value };
  return value;
}

describe('what DynamoDB cannot keep is refused with a 4xx before anything is written', () => {
  let id: number;
  const graphPath = () => `${clusters}/${id}/deployment_tasks/`;
  const attributesPath = () => `${clusters}/${id}/attributes/`;

  beforeAll(async () => {
    id = (await createCluster('limits')).id;
    await api.ok('PUT', graphPath(), [shell('kept', ['controller'])]);
  });

  /** Sends a refused request and checks that neither the graph nor the settings changed. */
  async function refused(method: string, path: string, body: unknown): Promise<Reply<Message>> {
    const before = [await api.ok('GET', graphPath()), await api.ok('GET', attributesPath())];
    const reply = await api.call<Message>(method, path, body);
    expect([await api.ok('GET', graphPath()), await api.ok('GET', attributesPath())]).toEqual(before);
    return reply;
  }

  it('refuses numbers out of range in a graph or in settings, naming the field', async () => {
    const big = await refused('PUT', graphPath(), [shell('a', ['controller'], { weight: 1e300 })]);
    expect(big.status).toBe(400);
    expect(big.body.message).toBe(
      'Invalid request body: [0].weight: the number 1e+300 is too large to keep: numbers are kept up to 9007199254740991 (2^53 - 1) in magnitude',
    );
    const unsafe = await refused('PUT', attributesPath(), { editable: { g: { s: { value: 1e20 } } } });
    expect(unsafe.status).toBe(400);
    expect(unsafe.body.message).toMatch(
      /^Invalid request body: editable\.g\.s\.value: the number 100000000000000000000 is too large/,
    );
    const tiny = await refused('PUT', attributesPath(), { editable: { g: { s: { value: 1e-200 } } } });
    expect(tiny.status).toBe(400);
    expect(tiny.body.message).toMatch(
      /editable\.g\.s\.value: the number 1e-200 is too small to keep: DynamoDB keeps magnitudes from 1E-130/,
    );
  });

  it('refuses nesting over 32 levels in a graph or in settings', async () => {
    const graph = await refused('PUT', graphPath(), [
      shell('a', ['controller'], { extra: nestedObject(40) }),
    ]);
    expect(graph.status).toBe(400);
    expect(graph.body.message).toMatch(
      /^Invalid request body: \[0\]\.extra(\.deeper)+: is nested more than 32 levels deep/,
    );
    const settings = await refused('PUT', attributesPath(), {
      editable: { g: { s: { value: nestedObject(40) } } },
    });
    expect(settings.status).toBe(400);
    expect(settings.body.message).toMatch(
      /editable\.g\.s\.value(\.deeper)+: is nested more than 32 levels deep/,
    );
    // 32 levels are kept: editable, g, s, value and 28 more
    const deepest = { editable: { g: { s: { value: nestedObject(28) } } } };
    expect((await api.call('PUT', attributesPath(), deepest)).status).toBe(200);
  });

  it('refuses a task id too long for the keys of history rows', async () => {
    const reply = await refused('PUT', graphPath(), [shell('t'.repeat(1000), ['controller'])]);
    expect(reply.status).toBe(400);
    expect(reply.body.message).toMatch(
      /\[0\]\.id: is 1000 bytes in UTF-8: a task id is part of a DynamoDB key/,
    );
  });

  it('refuses settings that would make their item over 400 KB, alone or merged with what is stored', async () => {
    const alone = await refused('PUT', attributesPath(), {
      editable: { big: { s: { value: 'x'.repeat(500_000) } } },
    });
    expect(alone.status).toBe(413);
    expect(alone.body.message).toMatch(
      /^The settings tree of environment 'limits' is too large to keep: its item \(the environment's attributes\) would be about \d+ bytes, more than the 409600 bytes \(400 KB\) a DynamoDB item holds$/,
    );
    const half = (group: string) => ({ editable: { [group]: { s: { value: 'x'.repeat(250_000) } } } });
    expect((await api.call('PUT', attributesPath(), half('first'))).status).toBe(200);
    const merged = await refused('PUT', attributesPath(), half('second'));
    expect(merged.status).toBe(413);
    expect(merged.body.message).toMatch(/too large to keep/);
    // the environment is not left busy by the refused change
    expect(
      (await api.call('PUT', attributesPath(), { editable: { first: { s: { value: 'small' } } } })).status,
    ).toBe(200);
  });
});
