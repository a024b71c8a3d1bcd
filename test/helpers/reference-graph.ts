/**
 * The project's reference graph (test/fixtures/reference-graph.json) for the planner's tests, read once with
 * the benchmarks' loader: its tasks as the service accepts them, its layouts as plan nodes, and each task's
 * typical duration on one node.
 */
import {
  layoutNodes,
  layoutRoles,
  loadReference,
  type ReferenceWorkload,
} from '../../bench/lib/reference.js';
import type { PlanNode } from '../../lambdas/domain/plan.js';

export const reference: ReferenceWorkload = loadReference();

/** Plan nodes 1..N of a layout (`small`, `reference-50`, `large-1000`), one role per node, in the layout's order. */
export function referenceNodes(layout: string): PlanNode[] {
  return layoutNodes(layoutRoles(reference, layout));
}
