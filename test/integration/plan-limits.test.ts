/**
 * The limits of one execution (lambdas/domain/plan-limits.ts), checked before anything runs: a layer whose
 * commands, rendered per node, would be more than the dispatch step can send. "Deploy changes" counts each
 * layer at its fewest commands (one per 50 nodes of a task); the plan step counts them as rendered, and
 * refuses the plan before any row is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Node } from '../../lambdas/domain/model.js';
import { MAX_COMMANDS_PER_LAYER } from '../../lambdas/domain/plan-limits.js';
import { type Harness, startHarness } from '../helpers/engine-harness.js';

let h: Harness;
const NODES = MAX_COMMANDS_PER_LAYER + 1;

beforeAll(async () => {
  h = await startHarness({ nodeCount: 1 });
  await h.service.discoverNodes();
  const [template] = await h.service.listNodes(null);
  if (!template) throw new Error('no node discovered');
  // records of nodes only: nothing is sent to them, the plan is refused first
  for (let i = 1; i < NODES; i++) {
    const id = 10_000 + i;
    const node: Node = { ...template, id, instanceId: `mi-plan-limits-${id}`, name: `limits-${id}` };
    await h.repos.nodes.put(node);
  }
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe('a layer with more commands than one dispatch can send', () => {
  it('is refused by the plan step, which counts the commands as rendered for each node', async () => {
    const free = await h.service.listNodes(null);
    expect(free).toHaveLength(NODES);
    const cluster = await h.service.createCluster({ name: 'plan-limits', releaseId: 1 });
    await h.service.putGraph(cluster.id, [
      {
        id: 'node-file',
        type: 'upload_file',
        roles: ['compute'],
        // each node's own text: one command per node
        parameters: { path: '/etc/fuel-node-uid', data: { yaql_exp: '$.uid' }, timeout: 60 },
      },
    ]);
    await h.service.assignNodes(
      cluster.id,
      free.map((n) => ({ id: n.id, roles: ['compute'] })),
    );
    // counted at its fewest (11 commands for one task on 501 nodes), the layer passes "Deploy changes"
    const deployTask = await h.service.deployChanges(cluster.id);

    await expect(h.engine.plan({ taskId: deployTask.id })).rejects.toThrow(
      `Layer 1 of the deployment would send ${NODES} commands, at most ${MAX_COMMANDS_PER_LAYER} per layer`,
    );
    expect(await h.rows(deployTask.id, 'all')).toEqual([]);
  });
});
