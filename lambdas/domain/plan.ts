/**
 * Expansion of a deployment graph onto the cluster's nodes (Astute's task-based deployment):
 * per-node task instances, their requirements, and the topological layers that Step
 * Functions runs one after another.
 */
import { DEFAULT_TASK_TIMEOUT_S, type GraphTask, type TaskType } from './graph';
import {
  indexTasks,
  Membership,
  type PlanNode,
  placeInstances,
  sortedUniqueNodes,
  taskEdges,
} from './plan-membership';
import { applyStrategies, cycleError, layerInstances, RequirementResolver } from './plan-order';

export { PlanError, type PlanNode } from './plan-membership';

export interface TaskInstance {
  /** `${task}@${nodeId}`, unique in a plan. */
  key: string;
  task: string;
  nodeId: number;
  type: TaskType;
  cmd: string;
  timeout: number;
  retries: number;
  failOnError: boolean;
  /** Keys of the instances that must succeed before this one starts (sorted, no duplicates). */
  requires: string[];
  /** 0-based: 0 without requirements, else 1 + the highest layer among its requirements. */
  layer: number;
}

export interface DeploymentPlan {
  /** Ordered by layer, then key. */
  instances: TaskInstance[];
  /** Instance keys per layer, sorted. */
  layers: string[][];
}

/** Slack added to a layer's longest possible task run, for dispatch and result collection. */
export const LAYER_SLACK_S = 60;

/** Longest time a layer may take: the slowest instance with all its retries, plus slack. */
export function layerTimeoutSeconds(instances: TaskInstance[]): number {
  let longest = 0;
  for (const instance of instances) longest = Math.max(longest, instance.timeout * (instance.retries + 1));
  return longest + LAYER_SLACK_S;
}

/** Integer percentage 0..100 of finished work; an empty piece of work is complete. */
export function progressPercent(done: number, total: number): number {
  if (!(total > 0)) return 100;
  const clamped = Math.min(Math.max(done, 0), total);
  return Math.floor((clamped * 100) / total);
}

/**
 * Builds the per-node plan.
 *
 * A task applies to a node when its roles are '*' or share a role with the node; `groups`
 * count as roles, and a node also belongs to every `group` task whose roles it matches.
 * Only executable tasks (shell/puppet with a command) that apply to a node become instances
 * there; everywhere else a task is virtual: it runs nothing, but ordering passes through it
 * to its own requirements on that node.
 */
export function planDeployment(tasks: GraphTask[], nodes: PlanNode[]): DeploymentPlan {
  const sortedNodes = sortedUniqueNodes(nodes);
  const taskIndex = indexTasks(tasks);
  const membership = new Membership(tasks, sortedNodes);
  const edges = taskEdges(tasks, taskIndex);
  const instances = placeInstances(tasks, membership, sortedNodes.length);
  const resolver = new RequirementResolver(tasks, sortedNodes, edges, membership, instances.instanceOf);
  const requires = instances.instPair.map((p, k) => resolver.requirementsOf(p, k));
  applyStrategies(tasks, membership, instances, sortedNodes.length, requires);
  const layerOf = layerInstances(requires);
  if (typeof layerOf === 'number') {
    throw cycleError(tasks, sortedNodes, instances.instPair[layerOf] as number);
  }
  return assemblePlan(tasks, sortedNodes, instances.instPair, requires, layerOf);
}

/** The plan's instances ordered by layer then key, and the keys per layer. */
function assemblePlan(
  tasks: GraphTask[],
  nodes: PlanNode[],
  instPair: number[],
  requires: Set<number>[],
  layerOf: Int32Array,
): DeploymentPlan {
  const N = nodes.length;
  const keyOf = instPair.map((p) => `${tasks[Math.floor(p / N)]?.id}@${nodes[p % N]?.id}`);
  const instances: TaskInstance[] = instPair.map((p, k) => {
    const task = tasks[Math.floor(p / N)] as GraphTask;
    const node = nodes[p % N] as PlanNode;
    return {
      key: keyOf[k] as string,
      task: task.id,
      nodeId: node.id,
      type: task.type,
      cmd: task.parameters?.cmd ?? '',
      timeout: task.parameters?.timeout ?? DEFAULT_TASK_TIMEOUT_S,
      retries: task.parameters?.retries ?? 0,
      failOnError: task.fail_on_error ?? true,
      requires: [...(requires[k] ?? [])].map((r) => keyOf[r] as string).sort(),
      layer: layerOf[k] as number,
    };
  });
  instances.sort((a, b) => a.layer - b.layer || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const layers: string[][] = [];
  for (const instance of instances) {
    const layer = layers[instance.layer] ?? [];
    layers[instance.layer] = layer;
    layer.push(instance.key);
  }
  return { instances, layers };
}
