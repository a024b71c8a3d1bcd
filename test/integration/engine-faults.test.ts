/**
 * Faults inside the engine's own steps: a result handler that dies half-way and is delivered again,
 * a lost response after the last instance of a stage was closed, failures ignored by `fail_on_error: false`,
 * and a stop before provisioning ran. Real dynalite, real fleet; faults injected at the repositories (the ports).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Repositories } from '../../lambdas/app/ports.js';
import { type Harness, newToken, shell, startHarness } from '../helpers/engine-harness.js';

/** Repositories that fail chosen writes once, as a Lambda that dies there would. */
class FaultyWrites {
  failNextMarkFailed = false;
  loseNextLayerClose = false;
  real: Repositories | null = null;

  wrap(real: Repositories): Repositories {
    this.real = real;
    const bookkeeping = Object.create(real.bookkeeping) as Repositories['bookkeeping'];
    bookkeeping.markFailed = async (runId, failure, reason) => {
      if (this.failNextMarkFailed) {
        this.failNextMarkFailed = false;
        throw new Error('the Lambda died before recording the failure');
      }
      return real.bookkeeping.markFailed(runId, failure, reason);
    };
    bookkeeping.closeBatch = async (runId, stage, batch) => {
      const closed = await real.bookkeeping.closeBatch(runId, stage, batch);
      if (this.loseNextLayerClose && stage.startsWith('layer-')) {
        this.loseNextLayerClose = false;
        throw new Error('the response of the last write was lost');
      }
      return closed;
    };
    return { ...real, bookkeeping };
  }

  getStage(...args: Parameters<Repositories['bookkeeping']['getStage']>) {
    if (!this.real) throw new Error('not wrapped');
    return this.real.bookkeeping.getStage(...args);
  }
}

let harness: Harness | undefined;
let faulty: FaultyWrites | undefined;

async function start(nodeCount = 1): Promise<Harness> {
  const writes = new FaultyWrites();
  faulty = writes;
  harness = await startHarness({ nodeCount, wrapRepos: (real) => writes.wrap(real) });
  return harness;
}

function store(): FaultyWrites {
  if (!faulty) throw new Error('harness not started');
  return faulty;
}

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  faulty = undefined;
});

describe('a result handler that dies and is delivered again', () => {
  it('still records the failure, so the dependents of the failed task are never sent', async () => {
    const h = await start();
    const { deployTask } = await h.setupCluster({
      graph: [shell('a', '*', 'exit 3'), shell('b', '*', 'echo b-ran', { requires: ['a'] })],
      roles: [['controller']],
    });
    await h.engine.plan({ taskId: deployTask.id });
    await h.runStage(deployTask.id, 'provision');
    store().failNextMarkFailed = true;
    await h.runStage(deployTask.id, 'layer-0');
    await h.runStage(deployTask.id, 'layer-1');
    await h.settle();

    const rows = await h.rows(deployTask.id);
    expect(rows.find((r) => r.taskName === 'a')?.status).toBe('error');
    // the failure was recorded: it stopped the run (a controller is critical), which was settled as soon as
    // its layer ended, so b was never started
    const run = await h.run(deployTask.id);
    expect(run.stop.phase !== 'none' && run.stop.request.cause).toBe('fault_tolerance');
    expect(run.status).toBe('error');
    const b = rows.find((r) => r.taskName === 'b');
    expect(b?.status).toBe('skipped');
    expect(String(b?.reason)).toMatch(/the deployment failed/);
    expect(h.fleet.commandLog().some((c) => c.parameters.command?.[0] === 'echo b-ran')).toBe(false);
    expect(h.deliveryErrors).toEqual([]);
  });

  it('completes the stage when the response after the last close was lost', async () => {
    const h = await start();
    const { deployTask } = await h.setupCluster({
      graph: [shell('a', '*', 'echo a')],
      roles: [['controller']],
    });
    await h.engine.plan({ taskId: deployTask.id });
    await h.runStage(deployTask.id, 'provision');
    store().loseNextLayerClose = true;
    const token = newToken('layer-0');
    await h.engine.dispatch({ taskId: deployTask.id, stage: 'layer-0', token });
    await h.waitForCompletion(token);
    await h.settle();
    expect(h.workflows.completionsOf(token)).toHaveLength(1);
    expect((await store().getStage(deployTask.id, 'layer-0')).openBatches).toEqual([]);
  });
});

describe('fail_on_error: false', () => {
  it('records the failure as skipped; the node, its dependents and the cluster carry on', async () => {
    const h = await start();
    const { deployTask, nodes, clusterId } = await h.setupCluster({
      graph: [
        shell('optional', '*', 'echo nope >&2; exit 3', { fail_on_error: false }),
        shell('after', '*', 'echo after', { requires: ['optional'] }),
      ],
      roles: [['controller']],
    });
    expect((await h.runDeployment(deployTask.id)).status).toBe('ready');
    const rows = await h.rows(deployTask.id);
    const optional = rows.find((r) => r.taskName === 'optional');
    expect(optional?.status).toBe('skipped');
    expect(optional?.skipReason).toBe('fail_on_error');
    expect(optional?.command?.exitCode).toBe(3);
    expect(String(optional?.reason)).toContain('fail_on_error');
    expect(rows.find((r) => r.taskName === 'after')?.status).toBe('ready');
    expect((await h.node(nodes[0]?.id ?? 0)).status).toBe('ready');
    expect((await h.service.cluster(clusterId)).status).toBe('operational');
  });
});

describe('provisioning that never ran', () => {
  it('leaves the node needing provisioning, whatever status it had, when the deployment ends before it', async () => {
    const h = await start();
    const { deployTask, nodes } = await h.setupCluster({
      graph: [shell('a', '*', 'true')],
      roles: [['controller']],
    });
    const nodeId = nodes[0]?.id ?? 0;
    await h.engine.plan({ taskId: deployTask.id });
    // an earlier failed provisioning, then the deployment fails before its provisioning stage ran
    await h.repos.nodes.update(nodeId, { status: 'error', errorType: 'provision' });
    await h.engine.finish({ taskId: deployTask.id, failure: { Error: 'States.Runtime', Cause: 'aborted' } });
    const node = await h.node(nodeId);
    expect(node.status).toBe('discover');
    const next = await h.service.deployChanges((await h.task(deployTask.id)).clusterId);
    const outline = await h.engine.plan({ taskId: next.id });
    expect(outline.provision.nodeCount).toBe(1);
  });
});

describe('stage time limits', () => {
  it('leave room for a command to wait for an unreachable node', async () => {
    const h = await start();
    const { deployTask } = await h.setupCluster({
      graph: [shell('a', '*', 'true')],
      roles: [['controller']],
    });
    const outline = await h.engine.plan({ taskId: deployTask.id });
    // 30 s task timeout; SSM keeps trying to deliver for 600 s
    for (const layer of outline.layers) expect(layer.timeoutSeconds).toBeGreaterThan(600 + 30);
  });
});

describe('a deployment whose execution never started', () => {
  it('is ended by the watchdog after a grace period, the cluster unlocked and its nodes untouched', async () => {
    const h = await start();
    const { clusterId, nodes } = await h.setupCluster({
      graph: [shell('a', '*', 'true')],
      roles: [['controller']],
    });
    const first = (await h.service.listTasks({ clusterId, names: ['deploy'] }))[0];
    if (!first) throw new Error('no deploy task');
    await h.engine.plan({ taskId: first.id });
    await h.runStage(first.id, 'provision');
    expect((await h.runDeployment(first.id)).status).toBe('ready');
    const nodeBefore = await h.node(nodes[0]?.id ?? 0);

    // as if the API died between taking the lock and StartExecution, three minutes ago
    const lockedAt = new Date(Date.now() - 180_000).toISOString();
    const run = await h.run(first.id);
    const orphan = {
      ...run,
      id: await h.repos.tasks.nextId(),
      uuid: 'never-started',
      status: 'running' as const,
    };
    await h.repos.tasks.put({
      ...orphan,
      timeStart: lockedAt,
      timeEnd: null,
      executionArn: null,
      plan: null,
      progress: 0,
      message: null,
      outcome: null,
      finishingAt: null,
      nodesBefore: null,
    });
    await h.repos.clusters.lock(clusterId, orphan.id);
    expect((await h.service.cluster(clusterId)).deploymentTaskId).toBe(orphan.id);

    await h.engine.watchdog();
    const ended = await h.task(orphan.id);
    expect(ended.status).toBe('error');
    expect(ended.message).toContain('never started');
    const cluster = await h.service.cluster(clusterId);
    expect(cluster.deploymentTaskId).toBeNull();
    expect(await h.node(nodes[0]?.id ?? 0)).toMatchObject({ status: nodeBefore.status, errorType: null });
    await expect(h.service.deployChanges(clusterId)).resolves.toMatchObject({ name: 'deploy' });
  });

  it('is left alone while young, or when its execution exists', async () => {
    const h = await start();
    const { clusterId, deployTask } = await h.setupCluster({
      graph: [shell('a', '*', 'true')],
      roles: [['controller']],
    });
    await h.repos.tasks.update(deployTask.id, { executionArn: null });
    await h.engine.watchdog();
    expect((await h.task(deployTask.id)).status).toBe('running');
    await h.repos.tasks.update(deployTask.id, { timeStart: new Date(Date.now() - 180_000).toISOString() });
    await h.engine.watchdog();
    // the recording Step Functions port knows this execution: it runs, so nothing is touched
    expect((await h.task(deployTask.id)).status).toBe('running');
    expect((await h.service.cluster(clusterId)).deploymentTaskId).toBe(deployTask.id);
  });
});
