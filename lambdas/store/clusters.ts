/**
 * Clusters, with their deployment graph and attributes. Clusters live in one partition (listing them is one
 * Query); a cluster's graph and attributes are one item each under the cluster's own partition. The
 * deployment lock is the cluster's `deploymentTaskId`, taken and released by conditional writes.
 *
 * dynalite has no transactions, so an edit that writes several items (the graph, the attributes, nodes) is
 * kept apart from a deployment by an *edit lease* on the cluster item, and both sides are single conditional
 * writes on that one item:
 *
 * - `beginEdit` sets `editLease` (a token) and `editLeaseUntil` only if no deployment holds the lock, the
 *   status allows edits and no other live lease is there; the edit then writes what it changes, and
 *   `endEdit` removes the lease (writing the cluster's own fields, e.g. its name or status, in the same
 *   conditional write: `editLease = <token>`); `deleteEdited` deletes the cluster under its lease;
 * - `lock` (Deploy changes) holds only if no live lease is there, so no edit can be written once a
 *   deployment holds the lock, and the deployment reads graph, attributes and nodes after it took it.
 *
 * A lease lives `EDIT_LEASE_MS`, longer than the API function may run (29 s): a lease left by a request that
 * died ends by itself, and by then the function that held it has been stopped (the embedded runtime has no
 * such time-out: there, only an edit slower than a minute could outlive its lease).
 *
 * Names are unique through a claim item per name (`CLUSTER_NAME` / `<name>`, holding the cluster's id), put
 * with `attribute_not_exists` on create and on rename (the new name is claimed first, the old one released
 * after), deleted with the cluster. A claim whose cluster is gone or has another name, older than
 * `NAME_CLAIM_GRACE_MS` (so no request that claimed it is still on its way), is stale and may be taken
 * over. Clusters stored before claims existed have none: releasing a claim that is not there is nothing.
 */
import { randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { Editable } from '../domain/attributes.js';
import type { GraphTask } from '../domain/graph.js';
import { DEFAULT_GRAPH_TYPE, type TypedGraph } from '../domain/graph-types.js';
import type { Cluster } from '../domain/model.js';
import { CLUSTER_STATUSES, isClusterLocked } from '../domain/status.js';
import { type Condition, held, type Item, type Key, pad, parseItem, setClause, type Table } from './table.js';

const CLUSTER_PK = 'CLUSTER';
const NAME_PK = 'CLUSTER_NAME';
/** How long an edit lease lives: longer than the API function's 29 s time-out. */
export const EDIT_LEASE_MS = 60_000;
/** A name claim younger than this may belong to a create or rename still on its way. */
export const NAME_CLAIM_GRACE_MS = 60_000;
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
  toItem: (clusterId: number, tasks: GraphTask[], meta: { id: number; name: string | null }): Item => ({
    ...graphCodec.key(clusterId),
    entity: 'graph',
    tasks,
    graphId: meta.id,
    name: meta.name,
  }),
  // the graph was validated (validateGraph) before it was stored; it keeps unknown keys as uploaded
  fromItem: (item: Item): GraphTask[] =>
    z.array(z.looseObject({ id: z.string() })).parse(item.tasks ?? []) as GraphTask[],
};

/** The id and name of a stored graph (a graph stored before graph ids has neither). */
const graphMetaSchema = z.object({
  graphId: z.number().int().nullable().optional(),
  name: z.string().nullable().optional(),
});

/** Graphs of types other than `default`: one item each, `GRAPH#<type>`, beside the default graph's `GRAPH`. */
const TYPED_GRAPH_PREFIX = 'GRAPH#';
const typedGraphCodec = {
  key: (clusterId: number, type: string): Key => ({
    pk: configPk(clusterId),
    sk: `${TYPED_GRAPH_PREFIX}${type}`,
  }),
  toItem: (clusterId: number, graph: TypedGraph & { id: number }): Item => ({
    ...typedGraphCodec.key(clusterId, graph.type),
    entity: 'typed-graph',
    graphId: graph.id,
    graphType: graph.type,
    name: graph.name,
    tasks: graph.tasks,
  }),
  fromItem: (item: Item): TypedGraph => {
    const meta = z.object({ graphId: z.number().int(), graphType: z.string(), name: z.string().nullable() });
    const parsed = parseItem(meta, item);
    return {
      id: parsed.graphId,
      type: parsed.graphType,
      name: parsed.name,
      tasks: graphCodec.fromItem(item),
    };
  },
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

const nameClaimSchema = z.object({ clusterId: z.number().int(), claimedAt: z.string() });

const nameCodec = {
  key: (name: string): Key => ({ pk: NAME_PK, sk: name }),
  toItem: (name: string, clusterId: number, claimedAt: string): Item => ({
    ...nameCodec.key(name),
    entity: 'cluster-name',
    clusterId,
    claimedAt,
  }),
  fromItem: (item: Item) => parseItem(nameClaimSchema, item),
};

const UNLOCKED = CLUSTER_STATUSES.filter((s) => !isClusterLocked(s));
const NOT_LOCKED = {
  expr: 'attribute_not_exists(deploymentTaskId) OR deploymentTaskId = :none',
  values: { ':none': null },
};
const NO_LIVE_LEASE = 'attribute_not_exists(editLeaseUntil) OR editLeaseUntil < :now';

/** Open for an edit or a deployment: no deployment holds it, its status allows it, no live edit lease. */
function open(now: number): Condition {
  const statuses = UNLOCKED.map((_, i) => `:s${i}`);
  return {
    expr: `(${NOT_LOCKED.expr}) AND #status IN (${statuses.join(', ')}) AND (${NO_LIVE_LEASE})`,
    names: { '#status': 'status' },
    values: {
      ...NOT_LOCKED.values,
      ...Object.fromEntries(UNLOCKED.map((s, i) => [`:s${i}`, s])),
      ':now': new Date(now).toISOString(),
    },
  };
}

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

  /**
   * Takes the deployment lock: at most one run per cluster, none while the cluster is locked, and none while
   * an edit holds a live lease. Returns the cluster as it was just before (its status is the one to restore
   * if the run does not start).
   */
  async lock(clusterId: number, runId: number): Promise<Cluster> {
    const before = await this.table.updateReturningOld(
      clusterCodec.key(clusterId),
      { deploymentTaskId: runId, status: 'deployment' },
      open(Date.now()),
    );
    return clusterCodec.fromItem(before);
  }

  /** Takes the cluster's edit lease (see the header); a lost condition is a WriteConflictError. */
  async beginEdit(clusterId: number): Promise<{ lease: string; cluster: Cluster }> {
    const now = Date.now();
    const lease = randomUUID();
    const item = await this.table.update(
      clusterCodec.key(clusterId),
      { editLease: lease, editLeaseUntil: new Date(now + EDIT_LEASE_MS).toISOString() },
      open(now),
    );
    return { lease, cluster: clusterCodec.fromItem(item) };
  }

  /** Ends an edit: writes `patch` on the cluster and removes the lease, only while the lease is this one. */
  async endEdit(clusterId: number, lease: string, patch: Partial<Cluster> = {}): Promise<Cluster> {
    const set = setClause(patch);
    const item = await this.table.updateExpression(
      clusterCodec.key(clusterId),
      `${set.parts.length > 0 ? `SET ${set.parts.join(', ')} ` : ''}REMOVE editLease, editLeaseUntil`,
      {
        condition: 'editLease = :lease',
        ...(set.parts.length > 0 ? { names: set.names } : {}),
        values: { ...set.values, ':lease': lease },
      },
    );
    return clusterCodec.fromItem(item);
  }

  /** Deletes a cluster under this edit lease, then its graph and attributes. */
  async deleteEdited(id: number, lease: string): Promise<void> {
    await this.table.delete(clusterCodec.key(id), {
      expr: 'editLease = :lease',
      values: { ':lease': lease },
    });
    for (const key of [graphCodec.key(id), attributesCodec.key(id), ...(await this.typedGraphKeys(id))])
      await this.table.delete(key);
  }

  /**
   * Claims a name for a cluster: true when the cluster holds it (now, or already), false when another
   * cluster does (or a create or rename to it is on its way). A stale claim is taken over.
   */
  async claimName(name: string, clusterId: number): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = Date.now();
      const claimedAt = new Date(now).toISOString();
      if (await held(this.table.put(nameCodec.toItem(name, clusterId, claimedAt), true))) return true;
      const found = await this.table.get(nameCodec.key(name));
      if (!found) continue; // released in the meantime: claim it again
      const claim = nameCodec.fromItem(found);
      if (claim.clusterId === clusterId) return true;
      const holder = await this.get(claim.clusterId);
      const young = Date.parse(claim.claimedAt) > now - NAME_CLAIM_GRACE_MS;
      if (holder?.name === name || young) return false;
      const takenOver = await held(
        this.table.update(
          nameCodec.key(name),
          { clusterId, claimedAt },
          {
            expr: 'clusterId = :holder AND claimedAt = :at',
            values: { ':holder': claim.clusterId, ':at': claim.claimedAt },
          },
        ),
      );
      if (takenOver) return true;
    }
    return false;
  }

  /** Releases this cluster's claim on a name; nothing when it holds none (a cluster older than claims). */
  async releaseName(name: string, clusterId: number): Promise<void> {
    await held(
      this.table.delete(nameCodec.key(name), { expr: 'clusterId = :me', values: { ':me': clusterId } }),
    );
  }

  /** Releases the lock held by this run and sets the cluster's final status. */
  async release(clusterId: number, runId: number, patch: Partial<Cluster>): Promise<void> {
    await this.table.update(
      clusterCodec.key(clusterId),
      { ...patch, deploymentTaskId: null },
      { expr: 'deploymentTaskId = :me', values: { ':me': runId } },
    );
  }

  /** Deletes an unlocked cluster that no edit holds, then its graph and attributes. */
  async delete(id: number): Promise<void> {
    await this.table.delete(clusterCodec.key(id), {
      expr: `(${NOT_LOCKED.expr}) AND (${NO_LIVE_LEASE})`,
      values: { ...NOT_LOCKED.values, ':now': new Date().toISOString() },
    });
    for (const key of [graphCodec.key(id), attributesCodec.key(id), ...(await this.typedGraphKeys(id))])
      await this.table.delete(key);
  }

  async getGraph(clusterId: number): Promise<GraphTask[] | null> {
    const item = await this.table.get(graphCodec.key(clusterId));
    return item ? graphCodec.fromItem(item) : null;
  }

  /** Writes the default graph; its name is kept when `name` is undefined, its id given the first time. */
  async putGraph(clusterId: number, tasks: GraphTask[], name?: string | null): Promise<TypedGraph> {
    const old = await this.table.get(graphCodec.key(clusterId));
    const meta = old ? parseItem(graphMetaSchema, old) : {};
    const id = meta.graphId ?? (await this.table.nextId('graph'));
    const kept = name === undefined ? (meta.name ?? null) : name;
    await this.table.put(graphCodec.toItem(clusterId, tasks, { id, name: kept }));
    return { id, type: DEFAULT_GRAPH_TYPE, name: kept, tasks };
  }

  /** The cluster's own graph of a type (`default`: the graph getGraph reads), or null. */
  async getTypedGraph(clusterId: number, type: string): Promise<TypedGraph | null> {
    if (type === DEFAULT_GRAPH_TYPE) {
      const item = await this.table.get(graphCodec.key(clusterId));
      if (!item) return null;
      const meta = parseItem(graphMetaSchema, item);
      return { id: meta.graphId ?? null, type, name: meta.name ?? null, tasks: graphCodec.fromItem(item) };
    }
    const item = await this.table.get(typedGraphCodec.key(clusterId, type));
    return item ? typedGraphCodec.fromItem(item) : null;
  }

  /** Writes the graph of a type, numbered the first time it is stored. */
  async putTypedGraph(
    clusterId: number,
    type: string,
    graph: { name: string | null; tasks: GraphTask[] },
  ): Promise<TypedGraph> {
    if (type === DEFAULT_GRAPH_TYPE) return this.putGraph(clusterId, graph.tasks, graph.name);
    const old = await this.getTypedGraph(clusterId, type);
    const id = old?.id ?? (await this.table.nextId('graph'));
    const stored = { id, type, name: graph.name, tasks: graph.tasks };
    await this.table.put(typedGraphCodec.toItem(clusterId, stored));
    return stored;
  }

  /** Deletes the cluster's own graph of a type; false when it had none. */
  async deleteTypedGraph(clusterId: number, type: string): Promise<boolean> {
    const key =
      type === DEFAULT_GRAPH_TYPE ? graphCodec.key(clusterId) : typedGraphCodec.key(clusterId, type);
    return held(this.table.delete(key, { expr: 'attribute_exists(sk)' }));
  }

  /** The cluster's own graphs: the default one first (when uploaded), then the others by type. */
  async typedGraphs(clusterId: number): Promise<TypedGraph[]> {
    const own = await this.getTypedGraph(clusterId, DEFAULT_GRAPH_TYPE);
    const others = (await this.table.query(configPk(clusterId), TYPED_GRAPH_PREFIX)).map(
      typedGraphCodec.fromItem,
    );
    return [...(own ? [own] : []), ...others.sort((a, b) => a.type.localeCompare(b.type))];
  }

  /** The types of the cluster's own graphs other than `default`, by type, read by key only (no graph body). */
  async typedGraphTypes(clusterId: number): Promise<string[]> {
    return (await this.typedGraphKeys(clusterId))
      .map((key) => key.sk.slice(TYPED_GRAPH_PREFIX.length))
      .sort((a, b) => a.localeCompare(b));
  }

  /** The keys of the cluster's graphs other than `default`: a Query that projects the key alone. */
  private async typedGraphKeys(clusterId: number): Promise<Key[]> {
    const keys: Key[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.table.doc.send(
        new QueryCommand({
          TableName: this.table.name,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :p)',
          ProjectionExpression: '#pk, #sk',
          ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
          ExpressionAttributeValues: { ':pk': configPk(clusterId), ':p': TYPED_GRAPH_PREFIX },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) keys.push({ pk: String(item.pk), sk: String(item.sk) });
      start = out.LastEvaluatedKey;
    } while (start);
    return keys;
  }

  async getAttributes(clusterId: number): Promise<Editable | null> {
    const item = await this.table.get(attributesCodec.key(clusterId));
    return item ? attributesCodec.fromItem(item) : null;
  }

  async putAttributes(clusterId: number, editable: Editable): Promise<void> {
    await this.table.put(attributesCodec.toItem(clusterId, editable));
  }
}
