/**
 * Nodes, the SSM instance each stands for, and the last successful run of each task on each node.
 * Nodes live in one partition; an instance item maps an SSM instance id to its node id (claimed once);
 * last runs are one partition per node, one item per task.
 *
 * A hostname given by `PUT nodes/{id}/` is held by a claim item (`NODE_HOSTNAME` / `<hostname>`, holding
 * the node's id and a token of the request that claimed it), put with `attribute_not_exists`: the new
 * hostname is claimed first, the node written under a condition on its old hostname, the old claim released
 * after (or the new one, by its token, when the write lost). A claim whose node is gone or has another
 * hostname, older than `HOSTNAME_CLAIM_GRACE_MS` (no request that claimed it is still on its way), is stale
 * and may be taken over. The hostname a node is discovered with (its instance's name) has no claim, nor has
 * one stored before claims: releasing a claim that is not there is nothing.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { WriteConflictError } from '../domain/errors.js';
import type { LastRun, Node } from '../domain/model.js';
import { NODE_ERROR_TYPES, NODE_STATUSES } from '../domain/status.js';
import { conditional, held, type Item, type Key, pad, parseItem, type Table } from './table.js';

const NODE_PK = 'NODE';
const HOSTNAME_PK = 'NODE_HOSTNAME';
/** A hostname claim younger than this may belong to a hostname change still on its way. */
export const HOSTNAME_CLAIM_GRACE_MS = 60_000;

const nodeSchema = z.object({
  id: z.number().int(),
  instanceId: z.string(),
  name: z.string(),
  hostname: z.string(),
  ip: z.string(),
  mac: z.string(),
  platformName: z.string(),
  osPlatform: z.string(),
  status: z.enum(NODE_STATUSES),
  errorType: z.enum(NODE_ERROR_TYPES).nullable(),
  errorMsg: z.string().nullable(),
  progress: z.number(),
  roles: z.array(z.string()),
  pendingRoles: z.array(z.string()),
  primaryRoles: z.array(z.string()).default([]),
  pendingAddition: z.boolean(),
  pendingDeletion: z.boolean(),
  online: z.boolean(),
  clusterId: z.number().int().nullable(),
  discoveredAt: z.string(),
  labels: z.record(z.string(), z.string().nullable()).optional(),
});

const lastRunSchema = z.object({
  nodeId: z.number().int(),
  taskName: z.string(),
  fingerprint: z.string(),
  deployTaskId: z.number().int(),
});

const nodeCodec = {
  key: (id: number): Key => ({ pk: NODE_PK, sk: `N#${pad(id)}` }),
  toItem: (node: Node): Item => ({ ...nodeCodec.key(node.id), entity: 'node', ...node }),
  fromItem: (item: Item): Node => parseItem(nodeSchema, item),
  instanceKey: (instanceId: string): Key => ({ pk: 'INSTANCE', sk: instanceId }),
};

const hostnameClaimSchema = z.object({ nodeId: z.number().int(), claimedAt: z.string(), token: z.string() });

const hostnameCodec = {
  key: (hostname: string): Key => ({ pk: HOSTNAME_PK, sk: hostname }),
  toItem: (hostname: string, nodeId: number, claimedAt: string, token: string): Item => ({
    ...hostnameCodec.key(hostname),
    entity: 'node-hostname',
    nodeId,
    claimedAt,
    token,
  }),
  fromItem: (item: Item) => parseItem(hostnameClaimSchema, item),
};

/** What a node must still be for a guarded write of it to hold. */
export type NodeExpectation = Pick<Node, 'clusterId' | 'hostname' | 'status' | 'errorType'>;

/** A hostname claim: the token of this request's claim, or the node that holds the hostname. */
export type HostnameClaim = { claimed: true; token: string } | { claimed: false; holder: number };

const lastRunCodec = {
  pk: (nodeId: number): string => `LASTRUN#${pad(nodeId)}`,
  toItem: (run: LastRun): Item => ({
    pk: lastRunCodec.pk(run.nodeId),
    sk: run.taskName,
    entity: 'lastrun',
    ...run,
  }),
  fromItem: (item: Item): LastRun => parseItem(lastRunSchema, item),
};

export class DynamoNodes {
  constructor(private readonly table: Table) {}

  nextId(): Promise<number> {
    return this.table.nextId('node');
  }

  async get(id: number): Promise<Node | null> {
    const item = await this.table.get(nodeCodec.key(id));
    return item ? nodeCodec.fromItem(item) : null;
  }

  async list(): Promise<Node[]> {
    return (await this.table.query(NODE_PK, 'N#')).map(nodeCodec.fromItem);
  }

  async listOfCluster(clusterId: number): Promise<Node[]> {
    return (await this.list()).filter((n) => n.clusterId === clusterId);
  }

  /** The nodes with these ids (those that exist), by ascending id. */
  async getMany(ids: number[]): Promise<Node[]> {
    const items = await this.table.getMany([...new Set(ids)].map(nodeCodec.key));
    return items.map(nodeCodec.fromItem).sort((a, b) => a.id - b.id);
  }

  async idOfInstance(instanceId: string): Promise<number | null> {
    const item = await this.table.get(nodeCodec.instanceKey(instanceId));
    return item ? z.number().int().parse(item.nodeId) : null;
  }

  /** Claims an instance id for a node id; returns the id that owns the instance (ours, or an earlier one). */
  async claimInstance(instanceId: string, nodeId: number): Promise<number> {
    const item = { ...nodeCodec.instanceKey(instanceId), entity: 'instance', nodeId };
    if (await held(this.table.put(item, true))) return nodeId;
    const owner = await this.idOfInstance(instanceId);
    if (owner === null) throw new Error(`Instance ${instanceId} was claimed and then vanished`);
    return owner;
  }

  async put(node: Node): Promise<void> {
    await this.table.put(nodeCodec.toItem(node));
  }

  /** Deletes a free node, with its last runs; its instance stays claimed for its id (discovery brings it back). */
  async deleteFree(id: number): Promise<void> {
    await conditional(
      this.table.delete(nodeCodec.key(id), { expr: 'clusterId = :none', values: { ':none': null } }),
    );
    await this.forgetLastRuns(id);
  }

  /** Updates a node; `expectClusterId` guards against a concurrent (un)assignment. */
  async update(id: number, patch: Partial<Node>, expectClusterId?: number | null): Promise<Node> {
    const condition =
      expectClusterId === undefined
        ? undefined
        : { expr: 'clusterId = :cid', values: { ':cid': expectClusterId } };
    return nodeCodec.fromItem(await this.table.update(nodeCodec.key(id), patch, condition));
  }

  /**
   * Writes `patch` only while the node is in the cluster, with the hostname and status, of `expect`; a node
   * that is not (or is gone) is a WriteConflictError.
   */
  async updateWhile(id: number, patch: Partial<Node>, expect: NodeExpectation): Promise<Node> {
    const condition = {
      expr: 'clusterId = :cid AND hostname = :host AND #status = :st AND errorType = :et',
      names: { '#status': 'status' },
      values: {
        ':cid': expect.clusterId,
        ':host': expect.hostname,
        ':st': expect.status,
        ':et': expect.errorType,
      },
    };
    return nodeCodec.fromItem(await this.table.update(nodeCodec.key(id), patch, condition));
  }

  /**
   * Claims a hostname for a node (see the header): the claim's token when this request holds it now, else
   * the node that holds it (its hostname, or a change to it still on its way; that node may be this one).
   * A stale claim is taken over. A claim that keeps vanishing under the attempts is a WriteConflictError.
   */
  async claimHostname(hostname: string, nodeId: number): Promise<HostnameClaim> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = Date.now();
      const claimedAt = new Date(now).toISOString();
      const token = randomUUID();
      const item = hostnameCodec.toItem(hostname, nodeId, claimedAt, token);
      if (await held(this.table.put(item, true))) return { claimed: true, token };
      const found = await this.table.get(hostnameCodec.key(hostname));
      if (!found) continue; // released in the meantime: claim it again
      const claim = hostnameCodec.fromItem(found);
      const holder = await this.get(claim.nodeId);
      const young = Date.parse(claim.claimedAt) > now - HOSTNAME_CLAIM_GRACE_MS;
      if (holder?.hostname === hostname || young) return { claimed: false, holder: claim.nodeId };
      const takenOver = await held(
        this.table.update(
          hostnameCodec.key(hostname),
          { nodeId, claimedAt, token },
          { expr: '#token = :old', names: { '#token': 'token' }, values: { ':old': claim.token } },
        ),
      );
      if (takenOver) return { claimed: true, token };
    }
    throw new WriteConflictError(`The claim of hostname '${hostname}' changed at the same time: try again`);
  }

  /** The token of a node's claim on a hostname; null when the node holds none. */
  async claimToken(hostname: string, nodeId: number): Promise<string | null> {
    const found = await this.table.get(hostnameCodec.key(hostname));
    if (!found) return null;
    const claim = hostnameCodec.fromItem(found);
    return claim.nodeId === nodeId ? claim.token : null;
  }

  /**
   * Releases the claim a request took (or read, `claimToken`) on a hostname for a node: only that claim, not
   * one another request of the same node has taken since; nothing when it is gone.
   */
  async releaseHostname(hostname: string, nodeId: number, token: string): Promise<void> {
    // `token` is a reserved word of DynamoDB's expressions
    const condition = {
      expr: 'nodeId = :me AND #token = :token',
      names: { '#token': 'token' },
      values: { ':me': nodeId, ':token': token },
    };
    await held(this.table.delete(hostnameCodec.key(hostname), condition));
  }

  async lastRuns(nodeId: number): Promise<LastRun[]> {
    return (await this.table.query(lastRunCodec.pk(nodeId))).map(lastRunCodec.fromItem);
  }

  async recordLastRun(run: LastRun): Promise<void> {
    await this.table.put(lastRunCodec.toItem(run));
  }

  async recordLastRuns(runs: LastRun[]): Promise<void> {
    await this.table.putMany(runs.map(lastRunCodec.toItem));
  }

  async forgetLastRuns(nodeId: number): Promise<void> {
    const items = await this.table.query(lastRunCodec.pk(nodeId));
    await this.table.deleteMany(items.map((item) => ({ pk: String(item.pk), sk: String(item.sk) })));
  }
}
