/**
 * The order of a plan: each instance's requirements resolved through virtual tasks, the strategies' chunks,
 * and the topological layers (Kahn), with the instance on a dependency cycle when there is one.
 */
import { executable, type GraphTask } from './graph';
import { type Instances, type Membership, PlanError, type PlanNode, type TaskEdges } from './plan-membership';

/** One pending step of the depth-first resolution of a virtual pair. */
interface Frame {
  pair: number;
  refs: number[];
  next: number;
  acc: Set<number>;
}

/** The error for a dependency cycle through the (task, node) pair p. */
export function cycleError(tasks: GraphTask[], nodes: PlanNode[], p: number): PlanError {
  const N = nodes.length;
  const name = tasks[Math.floor(p / N)]?.id ?? '?';
  return new PlanError(`dependency cycle through task '${name}' on node ${nodes[p % N]?.id}`, name);
}

/** Requirements of (task, node) pairs as instances, resolved through virtual pairs. */
export class RequirementResolver {
  private readonly N: number;
  /** Instances that a virtual pair stands for, memoised per pair. */
  private readonly resolved = new Map<number, number[]>();
  private readonly visiting = new Set<number>();

  constructor(
    private readonly tasks: GraphTask[],
    private readonly nodes: PlanNode[],
    private readonly edges: TaskEdges,
    private readonly membership: Membership,
    private readonly instanceOf: Int32Array,
  ) {
    this.N = nodes.length;
  }

  /** The instances that instance k (pair p) requires; requiring itself is a cycle. */
  requirementsOf(p: number, k: number): Set<number> {
    const set = new Set<number>();
    for (const ref of this.directRefs(p)) {
      const inst = this.instanceOf[ref] as number;
      if (inst >= 0) set.add(inst);
      else for (const r of this.resolveVirtual(ref)) set.add(r);
    }
    if (set.has(k)) throw cycleError(this.tasks, this.nodes, p);
    return set;
  }

  /** Direct requirements of task t on node i (pair p), as (task, node) pairs. */
  private directRefs(p: number): number[] {
    const N = this.N;
    const t = Math.floor(p / N);
    const i = p % N;
    const refs: number[] = [];
    for (const r of this.edges.sameNode[t] ?? []) refs.push(r * N + i);
    for (const { target, role } of this.edges.crossOut[t] ?? []) {
      for (const m of this.membership.matching(role, i)) refs.push(target * N + m);
    }
    for (const { source, role } of this.edges.crossIn[t] ?? []) {
      for (const n of this.membership.appliedNodesOf(source)) {
        if (this.membership.nodeMatches(role, n, i)) refs.push(source * N + n);
      }
    }
    return refs;
  }

  /** The instances the virtual pair `start` stands for, by an iterative depth-first walk; a cycle is an error. */
  private resolveVirtual(start: number): number[] {
    const done = this.resolved.get(start);
    if (done) return done;
    const stack: Frame[] = [{ pair: start, refs: this.directRefs(start), next: 0, acc: new Set() }];
    this.visiting.add(start);
    let result: number[] = [];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as Frame;
      if (frame.next >= frame.refs.length) {
        const list = [...frame.acc];
        this.resolved.set(frame.pair, list);
        this.visiting.delete(frame.pair);
        stack.pop();
        const parent = stack[stack.length - 1];
        if (parent) for (const k of list) parent.acc.add(k);
        else result = list;
        continue;
      }
      const ref = frame.refs[frame.next++] as number;
      const inst = this.instanceOf[ref] as number;
      if (inst >= 0) {
        frame.acc.add(inst);
        continue;
      }
      const memo = this.resolved.get(ref);
      if (memo) {
        for (const k of memo) frame.acc.add(k);
        continue;
      }
      if (this.visiting.has(ref)) throw cycleError(this.tasks, this.nodes, ref);
      this.visiting.add(ref);
      stack.push({ pair: ref, refs: this.directRefs(ref), next: 0, acc: new Set() });
    }
    return result;
  }
}

/** Strategies: each chunk of a task's instances (ascending node id) requires the previous chunk. */
export function applyStrategies(
  tasks: GraphTask[],
  membership: Membership,
  { instanceOf }: Instances,
  N: number,
  requires: Set<number>[],
): void {
  tasks.forEach((task, t) => {
    const strategy = task.strategy;
    if (!strategy || !executable(task)) return;
    const chunk = strategy.type === 'one_by_one' ? 1 : (strategy.amount ?? 0);
    if (chunk <= 0) return;
    const own = membership.appliedNodesOf(t).map((i) => instanceOf[t * N + i] as number);
    for (let start = chunk; start < own.length; start += chunk) {
      const previous = own.slice(start - chunk, start);
      for (const k of own.slice(start, start + chunk)) {
        const set = requires[k];
        if (set) for (const r of previous) set.add(r);
      }
    }
  });
}

/** Layer of every instance by Kahn's algorithm, or, on a cycle, the index of an instance on it. */
export function layerInstances(requires: Set<number>[]): Int32Array | number {
  const count = requires.length;
  const dependents: number[][] = requires.map(() => []);
  const pending = new Int32Array(count);
  requires.forEach((set, k) => {
    pending[k] = set.size;
    for (const r of set) dependents[r]?.push(k);
  });
  const layerOf = new Int32Array(count);
  let frontier: number[] = [];
  for (let k = 0; k < count; k++) if (pending[k] === 0) frontier.push(k);
  let placed = 0;
  while (frontier.length > 0) {
    placed += frontier.length;
    const nextFrontier: number[] = [];
    for (const k of frontier) {
      for (const d of dependents[k] ?? []) {
        layerOf[d] = Math.max(layerOf[d] as number, (layerOf[k] as number) + 1);
        pending[d] = (pending[d] as number) - 1;
        if (pending[d] === 0) nextFrontier.push(d);
      }
    }
    frontier = nextFrontier;
  }
  return placed < count ? instanceOnCycle(requires, pending) : layerOf;
}

/** Walks requirements among the unplaced instances (pending > 0) until one repeats: it lies on a cycle. */
function instanceOnCycle(requires: Set<number>[], pending: Int32Array): number {
  let k = pending.findIndex((v) => v > 0);
  const seenOnWalk = new Set<number>();
  while (!seenOnWalk.has(k)) {
    seenOnWalk.add(k);
    const nextK = [...(requires[k] ?? [])].find((r) => (pending[r] as number) > 0);
    if (nextK === undefined) break;
    k = nextK;
  }
  return k;
}
