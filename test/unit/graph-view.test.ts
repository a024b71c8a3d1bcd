import { describe, expect, it } from 'vitest';
import type { GraphTask } from '../../lambdas/domain/graph';
import { dotGraph, subgraph, unknownTasks } from '../../lambdas/domain/graph-view';
import { planDeployment } from '../../lambdas/domain/plan';

function sh(id: string, extra: Partial<GraphTask> = {}): GraphTask {
  return { id, type: 'shell', roles: '*', parameters: { cmd: `run ${id}` }, ...extra };
}

// a -> b -> c -> d, b -> x; stage `pre` before a; group `ctrl` after d (d names it in `groups`)
const graph: GraphTask[] = [
  { id: 'pre', type: 'stage' },
  sh('a', { requires: ['pre'] }),
  sh('b', { requires: ['a'] }),
  sh('c', { requires: ['b'] }),
  sh('d', { requires: ['c'], groups: ['/ctr/'] }),
  sh('x', { requires: ['b'] }),
  { id: 'ctrl', type: 'group', roles: ['controller'] },
  { id: 'gone', type: 'skipped', requires: ['a'] },
];

describe('subgraph (GraphSolver.filter_subgraph)', () => {
  it('answers the whole graph without start or end', () => {
    expect(subgraph(graph, {})).toBe(graph);
  });

  it('keeps what comes after start and before end, both included, less internal tasks', () => {
    expect(subgraph(graph, { start: 'b' }).map((t) => t.id)).toEqual(['b', 'c', 'd', 'x']);
    expect(subgraph(graph, { end: 'c' }).map((t) => t.id)).toEqual(['a', 'b', 'c']);
    expect(subgraph(graph, { start: 'b', end: 'd' }).map((t) => t.id)).toEqual(['b', 'c', 'd']);
    // the group after d, the stage before a and the skipped task are internal
    expect(subgraph(graph, { start: 'a' }).map((t) => t.id)).toEqual(['a', 'b', 'c', 'd', 'x']);
    expect(subgraph(graph, { start: 'a', include: ['ctrl', 'gone'] }).map((t) => t.id)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'x',
      'ctrl',
      'gone',
    ]);
  });

  it('follows required_for as well as requires', () => {
    const tasks = [sh('p', { required_for: ['q'] }), sh('q'), sh('r')];
    expect(subgraph(tasks, { start: 'p' }).map((t) => t.id)).toEqual(['p', 'q']);
    expect(subgraph(tasks, { end: 'q' }).map((t) => t.id)).toEqual(['p', 'q']);
  });

  it('names what a query names that the graph does not have', () => {
    expect(unknownTasks(graph, ['a', 'nope', 'nope', 'b'])).toEqual(['nope']);
    expect(unknownTasks(graph, [])).toEqual([]);
  });
});

describe('dotGraph (TaskDeployGraph)', () => {
  it('draws every task with its style and every relation as an edge', () => {
    const dot = dotGraph(graph);
    expect(dot.startsWith('strict digraph {\n')).toBe(true);
    expect(dot.endsWith('}\n')).toBe(true);
    expect(dot).toContain('"a" [color=yellowgreen, style=filled];');
    expect(dot).toContain('"pre" [color=red, shape=rect, style=filled];');
    expect(dot).toContain('"ctrl" [color=lightskyblue, shape=box, style="filled, rounded"];');
    expect(dot).toContain('"gone" [color=gray95];');
    for (const edge of ['"pre" -> "a"', '"a" -> "b"', '"b" -> "x"', '"d" -> "ctrl"', '"a" -> "gone"'])
      expect(dot).toContain(`${edge};`);
    expect(dot.match(/->/g)).toHaveLength(7);
  });

  it('greys what is not selected, keeps the parents of one task, removes types', () => {
    const only = dotGraph(graph, { tasks: ['b'] });
    expect(only).toContain('"b" [color=yellowgreen, style=filled];');
    expect(only).toContain('"a" [color=gray95];');
    // internal tasks keep their own style
    expect(only).toContain('"pre" [color=red, shape=rect, style=filled];');

    const parents = dotGraph(graph, { parentsFor: 'x' });
    expect(parents.split('\n').filter((l) => l.includes('['))).toEqual([
      '"b" [color=yellowgreen, style=filled];',
      '"x" [color=yellowgreen, style=filled];',
    ]);
    expect(parents).toContain('"b" -> "x";');
    expect(parents.match(/->/g)).toHaveLength(1);

    const bare = dotGraph(graph, { remove: ['stage', 'group', 'skipped'] });
    expect(bare).not.toMatch(/"(pre|ctrl|gone)"/);
    expect(bare).toContain('"a" -> "b";');
  });

  it('quotes ids so that any task id is one DOT id', () => {
    const dot = dotGraph([sh('say "hi"\\'), sh('next', { requires: ['say "hi"\\'] })]);
    expect(dot).toContain('"say \\"hi\\"\\\\" -> "next";');
  });
});

describe('planDeployment with onlyTasks (deploy_tasks)', () => {
  const nodes = [
    { id: 1, roles: ['controller'] },
    { id: 2, roles: ['compute'] },
  ];
  const tasks = [sh('a'), sh('b', { requires: ['a'] }), sh('c', { requires: ['b'] })];

  it('runs only the selected tasks; the others stay in the plan, in order, and run nothing', () => {
    const plan = planDeployment(tasks, nodes, { onlyTasks: ['a', 'c'] });
    const of = (key: string) => plan.instances.find((i) => i.key === key);
    expect(of('b@1')?.noop).toEqual({ kind: 'skipped', reason: 'not among the tasks selected to run' });
    expect(of('a@1')?.noop).toBeNull();
    expect(of('c@2')?.noop).toBeNull();
    expect(plan.layers.flat().sort()).toEqual(['a@1', 'a@2', 'c@1', 'c@2']);
    // c still waits for a, through the entry of b that runs nothing
    expect((of('c@1')?.layer ?? -1) > (of('a@1')?.layer ?? 99)).toBe(true);
    expect(of('c@1')?.requires).toEqual(['b@1']);
  });

  it('does not evaluate the condition of a task not selected', () => {
    const plan = planDeployment([sh('a'), sh('b', { condition: 'x' })], nodes, {
      onlyTasks: ['a'],
      conditionOf: (task) => (task.id === 'b' ? { error: 'boom' } : { run: true }),
    });
    expect(plan.layers.flat().sort()).toEqual(['a@1', 'a@2']);
  });

  it('runs every task without a selection', () => {
    expect(planDeployment(tasks, nodes, { onlyTasks: null }).layers.flat()).toHaveLength(6);
  });
});
