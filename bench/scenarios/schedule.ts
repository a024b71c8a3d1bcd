/**
 * The schedules of the reference graph on a layout, with typical durations (bench/lib/schedules.ts): the
 * critical path, Astute's dependency-driven schedule, and the product's layers with zero engine overhead,
 * both as a first deployment plans them (no durations known yet: all alike) and as a later one does (the
 * durations its last run measured, here the typical ones).
 */
import type { GraphTask } from '../../lambdas/domain/graph.js';
import { type DeploymentPlan, type PlanNode, planDeployment } from '../../lambdas/domain/plan.js';
import {
  astuteSchedule,
  type CriticalPath,
  criticalPath,
  type DurationOf,
  type Layered,
  layeredSchedule,
  planGraph,
} from '../lib/schedules.js';

export interface Schedules {
  nodes: number;
  instances: number;
  criticalPath: CriticalPath;
  /** Astute's schedule (its `Task#weight` priority), no cap on busy nodes. */
  astute: number;
  /** The same with Astute's `max_nodes_per_call` of 50 busy nodes. */
  astuteCapped: number;
  /** A critical-path list scheduler (longest remaining path first), for comparison. */
  listByPath: number;
  /** The layers of a first deployment (durations unknown: all alike). */
  layeredFirst: Layered;
  /** The layers of a deployment that knows the durations. */
  layeredInformed: Layered;
  plans: { first: DeploymentPlan; informed: DeploymentPlan };
}

export function schedulesOf(
  tasks: GraphTask[],
  nodes: PlanNode[],
  seconds: (task: string) => number,
): Schedules {
  const durationOf: DurationOf = (task) => seconds(task);
  const first = planDeployment(tasks, nodes);
  const informed = planDeployment(tasks, nodes, { durationOf: (task) => seconds(task.id) });
  const graph = planGraph(informed);
  return {
    nodes: nodes.length,
    instances: informed.instances.length,
    criticalPath: criticalPath(graph, durationOf),
    astute: astuteSchedule(graph, durationOf, tasks).makespan,
    astuteCapped: astuteSchedule(graph, durationOf, tasks, { maxBusyNodes: 50 }).makespan,
    listByPath: astuteSchedule(graph, durationOf, tasks, { priority: 'rank' }).makespan,
    layeredFirst: layeredSchedule(first, durationOf),
    layeredInformed: layeredSchedule(informed, durationOf),
    plans: { first, informed },
  };
}
