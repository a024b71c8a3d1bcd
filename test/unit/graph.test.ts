import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TASK_TIMEOUT_S,
  executable,
  type GraphProblem,
  type GraphTask,
  graphRoles,
  MAX_GRAPH_TASKS,
  RELEASE_ROLES,
  validateGraph,
} from '../../lambdas/domain/graph';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/reference-graph.json', import.meta.url), 'utf8'),
) as {
  tasks: unknown[];
};

function shell(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, type: 'shell', roles: ['controller'], parameters: { cmd: `echo ${id}` }, ...extra };
}

function problemsOf(input: unknown): GraphProblem[] {
  const result = validateGraph(input);
  if (result.ok) throw new Error('expected the graph to be rejected');
  return result.problems;
}

describe('validateGraph', () => {
  it('accepts the reference graph', () => {
    const result = validateGraph(fixture.tasks);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.tasks).toHaveLength(50);
  });

  it('keeps unknown keys on tasks, parameters and strategy', () => {
    const result = validateGraph([
      shell('a', {
        condition: 'settings:foo == true',
        parameters: { cmd: 'true', puppet_manifest: 'site.pp', timeout: 10 },
        strategy: { type: 'parallel', amount: 2, note: 'x' },
        fault_tolerance: '10%',
      }),
    ]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const task = result.tasks[0] as GraphTask;
    expect(task.condition).toBe('settings:foo == true');
    expect(task.parameters?.puppet_manifest).toBe('site.pp');
    expect(task.strategy).toEqual({ type: 'parallel', amount: 2, note: 'x' });
    expect(task.fault_tolerance).toBe('10%');
  });

  it('rejects a value that is not an array', () => {
    const problems = problemsOf({ tasks: [] });
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/array/);
  });

  it('rejects more than MAX_GRAPH_TASKS tasks', () => {
    const tasks = Array.from({ length: MAX_GRAPH_TASKS + 1 }, (_, i) => shell(`t${i}`));
    expect(problemsOf(tasks)[0]?.message).toContain(String(MAX_GRAPH_TASKS));
    expect(validateGraph(tasks.slice(0, MAX_GRAPH_TASKS)).ok).toBe(true);
  });

  it('rejects an element that is not an object, naming its position', () => {
    const problems = problemsOf([shell('a'), 'oops']);
    expect(problems).toEqual([{ task: null, field: '(task)', message: 'task #1 is not an object' }]);
  });

  it('rejects a missing or empty id', () => {
    const problems = problemsOf([{ type: 'stage' }, { id: '', type: 'stage' }]);
    expect(problems.map((p) => p.field)).toEqual(['id', 'id']);
    expect(problems[0]?.message).toContain('task #0');
    expect(problems[1]?.message).toContain('task #1');
  });

  it('reports wrong field types with their path and the task id', () => {
    const problems = problemsOf([
      shell('keystone', { parameters: { cmd: 'x', timeout: -5, retries: 11 } }),
      shell('glance', { type: 'ansible' }),
      shell('nova', { strategy: { type: 'one_by_one', amount: 0 } }),
      shell('heat', { fault_tolerance: 'ten' }),
      shell('horizon', { 'cross-depends': [{ name: 'keystone', policy: 'some' }] }),
      shell('cinder', { fail_on_error: 'no', roles: 42 }),
    ]);
    const fields = problems.map((p) => `${p.task}:${p.field}`);
    expect(fields).toEqual(
      expect.arrayContaining([
        'keystone:parameters.timeout',
        'keystone:parameters.retries',
        'glance:type',
        'nova:strategy.amount',
        'heat:fault_tolerance',
        'horizon:cross-depends[0].policy',
        'cinder:fail_on_error',
        'cinder:roles',
      ]),
    );
    for (const problem of problems) expect(problem.message).toContain(`task '${problem.task}'`);
  });

  it('rejects a timeout longer than a day, naming the task', () => {
    const problems = problemsOf([shell('slow', { parameters: { cmd: 'x', timeout: 86_401 } })]);
    expect(problems.map((p) => `${p.task}:${p.field}`)).toEqual(['slow:parameters.timeout']);
    expect(problems[0]?.message).toMatch(/at most 86400 seconds/);
    expect(validateGraph([shell('a day', { parameters: { cmd: 'x', timeout: 86_400 } })]).ok).toBe(true);
  });

  it('accepts fault_tolerance as a number, "N%" or a negative count', () => {
    for (const value of [2, '10%', '-1', -1]) {
      expect(validateGraph([shell('a', { fault_tolerance: value })]).ok).toBe(true);
    }
  });

  it('rejects duplicate ids', () => {
    const problems = problemsOf([shell('a'), shell('a')]);
    expect(problems).toEqual([{ task: 'a', field: 'id', message: "task 'a' is defined more than once" }]);
  });

  it('rejects requires and required_for on unknown tasks', () => {
    const problems = problemsOf([
      shell('keystone-db'),
      shell('keystone', { requires: ['keystone-dbx'], required_for: ['glancex'] }),
    ]);
    expect(problems.map((p) => p.message)).toEqual([
      "task 'keystone' requires unknown task 'keystone-dbx'",
      "task 'keystone' is required for unknown task 'glancex'",
    ]);
    expect(problems.every((p) => p.task === 'keystone')).toBe(true);
  });

  it('accepts cross-dependencies on names that match no task (as Nailgun) and warns about each', () => {
    const result = validateGraph([
      shell('a', {
        'cross-depends': [{ name: 'nope', role: 'controller' }, { name: '(primary-)?rabbitmq' }],
        'cross-depended-by': [{ name: '/^nada/', role: '*' }],
      }),
    ]);
    if (!result.ok) throw new Error('expected the graph to be accepted');
    expect(result.warnings).toEqual([
      {
        task: 'a',
        field: 'cross-depends[0].name',
        message: "task 'a' has cross-depends on 'nope', which matches no task: it orders nothing",
      },
      {
        task: 'a',
        field: 'cross-depends[1].name',
        message:
          "task 'a' has cross-depends on '(primary-)?rabbitmq', which matches no task: it orders nothing",
      },
      {
        task: 'a',
        field: 'cross-depended-by[0].name',
        message: "task 'a' has cross-depended-by on '/^nada/', which matches no task: it orders nothing",
      },
    ]);
  });

  it('rejects file paths that are not absolute or climb with ..', () => {
    const problems = problemsOf([
      { id: 'up', type: 'upload_file', roles: '*', parameters: { path: 'etc/astute.yaml', data: 'x' } },
      {
        id: 'cp',
        type: 'copy_files',
        roles: '*',
        parameters: { files: [{ src: '/var/lib/fuel/../../etc/shadow', dst: '/tmp/x' }] },
      },
    ]);
    expect(problems.map((p) => `${p.task}:${p.field}`)).toEqual([
      'up:parameters.path',
      'cp:parameters.files[0].src',
    ]);
  });

  it('rejects a group listed as a member of a group, and a condition nested too deeply to read', () => {
    const problems = problemsOf([
      { id: 'inner', type: 'group', roles: ['compute'] },
      { id: 'outer', type: 'group', roles: ['controller'], tasks: ['inner'] },
      shell('deep', { condition: `${'('.repeat(20_000)}true${')'.repeat(20_000)}` }),
    ]);
    expect(problems.map((p) => `${p.task}:${p.field}`)).toEqual(['outer:tasks[0]', 'deep:condition']);
    expect(problems[1]?.message).toContain('nested too deeply');
  });

  it('rejects patterns that do not compile, naming the task and field', () => {
    const problems = problemsOf([shell('a', { roles: ['/(/'], 'cross-depends': [{ name: '/[/' }] })]);
    expect(problems.map((p) => `${p.task}:${p.field}`)).toEqual(['a:cross-depends[0].name', 'a:roles']);
  });

  it('rejects a task depending on itself', () => {
    const problems = problemsOf([
      shell('a', { requires: ['a'] }),
      shell('b', { 'cross-depends': [{ name: 'b', role: 'self' }] }),
    ]);
    expect(problems.map((p) => p.message)).toEqual([
      "task 'a' depends on itself in requires",
      "task 'b' depends on itself in cross-depends",
    ]);
  });

  it('rejects unknown roles in roles, groups and cross-dependencies', () => {
    const problems = problemsOf([
      shell('a', { roles: ['controller', 'kontroller'] }),
      shell('b', { roles: undefined, groups: ['ghost'] }),
      shell('c', { 'cross-depends': [{ name: 'a', role: ['compute', 'phantom'] }] }),
    ]);
    expect(problems.map((p) => `${p.task}|${p.field}|${p.message}`)).toEqual([
      "a|roles|task 'a' names unknown role 'kontroller' in roles",
      "b|groups|task 'b' names unknown role 'ghost' in groups",
      "c|cross-depends[0].role|task 'c' names unknown role 'phantom' in cross-depends",
    ]);
  });

  it("accepts '*', 'self', release roles and group task ids as roles", () => {
    const result = validateGraph([
      { id: 'storage', type: 'group', roles: ['ceph-osd', 'cinder'] },
      shell('a', { roles: '*' }),
      shell('b', { roles: undefined, groups: ['storage'] }),
      shell('c', {
        'cross-depends': [
          { name: 'a', role: 'self' },
          { name: 'b', role: ['storage', '*'] },
        ],
      }),
    ]);
    expect(result.ok).toBe(true);
  });

  it('rejects a shell or puppet task without a command', () => {
    const problems = problemsOf([
      { id: 'x', type: 'shell', roles: ['compute'] },
      { id: 'y', type: 'puppet', roles: ['compute'], parameters: { cmd: '  ' } },
      { id: 'z', type: 'stage' },
    ]);
    expect(problems).toEqual([
      { task: 'x', field: 'parameters.cmd', message: "task 'x' of type shell has no parameters.cmd" },
      {
        task: 'y',
        field: 'parameters.puppet_manifest',
        message: "task 'y' of type puppet has no parameters.puppet_manifest",
      },
    ]);
  });

  it('rejects a dependency cycle and names the tasks in it', () => {
    const problems = problemsOf([
      shell('a', { requires: ['c'] }),
      shell('b', { requires: ['a'] }),
      shell('c', { requires: ['b'] }),
      shell('d', { requires: ['a'] }),
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toBe('dependency cycle: a -> b -> c -> a');
    expect(problems[0]?.task).toBe('a');
  });

  it('finds cycles that mix requires and required_for', () => {
    const problems = problemsOf([shell('a', { required_for: ['b'] }), shell('b', { required_for: ['a'] })]);
    expect(problems.map((p) => p.message)).toEqual(['dependency cycle: a -> b -> a']);
  });

  it('reports every problem, not only the first', () => {
    const problems = problemsOf([
      shell('a', { requires: ['missing'] }),
      { id: 'b', type: 'shell', roles: ['compute'] },
      shell('c', { roles: ['nobody'] }),
    ]);
    expect(problems.map((p) => p.task)).toEqual(['a', 'b', 'c']);
  });

  it('validates a graph of MAX_GRAPH_TASKS chained tasks', () => {
    const tasks = Array.from({ length: MAX_GRAPH_TASKS }, (_, i) =>
      shell(`t${i}`, {
        requires: i > 0 ? [`t${i - 1}`] : [],
        'cross-depends': i > 1 ? [{ name: `t${i - 2}`, role: '*' }] : [],
      }),
    );
    expect(validateGraph(tasks).ok).toBe(true);
  });
});

describe('graph helpers', () => {
  it('executable: only shell/puppet tasks with a command', () => {
    expect(executable({ id: 'a', type: 'shell', parameters: { cmd: 'true' } })).toBe(true);
    expect(executable({ id: 'a', type: 'puppet', parameters: { cmd: 'true' } })).toBe(true);
    expect(executable({ id: 'a', type: 'shell' })).toBe(false);
    expect(executable({ id: 'a', type: 'shell', parameters: { cmd: '' } })).toBe(false);
    expect(executable({ id: 'a', type: 'group', parameters: { cmd: 'true' } })).toBe(false);
    expect(executable({ id: 'a', type: 'skipped', parameters: { cmd: 'true' } })).toBe(false);
  });

  it('graphRoles: concrete roles from roles and groups, sorted and unique', () => {
    const tasks: GraphTask[] = [
      { id: 'a', type: 'stage', roles: '*' },
      { id: 'b', type: 'shell', roles: ['compute', 'controller'] },
      { id: 'c', type: 'shell', groups: ['ceph-osd', 'compute'] },
    ];
    expect(graphRoles(tasks)).toEqual(['ceph-osd', 'compute', 'controller']);
  });

  it('the reference graph names release roles only', () => {
    const result = validateGraph(fixture.tasks);
    if (!result.ok) throw new Error('reference graph rejected');
    expect(graphRoles(result.tasks)).toEqual(['ceph-osd', 'cinder', 'compute', 'controller']);
    for (const role of graphRoles(result.tasks)) expect(RELEASE_ROLES).toContain(role);
    expect(DEFAULT_TASK_TIMEOUT_S).toBe(300);
  });
});
