/**
 * Nodes, the SSM instance each stands for, and the last successful run of each task on each node.
 * Nodes live in one partition; an instance item maps an SSM instance id to its node id (claimed once);
 * last runs are one partition per node, one item per task.
 */
import { z } from 'zod';
import type { LastRun, Node } from '../domain/model.js';
import { NODE_ERROR_TYPES, NODE_STATUSES } from '../domain/status.js';
import { conditional, held, type Item, type Key, pad, parseItem, type Table } from './table.js';

const NODE_PK = 'NODE';

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
