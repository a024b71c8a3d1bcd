import { describe, expect, it } from 'vitest';
import type { GraphTask } from '../../lambdas/domain/graph';
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
import { SYNC_NODE } from '../../lambdas/domain/targets';
import { reference, referenceNodes } from '../helpers/reference-graph';

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

/** Layers respect requirements (a running entry after its running requirements' layers, an entry that runs
 * nothing no earlier than them), hold one running entry per node, and list running entries only. */
function expectTopological(plan: DeploymentPlan): void {
  const index = byKey(plan);
  expect(index.size).toBe(plan.instances.length);
  const violations: string[] = [];
  for (const instance of plan.instances) {
    // `task@*`: every entry of that task (a stage's requirements)
    const requiredKeys = instance.requires.flatMap((key) =>
      key.endsWith('@*')
        ? plan.instances.filter((i) => i.task === key.slice(0, -2)).map((i) => i.key)
        : [key],
    );
    for (const key of requiredKeys) {
      const required = index.get(key);
      if (!required) violations.push(`${instance.key} requires missing ${key}`);
      else if (required.noop === null && required.layer >= instance.layer && instance.noop === null)
        violations.push(`${instance.key} not after ${key}`);
      else if (required.layer > instance.layer) violations.push(`${instance.key} before ${key}`);
      else if (required.order >= instance.order) violations.push(`${instance.key} decided before ${key}`);
    }
  }
  plan.layers.forEach((keys, layer) => {
    const nodes = keys.map((k) => index.get(k)?.nodeId);
    if (new Set(nodes).size !== nodes.length) violations.push(`layer ${layer} runs two tasks on one node`);
    for (const key of keys) if (index.get(key)?.layer !== layer) violations.push(`${key} in the wrong layer`);
  });
  expect(violations).toEqual([]);
  for (const layer of plan.layers) expect(layer).toEqual([...layer].sort());
}

const nodes3: PlanNode[] = [
  { id: 1, roles: ['controller'] },
  { id: 2, roles: ['compute'] },
  { id: 3, roles: ['compute'] },
];

describe('planDeployment', () => {
  it('orders tasks on the same node by requires and required_for, one at a time', () => {
    const plan = planDeployment(
      [sh('b', '*', { requires: ['a'] }), sh('a', '*'), sh('c', '*', { required_for: ['b'] })],
      [{ id: 7, roles: ['compute'] }],
    );
    expect(req(plan, 'b@7')).toEqual(['a@7', 'c@7']);
    expect(req(plan, 'a@7')).toEqual([]);
    expect(plan.layers).toEqual([['a@7'], ['c@7'], ['b@7']]);
    expectTopological(plan);
  });

  it('lands a task by roles, its alias role, groups, a single role string, a /regex/ and *', () => {
    const plan = planDeployment(
      [
        sh('ctl', ['controller']),
        sh('all', '*'),
        sh('cmp', undefined, { groups: ['compute'] }),
        sh('alias', undefined, { role: ['compute'] }),
        sh('single', 'controller'),
        sh('pattern', ['/^comp/']),
        sh('every', ['/.*/']),
      ],
      nodes3,
    );
    const on = (task: string) =>
      plan.instances
        .filter((i) => i.task === task)
        .map((i) => i.nodeId)
        .sort((a, b) => a - b);
    expect(on('ctl')).toEqual([1]);
    expect(on('all')).toEqual([1, 2, 3]);
    expect(on('cmp')).toEqual([2, 3]);
    expect(on('alias')).toEqual([2, 3]);
    expect(on('single')).toEqual([1]);
    expect(on('pattern')).toEqual([2, 3]);
    expect(on('every')).toEqual([1, 2, 3]);
  });

  it('lands the tasks of the master role on the master node', () => {
    const plan = planDeployment([sh('keys', 'master'), sh('copy', '*', { requires: ['keys'] })], nodes3);
    expect(plan.instances.filter((i) => i.task === 'keys').map((i) => i.key)).toEqual(['keys@master']);
    // requires reach the same node and the sync node only: the master's task is reached by cross-depends
    expect(req(plan, 'copy@2')).toEqual([]);
  });

  it("a group names its roles' nodes; its member tasks land there too; the group itself is no entry", () => {
    const plan = planDeployment(
      [
        { id: 'workers', type: 'group', roles: ['compute'], tasks: ['base'] },
        sh('w', undefined, { groups: ['workers'] }),
        sh('base', ['controller']),
      ],
      nodes3,
    );
    expect(plan.instances.map((i) => i.key).sort()).toEqual(['base@1', 'base@2', 'base@3', 'w@2', 'w@3']);
  });

  it('notes stages on the sync node; they run nothing and order every node (global points)', () => {
    const plan = planDeployment(
      [
        { id: 'pre_start', type: 'stage' },
        { id: 'pre_end', type: 'stage', requires: ['pre_start'] },
        sh('slow-pre', ['controller'], { requires: ['pre_start'], required_for: ['pre_end'] }),
        sh('deploy', ['compute'], { requires: ['pre_end'] }),
      ],
      nodes3,
    );
    const stage = byKey(plan).get('pre_end@sync');
    expect(stage).toMatchObject({ nodeId: SYNC_NODE, noop: { kind: 'stage' } });
    expect(stage?.requires).toEqual(['pre_start@sync', 'slow-pre@1']);
    expect(req(plan, 'deploy@2')).toEqual(['pre_end@sync']);
    expect(plan.layers).toEqual([['slow-pre@1'], ['deploy@2', 'deploy@3']]);
    expectTopological(plan);
  });

  it('a task that follows a stage ends before the next stage even when its graph does not say so', () => {
    const plan = planDeployment(
      [
        { id: 'pre_start', type: 'stage' },
        { id: 'pre_end', type: 'stage', requires: ['pre_start'] },
        sh('loose', ['controller'], { requires: ['pre_start'] }),
        sh('after-loose', ['controller'], { requires: ['loose'] }),
        sh('deploy', ['compute'], { requires: ['pre_end'] }),
      ],
      nodes3,
    );
    expect(req(plan, 'pre_end@sync')).toEqual(['after-loose@1', 'loose@1', 'pre_start@sync']);
    const layerOf = (key: string) => byKey(plan).get(key)?.layer ?? -1;
    expect(layerOf('deploy@2')).toBeGreaterThan(layerOf('after-loose@1'));
  });

  it('a task absent from a node passes nothing on there (as Nailgun); a skipped one stays and does', () => {
    const plan = planDeployment(
      [
        sh('a', '*'),
        sh('ctl-only', ['controller'], { requires: ['a'] }),
        sh('c', '*', { requires: ['ctl-only'] }),
        { id: 'noop', type: 'skipped', roles: '*', requires: ['a'] },
        sh('d', '*', { requires: ['noop'] }),
      ],
      nodes3,
    );
    expect(req(plan, 'c@1')).toEqual(['ctl-only@1']);
    expect(req(plan, 'c@2')).toEqual([]);
    expect(byKey(plan).get('noop@2')).toMatchObject({ noop: { kind: 'skipped' }, requires: ['a@2'] });
    expect(req(plan, 'd@2')).toEqual(['noop@2']);
    expect(byKey(plan).get('d@2')?.layer).toBeGreaterThan(byKey(plan).get('a@2')?.layer ?? 99);
    expectTopological(plan);
  });

  it('cross-depends without a role means every other node; self, lists, patterns and policy any', () => {
    const nodes = [...nodes3, { id: 4, roles: ['ceph-osd'] }];
    const plan = planDeployment(
      [
        sh('x', '*'),
        sh('any-node', ['compute'], { 'cross-depends': [{ name: 'x' }] }),
        sh('mine', '*', { 'cross-depends': [{ name: 'x', role: 'self' }] }),
        sh('listed', ['controller'], { 'cross-depends': [{ name: 'x', role: ['compute', 'ceph-osd'] }] }),
        sh('pattern', ['controller'], { 'cross-depends': [{ name: '/^(any|mi)/', role: 'compute' }] }),
        sh('one', ['controller'], { 'cross-depends': [{ name: 'x', role: 'compute', policy: 'any' }] }),
      ],
      nodes,
    );
    expect(req(plan, 'any-node@2')).toEqual(['x@1', 'x@2', 'x@3', 'x@4']);
    expect(req(plan, 'mine@3')).toEqual(['x@3']);
    expect(req(plan, 'listed@1')).toEqual(['x@2', 'x@3', 'x@4']);
    expect(req(plan, 'pattern@1')).toEqual(['any-node@2', 'any-node@3', 'mine@2', 'mine@3']);
    expect(req(plan, 'one@1')).toEqual(['x@2']);
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
    expect(req(plan, 'client@1')).toEqual([]);
  });

  it('one_by_one: one node at a time, ascending ids; parallel amount: that many per layer', () => {
    const nodes = [30, 10, 20].map((id) => ({ id, roles: ['compute'] }));
    const serial = planDeployment(
      [sh('one', '*', { parameters: { cmd: 'x', strategy: { type: 'one_by_one' } } })],
      nodes,
    );
    expect(serial.layers).toEqual([['one@10'], ['one@20'], ['one@30']]);
    const five = Array.from({ length: 5 }, (_, i) => ({ id: i + 1, roles: ['compute'] }));
    const chunks = planDeployment([sh('p', '*', { strategy: { type: 'parallel', amount: 2 } })], five);
    expect(chunks.layers).toEqual([['p@1', 'p@2'], ['p@3', 'p@4'], ['p@5']]);
    const free = planDeployment([sh('p', '*', { strategy: { type: 'parallel' } })], five);
    expect(free.layers).toHaveLength(1);
  });

  it('puts the longest remaining path first when a node has several ready tasks', () => {
    const plan = planDeployment(
      [sh('short', '*'), sh('long1', '*'), sh('long2', '*', { requires: ['long1'] })],
      [{ id: 1, roles: ['compute'] }],
      { durationOf: (task) => (task.id === 'short' ? 1 : 5) },
    );
    expect(plan.layers).toEqual([['long1@1'], ['long2@1'], ['short@1']]);
  });

  it('a false condition makes an entry that runs nothing and says why; it still passes order on', () => {
    const plan = planDeployment(
      [sh('a', '*'), sh('maybe', '*', { requires: ['a'] }), sh('b', '*', { requires: ['maybe'] })],
      nodes3,
      {
        conditionOf: (task, target) =>
          task.id === 'maybe' && target === 2
            ? { run: false, reason: 'condition is false: x' }
            : { run: true },
      },
    );
    expect(byKey(plan).get('maybe@2')).toMatchObject({
      noop: { kind: 'condition', reason: 'condition is false: x' },
    });
    expect(byKey(plan).get('maybe@1')?.noop).toBeNull();
    expect(plan.layers.flat()).not.toContain('maybe@2');
    expectTopological(plan);
  });

  it('a condition that cannot be evaluated is a PlanError naming the task and the node', () => {
    expect(() =>
      planDeployment([sh('a', '*', { condition: 'x' })], nodes3, { conditionOf: () => ({ error: 'boom' }) }),
    ).toThrow(/task 'a' on node 1: its condition cannot be evaluated: boom/);
  });

  it('stops planning past maxLayers with a PlanError that says how to shorten it', () => {
    const nodes = Array.from({ length: 50 }, (_, i) => ({ id: i + 1, roles: ['compute'] }));
    const serial = [sh('one', '*', { strategy: { type: 'one_by_one' } })];
    expect(() => planDeployment(serial, nodes, { maxLayers: 10 })).toThrow(
      /more than 10 layers: use `parallel`/,
    );
    expect(planDeployment(serial, nodes, { maxLayers: 50 }).layers).toHaveLength(50);
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
      expect(['a', 'b']).toContain((error as PlanError).task);
      expect((error as PlanError).message).toMatch(/cycle/);
    }
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

  it('an empty cluster runs nothing (its stages are noted on the sync node); an empty graph plans nothing', () => {
    const empty = planDeployment(reference.tasks, []);
    expect(empty.layers.flat()).toEqual([]);
    expect(new Set(empty.instances.map((i) => i.nodeId))).toEqual(new Set([SYNC_NODE]));
    expect(planDeployment([], nodes3)).toEqual({ instances: [], layers: [] });
  });

  for (const layout of ['small', 'reference-50']) {
    it(`layers of the reference graph on '${layout}' are a topological order with one task per node`, () => {
      const nodes = referenceNodes(layout);
      const plan = planDeployment(reference.tasks, nodes);
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
    const nodes = referenceNodes('large-1000');
    const plan = planDeployment(reference.tasks, nodes);
    const edges = plan.instances.reduce((sum, i) => sum + i.requires.length, 0);
    expect(edges).toBeLessThan(300_000);
    expectTopological(plan);
    const tops = plan.instances.filter((i) => i.task === 'top-role-compute');
    expect(tops).toHaveLength(950);
    // a stage waits for every node, yet its row names tasks (`task@*`), not 1,000 nodes' entries
    for (const stage of plan.instances.filter((i) => i.nodeId === SYNC_NODE)) {
      expect(stage.requires.length, stage.key).toBeLessThanOrEqual(reference.tasks.length);
    }
    expect(new Set(tops.map((i) => i.layer)).size).toBe(48);
  });
});

describe('layers with typical durations', () => {
  const typical = reference.typical;
  /** What the layers take when each lasts as long as its longest entry. */
  const layeredSeconds = (plan: DeploymentPlan) => {
    const task = new Map(plan.instances.map((i) => [i.key, i.task]));
    return plan.layers.reduce(
      (sum, layer) => sum + Math.max(0, ...layer.map((k) => typical[task.get(k) ?? ''] ?? 0)),
      0,
    );
  };

  for (const [layout, bound, before] of [
    ['small', 1900, 1998],
    ['reference-50', 2480, 2827],
  ] as const) {
    it(`keep a long entry with slack out of a short critical layer on '${layout}' (at most ${bound} s, was ${before})`, () => {
      const plan = planDeployment(reference.tasks, referenceNodes(layout), {
        durationOf: (task) => typical[task.id] ?? 0,
      });
      expectTopological(plan);
      expect(layeredSeconds(plan)).toBeLessThanOrEqual(bound);
    });
  }

  it('a long entry waits for a layer its length fits, and its node takes a shorter one meanwhile', () => {
    // node 1: a (10 s) then b (20 s), the critical path; node 2: long (15 s) and short (1 s), either order
    const tasks = [
      sh('a', ['controller']),
      sh('b', ['controller'], { requires: ['a'] }),
      sh('long', ['compute']),
      sh('short', ['compute']),
    ];
    const seconds: Record<string, number> = { a: 10, b: 20, long: 15, short: 1 };
    const plan = planDeployment(
      tasks,
      [
        { id: 1, roles: ['controller'] },
        { id: 2, roles: ['compute'] },
      ],
      {
        durationOf: (task) => seconds[task.id] ?? 0,
      },
    );
    // `long` first would make a's layer last 15 s (35 s in all); waiting a layer, it ends within b's (30 s)
    expect(plan.layers).toEqual([
      ['a@1', 'short@2'],
      ['b@1', 'long@2'],
    ]);
  });
});

describe('layerTimeoutSeconds', () => {
  const instance = (timeout: number, retries: number) => ({ timeout, retries });

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
