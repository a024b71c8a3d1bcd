/**
 * Progress that moves (issue 12, point 3): a node of a running deployment reads the share of its planned rows
 * that ended (provisioning counts as one), as results come in; the deploy task reads the share of all the
 * run's rows, the planned-rows weighted mean of its nodes'. A stop keeps what a node had reached; a ready node
 * reads 100. Driven step by step against real parts (engine harness): dynalite, the local fleet running real
 * commands, the repositories, the service the API calls; read as the API serializes them.
 */
import { describe, expect, it } from 'vitest';
import { nodeJson, taskJson } from '../../lambdas/api/serialize.js';
import type { HistoryRow } from '../../lambdas/domain/history.js';
import type { Node } from '../../lambdas/domain/model.js';
import { gated, type Harness, harnessPerTest, newToken, shell, waitFor } from '../helpers/engine-harness.js';
import { openGate } from '../helpers/gates.js';

const harness = harnessPerTest();

/** `a` everywhere, then `b` everywhere (held by a gate on each node), then `c` on the controller only. */
const graph = [
  shell('a', '*', 'echo a'),
  shell('b', '*', gated('b', 'echo b'), { requires: ['a'] }),
  shell('c', ['controller'], 'echo c', { requires: ['b'] }),
];

const ended = (r: HistoryRow) => r.status === 'ready' || r.status === 'error' || r.status === 'skipped';

/** What the API shows: `progress` of each node, by id, and of the deploy task. */
async function shown(h: Harness, clusterId: number, runId: number) {
  const nodes = (await h.service.listNodes(clusterId)).map(nodeJson);
  const one = nodeJson(await h.service.node(nodes[0]?.id ?? 0));
  const task = taskJson(await h.service.task(runId));
  return {
    nodes: new Map(nodes.map((n) => [n.id, n.progress])),
    first: { id: one.id, progress: one.progress },
    task: task.progress,
  };
}

/** Progress from the history rows themselves: each node's ended over planned, and the run's. */
async function fromRows(h: Harness, runId: number, nodes: Node[]) {
  const rows = await h.rows(runId);
  const byNode = new Map(
    nodes.map((n) => {
      const own = rows.filter((r) => r.nodeId === n.id);
      return [n.id, { ended: own.filter(ended).length, planned: own.length }];
    }),
  );
  return { byNode, ended: rows.filter(ended).length, planned: rows.length };
}

/** Lets `b` go on one node only. */
const openGateOn = (h: Harness, node: Node): void => openGate(h.fleet, 'b', [node.instanceId]);

describe("a node's progress", () => {
  it('moves as results come in, equals ended / planned, the deploy task the weighted mean, and a stop keeps it', async () => {
    const h = await harness();
    const { clusterId, deployTask, nodes } = await h.setupCluster({
      graph,
      roles: [['controller'], ['compute'], ['compute']],
    });
    const [controller, first, second] = nodes as [Node, Node, Node];
    const runId = deployTask.id;
    const seen = new Map<number, number[]>(nodes.map((n) => [n.id, []]));
    const poll = async () => {
      const now = await shown(h, clusterId, runId);
      for (const n of nodes) seen.get(n.id)?.push(now.nodes.get(n.id) ?? -1);
      expect(now.first.progress).toBe(now.nodes.get(now.first.id));
      return now;
    };
    /** What the API shows equals what the rows say: per node, and the deploy task as their weighted mean. */
    const expectConsistent = async () => {
      const now = await poll();
      const truth = await fromRows(h, runId, nodes);
      for (const n of nodes) {
        const count = truth.byNode.get(n.id) ?? { ended: 0, planned: 1 };
        expect(now.nodes.get(n.id), `node ${n.id}`).toBe(Math.floor((100 * count.ended) / count.planned));
      }
      const planned = [...truth.byNode.values()].reduce((a, c) => a + c.planned, 0);
      const endedRows = [...truth.byNode.values()].reduce((a, c) => a + c.ended, 0);
      // the graph has no stage or master task: every row of the run is a node's
      expect(planned).toBe(truth.planned);
      expect(now.task).toBe(Math.min(99, Math.floor((100 * endedRows) / planned)));
      return now;
    };

    await h.engine.plan({ taskId: runId });
    expect([...(await expectConsistent()).nodes.values()]).toEqual([0, 0, 0]);

    // provisioning, one of the 4 rows of the controller and of the 3 of each compute
    await h.runStage(runId, 'provision');
    expect((await expectConsistent()).nodes).toEqual(
      new Map([
        [controller.id, 25],
        [first.id, 33],
        [second.id, 33],
      ]),
    );
    await h.runStage(runId, 'layer-0');
    expect((await expectConsistent()).task).toBe(60);

    // `b` runs everywhere; it ends on one compute only
    const token = newToken('layer-1');
    await h.engine.dispatch({ taskId: runId, stage: 'layer-1', token });
    await expectConsistent();
    openGateOn(h, first);
    await waitFor(
      'the first compute at 100',
      async () => (await shown(h, clusterId, runId)).nodes.get(first.id),
      (p) => p === 100,
    );
    const mid = await expectConsistent();
    expect(mid.nodes.get(controller.id)).toBe(50);
    expect(mid.nodes.get(second.id)).toBe(66);
    // 7 of the run's 10 rows; the task's own counters would still say 6 (they move every 25 results)
    expect(mid.task).toBe(70);

    // stopped while `b` runs on the others: it ends there, `c` never runs
    await h.service.stopDeployment(clusterId, { requestedBy: 'admin', message: 'halfway', force: false });
    openGateOn(h, controller);
    openGateOn(h, second);
    await h.waitForCompletion(token);
    await h.settle();
    await waitFor(
      'the run settled',
      async () => (await h.run(runId)).status,
      (s) => s !== 'running',
    );
    const after = await poll();
    expect((await h.node(controller.id)).status).toBe('stopped');
    // the controller reached 3 of its 4 rows (`c`, skipped by the stop, is not counted): it keeps 75
    expect(after.nodes.get(controller.id)).toBe(75);
    expect((await h.node(first.id)).status).toBe('ready');
    expect((await h.node(second.id)).status).toBe('ready');
    expect(after.nodes.get(first.id)).toBe(100);
    expect(after.nodes.get(second.id)).toBe(100);
    // the deploy task keeps what it reached, 9 of 10, below 100: work was left
    expect((await h.run(runId)).status).toBe('error');
    expect(after.task).toBe(90);

    for (const [id, values] of seen) {
      expect(
        values.some((p) => p > 0 && p < 100),
        `node ${id}: ${values}`,
      ).toBe(true);
      expect(
        values.every((p, i) => i === 0 || p >= (values[i - 1] ?? 0)),
        `node ${id} never goes back: ${values}`,
      ).toBe(true);
    }
  });

  it('reads 100 once ready, a free node 0', async () => {
    const h = await harness({ nodeCount: 3 });
    const { clusterId, deployTask, nodes } = await h.setupCluster({
      graph: [shell('a', '*', 'echo a'), shell('z', ['controller'], 'echo z', { requires: ['a'] })],
      roles: [['controller'], ['compute']],
    });
    const outline = await h.engine.plan({ taskId: deployTask.id });
    await h.runStage(deployTask.id, 'provision');
    const during = await shown(h, clusterId, deployTask.id);
    const [controller, compute] = nodes as [Node, Node];
    expect(during.nodes.get(controller.id)).toBe(33);
    expect(during.nodes.get(compute.id)).toBe(50);
    for (const layer of outline.layers) await h.runStage(deployTask.id, layer.stage);
    await h.settle();
    // every row of the compute ended before the run did: it reads 100 while the run still runs
    expect((await shown(h, clusterId, deployTask.id)).nodes.get(compute.id)).toBe(100);
    await h.engine.finish({ taskId: deployTask.id, failure: null });
    const end = await shown(h, clusterId, deployTask.id);
    for (const n of nodes) {
      expect((await h.node(n.id)).status).toBe('ready');
      expect(end.nodes.get(n.id)).toBe(100);
    }
    expect(end.task).toBe(100);
    // the free node is in no run: as discovery left it
    const free = (await h.service.listNodes(null)).map(nodeJson);
    expect(free.map((n) => n.progress)).toEqual([0]);
  });

  it('a stopped node whose work left was all skipped (blocked by a failed node) ends below 100', async () => {
    const h = await harness({ nodeCount: 3 });
    const { deployTask, nodes } = await h.setupCluster({
      graph: [
        shell('a', '*', 'echo a'),
        shell('bad', ['compute'], 'exit 1', { requires: ['a'] }),
        shell('needs', ['cinder'], 'echo needs', {
          requires: ['a'],
          'cross-depends': [{ name: 'bad', role: 'compute' }],
        }),
      ],
      roles: [['controller'], ['compute'], ['cinder']],
    });
    await h.runDeployment(deployTask.id);
    const cinder = (nodes as [Node, Node, Node])[2];
    const rows = (await h.rows(deployTask.id)).filter(
      (r) => r.nodeId === cinder.id && r.taskName === 'needs',
    );
    expect(rows.map((r) => [r.status, r.skipReason])).toEqual([['skipped', 'blocked']]);
    // every row of the node ended (provision, a, needs skipped), but `needs` never ran: work was left
    const settled = await h.node(cinder.id);
    expect(settled.status).toBe('stopped');
    expect(settled.progress).toBe(99);
    expect(nodeJson(await h.service.node(cinder.id)).progress).toBe(99);
  });
});
