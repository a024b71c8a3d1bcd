/**
 * Clusters, with their deployment graph and attributes. Clusters live in one partition (listing them is one
 * Query); a cluster's graph and attributes are one item each under the cluster's own partition. The
 * deployment lock is the cluster's `deploymentTaskId`, taken and released by conditional writes.
 */
import { z } from 'zod';
import type { Editable } from '../domain/attributes.js';
import type { GraphTask } from '../domain/graph.js';
import type { Cluster } from '../domain/model.js';
import { CLUSTER_STATUSES, isClusterLocked } from '../domain/status.js';
import { type Item, type Key, pad, parseItem, type Table } from './table.js';

const CLUSTER_PK = 'CLUSTER';
const configPk = (clusterId: number): string => `CLUSTER#${clusterId}`;

const clusterSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  status: z.enum(CLUSTER_STATUSES),
  releaseId: z.number().int(),
  isCustomized: z.boolean(),
  deploymentTaskId: z.number().int().nullable(),
  createdAt: z.string(),
});

const clusterCodec = {
  key: (id: number): Key => ({ pk: CLUSTER_PK, sk: `C#${pad(id)}` }),
  toItem: (cluster: Cluster): Item => ({ ...clusterCodec.key(cluster.id), entity: 'cluster', ...cluster }),
  fromItem: (item: Item): Cluster => parseItem(clusterSchema, item),
};

const graphCodec = {
  key: (clusterId: number): Key => ({ pk: configPk(clusterId), sk: 'GRAPH' }),
  toItem: (clusterId: number, tasks: GraphTask[]): Item => ({
    ...graphCodec.key(clusterId),
    entity: 'graph',
    tasks,
  }),
  // the graph was validated (validateGraph) before it was stored; it keeps unknown keys as uploaded
  fromItem: (item: Item): GraphTask[] =>
    z.array(z.looseObject({ id: z.string() })).parse(item.tasks ?? []) as GraphTask[],
};

const attributesCodec = {
  key: (clusterId: number): Key => ({ pk: configPk(clusterId), sk: 'ATTRIBUTES' }),
  toItem: (clusterId: number, editable: Editable): Item => ({
    ...attributesCodec.key(clusterId),
    entity: 'attributes',
    editable,
  }),
  fromItem: (item: Item): Editable => z.record(z.string(), z.unknown()).parse(item.editable ?? {}),
};

const UNLOCKED = CLUSTER_STATUSES.filter((s) => !isClusterLocked(s));
const NOT_LOCKED = {
  expr: 'attribute_not_exists(deploymentTaskId) OR deploymentTaskId = :none',
  values: { ':none': null },
};

export class DynamoClusters {
  constructor(private readonly table: Table) {}

  nextId(): Promise<number> {
    return this.table.nextId('cluster');
  }

  async create(cluster: Cluster): Promise<void> {
    await this.table.put(clusterCodec.toItem(cluster), true);
  }

  async get(id: number): Promise<Cluster | null> {
    const item = await this.table.get(clusterCodec.key(id));
    return item ? clusterCodec.fromItem(item) : null;
  }

  async list(): Promise<Cluster[]> {
    return (await this.table.query(CLUSTER_PK, 'C#')).map(clusterCodec.fromItem);
  }

  async update(id: number, patch: Partial<Cluster>): Promise<Cluster> {
    return clusterCodec.fromItem(await this.table.update(clusterCodec.key(id), patch));
  }

  /** Edits a cluster only while no deployment holds its lock. */
  async updateUnlocked(id: number, patch: Partial<Cluster>): Promise<Cluster> {
    return clusterCodec.fromItem(await this.table.update(clusterCodec.key(id), patch, NOT_LOCKED));
  }

  /** Takes the deployment lock: at most one run per cluster, and none while the cluster is locked. */
  async lock(clusterId: number, runId: number): Promise<Cluster> {
    const statuses = UNLOCKED.map((_, i) => `:s${i}`);
    const item = await this.table.update(
      clusterCodec.key(clusterId),
      { deploymentTaskId: runId, status: 'deployment' },
      {
        expr: `(${NOT_LOCKED.expr}) AND #status IN (${statuses.join(', ')})`,
        names: { '#status': 'status' },
        values: { ...NOT_LOCKED.values, ...Object.fromEntries(UNLOCKED.map((s, i) => [`:s${i}`, s])) },
      },
    );
    return clusterCodec.fromItem(item);
  }

  /** Releases the lock held by this run and sets the cluster's final status. */
  async release(clusterId: number, runId: number, patch: Partial<Cluster>): Promise<void> {
    await this.table.update(
      clusterCodec.key(clusterId),
      { ...patch, deploymentTaskId: null },
      { expr: 'deploymentTaskId = :me', values: { ':me': runId } },
    );
  }

  /** Deletes an unlocked cluster, then its graph and attributes. */
  async delete(id: number): Promise<void> {
    await this.table.delete(clusterCodec.key(id), NOT_LOCKED);
    for (const key of [graphCodec.key(id), attributesCodec.key(id)]) await this.table.delete(key);
  }

  async getGraph(clusterId: number): Promise<GraphTask[] | null> {
    const item = await this.table.get(graphCodec.key(clusterId));
    return item ? graphCodec.fromItem(item) : null;
  }

  async putGraph(clusterId: number, tasks: GraphTask[]): Promise<void> {
    await this.table.put(graphCodec.toItem(clusterId, tasks));
  }

  async getAttributes(clusterId: number): Promise<Editable | null> {
    const item = await this.table.get(attributesCodec.key(clusterId));
    return item ? attributesCodec.fromItem(item) : null;
  }

  async putAttributes(clusterId: number, editable: Editable): Promise<void> {
    await this.table.put(attributesCodec.toItem(clusterId, editable));
  }
}
