/**
 * The stop as the stop function serves it: the reply comes at once, before the follow-up asks SSM anything;
 * the follow-up runs after it (an asynchronous invocation through the local Lambda endpoint), checks each
 * command with one ListCommandInvocations (never one GetCommandInvocation per node) and says on the stop task
 * what it did; a follow-up that is lost is done by the watchdog. Real dynalite, real fleet, real Lambda
 * protocol; SSM calls recorded (and held) at the port.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { InvocationStatus, NodeCommands, StopWorker } from '../../lambdas/app/ports.js';
import type { StopTask } from '../../lambdas/domain/task.js';
import { gated, type Harness, newToken, shell, startHarness, waitFor } from '../helpers/engine-harness.js';

/** The SSM port with its read calls counted, and ListCommandInvocations held until `release()`. */
class HeldChecks {
  listed = 0;
  perNode = 0;
  private open: (() => void) | null = null;
  private readonly gate = new Promise<void>((resolve) => {
    this.open = resolve;
  });

  wrap(real: NodeCommands): NodeCommands {
    return {
      send: (input) => real.send(input),
      findByComment: (comment, since) => real.findByComment(comment, since),
      invocation: (commandId, instanceId) => {
        this.perNode++;
        return real.invocation(commandId, instanceId);
      },
      invocations: async (commandId): Promise<InvocationStatus[]> => {
        this.listed++;
        await this.gate;
        return real.invocations(commandId);
      },
      cancel: (commandId, ids) => real.cancel(commandId, ids),
      instances: () => real.instances(),
    };
  }

  release(): void {
    this.open?.();
  }
}

let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function stopTask(h: Harness, id: number): Promise<StopTask> {
  const task = await h.task(id);
  if (task.kind !== 'stop') throw new Error(`task ${id} is not a stop task`);
  return task;
}

/** A cluster of three nodes, its layer-0 commands running (held by a gate) when this returns. */
async function runningLayer(h: Harness) {
  const { deployTask } = await h.setupCluster({
    graph: [shell('hold', '*', gated('hold', 'true')), shell('after', '*', 'true', { requires: ['hold'] })],
    roles: [['controller'], ['compute'], ['compute']],
  });
  await h.engine.plan({ taskId: deployTask.id });
  await h.runStage(deployTask.id, 'provision');
  const token = newToken('layer-0');
  await h.engine.dispatch({ taskId: deployTask.id, stage: 'layer-0', token });
  await waitFor(
    'the held commands to run',
    () => h.rows(deployTask.id),
    (rows) => rows.filter((r) => r.taskName === 'hold' && r.status === 'running').length === 3,
  );
  return { runId: deployTask.id, token };
}

describe('the stop function', () => {
  it('answers before its follow-up has asked SSM anything, then records what the follow-up did', async () => {
    const checks = new HeldChecks();
    const h = await startHarness({ nodeCount: 3, wrapCommands: (real) => checks.wrap(real) });
    harness = h;
    const { runId, token } = await runningLayer(h);
    // the status events of the running commands are handled (they read each invocation): count from here
    await waitFor(
      'the commands to report running',
      () => h.events.filter((e) => e.status === 'InProgress').length,
      (n) => n === 6, // provisioning's three, then the layer's three
    );
    await new Promise((r) => setTimeout(r, 300));
    checks.perNode = 0;

    const stop = await h.service.stopDeployment((await h.run(runId)).clusterId, {
      requestedBy: 'admin',
      message: 'at once',
      force: false,
    });
    // the reply came while the follow-up's first SSM call is still held
    expect(stop.kind).toBe('stop');
    expect((await stopTask(h, stop.id)).work).toBeNull();
    await waitFor(
      'the follow-up to ask SSM',
      () => checks.listed,
      (n) => n > 0,
    );
    expect((await stopTask(h, stop.id)).work).toBeNull();

    checks.release();
    const done = await waitFor(
      'the follow-up to be recorded',
      () => stopTask(h, stop.id),
      (t) => t.work !== null,
    );
    // one command (a batch of three nodes), looked at with one call; none undelivered; nothing per node
    expect(done.work).toMatchObject({ checked: 3, undeliveredCancelled: 0, runningCancelled: 0 });
    expect(checks.listed).toBe(1);
    expect(checks.perNode).toBe(0);

    // the running tasks finish; nothing new starts
    h.openGate('hold');
    await h.waitForCompletion(token);
    expect((await h.engine.checkStop({ taskId: runId })).stopRequested).toBe(true);
    await h.engine.finish({ taskId: runId, failure: null });
    expect((await h.rows(runId)).filter((r) => r.taskName === 'after').map((r) => r.status)).toEqual([
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect((await stopTask(h, stop.id)).status).toBe('ready');
  });

  it('has its follow-up done by the watchdog when the asynchronous invocation was lost', async () => {
    let now = Date.now();
    const lost: StopWorker = {
      request: async () => {
        throw new Error('Rate exceeded (the invocation never reached Lambda)');
      },
    };
    const h = await startHarness({
      nodeCount: 3,
      wrapStopWorker: () => lost,
      clock: { now: () => new Date(now) },
    });
    harness = h;
    const { runId, token } = await runningLayer(h);
    const stop = await h.service.stopDeployment((await h.run(runId)).clusterId, {
      requestedBy: 'admin',
      message: null,
      force: false,
    });

    await h.engine.watchdog();
    expect((await stopTask(h, stop.id)).work).toBeNull();
    now += 31_000;
    await h.engine.watchdog();
    expect((await stopTask(h, stop.id)).work).toMatchObject({ checked: 3, undeliveredCancelled: 0 });

    h.openGate('hold');
    await h.waitForCompletion(token);
    await h.engine.finish({ taskId: runId, failure: null });
    expect((await stopTask(h, stop.id)).status).toBe('ready');
  });
});
