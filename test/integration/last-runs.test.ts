/**
 * What a node's last successful runs say is forgotten when the node is no longer what they describe: when
 * it is provisioned again (after a reset, or a failed provisioning), released from its cluster, or given new
 * roles. Otherwise "Deploy changes" (and `?resume=1` on stopped nodes) would skip work that never ran on
 * the node as it is now. Real dynalite, real fleet; the test plays the state machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, shell, startHarness } from '../helpers/engine-harness.js';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const graph = [shell('a', '*', 'echo a'), shell('b', '*', 'echo b', { requires: ['a'] })];

/** Which tasks the run planned as unchanged since their last successful run on the node. */
async function unchangedOf(harness: Harness, runId: number): Promise<string[]> {
  await harness.engine.plan({ taskId: runId });
  return (await harness.rows(runId, 'layers'))
    .filter((r) => r.unchanged)
    .map((r) => r.taskName)
    .sort();
}

describe("a node's last runs", () => {
  it('are kept while the node stays as it is: a redeploy of a ready node skips its unchanged tasks', async () => {
    h = await startHarness({ nodeCount: 1 });
    const { clusterId, deployTask } = await h.setupCluster({ graph, roles: [['controller']] });
    expect((await h.runDeployment(deployTask.id)).status).toBe('ready');
    const again = await h.service.deployChanges(clusterId);
    expect(await unchangedOf(h, again.id)).toEqual(['a', 'b']);
  });

  it('are forgotten when the node is provisioned again: resume after a reset skips only what ran since', async () => {
    h = await startHarness({ nodeCount: 1 });
    const { clusterId, deployTask, nodes } = await h.setupCluster({ graph, roles: [['controller']] });
    expect((await h.runDeployment(deployTask.id)).status).toBe('ready');

    await h.service.resetCluster(clusterId);
    const second = await h.service.deployChanges(clusterId);
    await h.engine.plan({ taskId: second.id });
    await h.runStage(second.id, 'provision');
    await h.runStage(second.id, 'layer-0');
    await h.settle();
    await h.service.stopDeployment(clusterId, { requestedBy: 'admin', message: 'halfway', force: false });
    await h.engine.finish({ taskId: second.id, failure: null });
    expect((await h.node(nodes[0]?.id ?? 0)).status).toBe('stopped');

    // `a` ran on the fresh node; `b` ran only before the reset, on a node that is gone
    const third = await h.service.deployChanges(clusterId, { force: false, resume: true });
    expect(await unchangedOf(h, third.id)).toEqual(['a']);
  });

  it('are forgotten when the node is given new roles', async () => {
    h = await startHarness({ nodeCount: 1 });
    const { clusterId, deployTask, nodes } = await h.setupCluster({ graph, roles: [['controller']] });
    expect((await h.runDeployment(deployTask.id)).status).toBe('ready');
    await h.service.assignNodes(clusterId, [{ id: nodes[0]?.id ?? 0, roles: ['controller', 'cinder'] }]);
    const again = await h.service.deployChanges(clusterId);
    expect(await unchangedOf(h, again.id)).toEqual([]);
  });

  it('are forgotten when the node leaves its cluster', async () => {
    h = await startHarness({ nodeCount: 1 });
    const { clusterId, deployTask, nodes } = await h.setupCluster({ graph, roles: [['controller']] });
    const nodeId = nodes[0]?.id ?? 0;
    expect((await h.runDeployment(deployTask.id)).status).toBe('ready');
    expect(await h.repos.nodes.lastRuns(nodeId)).toHaveLength(2);
    await h.service.unassignNodes(clusterId, [nodeId]);
    expect(await h.repos.nodes.lastRuns(nodeId)).toEqual([]);
  });
});
