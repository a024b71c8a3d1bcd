/**
 * The plan of a deployment: the graph expanded onto the cluster's nodes, the master and the sync node as
 * Nailgun 9.0 expands it (plan-expansion.ts), stages made global points (plan-stages.ts), and the entries
 * ordered into the layers Step Functions runs one after another (plan-schedule.ts).
 */
import type { GraphTask, TaskType } from './graph.js';
import {
  type ConditionOf,
  type Entry,
  Expansion,
  type NoopKind,
  PlanError,
  type PlanNode,
} from './plan-expansion.js';
import { type ScheduleItem, schedule } from './plan-schedule.js';
import { implicitStageBarriers } from './plan-stages.js';
import { everyEntryOf, instanceKey } from './stage.js';
import { SYNC_NODE, targetLabel } from './targets.js';

export { PlanError, type PlanNode } from './plan-expansion.js';

export interface TaskInstance {
  /** `${task}@${target}`, unique in a plan. */
  key: string;
  task: string;
  /** A cluster node's id, MASTER_NODE or SYNC_NODE. */
  nodeId: number;
  type: TaskType;
  /** null: it runs; else why it runs nothing (recorded as skipped with this reason). */
  noop: { kind: NoopKind; reason: string } | null;
  /** Keys of the entries that must end before this one starts (sorted, no duplicates). */
  requires: string[];
  /** 0-based layer; an entry that runs nothing is decided at the start of its layer. */
  layer: number;
  /** Decision order within the plan: requirements come first. */
  order: number;
}

export interface DeploymentPlan {
  /** Ordered by layer, then decision order. */
  instances: TaskInstance[];
  /** Keys of the entries that run, per layer, sorted; a layer may hold none (only entries that run nothing). */
  layers: string[][];
}

export interface PlanOptions {
  /** Whether a task runs on a target, as its condition says; absent: every condition holds. */
  conditionOf?: ConditionOf;
  /** Expected seconds of a task on a target, for ordering within layers; absent: 1. */
  durationOf?: (task: GraphTask, target: number) => number;
  /** More layers than this is a PlanError, found without building them all. */
  maxLayers?: number;
  /**
   * Only these tasks run (Nailgun's `deploy_tasks`): every other entry stays in the plan, ordered as
   * before, and runs nothing. Absent or null: every task.
   */
  onlyTasks?: readonly string[] | null;
}

/** Slack added to a layer's longest possible task run, for dispatch and result collection. */
export const LAYER_SLACK_S = 60;

/** Longest time a layer may take: the slowest instance with all its retries (and pauses between), plus slack. */
export function layerTimeoutSeconds(runs: { timeout: number; retries: number; interval?: number }[]): number {
  let longest = 0;
  for (const run of runs) {
    longest = Math.max(longest, run.timeout * (run.retries + 1) + (run.interval ?? 0) * run.retries);
  }
  return longest + LAYER_SLACK_S;
}

/** Integer percentage 0..100 of finished work; an empty piece of work is complete. */
export function progressPercent(done: number, total: number): number {
  if (!(total > 0)) return 100;
  const clamped = Math.min(Math.max(done, 0), total);
  return Math.floor((clamped * 100) / total);
}

/** The per-task limit of a strategy: `parameters.strategy` (Fuel's place), else the top-level form. */
export function strategyLimit(task: GraphTask): number | null {
  const strategy = task.parameters?.strategy ?? task.strategy;
  if (!strategy) return null;
  if (strategy.type === 'one_by_one') return 1;
  return strategy.amount ?? null;
}

/** Builds the plan of a graph on these nodes (ids of cluster nodes, with Nailgun's `all_roles`). */
export function planDeployment(
  tasks: GraphTask[],
  nodes: PlanNode[],
  options: PlanOptions = {},
): DeploymentPlan {
  assertUnique(tasks, nodes);
  const conditionOf: ConditionOf = options.conditionOf ?? (() => ({ run: true }));
  const durationOf = options.durationOf ?? (() => 1);
  const selected = options.onlyTasks ? new Set(options.onlyTasks) : null;
  const expansion = new Expansion(tasks, nodes, conditionOf, selected);
  expansion.link(implicitStageBarriers(tasks));
  const entries = expansion.entries;
  const items: ScheduleItem[] = entries.map((e) => ({
    requires: e.requires,
    runs: e.noop === null,
    target: e.target,
    limitKey: e.task.id,
    limit: strategyLimit(e.task),
    duration: durationOf(e.task, e.target),
  }));
  const result = schedule(items, options.maxLayers);
  if ('tooManyLayers' in result) {
    throw new PlanError(
      `the deployment would need more than ${options.maxLayers} layers: use \`parallel\` with a larger \`amount\` instead of \`one_by_one\` on many nodes`,
      null,
    );
  }
  if ('cycleAt' in result) {
    const entry = entries[result.cycleAt];
    const name = entry?.task.id ?? '?';
    throw new PlanError(
      `dependency cycle through task '${name}' on ${targetLabel(entry?.target ?? 0)}`,
      name,
    );
  }
  const keyOf = entries.map((e) => instanceKey(e.task.id, e.target));
  const entriesOfTask = new Map<string, number>();
  for (const e of entries) entriesOfTask.set(e.task.id, (entriesOfTask.get(e.task.id) ?? 0) + 1);
  const instances: TaskInstance[] = entries.map((e, k) => ({
    key: keyOf[k] as string,
    task: e.task.id,
    nodeId: e.target,
    type: e.task.type,
    noop: e.noop,
    requires:
      e.target === SYNC_NODE
        ? stageRequirements(e, entries, keyOf, entriesOfTask)
        : [...e.requires].map((r) => keyOf[r] as string).sort(),
    layer: result.layerOf[k] as number,
    order: result.orderOf[k] as number,
  }));
  instances.sort((a, b) => a.layer - b.layer || a.order - b.order);
  const layers: string[][] = Array.from({ length: result.layers }, () => []);
  for (const instance of instances) if (instance.noop === null) layers[instance.layer]?.push(instance.key);
  for (const layer of layers) layer.sort();
  return { instances, layers };
}

/**
 * A stage waits for every entry of the tasks before it, on every node: its requirements are kept per task
 * (`task@*`, every entry of that task) where it waits for all of them, so that its row stays small however
 * many nodes there are; explicit keys otherwise.
 */
function stageRequirements(
  entry: Entry,
  entries: Entry[],
  keyOf: string[],
  entriesOfTask: Map<string, number>,
): string[] {
  const perTask = new Map<string, number[]>();
  for (const r of entry.requires) {
    const id = entries[r]?.task.id as string;
    perTask.set(id, [...(perTask.get(id) ?? []), r]);
  }
  const keys: string[] = [];
  for (const [id, list] of perTask) {
    if (list.length === entriesOfTask.get(id) && list.length > 1) keys.push(everyEntryOf(id));
    else for (const r of list) keys.push(keyOf[r] as string);
  }
  return keys.sort();
}

function assertUnique(tasks: GraphTask[], nodes: PlanNode[]): void {
  const ids = new Set<string>();
  for (const task of tasks) {
    if (ids.has(task.id)) throw new PlanError(`task '${task.id}' is defined more than once`, task.id);
    ids.add(task.id);
  }
  const nodeIds = new Set<number>();
  for (const node of nodes) {
    if (nodeIds.has(node.id)) throw new PlanError(`node ${node.id} appears more than once`, null);
    nodeIds.add(node.id);
  }
}
