/**
 * The deployment engine driven step by step, as the state machine drives it, against real parts:
 * dynalite, the local SSM fleet running real shell commands, the DynamoDB repositories, the SSM adapter, the service.
 * Only the Step Functions port is a recording fake.
 */
import { describe, expect, it } from 'vitest';
import type {
  InvocationStatus,
  ManagedInstance,
  NodeCommands,
  Repositories,
  SendCommandInput,
} from '../../lambdas/app/ports.js';
import { DEFAULT_PROVISION_CMD } from '../../lambdas/domain/attributes.js';
import { type CommandIntent, parseComment } from '../../lambdas/domain/bookkeeping.js';
import type { InvocationResult } from '../../lambdas/domain/command-result.js';
import type { GraphTask } from '../../lambdas/domain/graph.js';
import type { HistoryRow } from '../../lambdas/domain/history.js';
import type { Node } from '../../lambdas/domain/model.js';
import {
  type ClusterSetup,
  gated,
  type Harness,
  harnessPerTest,
  newToken,
  shell,
  waitFor,
} from '../helpers/engine-harness.js';

const harness = harnessPerTest();

/** What the fleet received, as `task@nodeId`, read from the commands themselves (not the engine's bookkeeping). */
function received(
  h: Harness,
  graph: GraphTask[],
  nodes: Node[],
  provisionCmd = DEFAULT_PROVISION_CMD,
): string[] {
  const taskOfCmd = new Map<string, string>([[provisionCmd, 'provision']]);
  for (const t of graph) if (t.parameters?.cmd) taskOfCmd.set(t.parameters.cmd, t.id);
  const nodeOfInstance = new Map(nodes.map((n) => [n.instanceId, n.id]));
  return h.fleet.commandLog().map((record) => {
    const cmd = record.parameters.command?.[0] ?? '';
    return `${taskOfCmd.get(cmd) ?? `?${cmd}`}@${nodeOfInstance.get(record.instanceId) ?? record.instanceId}`;
  });
}

const countOf = (list: string[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const item of list) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
};

const statusesOf = (rows: HistoryRow[]): Record<string, string> =>
  Object.fromEntries(rows.map((r) => [`${r.stage}:${r.taskName}@${r.nodeId}`, r.status]));

async function nodeStatuses(h: Harness, nodes: Node[]): Promise<string[]> {
  return Promise.all(nodes.map(async (n) => (await h.node(n.id)).status));
}

/** Two nodes, two layers: `a` on every node, then `b` on every node. */
function twoLayerGraph(): GraphTask[] {
  return [shell('a', '*', 'echo task-a'), shell('b', '*', 'echo task-b', { requires: ['a'] })];
}

describe('plan', () => {
  it('is idempotent: a second call returns the same outline and neither duplicates nor resets rows', async () => {
    const h = await harness();
    const graph = twoLayerGraph();
    const { deployTask, nodes } = await h.setupCluster({ graph, roles: [['compute'], ['compute']] });
    const taskId = deployTask.id;

    const first = await h.engine.plan({ taskId });
    expect(first.provision.nodeCount).toBe(2);
    expect(first.layers.map((l) => l.stage)).toEqual(['layer-0', 'layer-1']);
    const rowsAfterFirst = await h.rows(taskId);
    expect(rowsAfterFirst).toHaveLength(6);
    expect((await h.run(taskId)).total).toBe(6);

    const second = await h.engine.plan({ taskId });
    expect(second).toEqual(first);
    expect(await h.rows(taskId)).toEqual(rowsAfterFirst);

    // A plan retried after work started must not put the rows back to pending.
    await h.runStage(taskId, 'provision');
    await h.settle();
    const third = await h.engine.plan({ taskId });
    expect(third).toEqual(first);
    const rows = await h.rows(taskId);
    expect(rows).toHaveLength(6);
    expect(rows.filter((r) => r.stage === 'provision').map((r) => r.status)).toEqual(['ready', 'ready']);
    expect((await h.run(taskId)).total).toBe(6);
    expect(await nodeStatuses(h, nodes)).toEqual(['provisioned', 'provisioned']);
  });
});

describe('dispatch of the provision stage', () => {
  it('sends one command to every node needing it; nodes go provisioning, then provisioned; token completed once', async () => {
    const h = await harness();
    const provisionCmd = gated('provision', 'echo provisioned $FUEL_NODE_NAME');
    const graph = twoLayerGraph();
    const { deployTask, nodes } = await h.setupCluster({
      graph,
      roles: [['compute'], ['compute'], ['controller']],
      attributes: { provision: { cmd: { value: provisionCmd }, timeout: { value: 30 } } },
    });
    const taskId = deployTask.id;
    const outline = await h.engine.plan({ taskId });
    expect(outline.provision.nodeCount).toBe(3);

    const token = newToken('provision');
    const out = await h.engine.dispatch({ taskId, stage: 'provision', token });
    expect(out.sent).toBe(3);

    // While the command runs (held by its gate): nodes provisioning, rows running, token not completed.
    expect(await nodeStatuses(h, nodes)).toEqual(['provisioning', 'provisioning', 'provisioning']);
    const running = await h.rows(taskId, 'provision');
    expect(running.map((r) => r.status)).toEqual(['running', 'running', 'running']);
    expect(running.every((r) => r.timeStart !== null)).toBe(true);
    expect(h.workflows.completionsOf(token)).toEqual([]);

    const log = await waitFor(
      'three deliveries',
      () => h.fleet.commandLog(),
      (l) => l.length === 3,
    );
    expect(new Set(log.map((r) => r.commandId)).size).toBe(1);
    expect(log.map((r) => r.instanceId).sort()).toEqual(nodes.map((n) => n.instanceId).sort());
    expect(log.every((r) => r.comment === `fuel:${taskId}:provision:0`)).toBe(true);
    expect(log[0]?.parameters.command).toEqual([provisionCmd]);

    h.openGate('provision');
    await h.waitForCompletion(token);
    await h.settle();

    expect(h.workflows.completionsOf(token)).toEqual([{ token, output: { stage: 'provision' } }]);
    expect(h.workflows.completions).toHaveLength(1);
    expect(await nodeStatuses(h, nodes)).toEqual(['provisioned', 'provisioned', 'provisioned']);
    const rows = await h.rows(taskId, 'provision');
    expect(rows.map((r) => r.status)).toEqual(['ready', 'ready', 'ready']);
    for (const row of rows) {
      expect(row.command?.exitCode).toBe(0);
      expect(String(row.command?.outputTail)).toContain('provisioned node-');
    }
    const deploy = await h.run(taskId);
    expect(deploy.done).toBe(3);
    const provisionTask = await h.stageTask(deploy.children.provision ?? -1);
    expect(provisionTask.status).toBe('ready');
    expect(provisionTask.done).toBe(3);
    expect(received(h, graph, nodes, provisionCmd)).toHaveLength(3);
  });
});

describe('dispatch retried by Step Functions', () => {
  it('a Lambda retried after it sent: the fleet gets each (task, node) once and the new token is completed', async () => {
    const h = await harness();
    const graph = [
      shell('a', ['compute'], gated('layer', 'echo task-a')),
      shell('c', ['controller'], gated('layer', 'echo task-c')),
    ];
    const { deployTask, nodes } = await h.setupCluster({
      graph,
      roles: [['controller'], ['compute'], ['compute']],
    });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    await h.settle();

    const first = newToken('layer-0');
    expect((await h.engine.dispatch({ taskId, stage: 'layer-0', token: first })).sent).toBe(3);
    // The Lambda's answer was lost: Step Functions retries the state with a new token.
    const second = newToken('layer-0-retry');
    expect((await h.engine.dispatch({ taskId, stage: 'layer-0', token: second })).sent).toBe(0);

    h.openGate('layer');
    await h.waitForCompletion(second);
    await h.settle();

    const layer = received(h, graph, nodes).filter((k) => !k.startsWith('provision@'));
    const [n1, n2, n3] = nodes.map((n) => n.id);
    expect(countOf(layer)).toEqual({ [`a@${n2}`]: 1, [`a@${n3}`]: 1, [`c@${n1}`]: 1 });
    expect(h.workflows.completionsOf(second)).toHaveLength(1);
    const rows = await h.rows(taskId, 'layers');
    expect(rows.map((r) => r.status)).toEqual(['ready', 'ready', 'ready']);
    expect((await h.run(taskId)).done).toBe(6);
  });

  it('a retry after the stage already finished completes the new token at once and keeps nodes provisioned', async () => {
    const h = await harness();
    const graph = twoLayerGraph();
    const { deployTask, nodes } = await h.setupCluster({ graph, roles: [['compute'], ['compute']] });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    await h.settle();
    expect(await nodeStatuses(h, nodes)).toEqual(['provisioned', 'provisioned']);

    const retry = newToken('provision-retry');
    expect((await h.engine.dispatch({ taskId, stage: 'provision', token: retry })).sent).toBe(0);
    expect(h.workflows.completionsOf(retry)).toHaveLength(1);
    expect(received(h, graph, nodes)).toHaveLength(2);
    expect((await h.run(taskId)).done).toBe(2);
    // The nodes were provisioned and nothing runs on them: a retried dispatch must not say otherwise.
    expect(await nodeStatuses(h, nodes)).toEqual(['provisioned', 'provisioned']);
  });
});

/** Sends, then fails as a Lambda killed before it could record the command id. */
class CrashAfterSend implements NodeCommands {
  armed = false;
  constructor(private readonly real: NodeCommands) {}
  async send(input: SendCommandInput): Promise<string> {
    const id = await this.real.send(input);
    if (this.armed) {
      this.armed = false;
      throw new Error('Lambda crashed after SendCommand');
    }
    return id;
  }
  findByComment(comment: string, since: Date): Promise<string | null> {
    return this.real.findByComment(comment, since);
  }
  invocation(commandId: string, instanceId: string): Promise<InvocationResult | null> {
    return this.real.invocation(commandId, instanceId);
  }
  invocations(commandId: string): Promise<InvocationStatus[]> {
    return this.real.invocations(commandId);
  }
  cancel(commandId: string, instanceIds?: string[]): Promise<void> {
    return this.real.cancel(commandId, instanceIds);
  }
  instances(): Promise<ManagedInstance[]> {
    return this.real.instances();
  }
}

describe('crash between SendCommand and recording the command id', () => {
  it('the retried dispatch finds the sent command by its comment, sends the rest once, completes the token', async () => {
    let crash: CrashAfterSend | null = null;
    const h = await harness({
      wrapCommands: (real) => {
        crash = new CrashAfterSend(real);
        return crash;
      },
    });
    const crasher = (): CrashAfterSend => {
      if (!crash) throw new Error('no wrapper');
      return crash;
    };
    // Two tasks in layer 0: two SendCommand batches; the crash happens after the first.
    const graph = [shell('a', ['compute'], 'echo task-a'), shell('c', ['controller'], 'echo task-c')];
    const { deployTask, nodes } = await h.setupCluster({
      graph,
      roles: [['controller'], ['compute'], ['compute']],
    });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    await h.settle();

    crasher().armed = true;
    const first = newToken('layer-0');
    await expect(h.engine.dispatch({ taskId, stage: 'layer-0', token: first })).rejects.toThrow(
      'Lambda crashed after SendCommand',
    );
    const before = await h.repos.bookkeeping.intents(taskId, 'layer-0');
    expect(before.map((i: CommandIntent) => i.commandId)).toEqual([null, null]);

    const second = newToken('layer-0-retry');
    await h.engine.dispatch({ taskId, stage: 'layer-0', token: second });
    await h.waitForCompletion(second);
    await h.settle();

    const [n1, n2, n3] = nodes.map((n) => n.id);
    const layer = received(h, graph, nodes).filter((k) => !k.startsWith('provision@'));
    expect(countOf(layer)).toEqual({ [`a@${n2}`]: 1, [`a@${n3}`]: 1, [`c@${n1}`]: 1 });

    const intents = await h.repos.bookkeeping.intents(taskId, 'layer-0');
    const log = h.fleet.commandLog();
    for (const intent of intents) {
      const ran = log.filter((r) => r.comment === intent.comment);
      expect(ran.length).toBeGreaterThan(0);
      expect(ran.every((r) => r.commandId === intent.commandId)).toBe(true);
      expect(parseComment(intent.comment)?.stage).toBe('layer-0');
    }
    expect(h.workflows.completionsOf(second)).toHaveLength(1);
    const rows = await h.rows(taskId, 'layers');
    expect(rows.map((r) => r.status)).toEqual(['ready', 'ready', 'ready']);
    expect((await h.run(taskId)).done).toBe(6);
  });
});

/** Repositories whose chosen write fails once, after `skip` successful calls, as a Lambda crash there would. */
class CrashingWrites {
  crashRecordIntentAfter: number | null = null;
  crashReleaseDeployment = false;

  wrap(real: Repositories): Repositories {
    const bookkeeping = Object.create(real.bookkeeping) as Repositories['bookkeeping'];
    bookkeeping.recordIntent = async (intent: CommandIntent) => {
      if (this.crashRecordIntentAfter !== null) {
        if (this.crashRecordIntentAfter === 0) {
          this.crashRecordIntentAfter = null;
          throw new Error('Lambda crashed while recording intents');
        }
        this.crashRecordIntentAfter--;
      }
      return real.bookkeeping.recordIntent(intent);
    };
    const clusters = Object.create(real.clusters) as Repositories['clusters'];
    clusters.release = async (clusterId, runId, patch) => {
      if (this.crashReleaseDeployment) {
        this.crashReleaseDeployment = false;
        throw new Error('Lambda crashed before releasing the cluster');
      }
      return real.clusters.release(clusterId, runId, patch);
    };
    return { ...real, bookkeeping, clusters };
  }
}

function crashingHarness(): Promise<{ h: Harness; store: () => CrashingWrites }> {
  const crashing = new CrashingWrites();
  return harness({ wrapRepos: (real) => crashing.wrap(real) }).then((h) => ({ h, store: () => crashing }));
}

describe('crash while recording the intents of a stage', () => {
  it('the retried dispatch still sends every batch of the layer', async () => {
    const { h, store } = await crashingHarness();
    const graph = [shell('a', ['compute'], 'echo task-a'), shell('c', ['controller'], 'echo task-c')];
    const { deployTask, nodes } = await h.setupCluster({
      graph,
      roles: [['controller'], ['compute'], ['compute']],
    });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    await h.settle();

    store().crashRecordIntentAfter = 1;
    await expect(h.engine.dispatch({ taskId, stage: 'layer-0', token: newToken('layer-0') })).rejects.toThrow(
      'recording intents',
    );
    const token = newToken('layer-0-retry');
    await h.engine.dispatch({ taskId, stage: 'layer-0', token });
    await h.waitForCompletion(token);
    await h.settle();

    const [n1, n2, n3] = nodes.map((n) => n.id);
    const layer = received(h, graph, nodes).filter((k) => !k.startsWith('provision@'));
    expect(countOf(layer)).toEqual({ [`a@${n2}`]: 1, [`a@${n3}`]: 1, [`c@${n1}`]: 1 });
    const rows = await h.rows(taskId, 'layers');
    expect(statusesOf(rows)).toEqual({
      [`layer-0:a@${n2}`]: 'ready',
      [`layer-0:a@${n3}`]: 'ready',
      [`layer-0:c@${n1}`]: 'ready',
    });
  });
});

describe('duplicate status events', () => {
  it('a terminal event handled twice changes neither counters nor history, and completes nothing again', async () => {
    const h = await harness();
    const graph = twoLayerGraph();
    const { deployTask, nodes } = await h.setupCluster({ graph, roles: [['compute'], ['compute']] });
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    const token = await h.runStage(taskId, 'layer-0');
    await h.settle();

    const row = await h.row(taskId, 'layer-0', 'a', nodes[0]?.id ?? -1);
    expect(row.status).toBe('ready');
    const event = {
      commandId: String(row.command?.commandId),
      instanceId: String(row.command?.instanceId),
      status: 'Success',
    };
    const task = await h.run(taskId);
    const child = await h.stageTask(task.children.deployment ?? -1);
    const rows = await h.rows(taskId);
    const completions = h.workflows.completions.length;
    expect(h.workflows.completionsOf(token)).toHaveLength(1);

    await h.engine.recordResult(event);
    await h.engine.recordResult(event);
    await Promise.all([h.engine.recordResult(event), h.engine.recordResult(event)]);

    expect((await h.run(taskId)).done).toBe(task.done);
    expect((await h.stageTask(child.id)).done).toBe(child.done);
    expect(await h.rows(taskId)).toEqual(rows);
    expect(h.workflows.completions).toHaveLength(completions);
    expect(h.workflows.completionsOf(token)).toHaveLength(1);
  });

  it('every event delivered twice, concurrently: counters match the rows and each token completes once', async () => {
    const h = await harness({ deliveryCopies: 2 });
    const graph = twoLayerGraph();
    const { deployTask, nodes, clusterId } = await h.setupCluster({
      graph,
      roles: [['compute'], ['compute'], ['controller']],
    });
    const taskId = deployTask.id;
    const result = await h.runDeployment(taskId);
    expect(result.status).toBe('ready');

    const tokens = new Set(h.workflows.completions.map((c) => c.token));
    expect(tokens.size).toBe(3);
    expect(h.workflows.completions).toHaveLength(3);
    const deploy = await h.run(taskId);
    expect(deploy.done).toBe(9);
    expect(deploy.total).toBe(9);
    expect((await h.stageTask(deploy.children.provision ?? -1)).done).toBe(3);
    expect((await h.stageTask(deploy.children.deployment ?? -1)).done).toBe(6);
    expect(Object.values(statusesOf(await h.rows(taskId))).every((s) => s === 'ready')).toBe(true);
    expect(received(h, graph, nodes)).toHaveLength(9);
    expect(await nodeStatuses(h, nodes)).toEqual(['ready', 'ready', 'ready']);
    expect((await h.service.cluster(clusterId)).status).toBe('operational');
  });
});

/** The layer each (task, node) of a planned run is in, as `task@node` -> stage. */
async function layerOf(h: Harness, taskId: number): Promise<Map<string, string>> {
  return new Map((await h.rows(taskId, 'layers')).map((r) => [`${r.taskName}@${r.nodeId}`, r.stage]));
}

describe('a failing task', () => {
  it('fails its node, blocks its dependents and the node, lets independent work run, and fails the deployment', async () => {
    const h = await harness();
    const graph: GraphTask[] = [
      // a compute may fail without stopping the deployment (Astute's fault tolerance: the group tolerates 1)
      { id: 'computes', type: 'group', roles: ['compute'], fault_tolerance: 1 },
      shell('prep', '*', 'echo prep'),
      shell('bad', ['compute'], 'echo configuring bad; echo boom >&2; exit 3', { requires: ['prep'] }),
      // work on the failed node that does not need `bad`; the controller's `independent` orders it after `bad`
      shell('cmp-later', ['compute'], 'echo cmp-later', {
        requires: ['prep'],
        'cross-depends': [{ name: 'independent', role: 'controller' }],
      }),
      shell('cmp-after-bad', ['compute'], 'echo cmp-after-bad', { requires: ['bad'] }),
      shell('needs-bad', ['cinder'], 'echo needs-bad', {
        requires: ['prep'],
        'cross-depends': [{ name: 'bad', role: 'compute' }],
      }),
      shell('needs-needs-bad', ['cinder'], 'echo needs-needs-bad', { requires: ['needs-bad'] }),
      shell('independent', ['controller'], 'echo independent', { requires: ['prep'] }),
    ];
    const { deployTask, nodes, clusterId } = await h.setupCluster({
      graph,
      roles: [['compute'], ['cinder'], ['controller']],
    });
    const [cmp, cnd, ctl] = nodes.map((n) => n.id) as [number, number, number];
    const taskId = deployTask.id;
    const stages: string[] = (await h.engine.plan({ taskId })).layers.map((l) => l.stage);
    const layers = await layerOf(h, taskId);
    const at = (key: string): string => {
      const stage = layers.get(key);
      if (stage === undefined) throw new Error(`${key} is not planned`);
      return stage;
    };
    const badLayer = stages.indexOf(at(`bad@${cmp}`));
    expect(badLayer).toBeGreaterThanOrEqual(0);
    expect(stages.indexOf(at(`cmp-later@${cmp}`))).toBeGreaterThan(badLayer);
    await h.runStage(taskId, 'provision');
    for (const stage of stages.slice(0, badLayer + 1)) await h.runStage(taskId, stage);
    await h.settle();

    const bad = await h.row(taskId, at(`bad@${cmp}`), 'bad', cmp);
    expect(bad.status).toBe('error');
    expect(bad.command?.exitCode).toBe(3);
    expect(bad.command?.ssmStatus).toBe('Failed');
    expect(String(bad.command?.outputTail)).toContain('configuring bad');
    expect(String(bad.command?.errorTail)).toContain('boom');
    expect(bad.timeEnd).not.toBeNull();
    const failedNode = await h.node(cmp);
    expect(failedNode.status).toBe('error');
    expect(failedNode.errorType).toBe('deploy');
    expect(failedNode.errorMsg).toContain('bad');
    // within the group's tolerance: the deployment goes on
    expect(await h.engine.checkStop({ taskId })).toEqual({ stopRequested: false });

    for (const stage of stages.slice(badLayer + 1)) await h.runStage(taskId, stage);
    await h.settle();

    const skipped = async (task: string, node: number) => {
      const row = await h.row(taskId, at(`${task}@${node}`), task, node);
      expect(row.status, `${task}@${node}`).toBe('skipped');
      expect(row.skipReason).toBe('blocked');
      return String(row.reason);
    };
    expect(await skipped('cmp-later', cmp)).toContain('bad');
    expect(await skipped('cmp-after-bad', cmp)).toContain('bad');
    expect(await skipped('needs-bad', cnd)).toContain(`bad@${cmp}`);
    expect(await skipped('needs-needs-bad', cnd)).toContain(`needs-bad@${cnd}`);
    expect((await h.row(taskId, at(`independent@${ctl}`), 'independent', ctl)).status).toBe('ready');

    const sent = received(h, graph, nodes);
    for (const never of [
      `cmp-later@${cmp}`,
      `cmp-after-bad@${cmp}`,
      `needs-bad@${cnd}`,
      `needs-needs-bad@${cnd}`,
    ]) {
      expect(sent).not.toContain(never);
    }
    expect(countOf(sent)).toEqual({
      [`provision@${cmp}`]: 1,
      [`provision@${cnd}`]: 1,
      [`provision@${ctl}`]: 1,
      [`prep@${cmp}`]: 1,
      [`prep@${cnd}`]: 1,
      [`prep@${ctl}`]: 1,
      [`bad@${cmp}`]: 1,
      [`independent@${ctl}`]: 1,
    });

    expect(await h.engine.finish({ taskId, failure: null })).toEqual({ status: 'error' });
    const cluster = await h.service.cluster(clusterId);
    expect(cluster.status).toBe('error');
    expect(cluster.deploymentTaskId).toBeNull();
    expect(await h.node(cmp)).toMatchObject({ status: 'error', errorType: 'deploy' });
    expect(await h.node(ctl)).toMatchObject({ status: 'ready', errorType: null, progress: 100 });
    // The cinder node ran `prep` only: its work was left undone, it did not fail.
    expect(await h.node(cnd)).toMatchObject({ status: 'stopped', errorType: null });
    const deploy = await h.run(taskId);
    expect(deploy.status).toBe('error');
    expect(deploy.message).toContain(`bad on node ${cmp}`);
    expect(deploy.message).not.toContain('stopped');
    expect((await h.stageTask(deploy.children.deployment ?? -1)).status).toBe('error');
    expect((await h.stageTask(deploy.children.provision ?? -1)).status).toBe('ready');
  });

  it('on a compute in no fault-tolerance group fails that node alone: the controllers deploy to the end', async () => {
    const h = await harness();
    const graph: GraphTask[] = [
      shell('ctl-a', ['controller'], 'echo ctl-a'),
      shell('ctl-b', ['controller'], 'echo ctl-b', { requires: ['ctl-a'] }),
      shell('ctl-c', ['controller'], 'echo ctl-c', { requires: ['ctl-b'] }),
      shell('cmp-bad', ['compute'], 'echo no hypervisor >&2; exit 4'),
      shell('cmp-next', ['compute'], 'echo cmp-next', { requires: ['cmp-bad'] }),
    ];
    const { deployTask, nodes, clusterId } = await h.setupCluster({
      graph,
      roles: [['controller'], ['controller'], ['compute']],
    });
    const [ctl1, ctl2, cmp] = nodes.map((n) => n.id) as [number, number, number];
    const taskId = deployTask.id;
    const outline = await h.engine.plan({ taskId });
    expect(outline.layers.map((l) => l.stage)).toEqual(['layer-0', 'layer-1', 'layer-2']);
    await h.runStage(taskId, 'provision');
    await h.runStage(taskId, 'layer-0');
    await h.settle();

    expect((await h.row(taskId, 'layer-0', 'cmp-bad', cmp)).status).toBe('error');
    expect(await h.node(cmp)).toMatchObject({ status: 'error', errorType: 'deploy' });
    // a compute is no critical role (Nailgun's critical_roles) and no group counts it: no stop
    expect(await h.engine.checkStop({ taskId })).toEqual({ stopRequested: false });
    expect((await h.run(taskId)).stop.phase).toBe('none');

    await h.runStage(taskId, 'layer-1');
    await h.runStage(taskId, 'layer-2');
    await h.settle();

    for (const [stage, task] of [
      ['layer-0', 'ctl-a'],
      ['layer-1', 'ctl-b'],
      ['layer-2', 'ctl-c'],
    ] as const) {
      for (const ctl of [ctl1, ctl2]) {
        expect((await h.row(taskId, stage, task, ctl)).status, `${task}@${ctl}`).toBe('ready');
      }
    }
    const next = await h.row(taskId, 'layer-1', 'cmp-next', cmp);
    expect(next.status).toBe('skipped');
    expect(next.skipReason).toBe('blocked');
    expect(String(next.reason)).toContain('cmp-bad');
    const sent = received(h, graph, nodes);
    expect(sent).toContain(`ctl-c@${ctl1}`);
    expect(sent).toContain(`ctl-c@${ctl2}`);
    expect(sent).not.toContain(`cmp-next@${cmp}`);

    expect(await h.engine.finish({ taskId, failure: null })).toEqual({ status: 'error' });
    expect(await h.node(ctl1)).toMatchObject({ status: 'ready', errorType: null, progress: 100 });
    expect(await h.node(ctl2)).toMatchObject({ status: 'ready', errorType: null, progress: 100 });
    expect(await h.node(cmp)).toMatchObject({ status: 'error', errorType: 'deploy' });
    expect((await h.service.cluster(clusterId)).status).toBe('error');
    const deploy = await h.run(taskId);
    expect(deploy.status).toBe('error');
    expect(deploy.message).toBe(
      `Deployment of environment 'env' has failed. Failed tasks: cmp-bad on node ${cmp}.`,
    );
  });

  it('on a controller is critical: it stops the run, even in a group that tolerates it, and ends it as a failure', async () => {
    const h = await harness();
    const graph: GraphTask[] = [
      // the group would tolerate one failure, but controller is a critical role (Nailgun's critical_roles)
      { id: 'controllers', type: 'group', roles: ['controller'], fault_tolerance: 1 },
      shell('ctl-bad', ['controller'], 'echo db broken >&2; exit 3'),
      shell('cmp-a', ['compute'], 'echo cmp-a'),
      shell('ctl-next', ['controller'], 'echo ctl-next', { requires: ['ctl-bad'] }),
      shell('cmp-b', ['compute'], 'echo cmp-b', { requires: ['cmp-a'] }),
    ];
    const { deployTask, nodes, clusterId } = await h.setupCluster({
      graph,
      roles: [['controller'], ['compute'], ['compute']],
    });
    const [ctl, cmp1, cmp2] = nodes.map((n) => n.id) as [number, number, number];
    const taskId = deployTask.id;
    const outline = await h.engine.plan({ taskId });
    expect(outline.layers.map((l) => l.stage)).toEqual(['layer-0', 'layer-1']);
    await h.runStage(taskId, 'provision');
    await h.runStage(taskId, 'layer-0');
    await h.settle();

    expect((await h.row(taskId, 'layer-0', 'ctl-bad', ctl)).status).toBe('error');
    const reason = `node ${ctl} (controller) failed: its role controller is critical`;
    // the state machine checks the stop before the next layer, and goes to finish
    expect(await h.engine.checkStop({ taskId })).toEqual({ stopRequested: true });
    const stopping = await h.run(taskId);
    expect(stopping.stop.phase).toBe('requested');
    expect(stopping.stop.phase !== 'none' && stopping.stop.request).toMatchObject({
      cause: 'fault_tolerance',
      message: reason,
      stopTaskId: null,
    });

    expect(await h.engine.finish({ taskId, failure: null })).toEqual({ status: 'error' });
    for (const cmp of [cmp1, cmp2]) {
      expect((await h.row(taskId, 'layer-0', 'cmp-a', cmp)).status).toBe('ready');
      const left = await h.row(taskId, 'layer-1', 'cmp-b', cmp);
      expect(left.status, `cmp-b@${cmp}`).toBe('skipped');
      expect(left.skipReason).toBe('stopped');
      // the computes ran cmp-a; cmp-b never started: work left, not failed
      expect(await h.node(cmp)).toMatchObject({ status: 'stopped', errorType: null });
    }
    const sent = received(h, graph, nodes);
    expect(sent.filter((c) => c.startsWith('cmp-b@') || c.startsWith('ctl-next@'))).toEqual([]);
    expect(await h.node(ctl)).toMatchObject({ status: 'error', errorType: 'deploy' });
    expect((await h.service.cluster(clusterId)).status).toBe('error');
    const deploy = await h.run(taskId);
    expect(deploy.status).toBe('error');
    expect(deploy.message).toBe(
      `Deployment of environment 'env' has failed: ${reason}. Failed tasks: ctl-bad on node ${ctl}.`,
    );
  });
});

describe('retries', () => {
  it('a command failing once then succeeding with retries 1 ends ready', async () => {
    const h = await harness();
    const flaky =
      'if [ -f "$HOME/flaky-marker" ]; then echo second attempt ok; else touch "$HOME/flaky-marker"; echo first attempt fails >&2; exit 1; fi';
    const graph = [shell('flaky', '*', flaky, { parameters: { cmd: flaky, timeout: 30, retries: 1 } })];
    const { deployTask, nodes, clusterId } = await h.setupCluster({ graph, roles: [['compute']] });
    const taskId = deployTask.id;
    expect(await h.runDeployment(taskId)).toEqual({ status: 'ready' });

    const node = nodes[0]?.id ?? -1;
    const row = await h.row(taskId, 'layer-0', 'flaky', node);
    expect(row.retries).toBe(1);
    expect(row.status).toBe('ready');
    expect(row.command?.exitCode).toBe(0);
    expect(String(row.command?.outputTail)).toContain('second attempt ok');
    expect(String(row.command?.errorTail)).toContain('attempt 1 failed with exit code 1, retrying');
    const flakyCommands = h.fleet.commandLog().filter((r) => r.parameters.command?.[0] === flaky);
    expect(flakyCommands).toHaveLength(1);
    expect(flakyCommands[0]?.parameters.retries).toEqual(['1']);
    expect(await h.node(node)).toMatchObject({ status: 'ready', progress: 100 });
    expect((await h.service.cluster(clusterId)).status).toBe('operational');
  });
});

describe('a node offline at dispatch time', () => {
  it('keeps its invocation pending; back online, it runs and the stage completes', async () => {
    const h = await harness();
    const graph = [shell('a', '*', 'echo task-a')];
    const { deployTask, nodes, clusterId } = await h.setupCluster({
      graph,
      roles: [['compute'], ['compute']],
    });
    const [up, down] = nodes as [Node, Node];
    const taskId = deployTask.id;
    await h.engine.plan({ taskId });
    h.fleet.setOnline(down.name, false);

    const token = newToken('provision');
    expect((await h.engine.dispatch({ taskId, stage: 'provision', token })).sent).toBe(2);
    await waitFor(
      'the online node provisioned',
      () => h.row(taskId, 'provision', 'provision', up.id),
      (r) => r.status === 'ready',
    );
    await waitFor(
      'the online node reported',
      () => h.node(up.id),
      (n) => n.status === 'provisioned',
    );

    const downRow = await h.row(taskId, 'provision', 'provision', down.id);
    expect(downRow.status).toBe('running');
    const invocation = await h.context.commands.invocation(
      String(h.fleet.commandLog()[0]?.commandId),
      down.instanceId,
    );
    expect(invocation?.status).toBe('Pending');
    expect(h.fleet.commandLog().map((r) => r.instanceId)).toEqual([up.instanceId]);
    expect((await h.node(down.id)).status).toBe('provisioning');
    expect(h.workflows.completionsOf(token)).toEqual([]);

    h.fleet.setOnline(down.name, true);
    await h.waitForCompletion(token);
    await h.settle();
    expect((await h.row(taskId, 'provision', 'provision', down.id)).status).toBe('ready');
    expect((await h.node(down.id)).status).toBe('provisioned');
    expect(
      h.fleet
        .commandLog()
        .map((r) => r.instanceId)
        .sort(),
    ).toEqual([up.instanceId, down.instanceId].sort());
    expect(h.workflows.completionsOf(token)).toHaveLength(1);

    await h.runStage(taskId, 'layer-0');
    await h.settle();
    expect(await h.engine.finish({ taskId, failure: null })).toEqual({ status: 'ready' });
    expect((await h.service.cluster(clusterId)).status).toBe('operational');
  });
});

describe('finish', () => {
  async function snapshot(h: Harness, setup: ClusterSetup) {
    const deploy = await h.run(setup.deployTask.id);
    return {
      cluster: await h.service.cluster(setup.clusterId),
      nodes: await Promise.all(setup.nodes.map((n) => h.node(n.id))),
      tasks: await Promise.all(
        [deploy.id, deploy.children.provision, deploy.children.deployment].map((id) => h.task(id ?? -1)),
      ),
      rows: await h.rows(deploy.id),
    };
  }

  it('is idempotent and releases the cluster lock: a new deployment is accepted afterwards', async () => {
    const h = await harness();
    const graph = twoLayerGraph();
    const setup = await h.setupCluster({ graph, roles: [['compute'], ['controller']] });
    const taskId = setup.deployTask.id;
    expect((await h.service.cluster(setup.clusterId)).deploymentTaskId).toBe(taskId);
    expect(await h.runDeployment(taskId)).toEqual({ status: 'ready' });

    const after = await snapshot(h, setup);
    expect(after.cluster.status).toBe('operational');
    expect(after.cluster.deploymentTaskId).toBeNull();
    expect(after.nodes.map((n) => n.status)).toEqual(['ready', 'ready']);
    expect(after.tasks.map((t) => t.status)).toEqual(['ready', 'ready', 'ready']);

    expect(await h.engine.finish({ taskId, failure: null })).toEqual({ status: 'ready' });
    expect(await snapshot(h, setup)).toEqual(after);

    const next = await h.service.deployChanges(setup.clusterId);
    expect(next.id).not.toBe(taskId);
    expect(next.children.provision).toBeNull();
    const locked = await h.service.cluster(setup.clusterId);
    expect(locked.deploymentTaskId).toBe(next.id);
    expect(locked.status).toBe('deployment');
    // The old deployment's finish, retried late, must not release the new deployment's lock.
    expect(await h.engine.finish({ taskId, failure: null })).toEqual({ status: 'ready' });
    expect((await h.service.cluster(setup.clusterId)).deploymentTaskId).toBe(next.id);

    const outline = await h.engine.plan({ taskId: next.id });
    expect(outline.provision.nodeCount).toBe(0);
    expect(await h.runDeployment(next.id)).toEqual({ status: 'ready' });
    const again = await h.service.cluster(setup.clusterId);
    expect(again).toMatchObject({ status: 'operational', deploymentTaskId: null });
  });

  it('retried after a crash before releasing the lock, it still releases the cluster', async () => {
    const { h, store } = await crashingHarness();
    const graph = [shell('a', '*', 'echo task-a')];
    const setup = await h.setupCluster({ graph, roles: [['compute']] });
    const taskId = setup.deployTask.id;
    const outline = await h.engine.plan({ taskId });
    await h.runStage(taskId, 'provision');
    for (const layer of outline.layers) await h.runStage(taskId, layer.stage);
    await h.settle();

    store().crashReleaseDeployment = true;
    await expect(h.engine.finish({ taskId, failure: null })).rejects.toThrow('releasing the cluster');
    // Step Functions retries the Finish state.
    expect(await h.engine.finish({ taskId, failure: null })).toEqual({ status: 'ready' });
    const cluster = await h.service.cluster(setup.clusterId);
    expect(cluster.deploymentTaskId).toBeNull();
    expect(cluster.status).toBe('operational');
    await expect(h.service.deployChanges(setup.clusterId)).resolves.toMatchObject({ name: 'deploy' });
  });
});
