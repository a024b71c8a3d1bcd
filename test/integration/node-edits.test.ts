/**
 * `PUT nodes/{id}/` (name, hostname, labels) and `DELETE nodes/?ids=` over real HTTP against the embedded
 * runtime (real dynalite, no transactions): a hostname belongs to one node, even when two requests give it
 * at once; it changes only before provisioning and never while the node's environment deploys, and a
 * change in progress holds "Deploy changes" back; a body naming another node is refused; a delete checks
 * every node first, and one that loses a node to an assignment half-way says what it deleted and what not.
 * Where a race needs a precise interleaving, a repository call is held (a decorator on the port) until the
 * test lets it go.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { NodeCommands, Repositories } from '../../lambdas/app/ports.js';
import { HOSTNAME_CLAIM_GRACE_MS } from '../../lambdas/store/nodes.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, TABLE_NAME } from '../../local/local-dynamodb.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { Holds } from '../helpers/holds.js';
import { Api, shell, waitForTask } from '../helpers/target.js';

type Reply<T = unknown> = { status: number; body: T };
type Problem = { message: string; errors: { field: string; message: string }[] };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const holds = new Holds();

/** The node write of a hostname change (whichever write gives it) and each node's delete can be held. */
function holding(real: Repositories): Repositories {
  const nodes = Object.create(real.nodes) as Repositories['nodes'];
  nodes.update = async (id, patch, expectClusterId) => {
    if (patch.hostname !== undefined) await holds.pass('hostnameWrite');
    return real.nodes.update(id, patch, expectClusterId);
  };
  nodes.updateWhile = async (id, patch, expect) => {
    await holds.pass('hostnameWrite');
    return real.nodes.updateWhile(id, patch, expect);
  };
  nodes.releaseHostname = async (hostname, nodeId, token) => {
    await holds.pass(`release:${nodeId}:${hostname}`);
    return real.nodes.releaseHostname(hostname, nodeId, token);
  };
  nodes.deleteFree = async (id) => {
    await holds.pass(`deleteFree:${id}`);
    return real.nodes.deleteFree(id);
  };
  return { ...real, nodes };
}

/** SSM instances the test deregistered: discovery no longer lists them (so a deleted node stays deleted). */
const deregistered = new Set<string>();

function withDeregistered(real: NodeCommands): NodeCommands {
  const commands = Object.create(real) as NodeCommands;
  commands.instances = async () => (await real.instances()).filter((i) => !deregistered.has(i.instanceId));
  return commands;
}

let runtime: Runtime;
let api: Api;
/** The runtime's table, to write what a request that died half-way leaves behind. */
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  runtime = await startRuntime({
    port: 0,
    nodeCount: 22,
    demo: false,
    authToken: 'node-edits',
    decorate: { repos: holding, commands: withDeregistered },
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

/** A hostname claim as a request that claimed it and died before writing the node leaves it. */
async function leftClaim(hostname: string, nodeId: number, ageMs: number): Promise<void> {
  const claimedAt = new Date(Date.now() - ageMs).toISOString();
  await doc.send(
    new PutCommand({
      TableName: TABLE_NAME,
      Item: { pk: 'NODE_HOSTNAME', sk: hostname, entity: 'node-hostname', nodeId, claimedAt, token: 'died' },
    }),
  );
}

const nodePath = (id: number) => `/api/v1/nodes/${id}/`;
const getNode = (id: number) => api.ok<NodeJson>('GET', nodePath(id));
const putNode = (id: number, body: unknown) => api.call<NodeJson & Problem>('PUT', nodePath(id), body);

/** Free nodes not handed out yet, one test after the other, by ascending id. */
const handedOut = new Set<number>();
async function takeFreeNodes(count: number): Promise<NodeJson[]> {
  const nodes = (await api.ok<NodeJson[]>('GET', '/api/v1/nodes/'))
    .filter((n) => n.cluster === null && !handedOut.has(n.id))
    .sort((a, b) => a.id - b.id)
    .slice(0, count);
  if (nodes.length < count) throw new Error(`only ${nodes.length} free nodes left, ${count} wanted`);
  for (const n of nodes) handedOut.add(n.id);
  return nodes;
}

async function environmentWith(name: string, nodeIds: number[]): Promise<ClusterJson> {
  const c = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', { name, release_id: 1 });
  await api.ok(
    'POST',
    `/api/v1/clusters/${c.id}/assignment/`,
    nodeIds.map((id) => ({ id, roles: ['controller'] })),
  );
  await api.ok('PUT', `/api/v1/clusters/${c.id}/deployment_tasks/`, [
    shell('hello', ['controller'], 'echo hi'),
  ]);
  return c;
}

function expectNo500(replies: Reply[]): void {
  expect(replies.filter((r) => r.status >= 500)).toEqual([]);
}

describe('PUT nodes/{id}/: the hostname', () => {
  it('is refused while the environment deploys (409), and once the node is provisioned (400)', async () => {
    const [node] = await takeFreeNodes(1);
    if (!node) throw new Error('no node');
    const c = await environmentWith('hostname-vs-deployment', [node.id]);
    // a provisioning that takes a moment: the node is still to be provisioned while the lock is checked
    await api.ok('PUT', `/api/v1/clusters/${c.id}/attributes/`, {
      editable: { provision: { cmd: { value: 'sleep 3; echo provisioned' } } },
    });
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${c.id}/changes/`);

    const during = await putNode(node.id, { hostname: 'during-deploy' });
    expect(during.status, JSON.stringify(during.body)).toBe(409);
    expect(during.body.message).toMatch(
      new RegExp(
        `^Cannot change the hostname of node ${node.id}: environment 'hostname-vs-deployment' is locked`,
      ),
    );
    expect((await getNode(node.id)).hostname).toBe(node.hostname);

    expect((await waitForTask(api, deploy.id)).status).toBe('ready');
    expect((await getNode(node.id)).status).toBe('ready');
    const after = await putNode(node.id, { hostname: 'after-deploy', name: 'not-either' });
    expect(after.status, JSON.stringify(after.body)).toBe(400);
    expect(after.body.message).toMatch(/is already provisioned \(status 'ready'\)/);
    expect(after.body.errors).toEqual([
      { field: 'hostname', message: 'can be changed only before provisioning' },
    ]);
    const unchanged = await getNode(node.id);
    expect([unchanged.hostname, unchanged.name]).toEqual([node.hostname, node.name]);
    // the same hostname is no change: the name alone is written
    expect((await putNode(node.id, { hostname: node.hostname, name: 'renamed-ready' })).status).toBe(200);
    expect((await getNode(node.id)).name).toBe('renamed-ready');
  });

  it('holds "Deploy changes" back while a change of a member\'s hostname is being written: it deploys after it', async () => {
    const [node] = await takeFreeNodes(1);
    if (!node) throw new Error('no node');
    const c = await environmentWith('hostname-edit-vs-deploy', [node.id]);
    const gate = holds.arm('hostnameWrite');
    const editing = putNode(node.id, { hostname: 'changed-before-the-lock' });
    await gate.entered;
    let held = true;
    const deploying = api
      .call<TaskJson>('PUT', `/api/v1/clusters/${c.id}/changes/`)
      .then((reply) => ({ reply, whileHeld: held }));
    await Promise.race([deploying, sleep(1000)]);
    held = false;
    gate.release();
    const [edited, deployed] = await Promise.all([editing, deploying]);
    expectNo500([edited, deployed.reply]);
    // the lock waited for the edit's lease: the hostname was written before it, never after
    expect(deployed.whileHeld).toBe(false);
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    expect(edited.body.hostname).toBe('changed-before-the-lock');
    expect(deployed.reply.status).toBe(202);
    expect((await waitForTask(api, deployed.reply.body.id)).status).toBe('ready');
    expect(await getNode(node.id)).toMatchObject({ hostname: 'changed-before-the-lock', status: 'ready' });
  });

  it('goes to one node of two that ask for it at once: one 200, one 409, the hostnames differ', async () => {
    const [a, b] = await takeFreeNodes(2);
    if (!a || !b) throw new Error('no nodes');
    // a's write held after every check passed: b's request comes then
    const gate = holds.arm('hostnameWrite');
    const first = putNode(a.id, { hostname: 'contested' });
    await gate.entered;
    const second = await putNode(b.id, { hostname: 'contested' });
    gate.release();
    const won = await first;
    expect(won.status, JSON.stringify(won.body)).toBe(200);
    expect(second.status, JSON.stringify(second.body)).toBe(409);
    expect(second.body).toEqual({
      message: `Hostname 'contested' is already taken by node ${a.id}`,
      errors: [{ field: 'hostname', message: 'must be unique' }],
    });
    expect((await getNode(a.id)).hostname).toBe('contested');
    expect((await getNode(b.id)).hostname).toBe(b.hostname);

    // and sent at the same instant, a few times over
    for (const name of ['same-instant-1', 'same-instant-2', 'same-instant-3']) {
      const replies = await Promise.all([
        putNode(a.id, { hostname: name }),
        putNode(b.id, { hostname: name }),
      ]);
      expectNo500(replies);
      expect(replies.map((r) => r.status).sort()).toEqual([200, 409]);
      const [hostA, hostB] = [(await getNode(a.id)).hostname, (await getNode(b.id)).hostname];
      expect(hostA).not.toBe(hostB);
      expect([hostA, hostB]).toContain(name);
    }
  });

  it("refuses another node's hostname it was discovered with, and frees an old hostname once changed", async () => {
    const [a, b] = await takeFreeNodes(2);
    if (!a || !b) throw new Error('no nodes');
    // a still has the hostname discovery gave it (its instance's name), which no claim holds
    expect(a.hostname).toBe(a.name);
    const refused = await putNode(b.id, { hostname: a.hostname, name: 'not-written' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.message).toBe(`Hostname '${a.hostname}' is already taken by node ${a.id}`);
    expect(await getNode(b.id)).toMatchObject({ hostname: b.hostname, name: b.name });

    // a moves on: its discovered hostname is free, and the refused attempt left no claim behind
    expect((await putNode(a.id, { hostname: 'custom-one' })).status).toBe(200);
    const taken = await putNode(b.id, { hostname: a.hostname });
    expect(taken.status, JSON.stringify(taken.body)).toBe(200);
    expect(taken.body.hostname).toBe(a.hostname);
    // a custom hostname is released as the node moves on too: b's claim on it then holds
    expect((await putNode(b.id, { hostname: 'custom-one' })).status).toBe(409);
    expect((await putNode(a.id, { hostname: 'custom-two' })).status).toBe(200);
    expect((await putNode(b.id, { hostname: 'custom-one' })).status).toBe(200);
    expect((await putNode(a.id, { hostname: 'custom-one' })).status).toBe(409);
    expect([(await getNode(a.id)).hostname, (await getNode(b.id)).hostname]).toEqual([
      'custom-two',
      'custom-one',
    ]);
  });
});

describe('PUT nodes/{id}/: a claim left by a request that died', () => {
  it('holds the hostname while it may still be on its way, and is taken over once stale', async () => {
    const [a, b] = await takeFreeNodes(2);
    if (!a || !b) throw new Error('no nodes');
    await leftClaim('left-young', a.id, 1000);
    const young = await putNode(b.id, { hostname: 'left-young' });
    expect(young.status, JSON.stringify(young.body)).toBe(409);
    expect(young.body.message).toBe(`Hostname 'left-young' is already taken by node ${a.id}`);
    // a's own change to it is on its way too, as far as anyone can tell
    const own = await putNode(a.id, { hostname: 'left-young' });
    expect(own.status).toBe(409);
    expect(own.body.message).toMatch(/^Another request is changing the hostname of node \d+ to 'left-young'/);

    await leftClaim('left-stale', a.id, HOSTNAME_CLAIM_GRACE_MS + 1000);
    const stale = await putNode(b.id, { hostname: 'left-stale' });
    expect(stale.status, JSON.stringify(stale.body)).toBe(200);
    expect(stale.body.hostname).toBe('left-stale');
    // and the claim is b's now
    expect((await putNode(a.id, { hostname: 'left-stale' })).status).toBe(409);
  });
});

describe('PUT nodes/{id}/: the body', () => {
  it('releases an old hostname only as it was before its change: a claim taken since stays', async () => {
    const [x, y] = await takeFreeNodes(2);
    if (!x || !y) throw new Error('no nodes');
    expect((await putNode(x.id, { hostname: 'first-name' })).status).toBe(200);
    // x's claim on it is older than the grace period (as a hostname held a long time)
    await leftClaim('first-name', x.id, HOSTNAME_CLAIM_GRACE_MS + 5000);
    // one request changes x to `second-name` and is held after its write, before it releases `first-name`
    const released = holds.arm(`release:${x.id}:first-name`);
    const away = putNode(x.id, { hostname: 'second-name' });
    await released.entered;
    // another changes x back to `first-name`: it takes the (stale) claim over, held before its write
    const written = holds.arm('hostnameWrite');
    const back = putNode(x.id, { hostname: 'first-name' });
    await written.entered;
    // the first releases the claim it read, not the one taken since
    released.release();
    expect((await away).status).toBe(200);
    // so `first-name` is not free for y meanwhile
    const other = await putNode(y.id, { hostname: 'first-name' });
    expect(other.status).toBe(409);
    written.release();
    expect((await back).status).toBe(200);
    expect((await getNode(x.id)).hostname).toBe('first-name');
    expect((await getNode(y.id)).hostname).not.toBe('first-name');
  });

  it("refuses another node's id in the body with 400 and changes nothing; the path's id is fine", async () => {
    const [node] = await takeFreeNodes(1);
    if (!node) throw new Error('no node');
    const other = await putNode(node.id, { id: 999, name: 'x' });
    expect(other.status).toBe(400);
    expect(other.body).toEqual({
      message: `The body's id 999 is not the node of the path (${node.id}): send id ${node.id}, or no id; nothing was changed`,
      errors: [{ field: 'id', message: `must be ${node.id}, the node of the path, or left out` }],
    });
    const notANumber = await putNode(node.id, { id: String(node.id), hostname: 'not-written' });
    expect(notANumber.status).toBe(400);
    expect(notANumber.body.errors).toEqual([
      { field: 'id', message: "must be the node's id (an integer), as in the path" },
    ]);
    expect(await getNode(node.id)).toMatchObject({ name: node.name, hostname: node.hostname });

    const same = await putNode(node.id, { id: node.id, name: 'fuelclient-sends-its-id' });
    expect(same.status, JSON.stringify(same.body)).toBe(200);
    expect(same.body).toMatchObject({ id: node.id, name: 'fuelclient-sends-its-id' });
  });
});

describe('DELETE nodes/?ids=', () => {
  it('deletes no node when one of those listed belongs to an environment (409)', async () => {
    const [free, member] = await takeFreeNodes(2);
    if (!free || !member) throw new Error('no nodes');
    const c = await environmentWith('keeps-its-node', [member.id]);
    const reply = await api.call<Problem>('DELETE', `/api/v1/nodes/?ids=${free.id},${member.id}`);
    expect(reply.status).toBe(409);
    expect(reply.body.message).toBe(
      `Cannot delete nodes that belong to an environment: node ${member.id} (environment ${c.id}); remove them from it first (POST clusters/{id}/unassignment/); no node was deleted`,
    );
    expect((await api.call('GET', nodePath(free.id))).status).toBe(200);
    expect((await getNode(member.id)).cluster).toBe(c.id);
  });

  it('says which nodes it deleted and which not when one is assigned half-way', async () => {
    const [first, second, third] = await takeFreeNodes(3);
    if (!first || !second || !third) throw new Error('no nodes');
    const c = await api.ok<ClusterJson>('POST', '/api/v1/clusters/', {
      name: 'takes-a-node-half-way',
      release_id: 1,
    });
    // the instances of the nodes deleted here deregistered: discovery does not bring them back meanwhile
    for (const n of [first, third]) deregistered.add(n.meta.system.ssm_instance_id);
    const gate = holds.arm(`deleteFree:${second.id}`);
    const deleting = api.call<Problem>('DELETE', `/api/v1/nodes/?ids=${third.id},${second.id},${first.id}`);
    await gate.entered;
    await api.ok('POST', `/api/v1/clusters/${c.id}/assignment/`, [{ id: second.id, roles: ['compute'] }]);
    gate.release();
    const reply = await deleting;
    expect(reply.status).toBe(409);
    expect(reply.body).toEqual({
      message:
        `Node ${second.id} was assigned to environment ${c.id} at the same time and was not deleted; ` +
        `node ${first.id} was deleted; not deleted: nodes ${second.id}, ${third.id} ` +
        `(send DELETE nodes/?ids=${second.id},${third.id} again once node ${second.id} is free, or without it)`,
      errors: [
        { field: 'ids[2]', message: `node ${first.id} was deleted` },
        {
          field: 'ids[1]',
          message: `node ${second.id} was not deleted: it was assigned to environment ${c.id} at the same time`,
        },
        { field: 'ids[0]', message: `node ${third.id} was not deleted (not tried after node ${second.id})` },
      ],
    });
    expect((await api.call('GET', nodePath(first.id))).status).toBe(404);
    expect((await getNode(second.id)).cluster).toBe(c.id);
    expect((await getNode(third.id)).cluster).toBeNull();
    // the rest, sent again, is deleted
    expect((await api.call('DELETE', `/api/v1/nodes/?ids=${third.id}`)).status).toBe(204);
    expect((await api.call('GET', nodePath(third.id))).status).toBe(404);
  });

  it('deletes free nodes: 204, and they are gone (their hostnames free again)', async () => {
    const [a, b, other] = await takeFreeNodes(3);
    if (!a || !b || !other) throw new Error('no nodes');
    expect((await putNode(a.id, { hostname: 'deleted-with-its-node' })).status).toBe(200);
    // their instances deregistered: discovery does not bring them back meanwhile
    for (const n of [a, b]) deregistered.add(n.meta.system.ssm_instance_id);
    const reply = await api.call('DELETE', `/api/v1/nodes/?ids=${a.id},${b.id},${a.id}`);
    expect(reply.status).toBe(204);
    for (const n of [a, b]) expect((await api.call('GET', nodePath(n.id))).status).toBe(404);
    const left = (await api.ok<NodeJson[]>('GET', '/api/v1/nodes/')).map((n) => n.id);
    expect(left).not.toContain(a.id);
    expect(left).not.toContain(b.id);
    expect((await putNode(other.id, { hostname: 'deleted-with-its-node' })).status).toBe(200);
  });

  it("names a node discovered again by its id when another node has its instance's name now", async () => {
    const [a, b] = await takeFreeNodes(2);
    if (!a || !b) throw new Error('no nodes');
    const instanceId = a.meta.system.ssm_instance_id;
    const instanceName = a.hostname;
    expect((await putNode(a.id, { hostname: 'moved-away' })).status).toBe(200);
    expect((await putNode(b.id, { hostname: instanceName })).status).toBe(200);
    deregistered.add(instanceId);
    expect((await api.call('DELETE', `/api/v1/nodes/?ids=${a.id}`)).status).toBe(204);
    // the instance registers again: discovery makes it a node, under another hostname than b's
    deregistered.delete(instanceId);
    await runtime.discover();
    const again = (await api.ok<NodeJson[]>('GET', '/api/v1/nodes/')).find(
      (n) => n.meta.system.ssm_instance_id === instanceId,
    );
    expect(again?.status).toBe('discover');
    expect(again?.hostname).toMatch(new RegExp(`^node-${again?.id}(-\\d+)?$`));
    expect(again?.hostname).not.toBe(instanceName);
    expect((await getNode(b.id)).hostname).toBe(instanceName);
  });
});
