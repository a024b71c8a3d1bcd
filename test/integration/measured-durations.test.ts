/**
 * The layers are ordered by what the work took last time: once a deployment has run, the next one puts the
 * task with the longest remaining work first on its node: from what the run's end recorded (`PLAN#D#`), or
 * from its rows when it recorded nothing (a run that ended before the item was written). Real dynalite, real
 * fleet; the test plays the state machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runPk } from '../../lambdas/store/history.js';
import { type Harness, shell, startHarness } from '../helpers/engine-harness.js';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Task names per layer of a run, as planned. */
async function layersOf(harness: Harness, runId: number): Promise<string[]> {
  await harness.engine.plan({ taskId: runId });
  const rows = await harness.rows(runId, 'layers');
  return rows.sort((a, b) => (a.layer ?? 0) - (b.layer ?? 0)).map((r) => r.taskName);
}

describe('measured durations', () => {
  it("order the next deployment's layers: the task that took longest runs first", async () => {
    h = await startHarness({ nodeCount: 1 });
    // two independent tasks on one node: alike until measured, `a` first by upload order
    const graph = [shell('a', '*', 'true'), shell('b', '*', 'sleep 0.8')];
    const { clusterId, deployTask } = await h.setupCluster({ graph, roles: [['compute']] });
    expect(await layersOf(h, deployTask.id)).toEqual(['a', 'b']);
    expect((await h.runDeployment(deployTask.id)).status).toBe('ready');

    const again = await h.service.deployChanges(clusterId, { force: true, resume: false });
    expect(await layersOf(h, again.id)).toEqual(['b', 'a']);
  });

  it("are read from the last run's rows when its end recorded none", async () => {
    h = await startHarness({ nodeCount: 1 });
    const graph = [shell('a', '*', 'true'), shell('b', '*', 'sleep 0.8')];
    const { clusterId, deployTask } = await h.setupCluster({ graph, roles: [['compute']] });
    expect((await h.runDeployment(deployTask.id)).status).toBe('ready');
    const recorded = await h.table.get({ pk: runPk(deployTask.id), sk: 'PLAN#D#' });
    expect(Object.keys((recorded?.seconds ?? {}) as object).sort()).toEqual(['a', 'b']);
    await h.table.delete({ pk: runPk(deployTask.id), sk: 'PLAN#D#' });

    const again = await h.service.deployChanges(clusterId, { force: true, resume: false });
    expect(await layersOf(h, again.id)).toEqual(['b', 'a']);
  });
});
