import { describe, expect, it } from 'vitest';
import type { HistoryRow } from '../../lambdas/domain/history.js';
import { deploymentMessage, provisioningMessage, stopMessage } from '../../lambdas/domain/messages.js';
import {
  settleDeployment,
  settleNodeRows,
  stageTaskStatus,
  workProgress,
} from '../../lambdas/domain/settlement.js';
import type { HistoryStatus } from '../../lambdas/domain/status.js';
import { forcedStop, NO_STOP, requestedStop, type StopCause } from '../../lambdas/domain/stop.js';
import { historyRow } from '../helpers/rows.js';

function row(taskName: string, status: HistoryStatus, extra: Partial<HistoryRow> = {}): HistoryRow {
  return historyRow({ taskName, status, ...extra });
}

const stopBy = (cause: StopCause) =>
  requestedStop({
    cause,
    by: 'admin',
    message: 'maintenance',
    stopTaskId: 9,
    at: new Date(0),
    timeoutSeconds: 30,
  });

describe('settleDeployment', () => {
  it("an operator's graceful stop: cluster stopped, stop task ready, the unfinished deployment not ready", () => {
    expect(
      settleDeployment({
        orchestrationFailed: false,
        anyError: false,
        workLeft: true,
        stop: stopBy('operator'),
        nodes: ['ready', 'stopped'],
      }),
    ).toEqual({
      outcome: 'stopped',
      cluster: 'stopped',
      deployTask: 'error',
      stopTask: 'ready',
    });
    // a stop that came when nothing was left to do: the deployment did finish
    expect(
      settleDeployment({
        orchestrationFailed: false,
        anyError: false,
        workLeft: false,
        stop: stopBy('operator'),
        nodes: ['ready'],
      }).deployTask,
    ).toBe('ready');
  });

  it('a forced stop, a forced delete being forced, or a fault-tolerance stop end in error', () => {
    const forced = forcedStop(stopBy('forced_delete'), new Date(0).toISOString(), 'forced_delete');
    expect(
      settleDeployment({
        orchestrationFailed: false,
        anyError: false,
        workLeft: true,
        stop: forced,
        nodes: [],
      }),
    ).toMatchObject({
      cluster: 'error',
      deployTask: 'error',
      stopTask: 'error',
    });
    expect(
      settleDeployment({
        orchestrationFailed: false,
        anyError: true,
        workLeft: true,
        stop: stopBy('fault_tolerance'),
        nodes: [],
      }),
    ).toMatchObject({ cluster: 'error', stopTask: null });
  });

  it('without a stop: operational when every node is ready', () => {
    expect(
      settleDeployment({
        orchestrationFailed: false,
        anyError: false,
        workLeft: false,
        stop: NO_STOP,
        nodes: ['ready'],
      }),
    ).toEqual({
      outcome: 'completed',
      cluster: 'operational',
      deployTask: 'ready',
      stopTask: null,
    });
  });
});

describe('settleNodeRows and stage tasks', () => {
  it('a node whose row failed carries the error type its row recorded', () => {
    const rows = [row('a', 'error', { errorType: 'stop_deployment' })];
    expect(
      settleNodeRows({ status: 'deploying', errorType: null }, rows, {
        before: 'ready',
        failed: true,
        deploys: true,
      }),
    ).toEqual({ status: 'error', errorType: 'stop_deployment', progress: 100 });
  });

  it('unchanged work counts as done; work left after a stop leaves the node stopped', () => {
    const rows = [
      row('a', 'skipped', { skipReason: 'unchanged' }),
      row('b', 'skipped', { skipReason: 'stopped' }),
    ];
    expect(
      settleNodeRows({ status: 'deploying', errorType: null }, rows, {
        before: 'ready',
        failed: false,
        deploys: true,
      }),
    ).toEqual({ status: 'stopped', errorType: null, progress: 50 });
  });

  it("a stage task fails on its own stage's errors, is ready when its work is done, else ends as its run", () => {
    const rows = [row('provision', 'ready', { stage: 'provision' }), row('a', 'error')];
    expect(stageTaskStatus(rows, true, 'error')).toBe('ready');
    expect(stageTaskStatus(rows, false, 'ready')).toBe('error');
    const stopped = [
      row('provision', 'ready', { stage: 'provision' }),
      row('a', 'skipped', { skipReason: 'stopped' }),
    ];
    expect(stageTaskStatus(stopped, true, 'error')).toBe('ready');
    expect(stageTaskStatus(stopped, false, 'error')).toBe('error');
    expect(stageTaskStatus([row('a', 'skipped', { skipReason: 'unchanged' })], false, 'ready')).toBe('ready');
  });

  it('work progress is 100 only when every row ended done', () => {
    expect(workProgress([row('a', 'ready'), row('b', 'skipped', { skipReason: 'fail_on_error' })])).toBe(100);
    expect(workProgress([row('a', 'ready'), row('b', 'skipped', { skipReason: 'stopped' })])).toBe(50);
    expect(workProgress([row('a', 'ready'), row('b', 'ready'), row('c', 'pending')])).toBe(66);
  });
});

describe('messages', () => {
  const run = { name: 'deploy' as const, stop: NO_STOP };

  it('say how a deployment ended', () => {
    expect(deploymentMessage('env', 'completed', run, [row('a', 'ready')], null)).toBe(
      "Deployment of environment 'env' is done.",
    );
    expect(deploymentMessage('env', 'failed', run, [row('a', 'error')], null)).toBe(
      "Deployment of environment 'env' has failed. Failed tasks: a on node 1.",
    );
    expect(
      deploymentMessage('env', 'failed', run, [], { Error: 'ExecutionAborted', Cause: 'aborted by hand' }),
    ).toBe("Deployment of environment 'env' has failed: aborted by hand");
    // a step's error, as Step Functions passes a Lambda function's: its message
    const cause = JSON.stringify({ errorType: 'ValidationError', errorMessage: 'no graph', trace: [] });
    expect(deploymentMessage('env', 'failed', run, [], { Error: 'ValidationError', Cause: cause })).toBe(
      "Deployment of environment 'env' has failed: no graph",
    );
    // a run of a graph of another type names it; the default graph's does not
    const fix = { ...run, name: 'deployment' as const, mode: { graphType: 'fix' } };
    expect(deploymentMessage('env', 'completed', fix, [row('a', 'ready')], null)).toBe(
      "Deployment of the 'fix' graph of environment 'env' is done.",
    );
    const byDefault = { ...fix, mode: { graphType: 'default' } };
    expect(deploymentMessage('env', 'completed', byDefault, [row('a', 'ready')], null)).toBe(
      "Deployment of environment 'env' is done.",
    );
    const stopped = { name: 'provision' as const, stop: stopBy('operator') };
    expect(
      deploymentMessage(
        'env',
        'stopped',
        stopped,
        [row('a', 'ready'), row('b', 'skipped', { skipReason: 'stopped' })],
        null,
      ),
    ).toBe("Provisioning of environment 'env' was stopped: 1 of 2 tasks done, 1 not started.");
  });

  it("word a critical node's failure (a fault-tolerance stop) as a failure, naming the node and why", () => {
    const tolerance = (message: string | null) =>
      requestedStop({
        cause: 'fault_tolerance',
        by: 'fault tolerance',
        message,
        stopTaskId: null,
        at: new Date(0),
        timeoutSeconds: 30,
      });
    const rows = [
      row('db', 'error', { nodeId: 3 }),
      row('api', 'skipped', {
        nodeId: 3,
        skipReason: 'blocked',
        reason: 'not run: requirement db@3 did not succeed',
      }),
      row('agent', 'skipped', { nodeId: 4, skipReason: 'stopped' }),
    ];
    const critical = {
      name: 'deploy' as const,
      stop: tolerance('node 3 (controller) failed: its role controller is critical'),
    };
    expect(deploymentMessage('env', 'failed', critical, rows, null)).toBe(
      "Deployment of environment 'env' has failed: node 3 (controller) failed: its role controller is critical. " +
        'Failed tasks: db on node 3.',
    );
    const group = {
      name: 'deploy' as const,
      stop: tolerance("2 of 2 nodes of group 'compute' failed; it tolerates 1"),
    };
    expect(deploymentMessage('env', 'failed', group, rows, null)).toBe(
      "Deployment of environment 'env' has failed: 2 of 2 nodes of group 'compute' failed; it tolerates 1. " +
        'Failed tasks: db on node 3.',
    );
    // forced afterwards by an operator, it is still the failure that ended it
    const forced = {
      name: 'deploy' as const,
      stop: forcedStop(tolerance(null), new Date(0).toISOString(), 'operator'),
    };
    const message = deploymentMessage('env', 'failed', forced, rows, null);
    expect(message).toBe(
      "Deployment of environment 'env' has failed: fault tolerance exceeded. Failed tasks: db on node 3.",
    );
    expect(message).not.toContain('stopped');
  });

  it('say how a stop ended, and name what forced it', () => {
    const rows = [row('a', 'error', { cancelledByStop: true })];
    expect(stopMessage('env', { name: 'deploy', stop: stopBy('operator') }, rows)).toBe(
      "Deployment of environment 'env' was successfully stopped.",
    );
    const byTimeout = forcedStop(stopBy('operator'), new Date(0).toISOString(), 'stop_timeout');
    expect(stopMessage('env', { name: 'deploy', stop: byTimeout }, rows)).toBe(
      'Timeout (30 sec) was reached. 1 running task was cancelled.',
    );
    const byOperator = forcedStop(stopBy('operator'), new Date(0).toISOString(), 'operator');
    expect(stopMessage('env', { name: 'deploy', stop: byOperator }, [])).toBe(
      "Deployment of environment 'env' was stopped by force: 0 running tasks were cancelled.",
    );
  });

  it('say how provisioning ended', () => {
    const p = (status: HistoryStatus) => row('provision', status, { stage: 'provision' });
    expect(provisioningMessage([p('ready')])).toBe('Provisioning of 1 node is done');
    expect(provisioningMessage([p('ready'), p('error')])).toBe('Provisioning failed on 1 of 2 nodes');
    expect(provisioningMessage([p('ready'), p('skipped')])).toBe(
      'Provisioning of 1 of 2 nodes is done; the others were not started (stopped)',
    );
  });
});
