import { describe, expect, it } from 'vitest';
import { historyJson, taskJson } from '../../lambdas/api/serialize.js';
import { NO_STOP } from '../../lambdas/domain/stop.js';
import { newRun, newStopTask } from '../../lambdas/domain/task.js';
import { historyRow } from '../helpers/rows.js';

const base = historyRow({ taskName: 'netconfig', nodeId: 4, status: 'ready' });

const command = {
  commandId: 'c-1',
  instanceId: 'mi-4',
  ssmStatus: 'Failed' as const,
  statusDetails: 'Failed',
  exitCode: 3,
  outputTail: 'out',
  errorTail: 'err',
};

describe('a history row in Nailgun shape', () => {
  it("maps a failed command's typed outcome to custom", () => {
    const json = historyJson({
      ...base,
      status: 'error',
      command,
      errorType: 'stop_deployment',
      cancelledByStop: true,
    });
    expect(json).toMatchObject({
      task_name: 'netconfig',
      deployment_graph_task_name: 'netconfig',
      node_id: '4',
    });
    expect(json.custom).toEqual({
      exit_code: 3,
      ssm_status: 'Failed',
      status_details: 'Failed',
      command_id: 'c-1',
      instance_id: 'mi-4',
      output_tail: 'out',
      error_tail: 'err',
      error_type: 'stop_deployment',
      cancelled_by_stop: true,
    });
  });

  it('a row never run says why, and nothing else', () => {
    const json = historyJson({ ...base, status: 'skipped', skipReason: 'stopped', reason: 'not started' });
    expect(json.custom).toEqual({ skip_reason: 'stopped', reason: 'not started' });
    expect(historyJson(base).custom).toEqual({});
  });
});

describe('a task in Nailgun shape', () => {
  const run = newRun({
    id: 3,
    uuid: 'u-3',
    clusterId: 1,
    mode: { force: false, resume: false, scope: 'all', nodes: null },
    children: { provision: null, deployment: 4 },
    message: 'running',
    at: '2026-12-01T10:00:00.000Z',
  });

  it("a run's result is empty until it ends, then says its outcome", () => {
    expect(taskJson(run).result).toEqual({});
    expect(run.stop).toEqual(NO_STOP);
    const ended = {
      ...run,
      outcome: { clusterStatus: 'stopped' as const, stopTaskStatus: 'ready' as const, stopMessage: 'ok' },
    };
    expect(taskJson(ended).result).toEqual({
      cluster_status: 'stopped',
      stop_task_status: 'ready',
      stop_message: 'ok',
    });
    const unlocked = { ...ended, outcome: { ...ended.outcome, clusterStatus: null } };
    expect(taskJson(unlocked).result).toEqual({ stop_task_status: 'ready', stop_message: 'ok' });
  });

  it("a stop task's result says which run it stops, who asked and why", () => {
    const stop = newStopTask(
      run,
      { id: 5, uuid: 'u-5', at: run.timeStart ?? '', requestedBy: 'admin', reason: 'why' },
      'm',
    );
    expect(taskJson(stop)).toMatchObject({
      name: 'stop_deployment',
      result: { deploy_task_id: 3, requested_by: 'admin', reason: 'why' },
      graph_type: 'default',
      dry_run: false,
    });
  });

  it("a run's graph_type is the graph it runs: default for runs stored without one", () => {
    expect(taskJson(run).graph_type).toBe('default');
    const fix = {
      ...run,
      name: 'deployment' as const,
      mode: { ...run.mode, scope: 'deploy' as const, graphType: 'fix' },
    };
    expect(taskJson(fix).graph_type).toBe('fix');
  });

  it('a running run shows progress from its counters, below 100', () => {
    expect(taskJson({ ...run, done: 1, total: 3 }).progress).toBe(33);
    expect(taskJson({ ...run, done: 3, total: 3 }).progress).toBe(99);
  });
});
