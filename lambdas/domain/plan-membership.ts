/**
 * The planner's indexes: which nodes each task applies to (roles, groups, `*`, `self`), the task-level
 * edges of the graph, and the (task, node) pairs that become instances. Its error, `PlanError`, names the task.
 */
import { ANY_ROLE, executable, type GraphTask, SELF_ROLE } from './graph';

export interface PlanNode {
  id: number;
  roles: string[];
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

type TaskRoles = Set<string> | typeof ANY_ROLE;

interface OutgoingCross {
  target: number;
  role: string | string[];
}

interface IncomingCross {
  source: number;
  role: string | string[];
}

/** Task-level edges, by task index. */
export interface TaskEdges {
  /** Tasks that must finish on the same node before task t runs there. */
  sameNode: number[][];
  /** Tasks that task t waits for on the nodes its `role` names (cross-depends). */
  crossOut: OutgoingCross[][];
  /** Tasks whose instances task t waits for on the nodes their `role` names (cross-depended-by). */
  crossIn: IncomingCross[][];
}

/** The instances: (task, node) pairs encoded as `t * N + i`, with N the number of nodes. */
export interface Instances {
  /** Instance index per pair; -1 for a virtual pair. */
  instanceOf: Int32Array;
  /** Pair per instance index, in task then node order. */
  instPair: number[];
}

/** The nodes by ascending id; a repeated id is an error. */
export function sortedUniqueNodes(nodes: PlanNode[]): PlanNode[] {
  const sorted = [...nodes].sort((a, b) => a.id - b.id);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.id === sorted[i - 1]?.id) {
      throw new PlanError(`node ${sorted[i]?.id} appears more than once`, null);
    }
  }
  return sorted;
}

/** Task index by task id; a repeated id is an error. */
export function indexTasks(tasks: GraphTask[]): Map<string, number> {
  const taskIndex = new Map<string, number>();
  tasks.forEach((task, t) => {
    if (taskIndex.has(task.id)) throw new PlanError(`task '${task.id}' is defined more than once`, task.id);
    taskIndex.set(task.id, t);
  });
  return taskIndex;
}

/** The roles a task applies to: every role ('*'), or its roles and groups together. */
export function taskRoleSet(task: GraphTask): TaskRoles {
  const roles = task.roles;
  const groups = task.groups ?? [];
  if (roles === ANY_ROLE || roles?.includes(ANY_ROLE) || groups.includes(ANY_ROLE)) return ANY_ROLE;
  return new Set([...(roles ?? []), ...groups]);
}

/** A node's membership: its own roles plus the group tasks whose roles it matches. */
export function nodeRoleSet(node: PlanNode, tasks: GraphTask[], taskRoles: TaskRoles[]): Set<string> {
  const own = new Set(node.roles);
  const all = new Set(own);
  tasks.forEach((task, t) => {
    if (task.type !== 'group') return;
    const roles = taskRoles[t];
    if (roles === ANY_ROLE || (roles !== undefined && [...own].some((r) => roles.has(r)))) all.add(task.id);
  });
  return all;
}

/** Which nodes (by index in the sorted nodes) each task applies to, and which nodes a role names. */
export class Membership {
  private readonly taskRoles: TaskRoles[];
  private readonly nodeRoles: Set<string>[];
  private readonly nodesByRole = new Map<string, number[]>();
  private readonly allNodes: number[];
  private readonly applied = new Map<number, number[]>();

  constructor(tasks: GraphTask[], nodes: PlanNode[]) {
    this.taskRoles = tasks.map(taskRoleSet);
    this.nodeRoles = nodes.map((node) => nodeRoleSet(node, tasks, this.taskRoles));
    this.nodeRoles.forEach((roles, i) => {
      for (const role of roles) {
        const list = this.nodesByRole.get(role);
        if (list) list.push(i);
        else this.nodesByRole.set(role, [i]);
      }
    });
    this.allNodes = nodes.map((_, i) => i);
  }

  /** The nodes task t applies to, ascending, memoised per task. */
  appliedNodesOf(t: number): number[] {
    let list = this.applied.get(t);
    if (!list) {
      list = this.allNodes.filter((i) => this.appliesTo(t, i));
      this.applied.set(t, list);
    }
    return list;
  }

  /** Whether task t applies to node i. */
  private appliesTo(t: number, i: number): boolean {
    const roles = this.taskRoles[t];
    if (roles === ANY_ROLE) return true;
    if (roles === undefined) return false;
    const mine = this.nodeRoles[i];
    if (mine === undefined) return false;
    for (const role of roles) if (mine.has(role)) return true;
    return false;
  }

  /** The nodes that `role` names, read from the point of view of node `self`. */
  matching(role: string | string[], self: number): number[] {
    const roles = typeof role === 'string' ? [role] : role;
    if (roles.includes(ANY_ROLE)) return this.allNodes;
    const found = new Set<number>();
    for (const r of roles) {
      if (r === SELF_ROLE) found.add(self);
      else for (const i of this.nodesByRole.get(r) ?? []) found.add(i);
    }
    return [...found];
  }

  /** Whether node i has `role`, read from the point of view of node `self`. */
  nodeMatches(role: string | string[], self: number, i: number): boolean {
    const mine = this.nodeRoles[i];
    for (const r of typeof role === 'string' ? [role] : role) {
      if (r === ANY_ROLE || (r === SELF_ROLE && self === i) || mine?.has(r)) return true;
    }
    return false;
  }
}

/** Task-level edges from requires/required_for and the cross-dependencies; an unknown name is an error. */
export function taskEdges(tasks: GraphTask[], taskIndex: Map<string, number>): TaskEdges {
  const lookup = (name: string, by: string): number => {
    const t = taskIndex.get(name);
    if (t === undefined) throw new PlanError(`task '${by}' refers to unknown task '${name}'`, by);
    return t;
  };
  const sameNode: number[][] = tasks.map(() => []);
  const crossOut: OutgoingCross[][] = tasks.map(() => []);
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
  return { sameNode, crossOut, crossIn };
}

/** One instance per executable task on each node it applies to, in task then node order. */
export function placeInstances(tasks: GraphTask[], membership: Membership, N: number): Instances {
  const instanceOf = new Int32Array(tasks.length * N).fill(-1);
  const instPair: number[] = [];
  tasks.forEach((task, t) => {
    if (!executable(task)) return;
    for (const i of membership.appliedNodesOf(t)) {
      instanceOf[t * N + i] = instPair.length;
      instPair.push(t * N + i);
    }
  });
  return { instanceOf, instPair };
}
