/**
 * The task graph as Nailgun 9.0's `GraphSolver` sees it (one vertex per task id; an edge for each `requires`,
 * `required_for` and `groups` relation between tasks of the graph), for the two reads python-fuelclient's
 * `fuel graph` and `fuel node --start/--end` make: the tasks between a start and an end
 * (`GET clusters/{id}/deployment_tasks/?start=&end=&include=`) and the Graphviz DOT text of the graph
 * (`GET clusters/{id}/deploy_tasks/graph.gv`). Cross-dependencies order entries on nodes, not tasks: they
 * are not edges here, as in Nailgun.
 */
import type { GraphTask } from './graph.js';
import { nameMatcher, roleList } from './graph.js';

/** Nailgun's `INTERNAL_TASKS`: what orders or groups and runs nothing of its own. */
export const INTERNAL_TYPES = ['group', 'stage', 'skipped'] as const;
type InternalType = (typeof INTERNAL_TYPES)[number];

const isInternal = (type: string): type is InternalType =>
  (INTERNAL_TYPES as readonly string[]).includes(type);

interface TaskGraph {
  ids: string[];
  byId: Map<string, GraphTask>;
  /** Successors of each task (the tasks that come after it). */
  next: Map<string, Set<string>>;
  /** Predecessors of each task. */
  prev: Map<string, Set<string>>;
}

function build(tasks: GraphTask[]): TaskGraph {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const next = new Map(tasks.map((t) => [t.id, new Set<string>()]));
  const prev = new Map(tasks.map((t) => [t.id, new Set<string>()]));
  const edge = (from: string, to: string) => {
    if (from === to || !byId.has(from) || !byId.has(to)) return;
    next.get(from)?.add(to);
    prev.get(to)?.add(from);
  };
  const groups = tasks.filter((t) => t.type === 'group').map((t) => t.id);
  for (const task of tasks) {
    for (const r of task.requires ?? []) edge(r, task.id);
    for (const r of task.required_for ?? []) edge(task.id, r);
    // a task with `groups` comes before each group it names (a name or a /regex/)
    for (const name of roleList(task.groups)) {
      const matches = nameMatcher(name);
      for (const group of groups) if (matches(group)) edge(task.id, group);
    }
  }
  return { ids: tasks.map((t) => t.id), byId, next, prev };
}

/** Every task reachable from `from` along `links`, `from` included. */
function reach(from: string, links: Map<string, Set<string>>): Set<string> {
  const seen = new Set<string>([from]);
  const stack = [from];
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    for (const other of links.get(id) ?? []) {
      if (!seen.has(other)) {
        seen.add(other);
        stack.push(other);
      }
    }
  }
  return seen;
}

export interface SubgraphQuery {
  /** Only this task and what comes after it. */
  start?: string;
  /** Only this task and what comes before it. */
  end?: string;
  /** Internal tasks (group, stage, skipped) to keep all the same. */
  include?: string[];
}

/** What in a query names no task of the graph (Nailgun answers 400); null when all is known. */
export function unknownTasks(tasks: GraphTask[], names: readonly string[]): string[] {
  const ids = new Set(tasks.map((t) => t.id));
  return [...new Set(names)].filter((n) => !ids.has(n));
}

/**
 * Nailgun's `GraphSolver.filter_subgraph`: with a start and/or an end, the tasks after the start and before
 * the end (both included), less the internal ones not in `include`; without either, the whole graph.
 * The tasks keep the graph's order.
 */
export function subgraph(tasks: GraphTask[], query: SubgraphQuery): GraphTask[] {
  if (!query.start && !query.end) return tasks;
  const g = build(tasks);
  let kept = new Set(g.ids);
  if (query.start) kept = reach(query.start, g.next);
  if (query.end) {
    const before = reach(query.end, g.prev);
    kept = new Set([...kept].filter((id) => before.has(id)));
  }
  const include = new Set(query.include ?? []);
  return tasks.filter((t) => kept.has(t.id) && (!isInternal(t.type) || include.has(t.id)));
}

export interface DotQuery {
  /** The tasks that would run; the others (not internal) are drawn as skipped. Empty: all run. */
  tasks?: string[];
  /** Only this task and its direct predecessors. */
  parentsFor?: string;
  /** Task types left out of the drawing. */
  remove?: InternalType[];
}

/** A DOT id: always quoted, `"` and `\` escaped. */
function dotId(id: string): string {
  return `"${id.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The drawing attributes of Nailgun's `GraphVisualization`, by how a task shows. */
const STYLE: Record<'default' | InternalType, string> = {
  default: 'color=yellowgreen, style=filled',
  group: 'color=lightskyblue, shape=box, style="filled, rounded"',
  skipped: 'color=gray95',
  stage: 'color=red, shape=rect, style=filled',
};

/**
 * The graph in Graphviz DOT, as Nailgun's `TaskDeployGraph` draws it: one vertex per task (skipped ones,
 * and with `tasks` the ones not selected, in gray; groups and stages in their own shapes), one edge per
 * relation. `parentsFor` keeps a task and its direct predecessors; `remove` leaves types out.
 */
export function dotGraph(tasks: GraphTask[], query: DotQuery = {}): string {
  const g = build(tasks);
  const selected = query.tasks && query.tasks.length > 0 ? new Set(query.tasks) : null;
  let kept = new Set(g.ids);
  if (query.parentsFor) kept = new Set([query.parentsFor, ...(g.prev.get(query.parentsFor) ?? [])]);
  const remove = new Set<string>(query.remove ?? []);
  const shown = g.ids.filter((id) => kept.has(id) && !remove.has(g.byId.get(id)?.type ?? ''));
  const visible = new Set(shown);
  const lines = ['strict digraph {'];
  for (const id of shown) {
    const type = g.byId.get(id)?.type ?? 'skipped';
    const skipped = type === 'skipped' || (selected !== null && !isInternal(type) && !selected.has(id));
    const style = skipped ? STYLE.skipped : isInternal(type) ? STYLE[type] : STYLE.default;
    lines.push(`${dotId(id)} [${style}];`);
  }
  for (const id of shown) {
    for (const to of g.next.get(id) ?? []) if (visible.has(to)) lines.push(`${dotId(id)} -> ${dotId(to)};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
