/**
 * A stop settles as soon as nothing of the deployment runs: the stage its last command ended is settled by
 * the result that ended it, without waiting for Step Functions to move on to the next stop check. Here Step
 * Functions is slow to take a stage's completion (SendTaskSuccess held for a few seconds, as a loaded
 * region may be); the operator still sees the stop end within moments of the last command ending, and the
 * execution's own Finish, coming later, changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskJson } from '../../lambdas/api/wire.js';
import type { Workflows } from '../../lambdas/app/ports.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import {
  clusterWith,
  expectNothingReceivedAfter,
  expectSettled,
  historyOf,
  nodesOf,
  requestStop,
  restartToOperational,
  rowOf,
  taskOf,
  until,
  waitForEnd,
  waitForRunning,
} from '../helpers/stop-helpers.js';
import { Api, shell } from '../helpers/target.js';

/** How long Step Functions takes to accept a stage's completion in this test. */
const COMPLETION_DELAY_MS = 4_000;

let runtime: Runtime;
let api: Api;
/** Completions are held only around the stop (the deployments before and after it run at full speed). */
let holding = false;
/** When each held SendTaskSuccess was asked for. */
const completions: number[] = [];

function slowToComplete(real: Workflows): Workflows {
  return {
    start: (name, input) => real.start(name, input),
    consoleUrl: (arn) => real.consoleUrl(arn),
    execution: (name) => real.execution(name),
    async complete(token, output) {
      if (!holding) return real.complete(token, output);
      completions.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, COMPLETION_DELAY_MS));
      return real.complete(token, output);
    },
  };
}

beforeAll(async () => {
  runtime = await startRuntime({
    port: 0,
    nodeCount: 2,
    demo: false,
    authToken: 'stop-settlement',
    decorate: { workflows: slowToComplete },
  });
  api = new Api(runtime);
});

afterAll(async () => {
  await runtime?.stop();
});

describe('a stop with Step Functions slow to move on', () => {
  it('is settled when the last running command ends, before the execution takes the stage completion', async () => {
    const { cluster, nodes } = await clusterWith(
      api,
      'settles-early',
      ['controller', 'compute'],
      [
        shell('base', '*', 'true'),
        shell('mid', '*', 'sleep 1', ['base']),
        shell('after', '*', 'echo after', ['mid']),
      ],
    );
    const started = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`);
    await waitForRunning(api, started.id, 'sleep 1', nodes);
    holding = true;
    const stop = await requestStop(api, cluster.id, { body: { message: 'settle early' } });
    expect(stop.status, stop.body.message).toBe(202);

    const ended = await waitForEnd(api, stop.body.id, 60_000);
    expect(ended.status).toBe('ready');
    const run = await taskOf(api, started.id);
    expect(run.status).toBe('error');
    const rows = await historyOf(api, started.id);
    const lastEnd = Math.max(...nodes.map((n) => Date.parse(String(rowOf(rows, 'mid', n.id)?.time_end))));
    // settled within moments of the last command's end, not a held completion later
    const settledAt = Math.max(Date.parse(String(ended.time_end)), Date.parse(String(run.time_end)));
    expect(settledAt - lastEnd).toBeLessThan(COMPLETION_DELAY_MS / 2);
    // and before Step Functions had taken the completion of the stage the stop ended
    const heldFrom = completions.filter((at) => at >= lastEnd - 1_000);
    expect(heldFrom.length).toBeGreaterThan(0);
    expect(settledAt).toBeLessThan(Math.min(...heldFrom) + COMPLETION_DELAY_MS);

    for (const node of nodes) {
      expect(rowOf(rows, 'mid', node.id)?.status).toBe('ready');
      expect(rowOf(rows, 'after', node.id)?.status).toBe('skipped');
      expect((await nodesOf(api, cluster.id)).get(node.id)?.status).toBe('stopped');
    }
    await expectNothingReceivedAfter(api, started.id, stop.ackAt);
    expect((await expectSettled(api, cluster.id, started.id)).status).toBe('stopped');

    // the execution's own Finish, once the completion is through, finds it settled and changes nothing
    const executionDone = await until(
      `execution of run ${started.id} to end`,
      async () => {
        const execution = await runtime.context.workflows.execution(started.uuid);
        return execution !== null && execution.status !== 'RUNNING' && execution;
      },
      30_000,
      100,
    );
    expect(executionDone.status).toBe('SUCCEEDED');
    const after = await taskOf(api, started.id);
    expect(after.time_end).toBe(run.time_end);
    expect(after.status).toBe('error');
    expect((await taskOf(api, stop.body.id)).time_end).toBe(ended.time_end);
    holding = false;

    await restartToOperational(api, cluster.id);
  });
});
