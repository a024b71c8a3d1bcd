/**
 * The deployment graph upload format (Fuel 9 deployment tasks) and its validation.
 * `PUT /api/clusters/{id}/deployment_tasks/` receives a JSON array of these tasks and keeps it as uploaded:
 * `GET` returns what was `PUT`, unknown keys included. How the planner reads each field is in graph-read.ts.
 */
import { z } from 'zod';
import { checkCondition } from './conditions.js';

/** Nailgun's `ORCHESTRATOR_TASK_TYPES`, less `role` (which Nailgun's task serializer cannot run either). */
export const TASK_TYPES = [
  'puppet',
  'shell',
  'sync',
  'upload_file',
  'copy_files',
  'reboot',
  'group',
  'stage',
  'skipped',
] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/** The types that run nothing: they group, order or stand for a task. */
const NON_RUNNING_TYPES: readonly TaskType[] = ['group', 'stage', 'skipped'];

/** The types that run something on a node. */
export const RUNNABLE_TYPES: readonly TaskType[] = TASK_TYPES.filter((t) => !NON_RUNNING_TYPES.includes(t));

/** A role reference: one name, a list, `'*'`, `'master'`, `'self'` (cross-dependencies) or a `/regex/`. */
export type RoleSpec = string | string[];

export interface CrossDependency {
  /** A task id, or a `/regex/` over task ids. */
  name: string;
  /** Absent: any node; `null`: the sync node (stages); `self`: the same node. */
  role?: RoleSpec | null;
  /** `any`: one matching node suffices. */
  policy?: 'all' | 'any';
}

export interface Strategy {
  type: 'one_by_one' | 'parallel';
  amount?: number;
}

export interface TaskParameters {
  cmd?: string;
  puppet_manifest?: string;
  puppet_modules?: string;
  cwd?: string;
  timeout?: number;
  retries?: number;
  interval?: number;
  src?: string;
  dst?: string;
  path?: string;
  data?: string | { yaql_exp: string };
  permissions?: string;
  dir_permissions?: string;
  files?: { src: string; dst: string; permissions?: string; dir_permissions?: string }[];
  strategy?: Strategy;
  [k: string]: unknown;
}

export interface GraphTask {
  id: string;
  type: TaskType;
  roles?: RoleSpec;
  /** Nailgun's alias of `roles`. */
  role?: RoleSpec;
  groups?: RoleSpec;
  requires?: string[];
  required_for?: string[];
  'cross-depends'?: CrossDependency[];
  'cross-depended-by'?: CrossDependency[];
  /** A group's member tasks. */
  tasks?: string[];
  parameters?: TaskParameters;
  /** Read when `parameters.strategy` is absent. */
  strategy?: Strategy;
  condition?: string | { yaql_exp: string };
  fault_tolerance?: number | string;
  fail_on_error?: boolean;
  version?: string;
  [k: string]: unknown;
}

export interface GraphProblem {
  /** The offending task's id, or null when the element has no usable id. */
  task: string | null;
  /** Path of the offending field, e.g. `parameters.timeout` or `cross-depends[0].name`. */
  field: string;
  /** Human-readable, names the task. */
  message: string;
}

export type GraphValidation =
  | { ok: true; tasks: GraphTask[]; warnings: GraphProblem[] }
  | { ok: false; problems: GraphProblem[] };

/** Roles of the Fuel 9 release (their metadata: domain/release.ts, one entry per name, checked by its type). */
const RELEASE_ROLE_NAMES = [
  'controller',
  'primary-controller',
  'compute',
  'ceph-osd',
  'cinder',
  'cinder-block-device',
  'cinder-vmware',
  'compute-vmware',
  'mongo',
  'primary-mongo',
  'base-os',
  'ironic',
  'virt',
] as const;
export type ReleaseRole = (typeof RELEASE_ROLE_NAMES)[number];
export const RELEASE_ROLES: readonly string[] = RELEASE_ROLE_NAMES;

export const MAX_GRAPH_TASKS = 1000;
export const DEFAULT_TASK_TIMEOUT_S = 300;
/** One attempt of a task may run a day at most. */
export const MAX_TASK_TIMEOUT_S = 86_400;
export const MAX_TASK_RETRIES = 10;

/** Role names that stand for "every node", "the node itself" and "Fuel's master node". */
export const ANY_ROLE = '*';
export const SELF_ROLE = 'self';
export const MASTER_ROLE = 'master';

/** A `/regex/` name, as Nailgun's `NameMatchingPolicy` reads it. */
export function isPattern(name: string): boolean {
  return name.length >= 2 && name.startsWith('/') && name.endsWith('/');
}

const nonEmpty = z.string().min(1, 'must be a non-empty string');
const roleSpec = z.union([nonEmpty, z.array(nonEmpty)]);
const crossDependency = z.looseObject({
  name: nonEmpty,
  role: roleSpec.nullable().optional(),
  policy: z.enum(['all', 'any']).optional(),
});
const strategySchema = z.looseObject({
  type: z.enum(['one_by_one', 'parallel']),
  amount: z.number().int().positive().optional(),
});
const yaqlValue = z.looseObject({ yaql_exp: nonEmpty });
const copiedFile = z.looseObject({
  src: nonEmpty,
  dst: nonEmpty,
  permissions: z.string().optional(),
  dir_permissions: z.string().optional(),
});

const parametersSchema = z.looseObject({
  cmd: z.string().optional(),
  puppet_manifest: z.string().optional(),
  puppet_modules: z.string().optional(),
  cwd: z.string().optional(),
  timeout: z
    .number()
    .int()
    .positive()
    .max(MAX_TASK_TIMEOUT_S, `must be at most ${MAX_TASK_TIMEOUT_S} seconds`)
    .optional(),
  retries: z.number().int().min(0).max(MAX_TASK_RETRIES).optional(),
  interval: z.number().min(0).max(3600, 'must be at most 3600 seconds').optional(),
  src: z.string().optional(),
  dst: z.string().optional(),
  path: z.string().optional(),
  data: z.union([z.string(), yaqlValue]).optional(),
  permissions: z.string().optional(),
  dir_permissions: z.string().optional(),
  files: z.array(copiedFile).optional(),
  strategy: strategySchema.optional(),
});

const taskSchema = z.looseObject({
  id: nonEmpty,
  type: z.enum(TASK_TYPES),
  roles: roleSpec.optional(),
  role: roleSpec.optional(),
  groups: roleSpec.optional(),
  requires: z.array(nonEmpty).optional(),
  required_for: z.array(nonEmpty).optional(),
  'cross-depends': z.array(crossDependency).optional(),
  'cross-depended-by': z.array(crossDependency).optional(),
  tasks: z.array(nonEmpty).optional(),
  parameters: parametersSchema.optional(),
  strategy: strategySchema.optional(),
  condition: z.union([z.string(), yaqlValue]).optional(),
  fault_tolerance: z
    .union([z.number(), z.string().regex(/^-?\d+%?$/, 'must be a number or "N%"')])
    .optional(),
  fail_on_error: z.boolean().optional(),
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, 'must be a version such as 2.0.0')
    .optional(),
});

/** Whether a task runs something on a node (as opposed to a group, stage or skipped task). */
export function runnable(task: Pick<GraphTask, 'type'>): boolean {
  return RUNNABLE_TYPES.includes(task.type);
}

/** A task that runs a command on its nodes. Kept for callers that only ask "does it run?". */
export function executable(task: GraphTask): boolean {
  return runnable(task) && missingParameter(task) === null;
}

/** The list form of a role reference. */
export function roleList(spec: RoleSpec | null | undefined): string[] {
  if (spec === undefined || spec === null) return [];
  return typeof spec === 'string' ? [spec] : spec;
}

/** The roles a task names for its own nodes: `roles`, else its alias `role`, else `groups` (Nailgun's order). */
export function ownRoles(task: GraphTask): RoleSpec | undefined {
  return task.roles ?? task.role ?? task.groups;
}

/** Every concrete role named by some task's roles, role or groups, sorted. */
export function graphRoles(tasks: GraphTask[]): string[] {
  const roles = new Set<string>();
  for (const task of tasks) {
    for (const spec of [task.roles, task.role, task.groups]) {
      for (const role of roleList(spec)) {
        if (role !== ANY_ROLE && role !== SELF_ROLE && role !== MASTER_ROLE && !isPattern(role))
          roles.add(role);
      }
    }
  }
  return [...roles].sort();
}

/** The parameter a runnable task cannot run without, or null. */
export function missingParameter(task: GraphTask): string | null {
  const p = task.parameters ?? {};
  const blank = (v: unknown): boolean => typeof v !== 'string' || v.trim() === '';
  switch (task.type) {
    case 'shell':
      return blank(p.cmd) ? 'parameters.cmd' : null;
    case 'puppet':
      return blank(p.puppet_manifest) && blank(p.cmd) ? 'parameters.puppet_manifest' : null;
    case 'sync':
      return blank(p.src) ? 'parameters.src' : blank(p.dst) ? 'parameters.dst' : null;
    case 'upload_file':
      return blank(p.path) ? 'parameters.path' : p.data === undefined ? 'parameters.data' : null;
    case 'copy_files':
      return (p.files ?? []).length === 0 ? 'parameters.files' : null;
    default:
      return null;
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(task)' : out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function taskLabel(id: string | null, index: number): string {
  return id === null ? `task #${index}` : `task '${id}'`;
}

const DEPENDENCY_FIELDS = ['requires', 'required_for'] as const;
const CROSS_FIELDS = ['cross-depends', 'cross-depended-by'] as const;

/** Task ids that a name matches: itself, or every id its `/regex/` matches from the start (Python's re.match). */
export function nameMatcher(name: string): (id: string) => boolean {
  if (!isPattern(name)) return (id) => id === name;
  const pattern = new RegExp(`^(?:${name.slice(1, -1)})`);
  return (id) => pattern.test(id);
}

/** The message for a `/regex/` that does not compile, or null. */
function patternProblem(name: string): string | null {
  if (!isPattern(name)) return null;
  try {
    new RegExp(name.slice(1, -1));
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Validates an uploaded graph and reports every problem found, each naming its task: shape, duplicate ids,
 * unknown or self dependencies, unknown roles, bad patterns and conditions, parameters a type cannot run
 * without, and dependency cycles over requires/required_for. Cross-dependencies that match no task are
 * accepted, as Nailgun accepts them (they order nothing), and returned as warnings.
 */
export function validateGraph(input: unknown): GraphValidation {
  if (!Array.isArray(input)) return rejected('the graph must be a JSON array of tasks');
  if (input.length > MAX_GRAPH_TASKS) {
    return rejected(`the graph has ${input.length} tasks, more than the limit of ${MAX_GRAPH_TASKS}`);
  }
  const { tasks, knownIds, problems } = parseTasks(input);
  const warnings: GraphProblem[] = [];
  const groupIds = new Set(tasks.filter((t) => t.type === 'group').map((t) => t.id));
  const roleKnown = (role: string): boolean =>
    role === ANY_ROLE ||
    role === SELF_ROLE ||
    role === MASTER_ROLE ||
    isPattern(role) ||
    RELEASE_ROLES.includes(role) ||
    groupIds.has(role);
  for (const task of tasks) {
    dependencyProblems(task, knownIds, problems);
    crossDependencyProblems(task, [...knownIds], roleKnown, problems, warnings);
    roleProblems(task, roleKnown, problems);
    parameterProblems(task, problems);
    conditionProblems(task, problems);
    groupProblems(task, knownIds, groupIds, problems);
  }
  problems.push(...findCycles(tasks));
  return problems.length === 0 ? { ok: true, tasks, warnings } : { ok: false, problems };
}

/** The answer for a graph rejected as a whole, with one problem about the graph itself. */
function rejected(message: string): GraphValidation {
  return { ok: false, problems: [{ task: null, field: '(graph)', message }] };
}

interface ParsedTasks {
  /** The elements that match the task schema, in upload order. */
  tasks: GraphTask[];
  /** Every id that appears, even on a malformed task, so that its dependents are not reported twice. */
  knownIds: Set<string>;
  /** Non-objects, duplicate ids and schema violations, in upload order. */
  problems: GraphProblem[];
}

/** Checks each element against the task schema and for a duplicate id. */
function parseTasks(input: unknown[]): ParsedTasks {
  const problems: GraphProblem[] = [];
  const tasks: GraphTask[] = [];
  const knownIds = new Set<string>();
  input.forEach((element: unknown, index) => {
    if (!isRecord(element)) {
      problems.push({ task: null, field: '(task)', message: `task #${index} is not an object` });
      return;
    }
    const rawId = typeof element.id === 'string' && element.id !== '' ? element.id : null;
    if (rawId !== null) {
      if (knownIds.has(rawId)) {
        problems.push({ task: rawId, field: 'id', message: `task '${rawId}' is defined more than once` });
      }
      knownIds.add(rawId);
    }
    const parsed = taskSchema.safeParse(element);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const field = fieldPath(issue.path);
        problems.push({
          task: rawId,
          field,
          message: `${taskLabel(rawId, index)}: ${field}: ${issue.message}`,
        });
      }
      return;
    }
    // what was uploaded is kept as it was: the schema only checks it
    tasks.push(element as GraphTask);
  });
  return { tasks, knownIds, problems };
}

/** Self, unknown and malformed targets in requires/required_for. */
function dependencyProblems(task: GraphTask, knownIds: Set<string>, problems: GraphProblem[]): void {
  const id = task.id;
  for (const field of DEPENDENCY_FIELDS) {
    for (const target of task[field] ?? []) {
      const bad = patternProblem(target);
      if (bad !== null) {
        problems.push({
          task: id,
          field,
          message: `task '${id}' has an invalid pattern ${target} in ${field}: ${bad}`,
        });
      } else if (target === id) {
        problems.push({ task: id, field, message: `task '${id}' depends on itself in ${field}` });
      } else if (!isPattern(target) && !knownIds.has(target)) {
        const verb = field === 'requires' ? 'requires' : 'is required for';
        problems.push({ task: id, field, message: `task '${id}' ${verb} unknown task '${target}'` });
      }
    }
  }
}

/** Self targets, bad patterns and unknown roles in cross-depends/cross-depended-by; names matching nothing warn. */
function crossDependencyProblems(
  task: GraphTask,
  ids: string[],
  roleKnown: (role: string) => boolean,
  problems: GraphProblem[],
  warnings: GraphProblem[],
): void {
  const id = task.id;
  for (const field of CROSS_FIELDS) {
    (task[field] ?? []).forEach((dep, i) => {
      const at = `${field}[${i}]`;
      const bad = patternProblem(dep.name);
      if (bad !== null) {
        problems.push({
          task: id,
          field: `${at}.name`,
          message: `task '${id}' has an invalid pattern ${dep.name} in ${field}: ${bad}`,
        });
      } else if (dep.name === id && dep.role === SELF_ROLE) {
        problems.push({
          task: id,
          field: `${at}.name`,
          message: `task '${id}' depends on itself in ${field}`,
        });
      } else if (!ids.some(nameMatcher(dep.name))) {
        warnings.push({
          task: id,
          field: `${at}.name`,
          message: `task '${id}' has ${field} on '${dep.name}', which matches no task: it orders nothing`,
        });
      }
      for (const role of roleList(dep.role)) {
        if (!roleKnown(role)) {
          problems.push({
            task: id,
            field: `${at}.role`,
            message: `task '${id}' names unknown role '${role}' in ${field}`,
          });
        } else if (patternProblem(role) !== null) {
          problems.push({
            task: id,
            field: `${at}.role`,
            message: `task '${id}' has an invalid role pattern ${role} in ${field}`,
          });
        }
      }
    });
  }
}

/** Unknown roles and bad patterns in roles/role/groups. */
function roleProblems(task: GraphTask, roleKnown: (role: string) => boolean, problems: GraphProblem[]): void {
  const id = task.id;
  for (const field of ['roles', 'role', 'groups'] as const) {
    for (const role of roleList(task[field])) {
      const bad = patternProblem(role);
      if (bad !== null) {
        problems.push({
          task: id,
          field,
          message: `task '${id}' has an invalid role pattern ${role} in ${field}: ${bad}`,
        });
      } else if (!roleKnown(role) || role === SELF_ROLE) {
        problems.push({ task: id, field, message: `task '${id}' names unknown role '${role}' in ${field}` });
      }
    }
  }
}

/** A runnable task without what its type needs to run, or with a path it may not use. */
function parameterProblems(task: GraphTask, problems: GraphProblem[]): void {
  if (!runnable(task)) return;
  const field = missingParameter(task);
  if (field !== null) {
    problems.push({
      task: task.id,
      field,
      message: `task '${task.id}' of type ${task.type} has no ${field}`,
    });
  }
  for (const [at, path] of filePaths(task)) {
    if (!path.startsWith('/') || path.split('/').includes('..') || /[\0\n\r]/.test(path)) {
      problems.push({
        task: task.id,
        field: at,
        message: `task '${task.id}': ${at} must be an absolute path without '..' (got ${JSON.stringify(path)})`,
      });
    }
  }
}

/** The file paths a task names: where upload_file writes, what copy_files reads on the master and writes. */
function filePaths(task: GraphTask): [string, string][] {
  const p = task.parameters ?? {};
  if (task.type === 'upload_file' && typeof p.path === 'string' && p.path.trim() !== '') {
    return [['parameters.path', p.path]];
  }
  if (task.type !== 'copy_files') return [];
  return (p.files ?? []).flatMap((f, i): [string, string][] => [
    [`parameters.files[${i}].src`, f.src],
    [`parameters.files[${i}].dst`, f.dst],
  ]);
}

/** A condition that Nailgun 9.0 could not evaluate. */
function conditionProblems(task: GraphTask, problems: GraphProblem[]): void {
  if (task.condition === undefined) return;
  let bad: string | null;
  try {
    bad = checkCondition(task.condition);
  } catch (error) {
    // a parser's stack ends before an expression nested thousands deep does
    if (!(error instanceof RangeError)) throw error;
    bad = 'it is nested too deeply';
  }
  if (bad !== null) {
    problems.push({
      task: task.id,
      field: 'condition',
      message: `task '${task.id}' has a condition that cannot be evaluated: ${bad}`,
    });
  }
}

/** A group's member that is not a task of the graph (Nailgun: "Task X cannot be resolved"). */
function groupProblems(
  task: GraphTask,
  knownIds: Set<string>,
  groupIds: Set<string>,
  problems: GraphProblem[],
): void {
  if (task.tasks === undefined) return;
  if (task.type !== 'group') {
    problems.push({
      task: task.id,
      field: 'tasks',
      message: `task '${task.id}' lists tasks but is not a group`,
    });
    return;
  }
  task.tasks.forEach((member, i) => {
    if (!knownIds.has(member)) {
      problems.push({
        task: task.id,
        field: `tasks[${i}]`,
        message: `group '${task.id}' lists unknown task '${member}'`,
      });
    } else if (groupIds.has(member)) {
      problems.push({
        task: task.id,
        field: `tasks[${i}]`,
        message: `group '${task.id}' lists group '${member}': a group's members are tasks that run`,
      });
    }
  });
}

/** Cycles over requires/required_for (exact names), one problem per cycle found by a depth-first walk. */
function findCycles(tasks: GraphTask[]): GraphProblem[] {
  const index = new Map<string, number>();
  tasks.forEach((t, i) => {
    if (!index.has(t.id)) index.set(t.id, i);
  });
  // Edge u -> v: u must run before v. Groups are not part of the graph Astute runs.
  const next: number[][] = tasks.map(() => []);
  tasks.forEach((task, i) => {
    if (task.type === 'group') return;
    for (const name of task.requires ?? []) {
      const j = index.get(name);
      if (j !== undefined && j !== i && tasks[j]?.type !== 'group') next[j]?.push(i);
    }
    for (const name of task.required_for ?? []) {
      const j = index.get(name);
      if (j !== undefined && j !== i && tasks[j]?.type !== 'group') next[i]?.push(j);
    }
  });

  const problems: GraphProblem[] = [];
  const state = new Uint8Array(tasks.length); // 0 new, 1 on the path, 2 done
  const path: number[] = [];
  const cursor: number[] = [];
  for (let root = 0; root < tasks.length; root++) {
    if (state[root] !== 0) continue;
    path.push(root);
    cursor.push(0);
    state[root] = 1;
    while (path.length > 0) {
      const top = path.length - 1;
      const u = path[top] as number;
      const edges = next[u] ?? [];
      const c = cursor[top] as number;
      if (c >= edges.length) {
        state[u] = 2;
        path.pop();
        cursor.pop();
        continue;
      }
      cursor[top] = c + 1;
      const v = edges[c] as number;
      if (state[v] === 0) {
        state[v] = 1;
        path.push(v);
        cursor.push(0);
      } else if (state[v] === 1) {
        const cycle = path.slice(path.indexOf(v)).map((k) => tasks[k]?.id ?? '?');
        const first = cycle[0] ?? '?';
        problems.push({
          task: first,
          field: 'requires',
          message: `dependency cycle: ${[...cycle, first].join(' -> ')}`,
        });
      }
    }
  }
  return problems;
}
