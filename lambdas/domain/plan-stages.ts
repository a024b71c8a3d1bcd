/**
 * Stages as global points: a task that follows a stage (through any chain of requirements) also ends before
 * the next stage, on every node, even when its graph does not say so. Fuel's stages are pre_deployment_start,
 * pre_deployment_end, deploy_start, deploy_end, post_deployment_start and post_deployment_end; any `stage`
 * task counts, ordered by the requirements between stages (upload order among unordered ones).
 */
import { type GraphTask, nameMatcher } from './graph.js';

/** Task-level edges over all relations (roles ignored), as [before, after] index pairs. */
function taskEdges(tasks: GraphTask[]): [number, number][] {
  const ids = tasks.map((t) => t.id);
  const indicesOf = (name: string): number[] => {
    const matches = nameMatcher(name);
    const found: number[] = [];
    ids.forEach((id, i) => {
      if (matches(id) && tasks[i]?.type !== 'group') found.push(i);
    });
    return found;
  };
  const edges: [number, number][] = [];
  tasks.forEach((task, t) => {
    if (task.type === 'group') return;
    for (const name of task.requires ?? []) for (const r of indicesOf(name)) edges.push([r, t]);
    for (const name of task.required_for ?? []) for (const d of indicesOf(name)) edges.push([t, d]);
    for (const dep of task['cross-depends'] ?? []) for (const r of indicesOf(dep.name)) edges.push([r, t]);
    for (const dep of task['cross-depended-by'] ?? [])
      for (const d of indicesOf(dep.name)) edges.push([t, d]);
  });
  return edges.filter(([a, b]) => a !== b);
}

/**
 * The stage tasks in order: as they come in a topological order of the whole task graph (Kahn, upload order
 * breaking ties), so that a stage reached through other tasks comes after the stages before them.
 */
function stageOrder(tasks: GraphTask[], edges: [number, number][]): number[] {
  const pending = new Int32Array(tasks.length);
  const next: number[][] = tasks.map(() => []);
  for (const [a, b] of edges) {
    next[a]?.push(b);
    pending[b] = (pending[b] as number) + 1;
  }
  const order: number[] = [];
  const ready: number[] = [];
  tasks.forEach((_, i) => {
    if (pending[i] === 0) ready.push(i);
  });
  while (ready.length > 0) {
    ready.sort((x, y) => x - y);
    const t = ready.shift() as number;
    order.push(t);
    for (const d of next[t] ?? []) {
      pending[d] = (pending[d] as number) - 1;
      if (pending[d] === 0) ready.push(d);
    }
  }
  // tasks on a cycle of the task-level graph (roles ignored) keep upload order
  const placed = new Set(order);
  tasks.forEach((_, i) => {
    if (!placed.has(i)) order.push(i);
  });
  return order.filter((i) => tasks[i]?.type === 'stage');
}

/**
 * For each task that follows some stage, the next stage it must end before (by id). Tasks that follow no stage,
 * stages themselves and groups get none.
 */
export function implicitStageBarriers(tasks: GraphTask[]): Map<string, string[]> {
  const edges = taskEdges(tasks);
  const order = stageOrder(tasks, edges);
  const position = new Map(order.map((s, p) => [s, p]));
  // the position of the latest stage each task follows; a stage follows itself
  const last = tasks.map((_, i) => position.get(i) ?? -1);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [a, b] of edges) {
      if (position.has(b)) continue;
      const candidate = last[a] as number;
      if (candidate > (last[b] as number)) {
        last[b] = candidate;
        changed = true;
      }
    }
  }
  const barriers = new Map<string, string[]>();
  tasks.forEach((task, i) => {
    if (task.type === 'stage' || task.type === 'group') return;
    const p = last[i] as number;
    const nextStage = p >= 0 ? order[p + 1] : undefined;
    if (nextStage !== undefined) barriers.set(task.id, [tasks[nextStage]?.id as string]);
  });
  return barriers;
}
