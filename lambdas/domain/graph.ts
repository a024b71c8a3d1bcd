/**
 * The deployment graph upload format (Fuel 9 deployment tasks) and its validation.
 * `PUT /api/clusters/{id}/deployment_tasks/` receives a JSON array of these tasks.
 * Unknown keys are kept: real Fuel graphs carry many fields this service does not use.
 */
import { z } from 'zod';

export const TASK_TYPES = ['shell', 'puppet', 'group', 'stage', 'skipped'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export interface CrossDependency {
  name: string;
  role: string | string[];
}

export interface GraphTask {
  id: string;
  type: TaskType;
  roles?: string[] | '*';
  groups?: string[];
  requires?: string[];
  required_for?: string[];
  'cross-depends'?: CrossDependency[];
  'cross-depended-by'?: CrossDependency[];
  parameters?: { cmd?: string; timeout?: number; retries?: number; [k: string]: unknown };
  strategy?: { type: 'one_by_one' | 'parallel'; amount?: number };
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

export type GraphValidation = { ok: true; tasks: GraphTask[] } | { ok: false; problems: GraphProblem[] };

/** Roles of the Fuel 9 release. */
export const RELEASE_ROLES: readonly string[] = [
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
];

export const MAX_GRAPH_TASKS = 1000;
export const DEFAULT_TASK_TIMEOUT_S = 300;
/** One attempt of a task may run a day at most. */
export const MAX_TASK_TIMEOUT_S = 86_400;

/** Role names that stand for "every node" and "the node itself" in roles and cross-dependencies. */
export const ANY_ROLE = '*';
export const SELF_ROLE = 'self';

const nonEmpty = z.string().min(1, 'must be a non-empty string');
const crossDependency = z.looseObject({
  name: nonEmpty,
  role: z.union([nonEmpty, z.array(nonEmpty)]),
});

const taskSchema = z.looseObject({
  id: nonEmpty,
  type: z.enum(TASK_TYPES),
  roles: z.union([z.literal(ANY_ROLE), z.array(nonEmpty)]).optional(),
  groups: z.array(nonEmpty).optional(),
  requires: z.array(nonEmpty).optional(),
  required_for: z.array(nonEmpty).optional(),
  'cross-depends': z.array(crossDependency).optional(),
  'cross-depended-by': z.array(crossDependency).optional(),
  parameters: z
    .looseObject({
      cmd: z.string().optional(),
      timeout: z
        .number()
        .int()
        .positive()
        .max(MAX_TASK_TIMEOUT_S, `must be at most ${MAX_TASK_TIMEOUT_S} seconds`)
        .optional(),
      retries: z.number().int().min(0).max(10).optional(),
    })
    .optional(),
  strategy: z
    .looseObject({
      type: z.enum(['one_by_one', 'parallel']),
      amount: z.number().int().positive().optional(),
    })
    .optional(),
  fault_tolerance: z
    .union([z.number(), z.string().regex(/^-?\d+%?$/, 'must be a number or "N%"')])
    .optional(),
  fail_on_error: z.boolean().optional(),
  version: z.string().optional(),
});

/** A task that runs a command on a node: shell or puppet, with a non-empty `parameters.cmd`. */
export function executable(task: GraphTask): boolean {
  if (task.type !== 'shell' && task.type !== 'puppet') return false;
  const cmd = task.parameters?.cmd;
  return typeof cmd === 'string' && cmd.trim().length > 0;
}

/** Every concrete role named by some task's `roles` or `groups`, sorted. */
export function graphRoles(tasks: GraphTask[]): string[] {
  const roles = new Set<string>();
  for (const task of tasks) {
    const named = [...(Array.isArray(task.roles) ? task.roles : []), ...(task.groups ?? [])];
    for (const role of named) if (role !== ANY_ROLE && role !== SELF_ROLE) roles.add(role);
  }
  return [...roles].sort();
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

/**
 * Validates an uploaded graph and reports every problem found, each naming its task:
 * shape, duplicate ids, unknown or self dependencies, unknown roles, commands missing
 * from shell/puppet tasks, and dependency cycles over requires/required_for.
 */
export function validateGraph(input: unknown): GraphValidation {
  if (!Array.isArray(input)) return rejected('the graph must be a JSON array of tasks');
  if (input.length > MAX_GRAPH_TASKS) {
    return rejected(`the graph has ${input.length} tasks, more than the limit of ${MAX_GRAPH_TASKS}`);
  }
  const { tasks, knownIds, problems } = parseTasks(input);
  const groupIds = new Set(tasks.filter((t) => t.type === 'group').map((t) => t.id));
  const roleKnown = (role: string): boolean =>
    role === ANY_ROLE || role === SELF_ROLE || RELEASE_ROLES.includes(role) || groupIds.has(role);
  for (const task of tasks) {
    dependencyProblems(task, knownIds, problems);
    crossDependencyProblems(task, knownIds, roleKnown, problems);
    roleProblems(task, roleKnown, problems);
    commandProblems(task, problems);
  }
  problems.push(...findCycles(tasks));
  return problems.length === 0 ? { ok: true, tasks } : { ok: false, problems };
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
    tasks.push(parsed.data);
  });
  return { tasks, knownIds, problems };
}

/** Self and unknown targets in requires/required_for. */
function dependencyProblems(task: GraphTask, knownIds: Set<string>, problems: GraphProblem[]): void {
  const id = task.id;
  for (const field of DEPENDENCY_FIELDS) {
    for (const target of task[field] ?? []) {
      if (target === id) {
        problems.push({ task: id, field, message: `task '${id}' depends on itself in ${field}` });
      } else if (!knownIds.has(target)) {
        const verb = field === 'requires' ? 'requires' : 'is required for';
        problems.push({ task: id, field, message: `task '${id}' ${verb} unknown task '${target}'` });
      }
    }
  }
}

/** Self and unknown targets, and unknown roles, in cross-depends/cross-depended-by. */
function crossDependencyProblems(
  task: GraphTask,
  knownIds: Set<string>,
  roleKnown: (role: string) => boolean,
  problems: GraphProblem[],
): void {
  const id = task.id;
  for (const field of CROSS_FIELDS) {
    (task[field] ?? []).forEach((dep, i) => {
      if (dep.name === id) {
        problems.push({
          task: id,
          field: `${field}[${i}].name`,
          message: `task '${id}' depends on itself in ${field}`,
        });
      } else if (!knownIds.has(dep.name)) {
        problems.push({
          task: id,
          field: `${field}[${i}].name`,
          message: `task '${id}' has ${field} on unknown task '${dep.name}'`,
        });
      }
      for (const role of typeof dep.role === 'string' ? [dep.role] : dep.role) {
        if (!roleKnown(role)) {
          problems.push({
            task: id,
            field: `${field}[${i}].role`,
            message: `task '${id}' names unknown role '${role}' in ${field}`,
          });
        }
      }
    });
  }
}

/** Unknown roles in roles/groups. */
function roleProblems(task: GraphTask, roleKnown: (role: string) => boolean, problems: GraphProblem[]): void {
  const id = task.id;
  for (const field of ['roles', 'groups'] as const) {
    const roles = task[field];
    if (!Array.isArray(roles)) continue;
    for (const role of roles) {
      if (!roleKnown(role)) {
        problems.push({ task: id, field, message: `task '${id}' names unknown role '${role}' in ${field}` });
      }
    }
  }
}

/** A shell or puppet task without a command. */
function commandProblems(task: GraphTask, problems: GraphProblem[]): void {
  if ((task.type === 'shell' || task.type === 'puppet') && !executable(task)) {
    problems.push({
      task: task.id,
      field: 'parameters.cmd',
      message: `task '${task.id}' of type ${task.type} has no parameters.cmd`,
    });
  }
}

/** Cycles over requires/required_for, one problem per cycle found by a depth-first walk. */
function findCycles(tasks: GraphTask[]): GraphProblem[] {
  const index = new Map<string, number>();
  tasks.forEach((t, i) => {
    if (!index.has(t.id)) index.set(t.id, i);
  });
  // Edge u -> v: u must run before v.
  const next: number[][] = tasks.map(() => []);
  tasks.forEach((task, i) => {
    for (const name of task.requires ?? []) {
      const j = index.get(name);
      if (j !== undefined && j !== i) next[j]?.push(i);
    }
    for (const name of task.required_for ?? []) {
      const j = index.get(name);
      if (j !== undefined && j !== i) next[i]?.push(j);
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
