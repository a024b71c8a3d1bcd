/**
 * Schedules of one deployment plan (lambdas/domain/plan.ts: the product's expansion of a graph on a
 * layout), each with the same task durations:
 *
 * - the critical path: the longest chain of requirements, the bound no scheduler beats;
 * - Astute's schedule: dependency-driven, as fuel-astute 9.x runs a graph (task_deployment.rb,
 *   fuel_deployment/cluster.rb, graph.rb): an instance starts as soon as its requirements ended, its node
 *   runs nothing else (one task per node) and its task's strategy (one_by_one, parallel `amount`) has room;
 *   an idle node takes its ready instance of highest Astute weight; entries that run nothing (stages,
 *   skipped tasks, false conditions) take no time;
 * - the layered schedule with zero engine overhead: the plan's layers one after another, each as long as
 *   its longest instance (what the state machine's Map over layers costs when dispatch, callbacks and
 *   bookkeeping take no time).
 */
import type { GraphTask } from '../../lambdas/domain/graph.js';
import { type DeploymentPlan, strategyLimit } from '../../lambdas/domain/plan.js';
import { taskOfEveryEntry } from '../../lambdas/domain/stage.js';

/** Seconds an instance of `task` runs on `nodeId`. */
export type DurationOf = (task: string, nodeId: number) => number;

/** A plan as index arrays: requirements resolved (`task@*` is every entry of that task). */
export interface PlanGraph {
  keys: string[];
  task: string[];
  node: Int32Array;
  runs: Uint8Array;
  requires: number[][];
  dependents: number[][];
  /** Indices in a topological order (the plan's own order: by layer, then decision order). */
  topo: number[];
}

export function planGraph(plan: DeploymentPlan): PlanGraph {
  const n = plan.instances.length;
  const index = new Map<string, number>();
  const byTask = new Map<string, number[]>();
  plan.instances.forEach((instance, k) => {
    index.set(instance.key, k);
    const list = byTask.get(instance.task);
    if (list) list.push(k);
    else byTask.set(instance.task, [k]);
  });
  const requires: number[][] = plan.instances.map((instance) => {
    const out: number[] = [];
    for (const key of instance.requires) {
      const every = taskOfEveryEntry(key);
      if (every !== null) out.push(...(byTask.get(every) ?? []));
      else {
        const k = index.get(key);
        if (k === undefined) throw new Error(`plan: ${instance.key} requires unknown ${key}`);
        out.push(k);
      }
    }
    return out;
  });
  const dependents: number[][] = plan.instances.map(() => []);
  requires.forEach((list, k) => {
    for (const r of list) dependents[r]?.push(k);
  });
  return {
    keys: plan.instances.map((i) => i.key),
    task: plan.instances.map((i) => i.task),
    node: Int32Array.from(plan.instances.map((i) => i.nodeId)),
    runs: Uint8Array.from(plan.instances.map((i) => (i.noop === null ? 1 : 0))),
    requires,
    dependents,
    topo: topologicalOrder(n, requires, dependents),
  };
}

function topologicalOrder(n: number, requires: number[][], dependents: number[][]): number[] {
  const left = Int32Array.from(requires.map((r) => r.length));
  const order: number[] = [];
  for (let k = 0; k < n; k++) if (left[k] === 0) order.push(k);
  for (let i = 0; i < order.length; i++) {
    for (const d of dependents[order[i] as number] ?? []) {
      left[d] = (left[d] as number) - 1;
      if (left[d] === 0) order.push(d);
    }
  }
  if (order.length !== n) throw new Error('plan: requirements form a cycle');
  return order;
}

function durations(g: PlanGraph, durationOf: DurationOf): Float64Array {
  return Float64Array.from(g.keys, (_, k) =>
    g.runs[k] ? durationOf(g.task[k] as string, g.node[k] as number) : 0,
  );
}

export interface CriticalPath {
  seconds: number;
  /** The instance keys along it, first to last (running instances only). */
  path: string[];
}

/** The longest chain of requirements, by duration. */
export function criticalPath(g: PlanGraph, durationOf: DurationOf): CriticalPath {
  const d = durations(g, durationOf);
  const finish = new Float64Array(g.keys.length);
  const via = new Int32Array(g.keys.length).fill(-1);
  for (const k of g.topo) {
    let start = 0;
    for (const r of g.requires[k] ?? []) {
      if ((finish[r] as number) > start) {
        start = finish[r] as number;
        via[k] = r;
      }
    }
    finish[k] = start + (d[k] as number);
  }
  let end = -1;
  finish.forEach((f, k) => {
    if (end < 0 || f > (finish[end] as number)) end = k;
  });
  const path: string[] = [];
  for (let k = end; k >= 0; k = via[k] as number) if (g.runs[k]) path.push(g.keys[k] as string);
  return { seconds: end < 0 ? 0 : (finish[end] as number), path: path.reverse() };
}

export interface Simulated {
  makespan: number;
  /** Start second of each instance, by index. */
  start: Float64Array;
}

export interface AstuteOptions {
  /**
   * How an idle node picks among its ready instances: `weight` is Astute's `Task#weight` (each forward
   * dependency counts 1 on the same node, 10 on another, plus its own weight); `rank` the longest remaining
   * path by duration (a critical-path list scheduler, for comparison).
   */
  priority?: 'weight' | 'rank';
  /** Astute's `max_nodes_per_call`: at most this many nodes busy at once (default: no cap). */
  maxBusyNodes?: number;
}

/**
 * Astute's dependency-driven schedule, simulated: events are task ends; after each, every idle node with a
 * ready instance (in node order) starts the ready instance of highest priority whose task has room under its
 * strategy limit.
 */
export function astuteSchedule(
  g: PlanGraph,
  durationOf: DurationOf,
  tasks: GraphTask[],
  options: AstuteOptions = {},
): Simulated {
  const n = g.keys.length;
  const d = durations(g, durationOf);
  const priority = options.priority === 'rank' ? remainingPath(g, d) : astuteWeight(g);
  const maxBusy = options.maxBusyNodes ?? Number.POSITIVE_INFINITY;
  const limitOf = new Map(tasks.map((t) => [t.id, strategyLimit(t)]));
  const runningOfTask = new Map<string, number>();
  const left = Int32Array.from(g.requires, (r) => r.length);
  const start = new Float64Array(n).fill(-1);
  const ready = new Map<number, number[]>();
  const busy = new Set<number>();
  const ends = new MinHeap();
  let done = 0;
  let now = 0;

  const finish = (k: number): void => {
    done++;
    for (const dep of g.dependents[k] ?? []) {
      left[dep] = (left[dep] as number) - 1;
      if (left[dep] === 0) release(dep);
    }
  };
  const release = (k: number): void => {
    if (!g.runs[k]) {
      start[k] = now;
      finish(k);
      return;
    }
    const node = g.node[k] as number;
    const list = ready.get(node);
    if (list) list.push(k);
    else ready.set(node, [k]);
  };
  const hasRoom = (k: number): boolean => {
    const limit = limitOf.get(g.task[k] as string) ?? null;
    return limit === null || (runningOfTask.get(g.task[k] as string) ?? 0) < limit;
  };
  const dispatch = (): void => {
    const nodes = [...ready.keys()].filter((node) => !busy.has(node)).sort((a, b) => a - b);
    for (const node of nodes) {
      if (busy.size >= maxBusy) return;
      const list = ready.get(node) as number[];
      let best = -1;
      for (let i = 0; i < list.length; i++) {
        const k = list[i] as number;
        if (!hasRoom(k)) continue;
        if (best < 0) best = i;
        else {
          const b = list[best] as number;
          if ((priority[k] as number) > (priority[b] as number) || (priority[k] === priority[b] && k < b))
            best = i;
        }
      }
      if (best < 0) continue;
      const k = list.splice(best, 1)[0] as number;
      if (list.length === 0) ready.delete(node);
      busy.add(node);
      runningOfTask.set(g.task[k] as string, (runningOfTask.get(g.task[k] as string) ?? 0) + 1);
      start[k] = now;
      ends.push(now + (d[k] as number), k);
    }
  };

  const roots: number[] = [];
  for (let k = 0; k < n; k++) if (left[k] === 0) roots.push(k);
  for (const k of roots) release(k);
  dispatch();
  while (ends.size > 0) {
    const first = ends.pop();
    now = first.at;
    const batch = [first.k];
    while (ends.size > 0 && ends.peekAt() <= now) batch.push(ends.pop().k);
    for (const k of batch) {
      busy.delete(g.node[k] as number);
      runningOfTask.set(g.task[k] as string, (runningOfTask.get(g.task[k] as string) ?? 1) - 1);
      finish(k);
    }
    dispatch();
  }
  if (done !== n) throw new Error(`astute simulation: ${n - done} instances never ran`);
  let makespan = 0;
  for (let k = 0; k < n; k++) makespan = Math.max(makespan, (start[k] as number) + (d[k] as number));
  return { makespan, start };
}

/** Astute's `Task#weight`, over the plan's requirements (memoized in reverse topological order). */
function astuteWeight(g: PlanGraph): Float64Array {
  const weight = new Float64Array(g.keys.length);
  for (let i = g.topo.length - 1; i >= 0; i--) {
    const k = g.topo[i] as number;
    let w = 0;
    for (const dep of g.dependents[k] ?? [])
      w += (g.node[dep] === g.node[k] ? 1 : 10) + (weight[dep] as number);
    weight[k] = w;
  }
  return weight;
}

/** The longest remaining path from each instance, its own duration included. */
function remainingPath(g: PlanGraph, d: Float64Array): Float64Array {
  const rank = new Float64Array(g.keys.length);
  for (let i = g.topo.length - 1; i >= 0; i--) {
    const k = g.topo[i] as number;
    let longest = 0;
    for (const dep of g.dependents[k] ?? []) longest = Math.max(longest, rank[dep] as number);
    rank[k] = longest + (d[k] as number);
  }
  return rank;
}

export interface Layered {
  seconds: number;
  /** Layers that run something. */
  layers: number;
  /** The length of each layer (its longest instance). */
  lengths: number[];
}

/** The plan's layers one after another, each as long as its longest running instance. */
export function layeredSchedule(plan: DeploymentPlan, durationOf: DurationOf): Layered {
  const lengths = plan.layers.map(() => 0);
  for (const instance of plan.instances) {
    if (instance.noop !== null) continue;
    const seconds = durationOf(instance.task, instance.nodeId);
    lengths[instance.layer] = Math.max(lengths[instance.layer] ?? 0, seconds);
  }
  return {
    seconds: lengths.reduce((a, b) => a + b, 0),
    layers: plan.layers.filter((l) => l.length > 0).length,
    lengths,
  };
}

/** A binary min-heap of (time, index), ties by index. */
class MinHeap {
  private readonly at: number[] = [];
  private readonly ks: number[] = [];

  get size(): number {
    return this.at.length;
  }

  peekAt(): number {
    return this.at[0] as number;
  }

  push(at: number, k: number): void {
    this.at.push(at);
    this.ks.push(k);
    let i = this.at.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): { at: number; k: number } {
    const top = { at: this.at[0] as number, k: this.ks[0] as number };
    const lastAt = this.at.pop() as number;
    const lastK = this.ks.pop() as number;
    if (this.at.length > 0) {
      this.at[0] = lastAt;
      this.ks[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.at.length && this.less(l, m)) m = l;
        if (r < this.at.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  private less(i: number, j: number): boolean {
    const a = this.at[i] as number;
    const b = this.at[j] as number;
    return a < b || (a === b && (this.ks[i] as number) < (this.ks[j] as number));
  }

  private swap(i: number, j: number): void {
    [this.at[i], this.at[j]] = [this.at[j] as number, this.at[i] as number];
    [this.ks[i], this.ks[j]] = [this.ks[j] as number, this.ks[i] as number];
  }
}
