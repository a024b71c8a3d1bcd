/**
 * Tasks (Nailgun's transactions) and deployment runs, in one partition ordered by id. A run's stop state,
 * its dispatch lease and its settling mark are fields of the run's item, changed by conditional writes:
 * one stop per run, no stop once it settles, no send lease once a stop is requested.
 *
 * Each cluster has its own partition of pointers to its tasks (`CTASK#<cluster>`, `T#<id>`, written once,
 * before the task): a cluster's tasks are a Query of that partition plus a consistent BatchGetItem of the
 * tasks, never a read of every task. Pointers never change (a task keeps its cluster), so the task writes
 * of a running deployment touch no second item.
 */
import { z } from 'zod';
import { MAX_PAGE_SIZE, type Page, type PageRequest } from '../domain/page.js';
import type { LayerStage } from '../domain/stage.js';
import { CLUSTER_STATUSES, NODE_STATUSES, TASK_STATUSES } from '../domain/status.js';
import type { ForcedStop, RequestedStop } from '../domain/stop.js';
import type { DeploymentRun, StopWork, Task, TaskPatch } from '../domain/task.js';
import { isLegacyTask, LEGACY_TASK_ATTRIBUTES, upgradedTaskFields } from './legacy.js';
import {
  decodeMarker,
  encodeMarker,
  held,
  type Item,
  type Key,
  pad,
  parseItem,
  type Table,
} from './table.js';

const TASK_PK = 'TASK';
const TASK_PREFIX = 'T#';

const common = {
  id: z.number().int(),
  uuid: z.string(),
  status: z.enum(TASK_STATUSES),
  progress: z.number(),
  message: z.string().nullable(),
  clusterId: z.number().int(),
  timeStart: z.string().nullable(),
  timeEnd: z.string().nullable(),
  executionArn: z.string().nullable(),
  deletedAt: z.string().nullable(),
};

const stopRequest = z.object({
  cause: z.enum(['operator', 'fault_tolerance', 'forced_delete']),
  by: z.string(),
  at: z.string(),
  message: z.string().nullable(),
  stopTaskId: z.number().int().nullable(),
  deadline: z.string(),
  timeoutSeconds: z.number(),
});

const stopState = z.discriminatedUnion('phase', [
  z.object({ phase: z.literal('none') }),
  z.object({ phase: z.literal('requested'), request: stopRequest }),
  z.object({
    phase: z.literal('forced'),
    request: stopRequest,
    forced: z.object({ at: z.string(), cause: z.enum(['operator', 'stop_timeout', 'forced_delete']) }),
  }),
]);

const runSchema = z.object({
  ...common,
  kind: z.literal('run'),
  name: z.enum(['deploy', 'provision', 'deployment']),
  parentId: z.null(),
  done: z.number(),
  total: z.number(),
  children: z.object({ provision: z.number().int().nullable(), deployment: z.number().int().nullable() }),
  mode: z.object({
    force: z.boolean(),
    resume: z.boolean(),
    scope: z.enum(['all', 'provision', 'deploy']),
    nodes: z.array(z.number().int()).nullable(),
    tasks: z.array(z.string()).nullable().optional(),
    // absent in runs stored before graphs of other types could run: the default graph
    graphType: z.string().optional(),
  }),
  stop: stopState,
  dispatchLeaseUntil: z.string().nullable(),
  finishingAt: z.string().nullable(),
  nodesBefore: z.record(z.string(), z.enum(NODE_STATUSES)).nullable(),
  // the plan's summary; a run planned before the layers were stored apart holds them all (`layers`)
  plan: z
    .object({
      provision: z.object({ nodeCount: z.number(), timeoutSeconds: z.number() }),
      layerCount: z.number().int().optional(),
      layers: z
        .array(
          z.object({
            taskId: z.number(),
            stage: z.string().regex(/^layer-\d+$/) as unknown as z.ZodType<LayerStage>,
            timeoutSeconds: z.number(),
          }),
        )
        .optional(),
    })
    .transform((p) =>
      p.layerCount !== undefined
        ? { provision: p.provision, layerCount: p.layerCount }
        : { provision: p.provision, layers: p.layers ?? [] },
    )
    .nullable(),
  outcome: z
    .object({
      clusterStatus: z.enum(CLUSTER_STATUSES).nullable(),
      stopTaskStatus: z.enum(['ready', 'error']).nullable(),
      stopMessage: z.string().nullable(),
    })
    .nullable(),
});

const taskSchema = z.discriminatedUnion('kind', [
  runSchema,
  z.object({
    ...common,
    kind: z.literal('stage'),
    name: z.enum(['provision', 'deployment']),
    parentId: z.number().int(),
    done: z.number(),
    total: z.number(),
  }),
  z.object({
    ...common,
    kind: z.literal('stop'),
    name: z.literal('stop_deployment'),
    parentId: z.null(),
    deployTaskId: z.number().int(),
    requestedBy: z.string().nullable(),
    reason: z.string().nullable(),
    // stop tasks written before follow-ups were recorded have none
    work: z
      .object({
        at: z.string(),
        sendsEndedAt: z.string(),
        checked: z.number(),
        undeliveredCancelled: z.number(),
        runningCancelled: z.number(),
      })
      .nullable()
      .default(null),
  }),
  z.object({
    ...common,
    kind: z.literal('action'),
    name: z.enum(['reset_environment', 'cluster_deletion']),
    parentId: z.null(),
  }),
]);

const taskCodec = {
  key: (id: number): Key => ({ pk: TASK_PK, sk: `${TASK_PREFIX}${pad(id)}` }),
  toItem: (task: Task): Item => ({ ...taskCodec.key(task.id), entity: 'task', ...task }),
  fromItem: (item: Item): Task =>
    parseItem(taskSchema, isLegacyTask(item) ? { ...item, ...upgradedTaskFields(item) } : item) as Task,
};

/** A cluster's pointer to one of its tasks: the task's key under the cluster. */
const clusterTaskCodec = {
  pk: (clusterId: number): string => `CTASK#${pad(clusterId)}`,
  key: (clusterId: number, taskId: number): Key => ({
    pk: clusterTaskCodec.pk(clusterId),
    sk: `${TASK_PREFIX}${pad(taskId)}`,
  }),
  toItem: (clusterId: number, taskId: number): Item => ({
    ...clusterTaskCodec.key(clusterId, taskId),
    entity: 'cluster-task',
    taskId,
  }),
  taskIdOf: (item: Item): number => Number(String(item.sk).slice(TASK_PREFIX.length)),
};

/** The list of every task, what a marker of it must belong to. */
const ALL_TASKS = { pk: TASK_PK, prefixes: [TASK_PREFIX] } as const;
const ALL_TASKS_PART = { pk: TASK_PK, prefix: TASK_PREFIX } as const;

/**
 * Written once every task stored before the pointers existed has one (`indexByCluster`): from then on a
 * cluster's pointers list all its tasks.
 */
const CLUSTER_INDEX_DONE: Key = { pk: 'MIGRATION', sk: 'cluster-task-pointers' };

function runOf(item: Item): DeploymentRun {
  const task = taskCodec.fromItem(item);
  if (task.kind !== 'run') throw new Error(`Task ${task.id} is not a deployment run`);
  return task;
}

const RUNNING = {
  expr: '#status = :running',
  names: { '#status': 'status' },
  values: { ':running': 'running' },
};

export class DynamoTasks {
  /** Whether every task is known to have its cluster's pointer (`indexByCluster`). */
  private indexed = false;

  constructor(private readonly table: Table) {}

  nextId(): Promise<number> {
    return this.table.nextId('task');
  }

  /**
   * Writes a new task; a task with its id already written is a WriteConflictError. Its cluster's pointer is
   * written first: a pointer whose task was never written is passed over by `page`.
   */
  async put(task: Task): Promise<void> {
    await this.table.put(clusterTaskCodec.toItem(task.clusterId, task.id));
    await this.table.put(taskCodec.toItem(task), true);
  }

  async get(id: number): Promise<Task | null> {
    const item = await this.table.get(taskCodec.key(id));
    if (!item) return null;
    if (isLegacyTask(item)) await this.upgrade(item);
    return taskCodec.fromItem(item);
  }

  /**
   * Rewrites a task stored in the legacy shape in today's, once (the fields it lacks added, the legacy ones
   * removed; its counters left alone), so that the conditional writes on a run hold for it.
   */
  private async upgrade(item: Item): Promise<void> {
    const fields = Object.entries(upgradedTaskFields(item));
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = fields.map(([field, value], i) => {
      names[`#n${i}`] = field;
      values[`:v${i}`] = value;
      return `#n${i} = :v${i}`;
    });
    const removes = LEGACY_TASK_ATTRIBUTES.map((field, i) => {
      names[`#r${i}`] = field;
      return `#r${i}`;
    });
    await held(
      this.table.updateExpression(
        { pk: String(item.pk), sk: String(item.sk) },
        `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
        { condition: 'attribute_exists(pk) AND attribute_not_exists(kind)', names, values },
      ),
    );
  }

  /** The deployment run with this id, or null when there is none (or the task is of another kind). */
  async getRun(id: number): Promise<DeploymentRun | null> {
    const task = await this.get(id);
    return task?.kind === 'run' ? task : null;
  }

  async list(): Promise<Task[]> {
    return (await this.table.query(TASK_PK, TASK_PREFIX)).map(taskCodec.fromItem);
  }

  /**
   * One page of the tasks (of one cluster, with `clusterId`) by id, those `accept` keeps: a Query of the task
   * partition, or of the cluster's pointers and a BatchGetItem of their tasks.
   */
  async page(
    of: { clusterId?: number },
    request: PageRequest,
    accept: (task: Task) => boolean = () => true,
  ): Promise<Page<Task>> {
    const forward = request.order !== 'desc';
    const { clusterId } = of;
    if (clusterId === undefined) {
      const after = request.marker === null ? null : decodeMarker(request.marker, ALL_TASKS);
      const page = await this.table.queryPage({ ...ALL_TASKS_PART, after, forward }, request.limit, (items) =>
        items.map((item) => {
          const task = taskCodec.fromItem(item);
          return accept(task) ? task : null;
        }),
      );
      return { items: page.items, next: page.next && encodeMarker(page.next) };
    }
    await this.indexByCluster();
    const pk = clusterTaskCodec.pk(clusterId);
    const after =
      request.marker === null ? null : decodeMarker(request.marker, { pk, prefixes: [TASK_PREFIX] });
    const page = await this.table.queryPage(
      { pk, prefix: TASK_PREFIX, after, forward },
      request.limit,
      async (pointers) => {
        const ids = pointers.map(clusterTaskCodec.taskIdOf);
        const items = await this.table.getMany(ids.map(taskCodec.key));
        const byId = new Map(items.map((item) => [Number(item.id), item]));
        return ids.map((id) => {
          const item = byId.get(id);
          const task = item && taskCodec.fromItem(item);
          return task && task.clusterId === clusterId && accept(task) ? task : null;
        });
      },
    );
    return { items: page.items, next: page.next && encodeMarker(page.next) };
  }

  /**
   * Gives every task stored before the per-cluster pointers existed its pointer, once: reads the task
   * partition, writes the pointers, then the mark that it is done (a retry after a failure starts again;
   * writing a pointer twice changes nothing).
   */
  private async indexByCluster(): Promise<void> {
    if (this.indexed) return;
    if (!(await this.table.get(CLUSTER_INDEX_DONE))) {
      let tasks = 0;
      let after: Key | null = null;
      do {
        // a page of tasks at a time: memory stays bounded however many tasks there are
        const page: { items: Item[]; next: Key | null } = await this.table.queryPage(
          { ...ALL_TASKS_PART, after },
          MAX_PAGE_SIZE,
          (items) =>
            items.map((item) =>
              Number.isInteger(item.clusterId) && Number.isInteger(item.id)
                ? clusterTaskCodec.toItem(Number(item.clusterId), Number(item.id))
                : null,
            ),
        );
        await this.table.putMany(page.items);
        tasks += page.items.length;
        after = page.next;
      } while (after !== null);
      await this.table.put({ ...CLUSTER_INDEX_DONE, entity: 'migration', tasks });
    }
    this.indexed = true;
  }

  async update(id: number, patch: TaskPatch): Promise<Task> {
    return taskCodec.fromItem(await this.table.update(taskCodec.key(id), patch));
  }

  /** Ends a task only if it is still pending or running: a retried finish never rewrites a finished task. */
  async finish(id: number, patch: TaskPatch): Promise<boolean> {
    return held(
      this.table.update(taskCodec.key(id), patch, {
        expr: '#status IN (:pending, :running)',
        names: { '#status': 'status' },
        values: { ':pending': 'pending', ':running': 'running' },
      }),
    );
  }

  /** Records on an existing stop task what its follow-up did. */
  async recordStopWork(stopTaskId: number, work: StopWork): Promise<void> {
    await this.table.update(taskCodec.key(stopTaskId), { work });
  }

  async addDone(id: number, done: number): Promise<void> {
    await this.table.updateExpression(taskCodec.key(id), 'ADD done :d', { values: { ':d': done } });
  }

  /**
   * Records the stop of a running run, once, unless the run has started settling. A lost condition (a stop
   * was requested already, or the run is settling or over) is a WriteConflictError.
   */
  async requestStop(runId: number, stop: RequestedStop): Promise<DeploymentRun> {
    const item = await this.table.update(
      taskCodec.key(runId),
      { stop },
      {
        expr: `${RUNNING.expr} AND #stop.phase = :none AND finishingAt = :null`,
        names: { ...RUNNING.names, '#stop': 'stop' },
        values: { ...RUNNING.values, ':none': 'none', ':null': null },
      },
    );
    return runOf(item);
  }

  /** Escalates a requested stop of a running run, once. */
  async escalateStop(runId: number, forced: ForcedStop['forced']): Promise<DeploymentRun> {
    const item = await this.table.updateExpression(
      taskCodec.key(runId),
      'SET #stop.phase = :forced, #stop.forced = :f',
      {
        condition: 'attribute_exists(pk) AND #status = :running AND #stop.phase = :requested',
        names: { ...RUNNING.names, '#stop': 'stop' },
        values: { ...RUNNING.values, ':forced': 'forced', ':f': forced, ':requested': 'requested' },
      },
    );
    return runOf(item);
  }

  /**
   * Marks a run as settling and returns it as stored at that instant: its stop state is final, since a stop
   * can no longer be requested (see requestStop).
   */
  async beginFinish(runId: number, at: string): Promise<DeploymentRun> {
    return runOf(await this.table.update(taskCodec.key(runId), { finishingAt: at }));
  }

  /**
   * Takes the right to send commands until `until`, unless a stop was requested. A stop waits for the lease
   * to end before it answers, so no command is sent after the stop is acknowledged.
   */
  async takeDispatchLease(runId: number, until: string): Promise<boolean> {
    return held(
      this.table.update(
        taskCodec.key(runId),
        { dispatchLeaseUntil: until },
        { expr: '#stop.phase = :none', names: { '#stop': 'stop' }, values: { ':none': 'none' } },
      ),
    );
  }

  async releaseDispatchLease(runId: number): Promise<void> {
    await this.table.update(taskCodec.key(runId), { dispatchLeaseUntil: null });
  }
}
