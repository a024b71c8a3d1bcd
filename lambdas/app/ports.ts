/**
 * The ports of the application: the repositories it keeps its state in, SSM Run Command, Step Functions,
 * the clock and the log. Adapters implement them (store/ for DynamoDB, adapters/ for AWS); the composition
 * root (handlers/compose.ts) wires them into the `Context` every use case and engine step receives.
 * Every conditional write that loses raises `WriteConflictError` (domain/errors.ts).
 */
import type { Editable } from '../domain/attributes.js';
import type { BatchShard, CommandIntent, Failures, StageState } from '../domain/bookkeeping.js';
import type { InvocationResult } from '../domain/command-result.js';
import type { CommandStatus } from '../domain/command-status.js';
import type { GraphTask } from '../domain/graph.js';
import type { TypedGraph } from '../domain/graph-types.js';
import type { HistoryRow, RowMove, RowRef } from '../domain/history.js';
import type { Cluster, LastRun, Node } from '../domain/model.js';
import type { Page, PageRequest } from '../domain/page.js';
import type { TargetSets } from '../domain/requirements.js';
import type { RowScope, Stage } from '../domain/stage.js';
import type { HistoryStatus, NodeStatus } from '../domain/status.js';
import type { ForcedStop, RequestedStop } from '../domain/stop.js';
import type { DeploymentRun, OutlineLayer, StopWork, Task, TaskPatch } from '../domain/task.js';

export interface ClusterRepository {
  nextId(): Promise<number>;
  create(cluster: Cluster): Promise<void>;
  get(id: number): Promise<Cluster | null>;
  list(): Promise<Cluster[]>;
  update(id: number, patch: Partial<Cluster>): Promise<Cluster>;
  /** Takes the edit lease: only while unlocked, in a status that allows edits, and no other edit holds it. */
  beginEdit(clusterId: number): Promise<{ lease: string; cluster: Cluster }>;
  /** Ends the edit, writing `patch` on the cluster in the same conditional write (the lease must be ours). */
  endEdit(clusterId: number, lease: string, patch?: Partial<Cluster>): Promise<Cluster>;
  /** Deletes the cluster, with its graph and attributes, under this edit lease. */
  deleteEdited(clusterId: number, lease: string): Promise<void>;
  /** Claims a name for a cluster: false when another cluster holds it. */
  claimName(name: string, clusterId: number): Promise<boolean>;
  /** Releases this cluster's claim on a name, if it holds one. */
  releaseName(name: string, clusterId: number): Promise<void>;
  /** Takes the deployment lock for a run: one run per cluster, none while the cluster is locked or edited. */
  lock(clusterId: number, runId: number): Promise<Cluster>;
  /** Releases the lock held by this run, setting the cluster's final status. */
  release(clusterId: number, runId: number, patch: Partial<Cluster>): Promise<void>;
  getGraph(clusterId: number): Promise<GraphTask[] | null>;
  /** Writes the default graph (its name kept when `name` is undefined). */
  putGraph(clusterId: number, tasks: GraphTask[], name?: string | null): Promise<TypedGraph>;
  /** The cluster's own graph of a type (`default`: the one getGraph reads), or null. */
  getTypedGraph(clusterId: number, type: string): Promise<TypedGraph | null>;
  putTypedGraph(
    clusterId: number,
    type: string,
    graph: { name: string | null; tasks: GraphTask[] },
  ): Promise<TypedGraph>;
  /** False when the cluster had no graph of its own of that type. */
  deleteTypedGraph(clusterId: number, type: string): Promise<boolean>;
  /** The cluster's own graphs, the default one first (when uploaded). */
  typedGraphs(clusterId: number): Promise<TypedGraph[]>;
  /** The types of the cluster's own graphs other than `default`, read without their bodies. */
  typedGraphTypes(clusterId: number): Promise<string[]>;
  getAttributes(clusterId: number): Promise<Editable | null>;
  putAttributes(clusterId: number, editable: Editable): Promise<void>;
}

export interface NodeRepository {
  nextId(): Promise<number>;
  get(id: number): Promise<Node | null>;
  list(): Promise<Node[]>;
  listOfCluster(clusterId: number): Promise<Node[]>;
  getMany(ids: number[]): Promise<Node[]>;
  idOfInstance(instanceId: string): Promise<number | null>;
  /** Claims an instance for a node id; returns the id that owns it (this one, or an earlier one). */
  claimInstance(instanceId: string, nodeId: number): Promise<number>;
  put(node: Node): Promise<void>;
  /** Deletes a node that belongs to no cluster (WriteConflictError when it does, or is gone). */
  deleteFree(id: number): Promise<void>;
  /** `expectClusterId` guards against a concurrent (un)assignment. */
  update(id: number, patch: Partial<Node>, expectClusterId?: number | null): Promise<Node>;
  /**
   * Writes `patch` only while the node still has the cluster, hostname, status and error type of `expect`
   * (WriteConflictError when not, or when it is gone).
   */
  updateWhile(
    id: number,
    patch: Partial<Node>,
    expect: Pick<Node, 'clusterId' | 'hostname' | 'status' | 'errorType'>,
  ): Promise<Node>;
  /**
   * Claims a hostname for a node: the token of the claim when this request holds it now, else the node that
   * holds it (or whose change to it is on its way). A stale claim is taken over.
   */
  claimHostname(
    hostname: string,
    nodeId: number,
  ): Promise<{ claimed: true; token: string } | { claimed: false; holder: number }>;
  /** The token of a node's claim on a hostname; null when the node holds none. */
  claimToken(hostname: string, nodeId: number): Promise<string | null>;
  /** Releases that claim of a node on a hostname (its token's), not one taken since; none is nothing. */
  releaseHostname(hostname: string, nodeId: number, token: string): Promise<void>;
  lastRuns(nodeId: number): Promise<LastRun[]>;
  recordLastRun(run: LastRun): Promise<void>;
  /** Records many last runs at once (batched writes). */
  recordLastRuns(runs: LastRun[]): Promise<void>;
  /** The node no longer is what its last runs describe (provisioned again, reset, released, roles changed). */
  forgetLastRuns(nodeId: number): Promise<void>;
}

export interface TaskRepository {
  nextId(): Promise<number>;
  put(task: Task): Promise<void>;
  get(id: number): Promise<Task | null>;
  getRun(id: number): Promise<DeploymentRun | null>;
  /** Every task: reads the whole task partition (the API lists through `page`). */
  list(): Promise<Task[]>;
  /**
   * One page of the tasks by id (of one cluster, with `clusterId`: without reading other clusters' tasks)
   * that `accept` keeps. A marker of another list is a ValidationError.
   */
  page(
    of: { clusterId?: number },
    request: PageRequest,
    accept?: (task: Task) => boolean,
  ): Promise<Page<Task>>;
  update(id: number, patch: TaskPatch): Promise<Task>;
  /** Ends a pending or running task; false when it had ended already. */
  finish(id: number, patch: TaskPatch): Promise<boolean>;
  addDone(id: number, done: number): Promise<void>;
  /** Records on an existing stop task what its follow-up did. */
  recordStopWork(stopTaskId: number, work: StopWork): Promise<void>;
  /** Records the stop of a running run, once, unless it is settling. */
  requestStop(runId: number, stop: RequestedStop): Promise<DeploymentRun>;
  /** Escalates a requested stop, once. */
  escalateStop(runId: number, forced: ForcedStop['forced']): Promise<DeploymentRun>;
  /** Marks the run as settling: from then on its stop state is final. */
  beginFinish(runId: number, at: string): Promise<DeploymentRun>;
  /** The right to send commands until `until`; false once a stop was requested. */
  takeDispatchLease(runId: number, until: string): Promise<boolean>;
  releaseDispatchLease(runId: number): Promise<void>;
}

export interface HistoryRepository {
  putRows(rows: HistoryRow[]): Promise<void>;
  rows(runId: number, scope: RowScope): Promise<HistoryRow[]>;
  /** One page of a run's rows in `scope` that `accept` keeps: provisioning first, then the layers in order. */
  rowsPage(
    runId: number,
    scope: RowScope,
    request: PageRequest,
    accept?: (row: HistoryRow) => boolean,
  ): Promise<Page<HistoryRow>>;
  getRow(ref: RowRef): Promise<HistoryRow | null>;
  /** Moves a row from the status it was read in to `to` (a legal transition); false if it had moved. */
  moveRow(row: RowRef & { status: HistoryStatus }, to: HistoryStatus, patch?: RowMove): Promise<boolean>;
}

export interface BookkeepingRepository {
  markFailed(
    runId: number,
    failure: { nodeId: number } | { instanceKey: string },
    reason: string,
  ): Promise<void>;
  failures(runId: number): Promise<Failures>;
  /** Records the stage's token and adds its batches to the open ones; the stage after the write. */
  openStage(runId: number, stage: Stage, token: string, batches: number[]): Promise<StageState>;
  /** As openStage, for a stage whose intents were recorded before batches were tracked (legacy). */
  openLegacyStage(runId: number, stage: Stage, token: string, keys: string[]): Promise<void>;
  /** The stage opened last (the one running), or null before the first opens. */
  currentStage(runId: number): Promise<Stage | null>;
  getStage(runId: number, stage: Stage): Promise<StageState>;
  /** The stage opened last and, by target, its instances still open in its shards; null before the first. */
  openInstances(runId: number): Promise<{ stage: Stage; open: Map<number, number> } | null>;
  markStageCompleted(runId: number, stage: Stage, token: string): Promise<void>;
  /** Takes the completion of a stage's token, once (a claim older than `staleBefore` may be taken over). */
  claimCompletion(
    runId: number,
    stage: Stage,
    token: string,
    at: string,
    staleBefore: string,
  ): Promise<boolean>;
  /** Closes a node's instance in its batch's shard at `at`; the shard after it, or null if it was not open. */
  closeInstance(
    runId: number,
    stage: Stage,
    batch: number,
    nodeId: number,
    ready: boolean,
    at: string,
  ): Promise<BatchShard | null>;
  getShard(runId: number, stage: Stage, batch: number): Promise<BatchShard | null>;
  /** The shards of a stage's batches, by batch. */
  shards(runId: number, stage: Stage): Promise<Map<number, BatchShard>>;
  /** Removes an ended batch from the stage's open ones; the stage after it, or null if it was not open. */
  closeBatch(runId: number, stage: Stage, batch: number): Promise<StageState | null>;
  /** Removes an instance from a legacy stage's outstanding set; the stage after it, or null if it was not in it. */
  closeLegacyInstance(runId: number, stage: Stage, key: string): Promise<StageState | null>;
  recordIntent(intent: CommandIntent): Promise<{ intent: CommandIntent; created: boolean }>;
  intents(runId: number, stage: Stage): Promise<CommandIntent[]>;
  getIntent(runId: number, stage: Stage, batch: number): Promise<CommandIntent | null>;
  /** A batch's intent for its targets and task (never changed once recorded): may be kept in memory. */
  plannedBatch(runId: number, stage: Stage, batch: number): Promise<CommandIntent | null>;
  setIntentCommand(runId: number, stage: Stage, batch: number, commandId: string): Promise<void>;
}

/**
 * A run's plan besides its rows, in items of bounded size: the outline's layers, the rows' target sets,
 * the nodes' statuses when it was planned, the stage of each row by target (what progress is read from); and,
 * once it has ended, what its tasks took (what the next plan reads).
 */
export interface PlanRepository {
  putLayers(runId: number, layers: OutlineLayer[]): Promise<void>;
  /** The first `count` layers of the run's outline. */
  layers(runId: number, count: number): Promise<OutlineLayer[]>;
  putTargetSets(runId: number, sets: number[][]): Promise<void>;
  targetSets(runId: number): Promise<TargetSets>;
  putNodesBefore(runId: number, statuses: Record<string, NodeStatus>): Promise<void>;
  /** The statuses of the run's nodes when it was planned; null when the plan stored none. */
  nodesBefore(runId: number): Promise<Record<string, NodeStatus> | null>;
  /** The stage index of each planned row, by target (provisioning -1, else its layer). */
  putRowStages(runId: number, byTarget: ReadonlyMap<number, readonly number[]>): Promise<void>;
  /** The planned rows of each target by stage index; null when the plan stored none. */
  rowStages(runId: number): Promise<Map<number, Map<number, number>> | null>;
  /** The run's planned rows by stage index; null when the plan stored none. */
  stageCounts(runId: number): Promise<Map<number, number> | null>;
  /**
   * Records the seconds each task of the run took, by task id (engine/plan.ts `taskDurations`), once it has
   * ended: what the next run's plan orders its layers by. Durations too many for one item are not recorded.
   */
  putDurations(runId: number, durations: ReadonlyMap<string, number>): Promise<void>;
  /** The seconds each task of the run took, as recorded when it ended; null when none was recorded. */
  durations(runId: number): Promise<Map<string, number> | null>;
}

export interface Repositories {
  clusters: ClusterRepository;
  nodes: NodeRepository;
  tasks: TaskRepository;
  history: HistoryRepository;
  bookkeeping: BookkeepingRepository;
  plans: PlanRepository;
}

export interface SendCommandInput {
  instanceIds: string[];
  parameters: Record<string, string[]>;
  comment: string;
  /** Seconds SSM keeps trying to deliver the command to an unreachable node. */
  deliveryTimeoutSeconds: number;
}

export interface ManagedInstance {
  instanceId: string;
  name: string;
  ip: string;
  online: boolean;
  platformName: string;
  platformType: string;
}

/** One node's invocation of a command, as `ListCommandInvocations` reports it. */
export interface InvocationStatus {
  instanceId: string;
  status: CommandStatus;
}

/** SSM Run Command with the project's task document. */
export interface NodeCommands {
  send(input: SendCommandInput): Promise<string>;
  /** The id of a command sent with this comment since `since`, if any (reconciles a crash after sending). */
  findByComment(comment: string, since: Date): Promise<string | null>;
  invocation(commandId: string, instanceId: string): Promise<InvocationResult | null>;
  /** The status of every invocation of a command (one paged call per command, not one per node). */
  invocations(commandId: string): Promise<InvocationStatus[]>;
  cancel(commandId: string, instanceIds?: string[]): Promise<void>;
  instances(): Promise<ManagedInstance[]>;
}

/** Step Functions: start a deployment, complete a waiting state. */
export interface Workflows {
  start(name: string, input: Record<string, unknown>): Promise<string>;
  /** Completes a `.waitForTaskToken` state; false when the token is no longer valid (already used, timed out). */
  complete(token: string, output: Record<string, unknown>): Promise<boolean>;
  consoleUrl(executionArn: string): string;
  /** The execution with this name (DescribeExecution), or null when there is none. */
  execution(name: string): Promise<ExecutionState | null>;
}

/** What DescribeExecution says of an execution: its status and, once it failed or was aborted, why. */
export interface ExecutionState {
  status: string;
  error: string | null;
  cause: string | null;
}

/** What the stop function does after it answered: wait for a send in progress, cancel what never started. */
export interface StopJob {
  runId: number;
}

/** Hands a stop's follow-up to the stop function, to run after the reply (an asynchronous invocation). */
export interface StopWorker {
  request(job: StopJob): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export type Log = (message: string, data?: Record<string, unknown>) => void;

/** What every use case and engine step is given: the ports, the clock and the log. */
/** Fuel's master node: where tasks of the `master` role run, whose files copy_files reads. */
export interface MasterNode {
  /** Its SSM managed instance; null when none is configured (a graph with master tasks cannot deploy). */
  instanceId: string | null;
  /** The address tasks reach it at (`{MASTER_IP}`). */
  ip: string;
}

export const NO_MASTER: MasterNode = { instanceId: null, ip: '10.20.0.2' };

export interface Context {
  repos: Repositories;
  commands: NodeCommands;
  workflows: Workflows;
  stopWorker: StopWorker;
  clock: Clock;
  log: Log;
  master: MasterNode;
}

export function nowIso(ctx: Pick<Context, 'clock'>): string {
  return ctx.clock.now().toISOString();
}
