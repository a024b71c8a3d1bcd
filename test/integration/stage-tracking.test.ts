/**
 * How a stage knows that every node has reported: each batch's shard holds its open instances, the stage item
 * the open batches. A result handler that dies between two of these writes is delivered again and finishes
 * the work; a layer dispatched by the previous version (every instance key in the stage item) still
 * completes after an upgrade. Real dynalite, real fleet.
 */
import { describe, expect, it } from 'vitest';
import { COMPLETION_CLAIM_MS } from '../../lambdas/app/engine/stage.js';
import type { Repositories } from '../../lambdas/app/ports.js';
import { runPk, stageSortKey } from '../../lambdas/store/history.js';
import { gated, harnessPerTest, newToken, shell } from '../helpers/engine-harness.js';

const harness = harnessPerTest();

describe('a result handler that dies after closing the last instance of a batch', () => {
  it('is delivered again: the batch ends, its last runs are recorded, the token completes once', async () => {
    let dieOnce = true;
    const h = await harness({
      nodeCount: 2,
      wrapRepos: (real: Repositories) => {
        const nodes = Object.create(real.nodes) as Repositories['nodes'];
        nodes.recordLastRuns = async (runs) => {
          if (dieOnce) {
            dieOnce = false;
            throw new Error('the Lambda died after closing the last instance');
          }
          return real.nodes.recordLastRuns(runs);
        };
        return { ...real, nodes };
      },
    });
    const { deployTask, nodes } = await h.setupCluster({
      graph: [shell('a', '*', 'echo a')],
      roles: [['compute'], ['compute']],
    });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    const token = await h.runStage(taskId, 'layer-0');
    await h.settle();

    expect(dieOnce).toBe(false);
    expect(h.workflows.completionsOf(token)).toHaveLength(1);
    expect((await h.repos.bookkeeping.getStage(taskId, 'layer-0')).openBatches).toEqual([]);
    for (const node of nodes) {
      expect((await h.repos.nodes.lastRuns(node.id)).map((r) => [r.taskName, r.deployTaskId])).toEqual([
        ['a', taskId],
      ]);
    }
    const run = await h.run(taskId);
    expect([run.done, run.total]).toEqual([4, 4]);
    expect((await h.stageTask(run.children.deployment ?? -1)).done).toBe(2);
  });
});

describe('a layer dispatched by the previous version', () => {
  it('completes after the upgrade: results close the keys of the stage item, count, and record last runs', async () => {
    const h = await harness({ nodeCount: 2 });
    const { deployTask, nodes } = await h.setupCluster({
      graph: [shell('a', '*', gated('a', 'echo a')), shell('b', '*', 'echo b', { requires: ['a'] })],
      roles: [['compute'], ['compute']],
    });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    await h.settle();
    const token = newToken('layer-0');
    await h.engine.dispatch({ taskId, stage: 'layer-0', token });

    // rewrite the layer's bookkeeping as the previous version wrote it: intents without `tracked`, no
    // shards, every instance key outstanding in the stage item
    const pk = runPk(taskId);
    const prefix = stageSortKey('layer-0');
    for (const item of await h.table.query(pk, `CMD#${prefix}`)) {
      const { tracked: _tracked, ...legacy } = item;
      await h.table.put(legacy);
    }
    for (const item of await h.table.query(pk, `OPEN#${prefix}`))
      await h.table.delete({ pk, sk: String(item.sk) });
    const stage = await h.table.get({ pk, sk: `STAGE#${prefix}` });
    const { openBatches: _open, batchesOpened: _opened, ...legacyStage } = stage ?? {};
    await h.table.put({ ...legacyStage, outstanding: new Set(nodes.map((n) => `a@${n.id}`)) });
    const run = await h.run(taskId);
    const child = await h.stageTask(run.children.deployment ?? -1);

    h.openGate('a');
    await h.waitForCompletion(token);
    await h.settle();
    expect(h.workflows.completionsOf(token)).toHaveLength(1);
    expect((await h.repos.bookkeeping.getStage(taskId, 'layer-0')).outstanding).toEqual([]);
    expect((await h.rows(taskId, 'layer-0')).map((r) => r.status)).toEqual(['ready', 'ready']);
    expect((await h.run(taskId)).done).toBe(run.done + 2);
    expect((await h.stageTask(child.id)).done).toBe(child.done + 2);
    for (const node of nodes)
      expect((await h.repos.nodes.lastRuns(node.id)).map((r) => r.taskName)).toEqual(['a']);

    // the next layer is dispatched by this version, and the deployment ends
    await h.runStage(taskId, 'layer-1');
    await h.settle();
    expect((await h.engine.finish({ taskId, failure: null })).status).toBe('ready');
  });
});

describe('a completion claimed by a Lambda that died before completing', () => {
  it('is taken over by the watchdog once the claim is old, and the token completed once', async () => {
    let offset = 0;
    let dieOnce = true;
    const h = await harness({
      nodeCount: 1,
      clock: { now: () => new Date(Date.now() + offset) },
      wrapRepos: (real: Repositories) => {
        const bookkeeping = Object.create(real.bookkeeping) as Repositories['bookkeeping'];
        bookkeeping.claimCompletion = async (...args) => {
          const claimed = await real.bookkeeping.claimCompletion(...args);
          if (claimed && dieOnce && args[1] === 'layer-0') {
            dieOnce = false;
            throw new Error('the Lambda died after claiming the completion');
          }
          return claimed;
        };
        return { ...real, bookkeeping };
      },
    });
    const { deployTask } = await h.setupCluster({ graph: [shell('a', '*', 'echo a')], roles: [['compute']] });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    const token = newToken('layer-0');
    await h.engine.dispatch({ taskId, stage: 'layer-0', token });
    await h.settle();
    expect(dieOnce).toBe(false);
    // delivered again, the result finds the completion claimed (by the Lambda that died): it waits
    expect(h.workflows.completionsOf(token)).toEqual([]);
    await h.engine.watchdog();
    expect(h.workflows.completionsOf(token)).toEqual([]);

    offset = COMPLETION_CLAIM_MS + 1000;
    await h.engine.watchdog();
    expect(h.workflows.completionsOf(token)).toHaveLength(1);
    await h.engine.watchdog();
    expect(h.workflows.completionsOf(token)).toHaveLength(1);
  });
});
