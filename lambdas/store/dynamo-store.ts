import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConditionFailedError } from '../app/errors.js';
import type { GraphTask } from '../domain/graph.js';
import type { Cluster, HistoryRow, LastRun, Node, StopRequest, Task } from '../domain/model.js';
import { CLUSTER_STATUSES, type HistoryStatus, isClusterLocked } from '../domain/status.js';
import { CLUSTER_PK, clusterCodec } from './cluster-codec.js';
import { type Attributes, attributesCodec, graphCodec } from './cluster-config-codec.js';
import {
  type CommandIntent,
  FAILURE_PREFIX,
  failureCodec,
  intentCodec,
  type StageState,
  stageCodec,
} from './engine-codec.js';
import { historyCodec, txPk } from './history-codec.js';
import type { Item, Key } from './item.js';
import { lastRunCodec, NODE_PK, nodeCodec } from './node-codec.js';
import { TASK_PK, taskCodec } from './task-codec.js';

const UNLOCKED = CLUSTER_STATUSES.filter((s) => !isClusterLocked(s));

interface Update {
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
}

/** SET for each defined field of a patch; undefined fields are left alone. */
function setExpression(patch: Record<string, unknown>): Update {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const parts: string[] = [];
  for (const [i, [field, value]] of Object.entries(patch).entries()) {
    if (value === undefined) continue;
    names[`#f${i}`] = field;
    values[`:v${i}`] = value;
    parts.push(`#f${i} = :v${i}`);
  }
  return {
    UpdateExpression: `SET ${parts.join(', ')}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

async function conditional<T>(write: Promise<T>, message?: string): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) throw new ConditionFailedError(message);
    throw err;
  }
}

/** Everything the service keeps, in one DynamoDB table. Every invariant is a single-item conditional write. */
export class DynamoStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    readonly tableName: string,
    client: DynamoDBClient = new DynamoDBClient({}),
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }

  // ---- generic access ----

  private async get(key: Key, consistent = true): Promise<Item | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: consistent }),
    );
    return out.Item;
  }

  private async queryAll(pk: string, skPrefix?: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const input: QueryCommandInput = {
        TableName: this.tableName,
        KeyConditionExpression: skPrefix ? 'pk = :pk AND begins_with(sk, :p)' : 'pk = :pk',
        ExpressionAttributeValues: skPrefix ? { ':pk': pk, ':p': skPrefix } : { ':pk': pk },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      };
      const out = await this.doc.send(new QueryCommand(input));
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  private async batchPut(items: Item[]): Promise<void> {
    for (let i = 0; i < items.length; i += 25) {
      let requests: Record<string, unknown>[] = items
        .slice(i, i + 25)
        .map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        const out = await this.doc.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }),
        );
        requests = (out.UnprocessedItems?.[this.tableName] ?? []) as Record<string, unknown>[];
        if (requests.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }

  private async update(
    key: Key,
    patch: Record<string, unknown>,
    condition?: Partial<Update> & { expr: string },
  ) {
    const set = setExpression(patch);
    return conditional(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: set.UpdateExpression,
          ConditionExpression: condition
            ? `attribute_exists(pk) AND (${condition.expr})`
            : 'attribute_exists(pk)',
          ExpressionAttributeNames: {
            ...set.ExpressionAttributeNames,
            ...condition?.ExpressionAttributeNames,
          },
          ExpressionAttributeValues: {
            ...set.ExpressionAttributeValues,
            ...condition?.ExpressionAttributeValues,
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    ).then((out) => out.Attributes as Item);
  }

  /** Atomic counter for Nailgun's integer ids. */
  async nextId(name: 'cluster' | 'node' | 'task'): Promise<number> {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: 'COUNTER', sk: name },
        UpdateExpression: 'ADD #v :one',
        ExpressionAttributeNames: { '#v': 'value' },
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.value);
  }

  // ---- clusters ----

  async createCluster(cluster: Cluster): Promise<void> {
    await conditional(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: clusterCodec.toItem(cluster),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async getCluster(id: number): Promise<Cluster | null> {
    const item = await this.get(clusterCodec.key(id));
    return item ? clusterCodec.fromItem(item) : null;
  }

  async listClusters(): Promise<Cluster[]> {
    return (await this.queryAll(CLUSTER_PK, 'C#')).map(clusterCodec.fromItem);
  }

  /** Edits a cluster only while it is not locked by a deployment. */
  async updateUnlockedCluster(id: number, patch: Partial<Cluster>): Promise<Cluster> {
    const item = await this.update(clusterCodec.key(id), patch, {
      expr: 'attribute_not_exists(deploymentTaskId) OR deploymentTaskId = :none',
      ExpressionAttributeValues: { ':none': null },
    });
    return clusterCodec.fromItem(item);
  }

  async updateCluster(id: number, patch: Partial<Cluster>): Promise<Cluster> {
    return clusterCodec.fromItem(await this.update(clusterCodec.key(id), patch));
  }

  /**
   * Takes the cluster's deployment lock: at most one deployment runs per cluster.
   * Fails with ConditionFailedError when a deployment holds the lock or the cluster is locked.
   */
  async lockForDeployment(clusterId: number, deployTaskId: number): Promise<Cluster> {
    const statusNames = UNLOCKED.map((_, i) => `:s${i}`);
    const item = await this.update(
      clusterCodec.key(clusterId),
      { deploymentTaskId: deployTaskId, status: 'deployment' },
      {
        expr: `(attribute_not_exists(deploymentTaskId) OR deploymentTaskId = :none) AND #status IN (${statusNames.join(', ')})`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':none': null,
          ...Object.fromEntries(UNLOCKED.map((s, i) => [`:s${i}`, s])),
        },
      },
    );
    return clusterCodec.fromItem(item);
  }

  /** Releases the lock held by this deploy task and sets the cluster's final status. */
  async releaseDeployment(clusterId: number, deployTaskId: number, patch: Partial<Cluster>): Promise<void> {
    await this.update(
      clusterCodec.key(clusterId),
      { ...patch, deploymentTaskId: null },
      { expr: 'deploymentTaskId = :me', ExpressionAttributeValues: { ':me': deployTaskId } },
    );
  }

  async deleteCluster(id: number): Promise<void> {
    await conditional(
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: clusterCodec.key(id),
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(deploymentTaskId) OR deploymentTaskId = :none)',
          ExpressionAttributeValues: { ':none': null },
        }),
      ),
    );
    for (const key of [graphCodec.key(id), attributesCodec.key(id)]) {
      await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: key }));
    }
  }

  // ---- graph and attributes ----

  async getGraph(clusterId: number): Promise<GraphTask[] | null> {
    const item = await this.get(graphCodec.key(clusterId));
    return item ? graphCodec.fromItem(item) : null;
  }

  async putGraph(clusterId: number, tasks: GraphTask[]): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.tableName, Item: graphCodec.toItem(clusterId, tasks) }),
    );
  }

  async getAttributes(clusterId: number): Promise<Attributes | null> {
    const item = await this.get(attributesCodec.key(clusterId));
    return item ? attributesCodec.fromItem(item) : null;
  }

  async putAttributes(clusterId: number, editable: Attributes): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.tableName, Item: attributesCodec.toItem(clusterId, editable) }),
    );
  }

  // ---- nodes ----

  async getNode(id: number): Promise<Node | null> {
    const item = await this.get(nodeCodec.key(id));
    return item ? nodeCodec.fromItem(item) : null;
  }

  async listNodes(): Promise<Node[]> {
    return (await this.queryAll(NODE_PK, 'N#')).map(nodeCodec.fromItem);
  }

  async getNodes(ids: number[]): Promise<Node[]> {
    const unique = [...new Set(ids)];
    const nodes: Node[] = [];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Record<string, unknown>[] = unique.slice(i, i + 100).map((id) => ({ ...nodeCodec.key(id) }));
      while (keys.length > 0) {
        const out = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        nodes.push(...(out.Responses?.[this.tableName] ?? []).map(nodeCodec.fromItem));
        keys = (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return nodes.sort((a, b) => a.id - b.id);
  }

  async nodeIdOfInstance(instanceId: string): Promise<number | null> {
    const item = await this.get(nodeCodec.instanceKey(instanceId));
    return item ? Number(item.nodeId) : null;
  }

  /** Claims an instance id for a node id; returns the id that owns the instance (ours, or an earlier one). */
  async claimInstance(instanceId: string, nodeId: number): Promise<number> {
    try {
      await conditional(
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...nodeCodec.instanceKey(instanceId), entity: 'instance', nodeId },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      return nodeId;
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      const owner = await this.nodeIdOfInstance(instanceId);
      if (owner === null) throw err;
      return owner;
    }
  }

  async putNode(node: Node): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: nodeCodec.toItem(node) }));
  }

  /** Updates a node; `expectClusterId` guards against a concurrent (un)assignment. */
  async updateNode(id: number, patch: Partial<Node>, expectClusterId?: number | null): Promise<Node> {
    const condition =
      expectClusterId === undefined
        ? undefined
        : { expr: 'clusterId = :cid', ExpressionAttributeValues: { ':cid': expectClusterId } };
    return nodeCodec.fromItem(await this.update(nodeCodec.key(id), patch, condition));
  }

  async lastRuns(nodeId: number): Promise<LastRun[]> {
    return (await this.queryAll(lastRunCodec.pk(nodeId))).map(lastRunCodec.fromItem);
  }

  async recordLastRun(run: LastRun): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: lastRunCodec.toItem(run) }));
  }

  // ---- tasks ----

  async putTask(task: Task): Promise<void> {
    await conditional(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: taskCodec.toItem(task),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async getTask(id: number): Promise<Task | null> {
    const item = await this.get(taskCodec.key(id));
    return item ? taskCodec.fromItem(item) : null;
  }

  async listTasks(): Promise<Task[]> {
    return (await this.queryAll(TASK_PK, 'T#')).map(taskCodec.fromItem);
  }

  async updateTask(id: number, patch: Partial<Task>): Promise<Task> {
    return taskCodec.fromItem(await this.update(taskCodec.key(id), patch));
  }

  /** Ends a task only if it is still running: a retried finish never rewrites a finished task. */
  async finishTask(id: number, patch: Partial<Task>): Promise<boolean> {
    try {
      await this.update(taskCodec.key(id), patch, {
        expr: '#status IN (:pending, :running)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pending': 'pending', ':running': 'running' },
      });
      return true;
    } catch (err) {
      if (err instanceof ConditionFailedError) return false;
      throw err;
    }
  }

  /**
   * Sets the stop flag of a running deploy task, once: the condition makes concurrent stops yield exactly
   * one winner, and a flag can only ever be set on the deployment it stops.
   */
  async requestStop(deployTaskId: number, at: string, stop: StopRequest): Promise<Task> {
    return taskCodec.fromItem(
      await this.update(
        taskCodec.key(deployTaskId),
        { stopRequestedAt: at, stop },
        {
          expr:
            '#status = :running AND (attribute_not_exists(stopRequestedAt) OR stopRequestedAt = :none) ' +
            'AND (attribute_not_exists(finishingAt) OR finishingAt = :none)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':running': 'running', ':none': null },
        },
      ),
    );
  }

  /**
   * Marks a deploy task as settling and returns it as stored at that instant: the stop flag read from it
   * is final, since a stop can no longer be requested (see requestStop).
   */
  async beginFinish(deployTaskId: number, at: string): Promise<Task> {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: taskCodec.key(deployTaskId),
        UpdateExpression: 'SET finishingAt = :at',
        ExpressionAttributeValues: { ':at': at },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return taskCodec.fromItem(out.Attributes ?? {});
  }

  /** Marks a stop as escalated, once. */
  async escalateStop(deployTaskId: number, at: string, because: 'user' | 'timeout'): Promise<Task> {
    const out = await conditional(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: taskCodec.key(deployTaskId),
          UpdateExpression: 'SET #stop.forcedAt = :at, #stop.forcedBecause = :because',
          ConditionExpression:
            '#status = :running AND attribute_exists(#stop.requestedAt) AND #stop.forcedAt = :none',
          ExpressionAttributeNames: { '#stop': 'stop', '#status': 'status' },
          ExpressionAttributeValues: { ':at': at, ':because': because, ':running': 'running', ':none': null },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return taskCodec.fromItem(out.Attributes ?? {});
  }

  /**
   * Takes the right to send commands until `until`, unless a stop was requested. A stop waits for the lease
   * to end before it answers, so no command is sent after the stop is acknowledged.
   */
  async takeDispatchLease(deployTaskId: number, until: string): Promise<boolean> {
    try {
      await this.update(
        taskCodec.key(deployTaskId),
        { dispatchLeaseUntil: until },
        {
          expr: 'attribute_not_exists(stopRequestedAt) OR stopRequestedAt = :none',
          ExpressionAttributeValues: { ':none': null },
        },
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionFailedError) return false;
      throw err;
    }
  }

  async releaseDispatchLease(deployTaskId: number): Promise<void> {
    await this.update(taskCodec.key(deployTaskId), { dispatchLeaseUntil: null });
  }

  async addTaskDone(id: number, done: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: taskCodec.key(id),
        UpdateExpression: 'ADD done :d',
        ExpressionAttributeValues: { ':d': done },
      }),
    );
  }

  // ---- history rows ----

  async putRows(rows: HistoryRow[]): Promise<void> {
    await this.batchPut(rows.map(historyCodec.toItem));
  }

  async queryRows(deployTaskId: number, skPrefix: string): Promise<HistoryRow[]> {
    return (await this.queryAll(txPk(deployTaskId), skPrefix)).map(historyCodec.fromItem);
  }

  async getRow(
    deployTaskId: number,
    stage: string,
    taskName: string,
    nodeId: number,
  ): Promise<HistoryRow | null> {
    const item = await this.get(historyCodec.key(deployTaskId, stage, taskName, nodeId));
    return item ? historyCodec.fromItem(item) : null;
  }

  /**
   * Moves a history row along a legal transition: the write holds only if the row is in one of `from`.
   * Returns false when the row had already moved (a duplicate event or a retried Lambda).
   */
  async moveRow(
    row: Pick<HistoryRow, 'deployTaskId' | 'stage' | 'taskName' | 'nodeId'>,
    from: HistoryStatus[],
    patch: Partial<HistoryRow> & { status: HistoryStatus },
  ): Promise<boolean> {
    const names = from.map((_, i) => `:from${i}`);
    try {
      await this.update(historyCodec.key(row.deployTaskId, row.stage, row.taskName, row.nodeId), patch, {
        expr: `#status IN (${names.join(', ')})`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: Object.fromEntries(from.map((s, i) => [`:from${i}`, s])),
      });
      return true;
    } catch (err) {
      if (err instanceof ConditionFailedError) return false;
      throw err;
    }
  }

  // ---- engine bookkeeping ----

  async markFailed(deployTaskId: number, failure: { nodeId?: number; instanceKey?: string; reason: string }) {
    const key =
      failure.nodeId !== undefined
        ? failureCodec.nodeKey(deployTaskId, failure.nodeId)
        : failureCodec.instanceKey(deployTaskId, failure.instanceKey ?? '');
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...key, entity: 'failure', reason: failure.reason },
      }),
    );
  }

  async failures(
    deployTaskId: number,
  ): Promise<{ nodes: Map<number, string>; instances: Map<string, string> }> {
    const nodes = new Map<number, string>();
    const instances = new Map<string, string>();
    for (const item of await this.queryAll(txPk(deployTaskId), FAILURE_PREFIX)) {
      const sk = String(item.sk).slice(FAILURE_PREFIX.length);
      const reason = String(item.reason ?? '');
      if (sk.startsWith('N#')) nodes.set(Number(sk.slice(2)), reason);
      else instances.set(sk.slice(2), reason);
    }
    return { nodes, instances };
  }

  /** Records the callback token of a stage and adds instances to its outstanding set. */
  async openStage(deployTaskId: number, stage: string, token: string, keys: string[]): Promise<void> {
    const add = keys.length > 0;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: stageCodec.key(deployTaskId, stage),
        UpdateExpression: add
          ? 'SET #t = :t, planned = :yes ADD outstanding :k'
          : 'SET #t = :t, planned = :yes',
        ExpressionAttributeNames: { '#t': 'token' },
        ExpressionAttributeValues: add
          ? { ':t': token, ':yes': true, ':k': new Set(keys) }
          : { ':t': token, ':yes': true },
      }),
    );
  }

  async getStage(deployTaskId: number, stage: string): Promise<StageState> {
    const item = await this.get(stageCodec.key(deployTaskId, stage));
    return item
      ? stageCodec.fromItem(item)
      : { token: null, outstanding: [], planned: false, completedToken: null };
  }

  async markStageCompleted(deployTaskId: number, stage: string, token: string): Promise<void> {
    await this.update(stageCodec.key(deployTaskId, stage), { completedToken: token });
  }

  /**
   * Removes an instance from the stage's outstanding set. Returns the stage after the removal,
   * or null when the instance was not outstanding (already removed by an earlier delivery).
   */
  async closeInstance(deployTaskId: number, stage: string, key: string): Promise<StageState | null> {
    try {
      const out = await conditional(
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: stageCodec.key(deployTaskId, stage),
            UpdateExpression: 'DELETE outstanding :k',
            ConditionExpression: 'contains(outstanding, :key)',
            ExpressionAttributeValues: { ':k': new Set([key]), ':key': key },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return stageCodec.fromItem(out.Attributes ?? {});
    } catch (err) {
      if (err instanceof ConditionFailedError) return null;
      throw err;
    }
  }

  /** Writes a command intent unless one exists; returns the stored intent and whether it is new. */
  async recordIntent(intent: CommandIntent): Promise<{ intent: CommandIntent; created: boolean }> {
    try {
      await conditional(
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: intentCodec.toItem(intent),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      return { intent, created: true };
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      const existing = await this.getIntent(intent.deployTaskId, intent.stage, intent.batch);
      if (!existing) throw err;
      return { intent: existing, created: false };
    }
  }

  async queryIntents(deployTaskId: number, stage: string): Promise<CommandIntent[]> {
    const prefix = intentCodec.key(deployTaskId, stage, 0).sk.slice(0, -5);
    return (await this.queryAll(txPk(deployTaskId), prefix)).map(intentCodec.fromItem);
  }

  async getIntent(deployTaskId: number, stage: string, batch: number): Promise<CommandIntent | null> {
    const item = await this.get(intentCodec.key(deployTaskId, stage, batch));
    return item ? intentCodec.fromItem(item) : null;
  }

  async setIntentCommand(
    deployTaskId: number,
    stage: string,
    batch: number,
    commandId: string,
  ): Promise<void> {
    await this.update(intentCodec.key(deployTaskId, stage, batch), { commandId });
  }
}
