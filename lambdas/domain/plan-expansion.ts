/**
 * Expansion of a graph onto its targets, as Nailgun 9.0's `TransactionSerializer` does it: which tasks land
 * on which node (roles resolved by `RoleResolver`, names by `NameMatchingPolicy`), group members, stages on
 * the sync node, and the direct relations between the resulting entries. A task that lands nowhere has no
 * entry and orders nothing; a skipped entry stays and passes its own requirements on.
 */
import {
  ANY_ROLE,
  type CrossDependency,
  type GraphTask,
  isPattern,
  MASTER_ROLE,
  nameMatcher,
  ownRoles,
  RELEASE_ROLES,
  type RoleSpec,
  roleList,
  runnable,
  SELF_ROLE,
} from './graph.js';
import { MASTER_NODE, SYNC_NODE, targetLabel } from './targets.js';

export interface PlanNode {
  id: number;
  /** Nailgun's `all_roles`: an elected primary shows `primary-controller` instead of `controller`. */
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

/** Whether a task runs on a target, as its condition says. */
export type ConditionVerdict = { run: true } | { run: false; reason: string } | { error: string };
export type ConditionOf = (task: GraphTask, target: number) => ConditionVerdict;

/** Why an entry runs nothing. */
export type NoopKind = 'stage' | 'skipped' | 'condition';

export interface Entry {
  task: GraphTask;
  target: number;
  /** null: it runs; else why it does not. */
  noop: { kind: NoopKind; reason: string } | null;
  /** Entries (indices) that must end before this one starts. */
  requires: Set<number>;
}

/** Nailgun's `RoleResolver` over the deployed nodes: role references to target ids. */
export class RoleResolver {
  private readonly byRole = new Map<string, number[]>();
  private readonly all: number[];

  constructor(
    nodes: PlanNode[],
    private readonly groupRoles: Map<string, string[]>,
  ) {
    for (const node of nodes) {
      for (const role of new Set(node.roles)) {
        const list = this.byRole.get(role);
        if (list) list.push(node.id);
        else this.byRole.set(role, [node.id]);
      }
    }
    this.all = nodes.filter((n) => n.roles.length > 0).map((n) => n.id);
  }

  /** The targets a reference names, ascending; `any` keeps the first (lowest id). */
  resolve(spec: RoleSpec | null | undefined, policy: 'all' | 'any' = 'all'): number[] {
    const found = new Set<number>();
    for (const role of roleList(spec)) for (const id of this.resolveOne(role)) found.add(id);
    const ids = [...found].sort((a, b) => a - b);
    return policy === 'any' ? ids.slice(0, 1) : ids;
  }

  /** The targets of one role; a group's id stands for its roles (`seen` guards against groups naming each other). */
  private resolveOne(role: string, seen: Set<string> = new Set()): number[] {
    if (role === ANY_ROLE) return this.all;
    if (role === MASTER_ROLE) return [MASTER_NODE];
    if (isPattern(role)) {
      const matches = nameMatcher(role);
      return [...this.byRole.entries()].filter(([r]) => matches(r)).flatMap(([, ids]) => ids);
    }
    const viaGroup = RELEASE_ROLES.includes(role) || seen.has(role) ? undefined : this.groupRoles.get(role);
    if (viaGroup) {
      seen.add(role);
      return viaGroup.flatMap((r) => this.resolveOne(r, seen));
    }
    return this.byRole.get(role) ?? [];
  }
}

/** The roles of each group task, so that `groups: [<group id>]` names the group's nodes. */
function groupRolesOf(tasks: GraphTask[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const task of tasks) {
    if (task.type === 'group')
      map.set(
        task.id,
        roleList(ownRoles(task)).filter((r) => r !== task.id),
      );
  }
  return map;
}

/** The entries of a graph: one per (target, task id), in Nailgun's order of expansion. */
export class Expansion {
  readonly entries: Entry[] = [];
  /** Entry index by target, then task id. */
  private readonly byTarget = new Map<number, Map<string, number>>();
  readonly resolver: RoleResolver;

  constructor(
    readonly tasks: GraphTask[],
    nodes: PlanNode[],
    private readonly conditionOf: ConditionOf,
    /** The tasks selected to run (`deploy_tasks`); the others run nothing. null: every task. */
    private readonly selected: ReadonlySet<string> | null = null,
  ) {
    this.resolver = new RoleResolver(nodes, groupRolesOf(tasks));
    const byId = new Map(tasks.map((t) => [t.id, t]));
    for (const task of tasks) {
      if (task.type === 'group') continue;
      const targets = task.type === 'stage' ? [SYNC_NODE] : this.resolver.resolve(ownRoles(task));
      for (const target of targets) this.add(task, target);
    }
    for (const group of tasks) {
      if (group.type !== 'group') continue;
      const targets = this.resolver.resolve(ownRoles(group));
      for (const id of group.tasks ?? []) {
        const member = byId.get(id);
        if (!member) throw new PlanError(`group '${group.id}' lists unknown task '${id}'`, group.id);
        for (const target of targets) this.add(member, target);
      }
    }
  }

  /** The entry of a task on a target, unless one exists (a later one replaces a skipped one of another type). */
  private add(task: GraphTask, target: number): void {
    const onTarget = this.byTarget.get(target) ?? new Map<string, number>();
    this.byTarget.set(target, onTarget);
    const noop = this.noopOf(task, target);
    const existing = onTarget.get(task.id);
    if (existing !== undefined) {
      const old = this.entries[existing] as Entry;
      if (old.task.type === task.type || task.type === 'skipped') return;
      this.entries[existing] = { task, target, noop, requires: new Set() };
      return;
    }
    onTarget.set(task.id, this.entries.length);
    this.entries.push({ task, target, noop, requires: new Set() });
  }

  private noopOf(task: GraphTask, target: number): Entry['noop'] {
    if (task.type === 'stage')
      return { kind: 'stage', reason: 'stage: nothing runs, it orders the deployment' };
    if (!runnable(task)) return { kind: 'skipped', reason: `type ${task.type}: nothing runs` };
    if (this.selected !== null && !this.selected.has(task.id))
      return { kind: 'skipped', reason: 'not among the tasks selected to run' };
    const verdict = this.conditionOf(task, target);
    if ('error' in verdict) {
      throw new PlanError(
        `task '${task.id}' on ${targetLabel(target)}: its condition cannot be evaluated: ${verdict.error}`,
        task.id,
      );
    }
    return verdict.run ? null : { kind: 'condition', reason: verdict.reason };
  }

  /** The entries whose task id `name` matches on these targets, except the excluded one. */
  matching(name: string, targets: number[], exclude: number | null = null): number[] {
    const matches = nameMatcher(name);
    const found: number[] = [];
    for (const target of targets) {
      const onTarget = this.byTarget.get(target);
      if (!onTarget) continue;
      if (!isPattern(name)) {
        const k = onTarget.get(name);
        if (k !== undefined && k !== exclude) found.push(k);
        continue;
      }
      for (const [id, k] of onTarget) if (k !== exclude && matches(id)) found.push(k);
    }
    return found;
  }

  /** Nailgun's `resolve_dependencies`: requires and cross-depends, and their reverse forms, as direct edges. */
  link(extraRequiredFor: Map<string, string[]>): void {
    this.entries.forEach((entry, k) => {
      const same = entry.target === SYNC_NODE ? [SYNC_NODE] : [entry.target, SYNC_NODE];
      for (const name of entry.task.requires ?? [])
        for (const r of this.matching(name, same)) this.edge(r, k);
      const after = [...(entry.task.required_for ?? []), ...(extraRequiredFor.get(entry.task.id) ?? [])];
      for (const name of after) for (const d of this.matching(name, same)) this.edge(k, d);
      for (const dep of entry.task['cross-depends'] ?? []) {
        for (const r of this.matching(dep.name, this.crossTargets(dep, entry.target), k)) this.edge(r, k);
      }
      for (const dep of entry.task['cross-depended-by'] ?? []) {
        for (const d of this.matching(dep.name, this.crossTargets(dep, entry.target), k)) this.edge(k, d);
      }
    });
  }

  /** The targets a cross-dependency searches: any node when it names no role, the sync node for `null`. */
  private crossTargets(dep: CrossDependency, self: number): number[] {
    if (dep.role === undefined) return this.resolver.resolve(ANY_ROLE);
    if (dep.role === null) return [SYNC_NODE];
    if (dep.role === SELF_ROLE) return [self];
    return this.resolver.resolve(dep.role, dep.policy ?? 'all');
  }

  /** `before` must end before `after` starts. */
  private edge(before: number, after: number): void {
    if (before !== after) this.entries[after]?.requires.add(before);
  }
}
