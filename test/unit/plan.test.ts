import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TASK_TIMEOUT_S, type GraphTask, validateGraph } from '../../lambdas/domain/graph';
import {
  type DeploymentPlan,
  LAYER_SLACK_S,
  layerTimeoutSeconds,
  PlanError,
  type PlanNode,
  planDeployment,
  progressPercent,
  type TaskInstance,
} from '../../lambdas/domain/plan';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/reference-graph.json', import.meta.url), 'utf8'),
) as {
  tasks: unknown[];
  clusters: Record<string, Record<string, number>>;
};

function referenceTasks(): GraphTask[] {
  const result = validateGraph(fixture.tasks);
  if (!result.ok) throw new Error('reference graph rejected');
  return result.tasks;
}

/** Nodes 1..N, one role per node, in the layout's order. */
function layoutNodes(layout: string): PlanNode[] {
  const counts = fixture.clusters[layout];
  if (!counts) throw new Error(`no layout ${layout}`);
  const nodes: PlanNode[] = [];
  for (const [role, count] of Object.entries(counts)) {
    for (let i = 0; i < count; i++) nodes.push({ id: nodes.length + 1, roles: [role] });
  }
  return nodes;
}

function sh(id: string, roles: GraphTask['roles'], extra: Partial<GraphTask> = {}): GraphTask {
  return { id, type: 'shell', roles, parameters: { cmd: `run ${id}` }, ...extra };
}

function byKey(plan: DeploymentPlan): Map<string, TaskInstance> {
  return new Map(plan.instances.map((i) => [i.key, i]));
}

function req(plan: DeploymentPlan, key: string): string[] {
  const instance = byKey(plan).get(key);
  if (!instance) throw new Error(`no instance ${key}`);
  return instance.requires;
}

function expectTopological(plan: DeploymentPlan): void {
  const index = byKey(plan);
  expect(index.size).toBe(plan.instances.length);
  const layerOfKey = new Map<string, number>();
  plan.layers.forEach((keys, layer) => {
    for (const key of keys) layerOfKey.set(key, layer);
  });
  const violations: string[] = [];
  for (const instance of plan.instances) {
    let highest = -1;
    for (const key of instance.requires) {
      const required = index.get(key);
      if (!required) violations.push(`${instance.key} requires missing ${key}`);
      else if (required.layer >= instance.layer) violations.push(`${instance.key} not after ${key}`);
      else highest = Math.max(highest, required.layer);
    }
    if (instance.layer !== highest + 1) violations.push(`${instance.key} has layer ${instance.layer}`);
    if (layerOfKey.get(instance.key) !== instance.layer)
      violations.push(`${instance.key} in the wrong layer`);
  }
  expect(violations).toEqual([]);
  expect(layerOfKey.size).toBe(plan.instances.length);
  for (const layer of plan.layers) expect(layer).toEqual([...layer].sort());
}

const nodes3: PlanNode[] = [
  { id: 1, roles: ['controller'] },
  { id: 2, roles: ['compute'] },
  { id: 3, roles: ['compute'] },
];

describe('planDeployment', () => {
  it('orders tasks on the same node by requires and required_for', () => {
    const plan = planDeployment(
      [sh('b', '*', { requires: ['a'] }), sh('a', '*'), sh('c', '*', { required_for: ['b'] })],
      [{ id: 7, roles: ['compute'] }],
    );
    expect(req(plan, 'b@7')).toEqual(['a@7', 'c@7']);
    expect(req(plan, 'a@7')).toEqual([]);
    expect(plan.layers).toEqual([['a@7', 'c@7'], ['b@7']]);
  });

  it('creates instances only where the task applies, by roles or groups', () => {
    const plan = planDeployment(
      [sh('ctl', ['controller']), sh('all', '*'), sh('cmp', undefined, { groups: ['compute'] })],
      nodes3,
    );
    expect(plan.instances.map((i) => i.key).sort()).toEqual([
      'all@1',
      'all@2',
      'all@3',
      'cmp@2',
      'cmp@3',
      'ctl@1',
    ]);
  });

  it('applies tasks bound to a group task to the nodes matching the group roles', () => {
    const plan = planDeployment(
      [{ id: 'workers', type: 'group', roles: ['compute'] }, sh('w', undefined, { groups: ['workers'] })],
      nodes3,
    );
    expect(plan.instances.map((i) => i.key)).toEqual(['w@2', 'w@3']);
  });

  it('passes ordering through group and stage tasks', () => {
    const plan = planDeployment(
      [
        sh('a', '*'),
        { id: 'stage1', type: 'stage', requires: ['a'] },
        { id: 'grp', type: 'group', roles: '*', requires: ['stage1'] },
        sh('b', '*', { requires: ['grp'] }),
      ],
      nodes3,
    );
    expect(plan.instances).toHaveLength(6);
    for (const n of [1, 2, 3]) expect(req(plan, `b@${n}`)).toEqual([`a@${n}`]);
  });

  it('passes ordering through tasks that do not apply to the node, and through tasks without a command', () => {
    const plan = planDeployment(
      [
        sh('a', '*'),
        sh('ctl-only', ['controller'], { requires: ['a'] }),
        { id: 'noop', type: 'skipped', roles: '*', requires: ['ctl-only'] },
        sh('c', '*', { requires: ['noop'] }),
      ],
      nodes3,
    );
    expect(req(plan, 'c@1')).toEqual(['ctl-only@1']);
    expect(req(plan, 'c@2')).toEqual(['a@2']);
    expect(req(plan, 'c@3')).toEqual(['a@3']);
    expect(byKey(plan).has('noop@1')).toBe(false);
  });

  it('cross-depends on a role links every node of that role', () => {
    const plan = planDeployment(
      [
        sh('api', ['controller']),
        sh('agent', ['compute'], { 'cross-depends': [{ name: 'api', role: 'controller' }] }),
      ],
      [...nodes3, { id: 4, roles: ['controller'] }],
    );
    expect(req(plan, 'agent@2')).toEqual(['api@1', 'api@4']);
    expect(req(plan, 'agent@3')).toEqual(['api@1', 'api@4']);
  });

  it("cross-depends with role '*' links every node where the task has an instance", () => {
    const plan = planDeployment(
      [sh('x', ['compute']), sh('y', ['controller'], { 'cross-depends': [{ name: 'x', role: '*' }] })],
      nodes3,
    );
    expect(req(plan, 'y@1')).toEqual(['x@2', 'x@3']);
  });

  it('cross-depends on a task virtual on the target node passes through to its requirements there', () => {
    const plan = planDeployment(
      [
        sh('base', '*'),
        sh('ctl', ['controller'], { requires: ['base'] }),
        sh('y', ['compute'], { 'cross-depends': [{ name: 'ctl', role: '*' }] }),
      ],
      nodes3,
    );
    expect(req(plan, 'y@2')).toEqual(['base@2', 'base@3', 'ctl@1']);
  });

  it("cross-depends with role 'self' and with a list of roles", () => {
    const plan = planDeployment(
      [
        sh('x', '*'),
        sh('y', '*', { 'cross-depends': [{ name: 'x', role: 'self' }] }),
        sh('z', ['controller'], { 'cross-depends': [{ name: 'x', role: ['compute', 'ceph-osd'] }] }),
      ],
      [...nodes3, { id: 4, roles: ['ceph-osd'] }],
    );
    expect(req(plan, 'y@2')).toEqual(['x@2']);
    expect(req(plan, 'y@4')).toEqual(['x@4']);
    expect(req(plan, 'z@1')).toEqual(['x@2', 'x@3', 'x@4']);
  });

  it('cross-depended-by makes the named task wait on every node of the role', () => {
    const plan = planDeployment(
      [
        sh('db', ['controller'], { 'cross-depended-by': [{ name: 'client', role: 'compute' }] }),
        sh('client', '*'),
      ],
      [...nodes3, { id: 4, roles: ['controller'] }],
    );
    expect(req(plan, 'client@2')).toEqual(['db@1', 'db@4']);
    expect(req(plan, 'client@3')).toEqual(['db@1', 'db@4']);
    expect(req(plan, 'client@1')).toEqual([]);
    expect(req(plan, 'client@4')).toEqual([]);
  });

  it("cross-depended-by with role 'self' stays on the node", () => {
    const plan = planDeployment(
      [sh('db', '*', { 'cross-depended-by': [{ name: 'client', role: 'self' }] }), sh('client', '*')],
      nodes3,
    );
    expect(req(plan, 'client@2')).toEqual(['db@2']);
  });

  it('one_by_one chains the instances in ascending node id', () => {
    const plan = planDeployment(
      [sh('a', '*'), sh('one', '*', { requires: ['a'], strategy: { type: 'one_by_one' } })],
      [
        { id: 30, roles: ['compute'] },
        { id: 10, roles: ['compute'] },
        { id: 20, roles: ['compute'] },
      ],
    );
    expect(req(plan, 'one@10')).toEqual(['a@10']);
    expect(req(plan, 'one@20')).toEqual(['a@20', 'one@10']);
    expect(req(plan, 'one@30')).toEqual(['a@30', 'one@20']);
    expect(plan.layers).toEqual([['a@10', 'a@20', 'a@30'], ['one@10'], ['one@20'], ['one@30']]);
  });

  it('parallel with amount runs chunks of that many nodes after each other', () => {
    const nodes = Array.from({ length: 5 }, (_, i) => ({ id: i + 1, roles: ['compute'] }));
    const plan = planDeployment([sh('p', '*', { strategy: { type: 'parallel', amount: 2 } })], nodes);
    expect(req(plan, 'p@1')).toEqual([]);
    expect(req(plan, 'p@2')).toEqual([]);
    expect(req(plan, 'p@3')).toEqual(['p@1', 'p@2']);
    expect(req(plan, 'p@4')).toEqual(['p@1', 'p@2']);
    expect(req(plan, 'p@5')).toEqual(['p@3', 'p@4']);
    expect(plan.layers).toEqual([['p@1', 'p@2'], ['p@3', 'p@4'], ['p@5']]);
  });

  it('parallel without amount adds no edges', () => {
    const plan = planDeployment([sh('p', '*', { strategy: { type: 'parallel' } })], nodes3);
    expect(plan.layers).toEqual([['p@1', 'p@2', 'p@3']]);
  });

  it('applies defaults for timeout, retries and fail_on_error', () => {
    const plan = planDeployment(
      [
        sh('plain', '*'),
        {
          id: 'tuned',
          type: 'puppet',
          roles: '*',
          fail_on_error: false,
          parameters: { cmd: 'puppet apply', timeout: 42, retries: 3 },
        },
      ],
      [{ id: 1, roles: ['compute'] }],
    );
    const index = byKey(plan);
    expect(index.get('plain@1')).toMatchObject({
      task: 'plain',
      nodeId: 1,
      type: 'shell',
      cmd: 'run plain',
      timeout: DEFAULT_TASK_TIMEOUT_S,
      retries: 0,
      failOnError: true,
    });
    expect(index.get('tuned@1')).toMatchObject({
      type: 'puppet',
      cmd: 'puppet apply',
      timeout: 42,
      retries: 3,
      failOnError: false,
    });
  });

  it('raises PlanError on an instance-level cycle through cross-depends', () => {
    const tasks = [
      sh('a', ['controller'], { 'cross-depends': [{ name: 'b', role: 'compute' }] }),
      sh('b', ['compute'], { 'cross-depends': [{ name: 'a', role: 'controller' }] }),
    ];
    expect(() => planDeployment(tasks, nodes3)).toThrow(PlanError);
    try {
      planDeployment(tasks, nodes3);
    } catch (error) {
      expect(error).toBeInstanceOf(PlanError);
      expect(['a', 'b']).toContain((error as PlanError).task);
      expect((error as PlanError).message).toMatch(/cycle/);
    }
  });

  it('raises PlanError on a cycle that runs through virtual tasks', () => {
    const tasks: GraphTask[] = [
      { id: 'g', type: 'stage', 'cross-depends': [{ name: 'a', role: '*' }] },
      sh('a', ['compute'], { requires: ['g'] }),
    ];
    expect(() => planDeployment(tasks, nodes3)).toThrow(PlanError);
  });

  it('a graph without a cycle across nodes plans although both roles depend on each other', () => {
    const plan = planDeployment(
      [
        sh('a1', ['controller']),
        sh('b1', ['compute'], { 'cross-depends': [{ name: 'a1', role: 'controller' }] }),
        sh('a2', ['controller'], { requires: ['a1'], 'cross-depends': [{ name: 'b1', role: 'compute' }] }),
      ],
      nodes3,
    );
    expect(req(plan, 'a2@1')).toEqual(['a1@1', 'b1@2', 'b1@3']);
    expectTopological(plan);
  });

  it('an empty cluster or graph gives an empty plan', () => {
    expect(planDeployment(referenceTasks(), [])).toEqual({ instances: [], layers: [] });
    expect(planDeployment([], nodes3)).toEqual({ instances: [], layers: [] });
  });

  for (const layout of ['small', 'reference-50']) {
    it(`layers of the reference graph on '${layout}' are a topological order`, () => {
      const nodes = layoutNodes(layout);
      const plan = planDeployment(referenceTasks(), nodes);
      expectTopological(plan);
      // Every compute node waits for the controllers' nova and rabbitmq before its top role.
      const controllers = nodes.filter((n) => n.roles.includes('controller')).map((n) => n.id);
      const compute = nodes.find((n) => n.roles.includes('compute'));
      const topRole = req(plan, `top-role-compute@${compute?.id}`);
      for (const id of controllers) {
        expect(topRole).toContain(`openstack-controller@${id}`);
        expect(topRole).toContain(`rabbitmq@${id}`);
      }
      // hiera runs first everywhere, on every node.
      expect(plan.layers[0]).toEqual(nodes.map((n) => `hiera@${n.id}`).sort());
    });
  }

  it('plans the reference graph on large-1000 with a bounded number of edges', () => {
    const nodes = layoutNodes('large-1000');
    const plan = planDeployment(referenceTasks(), nodes);
    const edges = plan.instances.reduce((sum, i) => sum + i.requires.length, 0);
    expect(edges).toBeLessThan(300_000);
    expectTopological(plan);
    const tops = plan.instances.filter((i) => i.task === 'top-role-compute');
    expect(tops).toHaveLength(950);
    expect(new Set(tops.map((i) => i.layer)).size).toBe(48);
  });
});

describe('layerTimeoutSeconds', () => {
  const instance = (timeout: number, retries: number): TaskInstance => ({
    key: `t${timeout}@1`,
    task: `t${timeout}`,
    nodeId: 1,
    type: 'shell',
    cmd: 'x',
    timeout,
    retries,
    failOnError: true,
    requires: [],
    layer: 0,
  });

  it('is the slowest instance with its retries plus slack', () => {
    expect(layerTimeoutSeconds([instance(100, 0), instance(40, 2), instance(50, 1)])).toBe(
      120 + LAYER_SLACK_S,
    );
    expect(layerTimeoutSeconds([instance(300, 0)])).toBe(360);
  });

  it('is the slack alone for an empty layer', () => {
    expect(layerTimeoutSeconds([])).toBe(60);
  });
});

describe('progressPercent', () => {
  it('is an integer percentage, 100 for empty work, clamped to 0..100', () => {
    expect(progressPercent(0, 0)).toBe(100);
    expect(progressPercent(0, 3)).toBe(0);
    expect(progressPercent(1, 3)).toBe(33);
    expect(progressPercent(2, 3)).toBe(66);
    expect(progressPercent(3, 3)).toBe(100);
    expect(progressPercent(5, 3)).toBe(100);
    expect(progressPercent(-1, 3)).toBe(0);
  });
});
