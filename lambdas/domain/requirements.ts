/**
 * A history row's requirements, kept per task rather than per entry, so that a row stays small however
 * many nodes the cluster has (a controller task that cross-depends on a task of 950 computes names one
 * requirement, not 950):
 * - `task@3`, `task@master`, `task@sync`: one entry;
 * - `task@*`: every entry of the task;
 * - `task@#2`: the entries of the task on the targets of the plan's target set 2 (stored with the plan, in
 *   bounded chunks, once per distinct set: the sets come from roles, so a plan has few).
 * The plan (plan.ts) lists each entry's requirements as keys; `compactRequirements` writes them so.
 */
import { everyEntryOf, taskOfEveryEntry } from './stage.js';
import { MASTER_NODE, SYNC_NODE } from './targets.js';

/** A requirement on this many entries of a task or fewer is kept as their keys. */
export const EXPLICIT_REQUIREMENTS = 4;

/** Target sets of a plan, by id: the node ids (and master / sync targets) of each. */
export type TargetSets = ReadonlyMap<number, ReadonlySet<number>>;

export const NO_TARGET_SETS: TargetSets = new Map();

/** The distinct target sets a plan's requirements name, numbered in the order first met. */
export class TargetSetRegistry {
  private readonly ids = new Map<string, number>();
  readonly sets: number[][] = [];

  /** The id of the set of these targets (ascending, no duplicates). */
  idOf(targets: number[]): number {
    const name = targets.join(',');
    const known = this.ids.get(name);
    if (known !== undefined) return known;
    const id = this.sets.length;
    this.ids.set(name, id);
    this.sets.push(targets);
    return id;
  }

  asMap(): TargetSets {
    return new Map(this.sets.map((targets, id) => [id, new Set(targets)]));
  }
}

/** The target of a key's last part (`3`, `master`, `sync`); null when it names no single target. */
function targetOfPart(part: string): number | null {
  if (part === 'master') return MASTER_NODE;
  if (part === 'sync') return SYNC_NODE;
  return /^\d+$/.test(part) ? Number(part) : null;
}

/** A requirement's task and what it names of it: every entry, a target set, or one target. */
export function parseRequirement(
  key: string,
): { task: string; every: true } | { task: string; set: number } | { task: string; target: number } | null {
  const at = key.lastIndexOf('@');
  if (at < 0) return null;
  const task = key.slice(0, at);
  const part = key.slice(at + 1);
  if (part === '*') return { task, every: true };
  if (part.startsWith('#') && /^#\d+$/.test(part)) return { task, set: Number(part.slice(1)) };
  const target = targetOfPart(part);
  return target === null ? null : { task, target };
}

/** Whether a requirement names a target set (`task@#n`). */
export function namesTargetSet(key: string): boolean {
  return /@#\d+$/.test(key);
}

/** The requirement on the entries of `task` on the targets of set `id`. */
export function entriesInSet(task: string, id: number): string {
  return `${task}@#${id}`;
}

/**
 * Whether the entry of `task` on `target` is one the requirement names (sets missing from `sets` name
 * nothing).
 */
export function requirementNames(key: string, task: string, target: number, sets: TargetSets): boolean {
  const requirement = parseRequirement(key);
  if (requirement === null || requirement.task !== task) return false;
  if ('every' in requirement) return true;
  if ('set' in requirement) return sets.get(requirement.set)?.has(target) ?? false;
  return requirement.target === target;
}

/**
 * An entry's requirement keys (`task@target`, `task@*`) per task: every entry of a task as `task@*`, a few
 * as their keys, more as a target set registered in `sets`. Sorted.
 */
export function compactRequirements(
  keys: readonly string[],
  targetsOfTask: ReadonlyMap<string, number>,
  sets: TargetSetRegistry,
): string[] {
  const kept: string[] = [];
  const byTask = new Map<string, { keys: string[]; targets: number[] }>();
  for (const key of keys) {
    const requirement = taskOfEveryEntry(key) === null ? parseRequirement(key) : null;
    if (requirement === null || !('target' in requirement)) {
      kept.push(key);
      continue;
    }
    const group = byTask.get(requirement.task) ?? { keys: [], targets: [] };
    group.keys.push(key);
    group.targets.push(requirement.target);
    byTask.set(requirement.task, group);
  }
  for (const [task, group] of byTask) {
    const targets = [...new Set(group.targets)].sort((a, b) => a - b);
    if (targets.length > 1 && targets.length === targetsOfTask.get(task)) kept.push(everyEntryOf(task));
    else if (targets.length <= EXPLICIT_REQUIREMENTS) kept.push(...group.keys);
    else kept.push(entriesInSet(task, sets.idOf(targets)));
  }
  return [...new Set(kept)].sort();
}
