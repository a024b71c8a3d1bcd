/**
 * Expansion of a deployment graph onto the cluster's nodes (Astute's task-based deployment):
 * per-node task instances, their requirements, and the topological layers that Step
 * Functions runs one after another.
 */
import {
  ANY_ROLE,
  DEFAULT_TASK_TIMEOUT_S,
  executable,
  type GraphTask,
  SELF_ROLE,
  type TaskType,
} from './graph';

export interface PlanNode {
  id: number;
  roles: string[];
}

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

export class PlanError extends Error {
  constructor(
    message: string,
    readonly task: string | null,
  ) {
    super(message);
    this.name = 'PlanError';
  }
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

interface IncomingCross {
  source: number;
  role: string | string[];
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
  const T = tasks.length;
  const sortedNodes = [...nodes].sort((a, b) => a.id - b.id);
  const N = sortedNodes.length;
  for (let i = 1; i < N; i++) {
    if (sortedNodes[i]?.id === sortedNodes[i - 1]?.id) {
      throw new PlanError(`node ${sortedNodes[i]?.id} appears more than once`, null);
    }
  }

  const taskIndex = new Map<string, number>();
  tasks.forEach((task, t) => {
    if (taskIndex.has(task.id)) throw new PlanError(`task '${task.id}' is defined more than once`, task.id);
    taskIndex.set(task.id, t);
  });
  const lookup = (name: string, by: string): number => {
    const t = taskIndex.get(name);
    if (t === undefined) throw new PlanError(`task '${by}' refers to unknown task '${name}'`, by);
    return t;
  };

  // Node membership: its own roles plus the group tasks whose roles it matches.
  const taskRoles = tasks.map((task): Set<string> | typeof ANY_ROLE => {
    const roles = task.roles;
    const groups = task.groups ?? [];
    if (roles === ANY_ROLE || roles?.includes(ANY_ROLE) || groups.includes(ANY_ROLE)) return ANY_ROLE;
    return new Set([...(roles ?? []), ...groups]);
  });
  const nodeRoles = sortedNodes.map((node) => {
    const own = new Set(node.roles);
    const all = new Set(own);
    tasks.forEach((task, t) => {
      if (task.type !== 'group') return;
      const roles = taskRoles[t];
      if (roles === ANY_ROLE || (roles !== undefined && [...own].some((r) => roles.has(r)))) all.add(task.id);
    });
    return all;
  });
  const nodesByRole = new Map<string, number[]>();
  nodeRoles.forEach((roles, i) => {
    for (const role of roles) {
      const list = nodesByRole.get(role);
      if (list) list.push(i);
      else nodesByRole.set(role, [i]);
    }
  });
  const allNodes = sortedNodes.map((_, i) => i);
  const appliesTo = (t: number, i: number): boolean => {
    const roles = taskRoles[t];
    if (roles === ANY_ROLE) return true;
    if (roles === undefined) return false;
    const mine = nodeRoles[i];
    if (mine === undefined) return false;
    for (const role of roles) if (mine.has(role)) return true;
    return false;
  };
  const nodesOf = (t: number): number[] => allNodes.filter((i) => appliesTo(t, i));
  const matching = (role: string | string[], self: number): number[] => {
    const roles = typeof role === 'string' ? [role] : role;
    if (roles.includes(ANY_ROLE)) return allNodes;
    const found = new Set<number>();
    for (const r of roles) {
      if (r === SELF_ROLE) found.add(self);
      else for (const i of nodesByRole.get(r) ?? []) found.add(i);
    }
    return [...found];
  };

  /** Whether node i has `role`, read from the point of view of node `self`. */
  const nodeMatches = (role: string | string[], self: number, i: number): boolean => {
    const mine = nodeRoles[i];
    for (const r of typeof role === 'string' ? [role] : role) {
      if (r === ANY_ROLE || (r === SELF_ROLE && self === i) || mine?.has(r)) return true;
    }
    return false;
  };

  // Task-level edges.
  const sameNode: number[][] = tasks.map(() => []);
  const crossOut: { target: number; role: string | string[] }[][] = tasks.map(() => []);
  const crossIn: IncomingCross[][] = tasks.map(() => []);
  tasks.forEach((task, t) => {
    for (const name of task.requires ?? []) sameNode[t]?.push(lookup(name, task.id));
    for (const name of task.required_for ?? []) sameNode[lookup(name, task.id)]?.push(t);
    for (const dep of task['cross-depends'] ?? []) {
      crossOut[t]?.push({ target: lookup(dep.name, task.id), role: dep.role });
    }
    for (const dep of task['cross-depended-by'] ?? []) {
      crossIn[lookup(dep.name, task.id)]?.push({ source: t, role: dep.role });
    }
  });
  const appliedNodes = new Map<number, number[]>();
  const appliedNodesOf = (t: number): number[] => {
    let list = appliedNodes.get(t);
    if (!list) {
      list = nodesOf(t);
      appliedNodes.set(t, list);
    }
    return list;
  };

  // Instances.
  const pair = (t: number, i: number): number => t * N + i;
  const instanceOf = new Int32Array(T * N).fill(-1);
  const instPair: number[] = [];
  tasks.forEach((task, t) => {
    if (!executable(task)) return;
    for (const i of appliedNodesOf(t)) {
      instanceOf[pair(t, i)] = instPair.length;
      instPair.push(pair(t, i));
    }
  });

  /** Direct requirements of task t on node i, as (task, node) pairs. */
  const directRefs = (p: number): number[] => {
    const t = Math.floor(p / N);
    const i = p % N;
    const refs: number[] = [];
    for (const r of sameNode[t] ?? []) refs.push(pair(r, i));
    for (const { target, role } of crossOut[t] ?? []) {
      for (const m of matching(role, i)) refs.push(pair(target, m));
    }
    for (const { source, role } of crossIn[t] ?? []) {
      for (const n of appliedNodesOf(source)) {
        if (nodeMatches(role, n, i)) refs.push(pair(source, n));
      }
    }
    return refs;
  };

  // Instances that a virtual (task, node) pair stands for, memoised per pair.
  const resolved = new Map<number, number[]>();
  const visiting = new Set<number>();
  const cycleAt = (p: number): PlanError => {
    const name = tasks[Math.floor(p / N)]?.id ?? '?';
    return new PlanError(`dependency cycle through task '${name}' on node ${sortedNodes[p % N]?.id}`, name);
  };
  const resolveVirtual = (start: number): number[] => {
    const done = resolved.get(start);
    if (done) return done;
    interface Frame {
      pair: number;
      refs: number[];
      next: number;
      acc: Set<number>;
    }
    const stack: Frame[] = [{ pair: start, refs: directRefs(start), next: 0, acc: new Set() }];
    visiting.add(start);
    let result: number[] = [];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as Frame;
      if (frame.next >= frame.refs.length) {
        const list = [...frame.acc];
        resolved.set(frame.pair, list);
        visiting.delete(frame.pair);
        stack.pop();
        const parent = stack[stack.length - 1];
        if (parent) for (const k of list) parent.acc.add(k);
        else result = list;
        continue;
      }
      const ref = frame.refs[frame.next++] as number;
      const inst = instanceOf[ref] as number;
      if (inst >= 0) {
        frame.acc.add(inst);
        continue;
      }
      const memo = resolved.get(ref);
      if (memo) {
        for (const k of memo) frame.acc.add(k);
        continue;
      }
      if (visiting.has(ref)) throw cycleAt(ref);
      visiting.add(ref);
      stack.push({ pair: ref, refs: directRefs(ref), next: 0, acc: new Set() });
    }
    return result;
  };

  const requires: Set<number>[] = instPair.map((p, k) => {
    const set = new Set<number>();
    for (const ref of directRefs(p)) {
      const inst = instanceOf[ref] as number;
      if (inst >= 0) set.add(inst);
      else for (const r of resolveVirtual(ref)) set.add(r);
    }
    if (set.has(k)) throw cycleAt(p);
    return set;
  });

  // Strategies: instances of a task, ascending node id.
  tasks.forEach((task, t) => {
    const strategy = task.strategy;
    if (!strategy || !executable(task)) return;
    const chunk = strategy.type === 'one_by_one' ? 1 : (strategy.amount ?? 0);
    if (chunk <= 0) return;
    const own = appliedNodesOf(t).map((i) => instanceOf[pair(t, i)] as number);
    for (let start = chunk; start < own.length; start += chunk) {
      const previous = own.slice(start - chunk, start);
      for (const k of own.slice(start, start + chunk)) {
        const set = requires[k];
        if (set) for (const r of previous) set.add(r);
      }
    }
  });

  // Layers (Kahn), cycle detection at instance level.
  const count = instPair.length;
  const dependents: number[][] = instPair.map(() => []);
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
  if (placed < count) {
    // Walk requirements among the unplaced instances until one repeats: it lies on a cycle.
    let k = pending.findIndex((v) => v > 0);
    const seenOnWalk = new Set<number>();
    while (!seenOnWalk.has(k)) {
      seenOnWalk.add(k);
      const nextK = [...(requires[k] ?? [])].find((r) => (pending[r] as number) > 0);
      if (nextK === undefined) break;
      k = nextK;
    }
    throw cycleAt(instPair[k] as number);
  }

  const keyOf = instPair.map((p) => `${tasks[Math.floor(p / N)]?.id}@${sortedNodes[p % N]?.id}`);
  const instances: TaskInstance[] = instPair.map((p, k) => {
    const task = tasks[Math.floor(p / N)] as GraphTask;
    const node = sortedNodes[p % N] as PlanNode;
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
