/**
 * "Stop deployment" against every moment a deployment can be in, and the races around it: before the first
 * dispatch, during provisioning, in the middle of a layer, between layers, during the last layer, after the
 * end, 20 concurrent stops, a deploy while the stop settles, escalation (force, timeout), a node lost during
 * the stop. Every stop is checked against the fleet's command log (nothing received after the 202), leaves
 * no row or task running, unlocks the cluster, and is followed at once by a restart that ends `operational`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, GraphTaskJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { Task } from '../../lambdas/domain/task.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import {
  clusterOf,
  clusterWith,
  commandsOf,
  expectNothingReceivedAfter,
  expectSettled,
  fleetLog,
  historyOf,
  holdDispatchLease,
  nodesOf,
  requestStop,
  restartToOperational,
  rowOf,
  slowOnce,
  taskOf,
  until,
  waitForEnd,
  waitForRunning,
} from '../helpers/stop-helpers.js';
import { Api, shell } from '../helpers/target.js';

let runtime: Runtime;
let api: Api;
/** Engine log lines about command results it ignored. */
const ignored: string[] = [];

beforeAll(async () => {
  runtime = await startRuntime({
    port: 0,
    nodeCount: 12,
    demo: false,
    authToken: 'races',
    log: (line) => {
      if (line.startsWith('ignored command status')) ignored.push(line);
    },
  });
  api = new Api(runtime);
});

afterAll(async () => {
  await runtime?.stop();
});

/** Clusters and offline nodes of the current test, cleaned up after it so that its nodes are free again. */
const created: number[] = [];
const offline: number[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  for (const id of offline.splice(0)) await api.call('POST', `/_local/nodes/${id}/online`);
  for (const id of created.splice(0)) {
    await until(
      `cluster ${id} unlocked for cleanup`,
      async () => !(await clusterOf(api, id)).is_locked,
      60_000,
      100,
    ).catch(() => {});
    await api.call('DELETE', `/api/v1/clusters/${id}/`);
  }
});

async function setUp(
  name: string,
  roles: string[],
  graph: GraphTaskJson[],
  editable?: Record<string, unknown>,
): Promise<{ cluster: ClusterJson; nodes: NodeJson[] }> {
  const made = await clusterWith(api, name, roles, graph, editable);
  created.push(made.cluster.id);
  return made;
}

async function deploy(clusterId: number): Promise<TaskJson> {
  return api.ok<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/changes/`, {});
}

const stoppedMessage = (name: string) => `Deployment of environment '${name}' was successfully stopped.`;

describe('stop deployment: races and faults', () => {
  it('1. stop before the first dispatch: nothing is sent after the 202, nodes stay discover or become provisioned', async () => {
    const { cluster, nodes } = await setUp(
      'early',
      ['controller', 'compute'],
      [shell('base', '*', 'sleep 0.2'), shell('next', '*', 'true', ['base'])],
    );
    const started = await deploy(cluster.id);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);
    expect(stop.body).toMatchObject({ name: 'stop_deployment', status: 'running' });

    const ended = await waitForEnd(api, stop.body.id);
    expect(ended.status).toBe('ready');
    expect(ended.progress).toBe(100);
    expect(ended.message).toBe(stoppedMessage(cluster.name));
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');

    const rows = await historyOf(api, started.id);
    // no deployment task ran: the stop came before (or while) provisioning
    expect(rows.filter((r) => r.task_name !== 'provision' && r.status !== 'skipped')).toEqual([]);
    const log = commandsOf(await fleetLog(api), started.id);
    expect(log.filter((c) => !c.comment.includes(':provision:'))).toEqual([]);
    const members = await nodesOf(api, cluster.id);
    for (const node of nodes) {
      const provision = rowOf(rows, 'provision', node.id);
      const received = log.some((c) => c.nodeName === node.hostname);
      if (provision?.status === 'ready') {
        expect(received).toBe(true);
        expect(members.get(node.id)?.status).toBe('provisioned');
      } else {
        expect(provision?.status).toBe('skipped');
        expect(received).toBe(false);
        expect(members.get(node.id)?.status).toBe('discover');
      }
    }

    await restartToOperational(api, cluster.id);
  });

  it('2. stop during provisioning: running provisioning finishes, nodes end provisioned, restart does not provision again', async () => {
    const { cluster, nodes } = await setUp(
      'provisioning',
      ['controller', 'compute'],
      [shell('base', '*', 'true'), shell('next', '*', 'true', ['base'])],
      { provision: { cmd: { value: 'sleep 1.5' } } },
    );
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, 'sleep 1.5', nodes);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);

    const ended = await waitForEnd(api, stop.body.id);
    expect(ended.status).toBe('ready');
    expect(ended.message).toBe(stoppedMessage(cluster.name));
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');

    const rows = await historyOf(api, started.id);
    const members = await nodesOf(api, cluster.id);
    for (const node of nodes) {
      expect(rowOf(rows, 'provision', node.id)?.status).toBe('ready');
      expect(members.get(node.id)).toMatchObject({ status: 'provisioned', error_type: null });
    }
    const deploymentRows = rows.filter((r) => r.task_name !== 'provision');
    expect(deploymentRows.length).toBe(4);
    for (const row of deploymentRows) {
      expect(row.status).toBe('skipped');
      expect(String(row.custom.reason)).toMatch(/stopped/);
    }
    const log = commandsOf(await fleetLog(api), started.id);
    expect(log.map((c) => [c.nodeName, c.status]).sort()).toEqual(
      nodes.map((n) => [n.hostname, 'Success']).sort(),
    );

    // provisioning finished on every node: its task is ready; the deployment did not run: not ready
    const tasks = await api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${cluster.id}`);
    const child = (name: string) => tasks.find((t) => t.parent_id === started.id && t.name === name);
    expect(child('provision')).toMatchObject({ status: 'ready', progress: 100 });
    expect(child('deployment')).toMatchObject({ status: 'error', progress: 0 });
    expect(tasks.find((t) => t.id === started.id)).toMatchObject({ status: 'error', progress: 33 });

    const again = await restartToOperational(api, cluster.id);
    expect(again.rows.filter((r) => r.task_name === 'provision')).toEqual([]);
    expect(commandsOf(await fleetLog(api), again.deploy.id, 'provision')).toEqual([]);
  });

  it('3. stop in the middle of a layer: the running task finishes ready, later tasks are skipped, nodes stopped', async () => {
    const { cluster, nodes } = await setUp(
      'mid-layer',
      ['controller', 'compute'],
      [
        shell('base', '*', 'true'),
        shell('mid', '*', 'sleep 1', ['base']),
        shell('after', '*', 'echo after', ['mid']),
      ],
    );
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, 'sleep 1', nodes);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);

    const ended = await waitForEnd(api, stop.body.id);
    expect(ended.status).toBe('ready');
    expect(ended.message).toBe(stoppedMessage(cluster.name));
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');

    const rows = await historyOf(api, started.id);
    const members = await nodesOf(api, cluster.id);
    for (const node of nodes) {
      expect(rowOf(rows, 'mid', node.id)?.status).toBe('ready');
      expect(rowOf(rows, 'after', node.id)?.status).toBe('skipped');
      expect(String(rowOf(rows, 'after', node.id)?.custom.reason)).toMatch(/stopped/);
      expect(members.get(node.id)?.status).toBe('stopped');
    }
    expect(
      commandsOf(await fleetLog(api), started.id).filter((c) => c.parameters.command?.[0] === 'echo after'),
    ).toEqual([]);
    // the deployment did not finish: not `ready`, and its progress says how far it got
    const deployTask = await taskOf(api, started.id);
    expect(deployTask.status).toBe('error');
    expect(deployTask.progress).toBeLessThan(100);

    await restartToOperational(api, cluster.id);
  });

  it('4. stop between layers: the first layer is done, the next one (held before sending) never runs', async () => {
    const { cluster, nodes } = await setUp(
      'between',
      ['controller', 'compute'],
      [
        shell('first', '*', 'sleep 0.1'),
        shell('second', '*', 'sleep 0.2', ['first']),
        shell('third', '*', 'true', ['second']),
      ],
    );
    // hold the dispatch of the layer after the first one just before it sends
    let deployId = -1;
    const gate = holdDispatchLease(
      runtime.repos.tasks,
      (id) => id === deployId && commandsOf(runtime.fleet.commandLog(), id, 'layer-0').length > 0,
    );
    cleanups.push(gate.restore);
    const started = await deploy(cluster.id);
    deployId = started.id;
    await gate.reached;

    const before = await historyOf(api, started.id);
    for (const node of nodes) {
      expect(rowOf(before, 'first', node.id)?.status).toBe('ready');
      expect(rowOf(before, 'second', node.id)?.status).toBe('pending');
    }
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);
    gate.release();

    const ended = await waitForEnd(api, stop.body.id);
    expect(ended.status).toBe('ready');
    expect(ended.message).toBe(stoppedMessage(cluster.name));
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');

    const rows = await historyOf(api, started.id);
    const members = await nodesOf(api, cluster.id);
    for (const node of nodes) {
      expect(rowOf(rows, 'first', node.id)?.status).toBe('ready');
      for (const task of ['second', 'third']) {
        expect(rowOf(rows, task, node.id)?.status).toBe('skipped');
        expect(String(rowOf(rows, task, node.id)?.custom.reason)).toMatch(/stopped/);
      }
      expect(members.get(node.id)?.status).toBe('stopped');
    }
    expect(commandsOf(await fleetLog(api), started.id, 'layer-1')).toEqual([]);

    await restartToOperational(api, cluster.id);
  });

  it('5. stop during the last layer: the running task finishes ready, finished nodes ready, the others stopped', async () => {
    const { cluster, nodes } = await setUp(
      'last-layer',
      ['controller', 'compute', 'compute'],
      [
        shell('base', '*', 'true'),
        // the last layer has two batches: last-a (sent first) and last-b, held before it is sent
        shell('last-a', ['controller'], 'sleep 1', ['base']),
        shell('last-b', ['compute'], 'sleep 0.1', ['base']),
      ],
    );
    const [controller, ...computes] = nodes;
    let deployId = -1;
    const gate = holdDispatchLease(
      runtime.repos.tasks,
      (id) => id === deployId && commandsOf(runtime.fleet.commandLog(), id, 'layer-1').length > 0,
    );
    cleanups.push(gate.restore);
    const started = await deploy(cluster.id);
    deployId = started.id;
    await gate.reached;
    await waitForRunning(api, started.id, 'sleep 1', controller ? [controller] : []);

    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);
    gate.release();

    const ended = await waitForEnd(api, stop.body.id);
    expect(ended.status).toBe('ready');
    expect(ended.message).toBe(stoppedMessage(cluster.name));
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');

    const rows = await historyOf(api, started.id);
    const members = await nodesOf(api, cluster.id);
    expect(rowOf(rows, 'last-a', controller?.id)?.status).toBe('ready');
    expect(members.get(controller?.id ?? 0)).toMatchObject({ status: 'ready', progress: 100 });
    for (const node of computes) {
      expect(rowOf(rows, 'base', node.id)?.status).toBe('ready');
      expect(rowOf(rows, 'last-b', node.id)?.status).toBe('skipped');
      expect(String(rowOf(rows, 'last-b', node.id)?.custom.reason)).toMatch(/stopped/);
      expect(members.get(node.id)?.status).toBe('stopped');
    }
    expect(
      commandsOf(await fleetLog(api), started.id).filter((c) => c.parameters.command?.[0] === 'sleep 0.1'),
    ).toEqual([]);

    const again = await restartToOperational(api, cluster.id);
    // the controller finished everything with unchanged inputs: nothing runs there again
    for (const task of ['base', 'last-a']) {
      expect(rowOf(again.rows, task, controller?.id)?.status).toBe('skipped');
    }
    for (const node of computes) expect(rowOf(again.rows, 'last-b', node.id)?.status).toBe('ready');
  });

  it('6. stop after the deployment ended: 400 nothing to stop', async () => {
    const { cluster } = await setUp(
      'after-end',
      ['controller', 'compute'],
      [shell('base', '*', 'true'), shell('next', '*', 'true', ['base'])],
    );
    const started = await deploy(cluster.id);
    expect((await waitForEnd(api, started.id)).status).toBe('ready');
    await until('cluster unlocked', async () => !(await clusterOf(api, cluster.id)).is_locked);

    const stop = await requestStop(api, cluster.id);
    expect(stop.status).toBe(400);
    expect(stop.body.message).toBe(
      `Nothing to stop - deployment is not running on environment '${cluster.id}'`,
    );
    const stops = await api.ok<TaskJson[]>(
      'GET',
      `/api/v1/transactions/?cluster_id=${cluster.id}&transaction_types=stop_deployment`,
    );
    expect(stops).toEqual([]);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('operational');

    await restartToOperational(api, cluster.id);
  });

  it('7. 20 concurrent stops: exactly one 202 and one stop_deployment task', async () => {
    const { cluster, nodes } = await setUp(
      'concurrent',
      ['controller', 'compute'],
      [shell('base', '*', 'sleep 1.5'), shell('next', '*', 'true', ['base'])],
    );
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, 'sleep 1.5', nodes);

    const replies = await Promise.all(Array.from({ length: 20 }, () => requestStop(api, cluster.id)));
    const accepted = replies.filter((r) => r.status === 202);
    const refused = replies.filter((r) => r.status !== 202);
    expect(accepted.length).toBe(1);
    expect(refused.length).toBe(19);
    const nothing = `Nothing to stop - deployment is not running on environment '${cluster.id}'`;
    // as Nailgun answers: a stop already launched is a 409, nothing left to stop a 400
    for (const reply of refused) {
      expect(['Stopping deployment task is already launched', nothing]).toContain(reply.body.message);
      expect(reply.status).toBe(reply.body.message === nothing ? 400 : 409);
    }
    const winner = accepted[0];
    if (!winner) throw new Error('no stop was accepted');
    const stops = await api.ok<TaskJson[]>(
      'GET',
      `/api/v1/transactions/?cluster_id=${cluster.id}&transaction_types=stop_deployment`,
    );
    expect(stops.map((t) => t.id)).toEqual([winner.body.id]);

    const ended = await waitForEnd(api, winner.body.id);
    expect(ended.status).toBe('ready');
    expect(ended.message).toBe(stoppedMessage(cluster.name));
    await expectNothingReceivedAfter(api, started.id, winner.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');
    const rows = await historyOf(api, started.id);
    for (const node of nodes) {
      expect(rowOf(rows, 'base', node.id)?.status).toBe('ready');
      expect(rowOf(rows, 'next', node.id)?.status).toBe('skipped');
    }
    expect(
      (
        await api.ok<TaskJson[]>(
          'GET',
          `/api/v1/transactions/?cluster_id=${cluster.id}&transaction_types=stop_deployment`,
        )
      ).length,
    ).toBe(1);

    await restartToOperational(api, cluster.id);
  });

  it('8. deploy while the stop is settling: 409 saying the deployment is being stopped', async () => {
    const { cluster, nodes } = await setUp(
      'deploy-while-stopping',
      ['controller', 'compute'],
      [shell('base', '*', 'sleep 1.5'), shell('next', '*', 'true', ['base'])],
    );
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, 'sleep 1.5', nodes);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);

    const refused = await api.call<{ message: string }>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/is being stopped/);
    expect((await taskOf(api, stop.body.id)).status).toBe('running');
    const deploys = await api.ok<TaskJson[]>(
      'GET',
      `/api/v1/transactions/?cluster_id=${cluster.id}&transaction_types=deploy`,
    );
    expect(deploys.map((t) => t.id)).toEqual([started.id]);

    const ended = await waitForEnd(api, stop.body.id);
    expect(ended.status).toBe('ready');
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');

    await restartToOperational(api, cluster.id);
  });

  it('9. escalation with ?force=1: the running command is cancelled before the stop task ends in error', async () => {
    const slow = slowOnce(`force-${Date.now()}`, 30);
    const { cluster, nodes } = await setUp(
      'force',
      ['controller', 'compute'],
      [
        shell('base', '*', 'true'),
        shell('slow', ['controller'], slow, ['base']),
        shell('tail', ['controller'], 'true', ['slow']),
      ],
    );
    const [controller, compute] = nodes;
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, slow, controller ? [controller] : []);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);
    // the deploy task says it is being stopped, by whom, and not by force (yet)
    const stopping = await api.ok<TaskJson>('GET', `/api/v1/tasks/${started.id}/`);
    expect(stopping.result.stop).toMatchObject({
      stop_task_id: stop.body.id,
      requested_by: 'admin',
      forced_at: null,
    });
    const forced = await requestStop(api, cluster.id, { force: true });
    expect(forced.status, forced.body.message).toBe(202);
    expect(forced.body.id).toBe(stop.body.id);
    const forcing = await api.ok<TaskJson>('GET', `/api/v1/tasks/${started.id}/`);
    expect((forcing.result.stop as { forced_at: string | null }).forced_at).toEqual(expect.any(String));

    const ended = await waitForEnd(api, stop.body.id);
    expect(ended.status).toBe('error');
    expect(ended.message).toMatch(/by force/);
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('error');

    const cancelled = commandsOf(await fleetLog(api), started.id).find(
      (c) => c.parameters.command?.[0] === slow,
    );
    expect(cancelled?.status).toBe('Cancelled');
    expect(cancelled?.endedAt).toBeTruthy();
    expect(Date.parse(cancelled?.endedAt ?? '')).toBeLessThanOrEqual(Date.parse(ended.time_end ?? ''));

    const rows = await historyOf(api, started.id);
    expect(rowOf(rows, 'slow', controller?.id)?.status).toBe('error');
    expect(rowOf(rows, 'slow', controller?.id)?.custom.error_type).toBe('stop_deployment');
    expect(rowOf(rows, 'tail', controller?.id)?.status).toBe('skipped');
    const members = await nodesOf(api, cluster.id);
    expect(members.get(controller?.id ?? 0)).toMatchObject({
      status: 'error',
      error_type: 'stop_deployment',
    });
    expect(members.get(compute?.id ?? 0)?.status).toBe('ready');
    expect((await taskOf(api, started.id)).status).toBe('error');

    await restartToOperational(api, cluster.id);
  });

  it('10. escalation by the stop timeout: the watchdog cancels the running command, the stop ends in error', async () => {
    const slow = slowOnce(`timeout-${Date.now()}`, 30);
    const { cluster, nodes } = await setUp(
      'stop-timeout',
      ['controller', 'compute'],
      [shell('base', '*', 'true'), shell('slow', ['controller'], slow, ['base'])],
      { deployment: { stop_timeout: { value: 1 } } },
    );
    const [controller] = nodes;
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, slow, controller ? [controller] : []);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);

    const ended = await waitForEnd(api, stop.body.id, 15_000);
    expect(ended.status).toBe('error');
    expect(ended.message?.startsWith('Timeout (1 sec) was reached.')).toBe(true);
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('error');

    const cancelled = commandsOf(await fleetLog(api), started.id).find(
      (c) => c.parameters.command?.[0] === slow,
    );
    expect(cancelled?.status).toBe('Cancelled');
    expect(Date.parse(cancelled?.endedAt ?? '')).toBeLessThanOrEqual(Date.parse(ended.time_end ?? ''));
    const rows = await historyOf(api, started.id);
    expect(rowOf(rows, 'slow', controller?.id)).toMatchObject({ status: 'error' });
    const members = await nodesOf(api, cluster.id);
    expect(members.get(controller?.id ?? 0)).toMatchObject({
      status: 'error',
      error_type: 'stop_deployment',
    });

    await restartToOperational(api, cluster.id);
  });

  it('11. a node that goes offline during the stop: the stop completes, the node is error, its late result is ignored', async () => {
    const { cluster, nodes } = await setUp(
      'offline',
      ['controller', 'compute'],
      [shell('base', '*', 'sleep 1'), shell('tail', '*', 'true', ['base'])],
      { deployment: { stop_timeout: { value: 2 } } },
    );
    const [lost, kept] = nodes;
    if (!lost || !kept) throw new Error('two nodes expected');
    const started = await deploy(cluster.id);
    const running = await waitForRunning(api, started.id, 'sleep 1', nodes);
    const lostCommand = running.find((c) => c.nodeName === lost.hostname);
    offline.push(lost.id);
    await api.ok('POST', `/_local/nodes/${lost.id}/offline`);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);

    const ended = await waitForEnd(api, stop.body.id, 20_000);
    // the node's result never came: the stop timeout escalates, and the stop gives up on that node
    expect(ended.status).toBe('error');
    expect(ended.message?.startsWith('Timeout (2 sec) was reached.')).toBe(true);
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('error');
    const members = await nodesOf(api, cluster.id);
    expect(members.get(lost.id)).toMatchObject({
      status: 'error',
      error_type: 'stop_deployment',
      online: false,
    });
    expect(members.get(kept.id)?.status).toBe('stopped');
    const rows = await historyOf(api, started.id);
    expect(rowOf(rows, 'base', lost.id)?.status).toBe('error');
    expect(rowOf(rows, 'base', kept.id)?.status).toBe('ready');

    // back online: the node's held result arrives late and is ignored
    const snapshot = async () => ({
      rows: await historyOf(api, started.id),
      nodes: [...(await nodesOf(api, cluster.id)).values()].map((n) => [n.id, n.status, n.error_type]),
      deploy: await taskOf(api, started.id),
      stop: await taskOf(api, stop.body.id),
      cluster: (await clusterOf(api, cluster.id)).status,
    });
    const before = await snapshot();
    await api.ok('POST', `/_local/nodes/${lost.id}/online`);
    offline.splice(offline.indexOf(lost.id), 1);
    await until('the late result to be delivered and ignored', async () =>
      ignored.some(
        (line) =>
          line.includes(lostCommand?.commandId ?? 'none') &&
          line.includes(lostCommand?.instanceId ?? 'none') &&
          line.includes('the deployment has ended'),
      ),
    );
    expect(await snapshot()).toEqual(before);

    await restartToOperational(api, cluster.id);
  });

  it('12. a stop with a message records who asked and why', async () => {
    const { cluster, nodes } = await setUp(
      'why',
      ['controller', 'compute'],
      [shell('base', '*', 'sleep 1'), shell('next', '*', 'true', ['base'])],
    );
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, 'sleep 1', nodes);
    const stop = await requestStop(api, cluster.id, { body: { message: 'why' } });
    expect(stop.status, stop.body.message).toBe(202);
    expect(stop.body.result).toMatchObject({
      requested_by: 'admin',
      reason: 'why',
      deploy_task_id: started.id,
    });

    const ended = await waitForEnd(api, stop.body.id);
    expect(ended.status).toBe('ready');
    expect(ended.result).toMatchObject({ requested_by: 'admin', reason: 'why' });
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');

    await restartToOperational(api, cluster.id);
  });
});

describe('stop deployment: finishing races', () => {
  it('a restart right after the stop task is ready is accepted even when finish is retried', async () => {
    const { cluster, nodes } = await setUp(
      'restart-at-once',
      ['controller', 'compute'],
      [shell('base', '*', 'sleep 1'), shell('next', '*', 'true', ['base'])],
    );
    // "Finish deployment" dies once right after it has ended the tasks, before it unlocks the cluster
    // (a Lambda time-out or crash); Step Functions retries it 2 s later.
    const store = runtime.repos.clusters;
    const original = store.release.bind(store);
    let crashed = false;
    store.release = async (clusterId, deployTaskId, patch) => {
      if (clusterId === cluster.id && !crashed) {
        crashed = true;
        throw new Error('simulated crash of the finish Lambda before it unlocked the cluster');
      }
      return original(clusterId, deployTaskId, patch);
    };
    cleanups.push(() => {
      store.release = original;
    });
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, 'sleep 1', nodes);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);
    const ended = await until(
      'the stop task to end',
      async () => {
        const t = await taskOf(api, stop.body.id);
        return t.status !== 'running' && t;
      },
      30_000,
      5,
    );
    expect(ended.status).toBe('ready');

    // the client sees "successfully stopped" and deploys again at once, as the races require
    const res = await api.call<{ message: string }>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
    expect(res.status, res.body.message).toBe(202);
  });

  it('the stop task ends even when the deployment finishes while the stop is being recorded', async () => {
    const { cluster, nodes } = await setUp(
      'orphan-stop',
      ['controller', 'compute'],
      [shell('base', '*', 'sleep 0.5')],
    );
    // The stop function is slow between setting the stop flag and writing the stop task (one more DynamoDB
    // call): meanwhile the last layer ends and "Finish deployment" runs, sees the flag, unlocks the cluster and
    // finds no stop task to end; the request's write lands right then, before Finish writes the task ended.
    const store = runtime.repos.tasks;
    const originalPut = store.put.bind(store);
    const originalFinish = store.finish.bind(store);
    let finishMissedIt: () => void = () => {};
    const missed = new Promise<void>((resolve) => {
      finishMissedIt = resolve;
    });
    let requestWrote: () => void = () => {};
    const written = new Promise<void>((resolve) => {
      requestWrote = resolve;
    });
    let stopTaskId: number | null = null;
    store.put = async (task: Task) => {
      if (task.name !== 'stop_deployment' || task.clusterId !== cluster.id || task.status !== 'running')
        return originalPut(task);
      stopTaskId = task.id;
      await Promise.race([missed, new Promise((r) => setTimeout(r, 10_000))]);
      try {
        return await originalPut(task);
      } finally {
        requestWrote();
      }
    };
    store.finish = async (id: number, patch: Parameters<typeof store.finish>[1]) => {
      const finished = await originalFinish(id, patch);
      if (id === stopTaskId && !finished) {
        finishMissedIt();
        await Promise.race([written, new Promise((r) => setTimeout(r, 10_000))]);
      }
      return finished;
    };
    cleanups.push(() => {
      store.put = originalPut;
      store.finish = originalFinish;
    });
    const started = await deploy(cluster.id);
    await waitForRunning(api, started.id, 'sleep 0.5', nodes);
    const stop = await requestStop(api, cluster.id);
    expect(stop.status, stop.body.message).toBe(202);
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);

    const ended = await until(
      'the stop task to end',
      async () => {
        const t = await taskOf(api, stop.body.id);
        return t.status !== 'running' && t;
      },
      5_000,
    ).catch(() => null);
    expect(ended?.status ?? (await taskOf(api, stop.body.id)).status).toBe('ready');
    await expectSettled(api, cluster.id, started.id);
  });
});
