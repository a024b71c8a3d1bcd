/**
 * What the watchdog does when AWS does not tell: a result whose status event was lost is asked for
 * (ListCommandInvocations) and recorded; a run whose execution ended without finishing it, or is gone, is
 * settled; Finish after an orchestration failure cancels the commands still running and keeps the cluster
 * locked until they have ended; one cluster that fails does not keep the others from being supervised; a
 * node SSM no longer lists becomes offline. Real dynalite, real fleet; faults at the ports and the events.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeCommands } from '../../lambdas/app/ports.js';
import type { CommandStatusEvent } from '../../local/ssm/fleet.js';
import {
  gated,
  type Harness,
  type HarnessOptions,
  newToken,
  shell,
  startHarness,
  waitFor,
} from '../helpers/engine-harness.js';

let harness: Harness | undefined;
let offsetMs = 0;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  offsetMs = 0;
});

/** A harness whose clock runs `offsetMs` ahead of the system's (the fleet keeps real time). */
async function start(options: HarnessOptions = {}): Promise<Harness> {
  harness = await startHarness({ clock: { now: () => new Date(Date.now() + offsetMs) }, ...options });
  return harness;
}

/** Plans and provisions a run, then dispatches layer-0 and returns its token. */
async function toFirstLayer(h: Harness, runId: number): Promise<string> {
  await h.engine.plan({ taskId: runId });
  await h.runStage(runId, 'provision');
  const token = newToken('layer-0');
  await h.engine.dispatch({ taskId: runId, stage: 'layer-0', token });
  return token;
}

describe('a result whose status event was lost', () => {
  it('is found by the watchdog once the command has been quiet a while, and completes the layer', async () => {
    let losing = false;
    const lost: CommandStatusEvent[] = [];
    const h = await start({
      nodeCount: 1,
      loseEvent: (event) => {
        if (losing && event.status === 'Success') lost.push(event);
        return losing && event.status === 'Success';
      },
    });
    const { deployTask } = await h.setupCluster({
      graph: [shell('a', '*', 'echo reconciled')],
      roles: [['controller']],
    });
    await h.engine.plan({ taskId: deployTask.id });
    await h.runStage(deployTask.id, 'provision');
    losing = true;
    const token = newToken('layer-0');
    await h.engine.dispatch({ taskId: deployTask.id, stage: 'layer-0', token });
    await h.settle();
    expect(lost).toHaveLength(1);
    const before = await h.rows(deployTask.id);
    expect(before.find((r) => r.taskName === 'a')?.status).toBe('running');

    expect((await h.engine.watchdog()).reconciled).toBe(0); // not quiet long enough yet
    offsetMs = 16_000;
    expect((await h.engine.watchdog()).reconciled).toBe(1);
    await h.waitForCompletion(token);
    const row = (await h.rows(deployTask.id)).find((r) => r.taskName === 'a');
    expect(row?.status).toBe('ready');
    expect(row?.command).toMatchObject({ exitCode: 0, outputTail: 'reconciled\n' });
    // recorded once: a later round finds nothing left to record
    expect((await h.engine.watchdog()).reconciled).toBe(0);
    expect((await h.run(deployTask.id)).done).toBe(2);
  });

  it('is not asked about while other results of its batch are still coming in', async () => {
    let fastInstance = '';
    let losing = false;
    const h = await start({
      nodeCount: 2,
      loseEvent: (event) => losing && event.instanceId === fastInstance && event.status === 'Success',
    });
    const [fast] = h.fleet.instances();
    if (!fast) throw new Error('no node');
    fastInstance = fast.instanceId;
    writeFileSync(join(fast.workDir, 'fast'), '');
    const { deployTask } = await h.setupCluster({
      graph: [
        shell('a', '*', `if [ -f "$HOME/fast" ]; then echo fast; else ${gated('slow', 'echo slow')}; fi`),
      ],
      roles: [['controller'], ['compute']],
    });
    await h.engine.plan({ taskId: deployTask.id });
    await h.runStage(deployTask.id, 'provision');
    losing = true;
    const token = newToken('layer-0');
    await h.engine.dispatch({ taskId: deployTask.id, stage: 'layer-0', token });
    // the fast node's event is lost; the slow node reports 16 s after the batch was sent
    await waitFor(
      'the fast node to end',
      async () => h.fleet.commandLog(),
      (log) => log.some((c) => c.instanceId === fastInstance && c.status === 'Success'),
    );
    offsetMs = 16_000;
    h.openGate('slow');
    await waitFor(
      'the slow result',
      () => h.rows(deployTask.id, 'layer-0' as never),
      (rows) => rows.some((r) => r.status === 'ready'),
    );
    // sent long enough ago, but its batch heard a result just now: its lost event is not asked for yet
    expect((await h.engine.watchdog()).reconciled).toBe(0);
    offsetMs = 32_000;
    expect((await h.engine.watchdog()).reconciled).toBe(1);
    await h.waitForCompletion(token);
  });
});

describe('a run whose execution is no longer running', () => {
  for (const [what, execution, message] of [
    [
      'aborted from the console',
      { status: 'ABORTED', error: null, cause: 'stopped from the console' },
      'stopped from the console',
    ],
    ['gone (a restarted local endpoint)', null, 'its execution no longer exists'],
  ] as const) {
    it(`is settled by the watchdog when its execution is ${what}, and its cluster unlocked`, async () => {
      const h = await start({ nodeCount: 1 });
      const { deployTask, clusterId } = await h.setupCluster({
        graph: [shell('a', '*', 'true'), shell('b', '*', 'true', { requires: ['a'] })],
        roles: [['controller']],
      });
      await h.engine.plan({ taskId: deployTask.id });
      await h.runStage(deployTask.id, 'provision');
      await h.settle();
      expect((await h.engine.watchdog()).settled).toBe(0);

      h.workflows.executions.set(deployTask.uuid, execution);
      expect((await h.engine.watchdog()).settled).toBe(1);
      const run = await h.run(deployTask.id);
      expect(run.status).toBe('error');
      // the same words as the execution's status-change event brings
      expect(run.message).toContain(message);
      expect((await h.repos.clusters.get(clusterId))?.deploymentTaskId).toBeNull();
      const rows = await h.rows(deployTask.id, 'layers');
      expect(rows.map((r) => [r.taskName, r.status, r.skipReason])).toEqual([
        ['a', 'skipped', 'aborted'],
        ['b', 'skipped', 'aborted'],
      ]);
    });
  }
});

describe('Finish after an orchestration failure, with a command still running', () => {
  it('cancels it and keeps the cluster locked until it has ended', async () => {
    const h = await start({ nodeCount: 1 });
    const { deployTask, clusterId } = await h.setupCluster({
      graph: [shell('long', '*', gated('never', 'true'))],
      roles: [['controller']],
    });
    await toFirstLayer(h, deployTask.id);
    await waitFor(
      'the command to run',
      () => h.fleet.commandLog().filter((c) => c.status === 'InProgress').length,
      (n) => n === 1,
    );

    const failure = { Error: 'States.TaskFailed', Cause: 'a step kept failing' };
    await expect(h.engine.finish({ taskId: deployTask.id, failure })).rejects.toThrow(/still running/);
    expect((await h.repos.clusters.get(clusterId))?.deploymentTaskId).toBe(deployTask.id);
    expect((await h.run(deployTask.id)).status).toBe('running');

    await h.settle(); // the cancellation reaches the node and the command ends
    expect(h.fleet.commandLog().at(-1)?.status).toBe('Cancelled');
    await h.engine.finish({ taskId: deployTask.id, failure });
    expect((await h.repos.clusters.get(clusterId))?.deploymentTaskId).toBeNull();
    expect((await h.run(deployTask.id)).status).toBe('error');
    expect((await h.rows(deployTask.id, 'layers'))[0]?.status).toBe('error');
  });
});

describe('one cluster whose supervision fails', () => {
  it('does not keep the watchdog from escalating the stop of another cluster', async () => {
    const refused = new Set<string>();
    const h = await start({
      nodeCount: 2,
      wrapCommands: (real): NodeCommands => ({
        ...bound(real),
        cancel: async (commandId, ids) => {
          if (refused.has(commandId)) throw new Error('ThrottlingException: Rate exceeded');
          return real.cancel(commandId, ids);
        },
      }),
    });
    const graph = [shell('hold', '*', gated('hold', 'true'))];
    const first = await h.setupCluster({ graph, roles: [['controller']], name: 'first' });
    await toFirstLayer(h, first.deployTask.id);
    const second = await h.setupCluster({ graph, roles: [['controller']], name: 'second' });
    await toFirstLayer(h, second.deployTask.id);
    for (const c of [first, second]) {
      await waitFor(
        `the command of cluster ${c.clusterId} to run`,
        () => h.rows(c.deployTask.id, 'layers'),
        (rows) => rows[0]?.status === 'running',
      );
      await h.service.stopDeployment(c.clusterId, { requestedBy: 'admin', message: null, force: false });
    }
    for (const c of h.fleet.commandLog()) if (c.nodeName === first.nodes[0]?.name) refused.add(c.commandId);

    offsetMs = 601_000; // past the default stop timeout of both
    const round = await h.engine.watchdog();
    expect(round.failed).toBe(1);
    expect((await h.run(second.deployTask.id)).stop.phase).toBe('forced');
    const secondCommand = await waitFor(
      'the command of the second cluster to be cancelled',
      () =>
        h.fleet
          .commandLog()
          .filter((c) => c.nodeName === second.nodes[0]?.name)
          .at(-1),
      (c) => c?.status === 'Cancelled',
    );
    expect(secondCommand?.status).toBe('Cancelled');
    // the first cluster's command was not cancelled (its CancelCommand failed): it still runs
    expect(
      h.fleet
        .commandLog()
        .filter((c) => c.nodeName === first.nodes[0]?.name)
        .at(-1)?.status,
    ).toBe('InProgress');
    h.openGate('hold');
  });
});

describe('a node SSM no longer lists', () => {
  it('becomes offline at the next discovery', async () => {
    let hidden: string | null = null;
    const h = await start({
      nodeCount: 2,
      wrapCommands: (real): NodeCommands => ({
        ...bound(real),
        instances: async () => (await real.instances()).filter((i) => i.instanceId !== hidden),
      }),
    });
    await h.service.discoverNodes();
    const nodes = await h.service.listNodes(null);
    expect(nodes.every((n) => n.online)).toBe(true);
    hidden = nodes[0]?.instanceId ?? null;
    await h.service.discoverNodes();
    expect((await h.node(nodes[0]?.id ?? 0)).online).toBe(false);
    expect((await h.node(nodes[1]?.id ?? 0)).online).toBe(true);
  });
});

/** The port's methods bound to the real adapter, to override one of them. */
function bound(real: NodeCommands): NodeCommands {
  return {
    send: (input) => real.send(input),
    findByComment: (comment, since) => real.findByComment(comment, since),
    invocation: (commandId, instanceId) => real.invocation(commandId, instanceId),
    invocations: (commandId) => real.invocations(commandId),
    cancel: (commandId, ids) => real.cancel(commandId, ids),
    instances: () => real.instances(),
  };
}
