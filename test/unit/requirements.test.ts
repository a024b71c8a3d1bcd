import { describe, expect, it } from 'vitest';
import { decideLayer, reachedNoops } from '../../lambdas/domain/dispatch.js';
import { planDeployment, type TaskInstance } from '../../lambdas/domain/plan.js';
import {
  compactRequirements,
  EXPLICIT_REQUIREMENTS,
  parseRequirement,
  requirementNames,
  TargetSetRegistry,
  type TargetSets,
} from '../../lambdas/domain/requirements.js';
import { rowKey } from '../../lambdas/domain/stage.js';
import { reference, referenceNodes } from '../helpers/reference-graph.js';
import { taskRow } from '../helpers/rows.js';

const entries = (instances: TaskInstance[]) => {
  const count = new Map<string, number>();
  for (const i of instances) count.set(i.task, (count.get(i.task) ?? 0) + 1);
  return count;
};

/** The entry keys a requirement list names, among a plan's instances. */
function named(keys: string[], instances: TaskInstance[], sets: TargetSets): string[] {
  return instances
    .filter((i) => keys.some((k) => requirementNames(k, i.task, i.nodeId, sets)))
    .map((i) => i.key)
    .sort();
}

describe('requirements kept per task', () => {
  it('names every entry as task@*, a few by their keys, more as a shared target set', () => {
    const sets = new TargetSetRegistry();
    const count = new Map([
      ['all', 3],
      ['few', 10],
      ['many', 10],
    ]);
    const many = [1, 2, 3, 4, 5, 6].map((n) => `many@${n}`);
    expect(
      compactRequirements(['all@1', 'all@2', 'all@3', 'few@1', 'few@master', ...many], count, sets),
    ).toEqual(['all@*', 'few@1', 'few@master', 'many@#0']);
    // the same targets of another row: the same set
    expect(compactRequirements([...many].reverse(), count, sets)).toEqual(['many@#0']);
    expect(compactRequirements(['stage@*', 'x@sync'], count, sets)).toEqual(['stage@*', 'x@sync']);
    expect(sets.sets).toEqual([[1, 2, 3, 4, 5, 6]]);
    expect(EXPLICIT_REQUIREMENTS).toBeLessThan(6);
    expect(parseRequirement('x@y@#3')).toEqual({ task: 'x@y', set: 3 });
    expect(parseRequirement('x@y@master')).toEqual({ task: 'x@y', target: 0 });
  });

  it('name the same entries as the plan, on the reference graph (reference-50)', () => {
    const plan = planDeployment(reference.tasks, referenceNodes('reference-50'));
    const sets = new TargetSetRegistry();
    const count = entries(plan.instances);
    const map = () => sets.asMap();
    for (const instance of plan.instances) {
      const compact = compactRequirements(instance.requires, count, sets);
      expect(named(compact, plan.instances, map()), instance.key).toEqual(
        named(instance.requires, plan.instances, new Map()),
      );
    }
  });

  it('keep every row small on 1,000 nodes: a bounded number of short requirements', () => {
    const plan = planDeployment(reference.tasks, referenceNodes('large-1000'));
    const sets = new TargetSetRegistry();
    const count = entries(plan.instances);
    let longest = 0;
    for (const instance of plan.instances) {
      const compact = compactRequirements(instance.requires, count, sets);
      longest = Math.max(longest, compact.join('').length);
      expect(compact.length, instance.key).toBeLessThanOrEqual(
        reference.tasks.length * EXPLICIT_REQUIREMENTS,
      );
    }
    expect(longest).toBeLessThan(1024);
    // the sets come from roles: a few, whatever the number of nodes
    expect(sets.sets.length).toBeLessThanOrEqual(10);
  });
});

describe('decisions on target-set requirements', () => {
  const sets: TargetSets = new Map([[0, new Set([2, 3, 4, 5, 6])]]);

  it('block a row when an entry of the set failed, not for one outside it', () => {
    const rows = [taskRow('ctl', 1, { requires: ['l2@#0'] })];
    const failed = (key: string) => ({ nodes: new Map(), instances: new Map([[key, 'failed']]) });
    expect(decideLayer(rows, failed('l2@7'), sets).send.map(rowKey)).toEqual(['ctl@1']);
    const decision = decideLayer(rows, failed('l2@4'), sets);
    expect(decision.skip.map((s) => s.reason)).toEqual(['not run: requirement l2@4 did not succeed']);
  });

  it('reach a row that runs nothing when every entry of the set succeeded', () => {
    const noop = { kind: 'noop' as const, reason: 'nothing' };
    const ready = [2, 3, 4, 5, 6].map((n) => taskRow('l2', n, { status: 'ready', order: 0 }));
    const after = taskRow('after', 1, { requires: ['l2@#0'], noop, order: 1 });
    expect([...reachedNoops([...ready, taskRow('l2', 7, { order: 0 }), after], sets).keys()]).toEqual([
      'after@1',
    ]);
    const notYet = ready.map((r, i) => (i === 0 ? { ...r, status: 'running' as const } : r));
    expect([...reachedNoops([...notYet, after], sets).keys()]).toEqual([]);
  });
});
