/**
 * Planning a large deployment with the product's planner: lambdas/app/engine/plan.ts `expandGraph` (what both
 * "Deploy changes" and the plan step run: deployment info, conditions, then lambdas/domain/plan.ts
 * `planDeployment`'s expansion and layers) on 1,000 nodes and a 300-task graph, timed over several runs, with
 * the heap it needs. The baseline is the least work any planner does on the same result: index the plan's
 * instances and sort them topologically over their requirements.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expandGraph } from '../../lambdas/app/engine/plan.js';
import { NO_MASTER } from '../../lambdas/app/ports.js';
import { defaultAttributes } from '../../lambdas/domain/attributes.js';
import type { GraphTask } from '../../lambdas/domain/graph.js';
import type { Node } from '../../lambdas/domain/model.js';
import { provisionedNode } from '../lib/reference.js';
import { planGraph } from '../lib/schedules.js';
import { median } from '../lib/stats.js';

/**
 * The graph with its deployment tasks copied until it has `size` tasks, in Fuel 9.0's proportions (its
 * default graph runs 101-135 tasks on a controller, 45 on a compute node, 34 on a storage node): tasks of
 * other nodes are copied `otherCopies` times, controller-only tasks until the size is reached. Copy k of task
 * t is `t~k` and requires the copies k of what t requires; stages are shared, so every copy runs between the
 * same stages, as a graph with more services per role would.
 */
export function widenedGraph(tasks: GraphTask[], size: number, otherCopies = 2): GraphTask[] {
  const copyable = tasks.filter((t) => t.type !== 'stage' && t.type !== 'group');
  const controllerOnly = (t: GraphTask) =>
    Array.isArray(t.roles) && t.roles.length === 1 && t.roles[0] === 'controller';
  // which copies there are: rounds over the graph until the size is reached
  const copies = new Map<string, number>();
  let count = tasks.length;
  for (let k = 1; count < size && k <= size; k++) {
    for (const task of copyable) {
      if (count >= size) break;
      if (!controllerOnly(task) && k > otherCopies) continue;
      copies.set(task.id, k);
      count++;
    }
  }
  // copy k names copy k of another task, or its last copy before k, or the task itself
  const nameIn = (k: number) => (name: string) => {
    const last = copies.get(name);
    return last === undefined ? name : `${name}~${Math.min(k, last)}`;
  };
  const out = [...tasks];
  for (let k = 1; out.length < count; k++) {
    for (const task of copyable) {
      if ((copies.get(task.id) ?? 0) < k) continue;
      const rename = nameIn(k);
      out.push({
        ...task,
        id: `${task.id}~${k}`,
        requires: (task.requires ?? []).map(rename),
        required_for: (task.required_for ?? []).map(rename),
        ...(task['cross-depends']
          ? { 'cross-depends': task['cross-depends'].map((d) => ({ ...d, name: rename(d.name) })) }
          : {}),
      });
    }
  }
  return out;
}

/** Nodes of a layout as the plan step sees them (assigned, provisioned). */
export function planNodes(roles: string[]): Node[] {
  return roles.map((role, i) =>
    provisionedNode({
      id: i + 1,
      instanceId: `mi-${String(i + 1).padStart(17, '0')}`,
      name: `node-${i + 1}`,
      ip: `10.20.${(i + 1) >> 8}.${(i + 1) & 255}`,
      mac: '52:54:00:00:00:00',
      role,
      online: true,
      clusterId: 1,
      discoveredAt: new Date(0).toISOString(),
    }),
  );
}

export interface PlanTiming {
  nodes: number;
  tasks: number;
  instances: number;
  edges: number;
  layers: number;
  runsMs: number[];
  medianMs: number;
  /** The baseline: indexing the result and sorting it topologically, median ms. */
  topoMedianMs: number;
  /** Heap grown while planning (no collection forced in between), and what the plan keeps after a full GC. */
  heapGrowthMb: number;
  retainedMb: number;
  rssGrowthMb: number;
}

let collect: (() => void) | null = null;
function gc(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

export function timePlan(graph: GraphTask[], roles: string[], runs: number): PlanTiming {
  const nodes = planNodes(roles);
  const input = {
    cluster: {
      id: 1,
      name: 'bench',
      status: 'deployment' as const,
      releaseId: 1,
      isCustomized: true,
      deploymentTaskId: null,
      createdAt: '',
    },
    editable: defaultAttributes(),
    graph,
    nodes,
    runId: 1,
  };
  const ctx = { master: NO_MASTER };
  // the first run warms the JIT; it is not counted
  expandGraph(ctx, input);
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    expandGraph(ctx, input);
    runsMs.push(performance.now() - t);
  }
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  const { deployment } = expandGraph(ctx, input);
  const heapAfter = process.memoryUsage().heapUsed;
  const rssAfter = process.memoryUsage().rss;
  gc();
  const retained = process.memoryUsage().heapUsed;
  const topoMs: number[] = [];
  for (let i = 0; i < Math.max(3, Math.min(runs, 5)); i++) {
    const t = performance.now();
    planGraph(deployment);
    topoMs.push(performance.now() - t);
  }
  const mb = (bytes: number) => bytes / 1024 / 1024;
  return {
    nodes: nodes.length,
    tasks: graph.length,
    instances: deployment.instances.length,
    edges: deployment.instances.reduce((n, i) => n + i.requires.length, 0),
    layers: deployment.layers.length,
    runsMs,
    medianMs: median(runsMs),
    topoMedianMs: median(topoMs),
    heapGrowthMb: mb(heapAfter - heapBefore),
    retainedMb: mb(retained - heapBefore),
    rssGrowthMb: mb(rssAfter - rssBefore),
  };
}
