import { describe, expect, it } from 'vitest';
import type { Failures } from '../../lambdas/domain/bookkeeping.js';
import { historyStatusOfInvocation } from '../../lambdas/domain/command-result.js';
import {
  batchRows,
  decideLayer,
  executionTimeout,
  MAX_INSTANCES_PER_COMMAND,
  reachedNoops,
} from '../../lambdas/domain/dispatch.js';
import { type HistoryRow, type SkipReason, skipCountsAsSuccess } from '../../lambdas/domain/history.js';
import { rowFate, settleCluster, settleNode } from '../../lambdas/domain/settlement.js';
import { rowKey } from '../../lambdas/domain/stage.js';
import {
  CLUSTER_STATUSES,
  canMoveHistory,
  HISTORY_STATUSES,
  type HistoryStatus,
  historySourcesOf,
  isClusterLocked,
  isHistoryFinished,
  NODE_ERROR_TYPES,
  NODE_STATUSES,
  type NodeErrorType,
  type NodeStatus,
  needsProvisioning,
} from '../../lambdas/domain/status.js';
import { SYNC_NODE } from '../../lambdas/domain/targets.js';
import { taskRow } from '../helpers/rows.js';

function failures(nodes: [number, string][] = [], instances: [string, string][] = []): Failures {
  return { nodes: new Map(nodes), instances: new Map(instances) };
}

const keysOf = (rows: HistoryRow[]): string[] => rows.map(rowKey);

describe('decideLayer', () => {
  it('sends every pending row when nothing failed', () => {
    const rows = [taskRow('a', 1), taskRow('a', 2), taskRow('b', 1, { requires: ['x@1', 'y@2'] })];
    const decision = decideLayer(rows, failures());
    expect(keysOf(decision.send)).toEqual(['a@1', 'a@2', 'b@1']);
    expect(decision.skip).toEqual([]);
  });

  it('skips the rows of a node that failed earlier, naming the node and why', () => {
    const rows = [taskRow('a', 1), taskRow('a', 2)];
    const decision = decideLayer(rows, failures([[1, 'setup failed (Failed, exit code 3)']]));
    expect(keysOf(decision.send)).toEqual(['a@2']);
    expect(decision.skip).toHaveLength(1);
    const skipped = decision.skip[0];
    expect(skipped?.row.nodeId).toBe(1);
    expect(skipped?.reason).toContain('node 1 failed earlier');
    expect(skipped?.reason).toContain('setup failed (Failed, exit code 3)');
  });

  it('skips a row whose requirement did not succeed, naming the requirement', () => {
    const rows = [taskRow('b', 2, { requires: ['ok@1', 'bad@1'] }), taskRow('c', 3, { requires: ['ok@1'] })];
    const decision = decideLayer(rows, failures([], [['bad@1', 'failed']]));
    expect(keysOf(decision.send)).toEqual(['c@3']);
    expect(decision.skip.map((s) => [rowKey(s.row), s.reason])).toEqual([
      ['b@2', 'not run: requirement bad@1 did not succeed'],
    ]);
  });

  it('a failed node wins over a failed requirement in the reason', () => {
    const decision = decideLayer(
      [taskRow('b', 1, { requires: ['bad@2'] })],
      failures([[1, 'node broke']], [['bad@2', 'failed']]),
    );
    expect(decision.skip[0]?.reason).toContain('node 1 failed earlier (node broke)');
  });

  it('considers pending rows only: running, finished and skipped rows are neither sent nor skipped', () => {
    const statuses: HistoryStatus[] = ['running', 'ready', 'error', 'skipped'];
    const rows = [...statuses.map((status, i) => taskRow('a', i + 1, { status })), taskRow('a', 9)];
    const decision = decideLayer(rows, failures([[1, 'x']], [['z@1', 'x']]));
    expect(keysOf(decision.send)).toEqual(['a@9']);
    expect(decision.skip).toEqual([]);
  });

  it('decides rows that run nothing first, in plan order, so that a row of the same layer needing one sees it', () => {
    const stage = taskRow('deploy_end', SYNC_NODE, {
      order: 1,
      requires: ['top@*'],
      noop: { kind: 'noop', reason: 'stage: nothing runs' },
    });
    const after = taskRow('post', 2, { order: 2, requires: ['deploy_end@sync'] });
    // a failure on a node that did not fail (a blocked cross-dependency) blocks the stage, and so what follows
    const blocked = decideLayer([after, stage], failures([], [['top@3', 'not run: requirement x']]));
    expect(blocked.skip.map((s) => [rowKey(s.row), s.kind])).toEqual([
      ['deploy_end@sync', 'blocked'],
      ['post@2', 'blocked'],
    ]);
    expect(blocked.skip[0]?.reason).toBe('not run: requirement top@3 did not succeed');
    // nothing failed: the stage is recorded as what it is, and the row after it is sent
    const clear = decideLayer([after, stage], failures());
    expect(clear.skip.map((s) => [rowKey(s.row), s.kind, s.reason])).toEqual([
      ['deploy_end@sync', 'noop', 'stage: nothing runs'],
    ]);
    expect(keysOf(clear.send)).toEqual(['post@2']);
  });

  it('a stage does not wait for a node that failed alone: the other nodes go past it', () => {
    const stage = taskRow('deploy_end', SYNC_NODE, {
      order: 1,
      requires: ['top@*'],
      noop: { kind: 'noop', reason: 's' },
    });
    const decision = decideLayer([stage], failures([[3, 'top failed']], [['top@3', 'failed']]));
    expect(decision.skip.map((s) => s.kind)).toEqual(['noop']);
    // a row of a node still waits for what failed on another node (Astute: its dependents fail)
    const cross = taskRow('agent', 2, { requires: ['top@3'] });
    expect(decideLayer([cross], failures([[3, 'top failed']], [['top@3', 'failed']])).skip[0]?.kind).toBe(
      'blocked',
    );
  });

  it('a false condition skips the row with its reason, counted as success', () => {
    const cond = taskRow('radosgw', 1, { noop: { kind: 'condition', reason: 'condition is false: x' } });
    expect(decideLayer([cond], failures()).skip).toEqual([
      { row: cond, kind: 'condition', reason: 'condition is false: x' },
    ]);
  });
});

describe('reachedNoops', () => {
  it('names the pending rows that run nothing whose requirements all succeeded, through chains of them', () => {
    const rows = [
      taskRow('a', 1, { status: 'ready', order: 0 }),
      taskRow('a', 2, { status: 'skipped', skipReason: 'condition', order: 1 }),
      taskRow('end', SYNC_NODE, { order: 2, requires: ['a@*'], noop: { kind: 'noop', reason: 'stage' } }),
      taskRow('post', SYNC_NODE, {
        order: 3,
        requires: ['end@sync'],
        noop: { kind: 'noop', reason: 'stage' },
      }),
      taskRow('b', 1, { order: 4 }),
      taskRow('after-b', 1, { order: 5, requires: ['b@1'], noop: { kind: 'condition', reason: 'c' } }),
    ];
    expect([...reachedNoops(rows).keys()]).toEqual(['end@sync', 'post@sync']);
  });
});

describe('batchRows', () => {
  it('groups rows by task and command, and orders each batch by node id', () => {
    const rows = [taskRow('b', 3), taskRow('a', 5), taskRow('b', 1), taskRow('a', 2), taskRow('b', 2)];
    const batches = batchRows(rows);
    expect(batches.map((b) => [b.taskName, b.cmd, b.rows.map((r) => r.nodeId)])).toEqual([
      ['a', 'run a', [2, 5]],
      ['b', 'run b', [1, 2, 3]],
    ]);
  });

  it('separates rows of one task whose command, timeout or retries differ', () => {
    const rows = [
      taskRow('a', 1),
      taskRow('a', 2, { cmd: 'other' }),
      taskRow('a', 3, { timeout: 10 }),
      taskRow('a', 4, { retries: 2 }),
      taskRow('a', 5),
    ];
    const batches = batchRows(rows);
    expect(batches).toHaveLength(4);
    const byNodes = batches.map((b) => b.rows.map((r) => r.nodeId)).sort();
    expect(byNodes).toEqual([[1, 5], [2], [3], [4]]);
    const retried = batches.find((b) => b.rows[0]?.nodeId === 4);
    expect(retried?.retries).toBe(2);
    expect(batches.find((b) => b.rows[0]?.nodeId === 3)?.timeout).toBe(10);
  });

  it('puts at most 50 nodes in a batch: 120 nodes make 3 batches of 50, 50 and 20', () => {
    const rows = Array.from({ length: 120 }, (_, i) => taskRow('a', 120 - i));
    const batches = batchRows(rows);
    expect(MAX_INSTANCES_PER_COMMAND).toBe(50);
    expect(batches.map((b) => b.rows.length)).toEqual([50, 50, 20]);
    expect(batches.map((b) => [b.rows[0]?.nodeId, b.rows.at(-1)?.nodeId])).toEqual([
      [1, 50],
      [51, 100],
      [101, 120],
    ]);
  });

  it('is deterministic: the same rows in any order give the same batches', () => {
    const rows = [
      ...Array.from({ length: 60 }, (_, i) => taskRow('a', i + 1)),
      ...Array.from({ length: 7 }, (_, i) => taskRow('b', i + 1)),
      taskRow('c', 4, { cmd: 'x' }),
    ];
    const shape = (input: HistoryRow[]) => batchRows(input).map((b) => [b.taskName, keysOf(b.rows)]);
    const reversed = [...rows].reverse();
    const shuffled = rows.map((r, i) => ({ r, k: (i * 37) % rows.length })).sort((x, y) => x.k - y.k);
    expect(shape(reversed)).toEqual(shape(rows));
    expect(shape(shuffled.map((x) => x.r))).toEqual(shape(rows));
  });

  it('returns no batch for no rows', () => {
    expect(batchRows([])).toEqual([]);
  });
});

describe('executionTimeout', () => {
  it('covers every attempt plus room', () => {
    expect(executionTimeout(100, 0)).toBe(130);
    expect(executionTimeout(100, 2)).toBe(330);
    // the pauses between attempts count too
    expect(executionTimeout(100, 2, 20)).toBe(370);
  });

  it("stays within aws:runShellScript's 48 h limit", () => {
    expect(executionTimeout(86_400, 10)).toBe(172_800);
  });
});

describe('historyStatusOfInvocation', () => {
  it.each([
    ['Success', 'ready'],
    ['Failed', 'error'],
    ['TimedOut', 'error'],
    ['Cancelled', 'error'],
    ['Undeliverable', 'error'],
    ['Terminated', 'error'],
    ['DeliveryTimedOut', 'error'],
    ['ExecutionTimedOut', 'error'],
    ['InvalidPlatform', 'error'],
    ['AccessDenied', 'error'],
  ])('%s -> %s', (ssm, expected) => {
    expect(historyStatusOfInvocation(ssm)).toBe(expected);
  });

  it.each(['Pending', 'InProgress', 'Delayed', 'Cancelling', '', 'success'])(
    '%j is not finished -> null',
    (ssm) => {
      expect(historyStatusOfInvocation(ssm)).toBeNull();
    },
  );
});

describe('rowFate', () => {
  it('ready is done, error is failed, pending and running are left', () => {
    expect(rowFate('ready', null)).toBe('done');
    expect(rowFate('error', null)).toBe('failed');
    expect(rowFate('pending', null)).toBe('left');
    expect(rowFate('running', null)).toBe('left');
  });

  it.each<[SkipReason | null, 'done' | 'left']>([
    ['unchanged', 'done'],
    ['fail_on_error', 'done'],
    ['blocked', 'left'],
    ['stopped', 'left'],
    ['aborted', 'left'],
    [null, 'left'],
  ])('skipped with reason %s -> %s', (reason, fate) => {
    expect(rowFate('skipped', reason)).toBe(fate);
    if (reason !== null) expect(skipCountsAsSuccess(reason)).toBe(fate === 'done');
  });
});

describe('settleNode', () => {
  it('a node that failed ends in error with its error type, whatever its rows', () => {
    for (const failedAs of ['deploy', 'provision', 'stop_deployment'] as NodeErrorType[]) {
      expect(
        settleNode({ status: 'deploying', provisioning: null, rows: ['done', 'done'], failedAs }),
      ).toEqual({
        status: 'error',
        errorType: failedAs,
        progress: 100,
      });
    }
    expect(
      settleNode({ status: 'provisioning', provisioning: null, rows: [], failedAs: 'provision' }).status,
    ).toBe('error');
  });

  it.each<NodeStatus>(['discover', 'provisioning'])(
    'a node still %s (never provisioned) goes back to discover',
    (status) => {
      expect(settleNode({ status, provisioning: null, rows: ['left', 'left'], failedAs: null })).toEqual({
        status: 'discover',
        errorType: null,
        progress: 0,
      });
    },
  );

  it('every task done -> ready, 100%', () => {
    expect(
      settleNode({ status: 'deploying', provisioning: null, rows: ['done', 'done', 'done'], failedAs: null }),
    ).toEqual({
      status: 'ready',
      errorType: null,
      progress: 100,
    });
  });

  it('a provisioned node without any task for it -> ready', () => {
    expect(settleNode({ status: 'provisioned', provisioning: null, rows: [], failedAs: null }).status).toBe(
      'ready',
    );
  });

  it('nothing ran -> provisioned, 0%', () => {
    expect(
      settleNode({ status: 'provisioned', provisioning: null, rows: ['left', 'left'], failedAs: null }),
    ).toEqual({
      status: 'provisioned',
      errorType: null,
      progress: 0,
    });
  });

  it('part of the work done -> stopped, below 100%', () => {
    expect(
      settleNode({ status: 'deploying', provisioning: null, rows: ['done', 'left', 'left'], failedAs: null }),
    ).toEqual({
      status: 'stopped',
      errorType: null,
      progress: 33,
    });
    const almost = settleNode({
      status: 'deploying',
      provisioning: null,
      rows: [...Array.from({ length: 999 }, () => 'done' as const), 'left'],
      failedAs: null,
    });
    expect(almost.status).toBe('stopped');
    expect(almost.progress).toBeLessThan(100);
  });

  it('a node whose provisioning in this deployment never ran goes back to discover, whatever its status', () => {
    for (const status of ['error', 'provisioned', 'provisioning'] as NodeStatus[]) {
      expect(settleNode({ status, provisioning: 'not_run', rows: ['left'], failedAs: null })).toEqual({
        status: 'discover',
        errorType: null,
        progress: 0,
      });
    }
  });

  it('a node provisioned in this deployment with nothing run after it -> provisioned', () => {
    expect(
      settleNode({ status: 'provisioned', provisioning: 'done', rows: ['left'], failedAs: null }).status,
    ).toBe('provisioned');
  });

  it('a deployed node on which nothing of this deployment ran has work left -> stopped', () => {
    for (const before of ['ready', 'stopped', 'error'] as NodeStatus[]) {
      const settled = settleNode({
        status: 'deploying',
        before,
        provisioning: null,
        rows: ['left'],
        failedAs: null,
      });
      expect(settled.status, before).toBe('stopped');
    }
  });

  it('a failed row without a recorded node failure does not read as "nothing ran"', () => {
    const settled = settleNode({
      status: 'deploying',
      provisioning: null,
      rows: ['failed', 'left'],
      failedAs: null,
    });
    expect(settled.status).toBe('stopped');
    expect(settled.progress).toBe(0);
  });
});

describe('settleNode after a run of another graph (deploy/?graph_type=)', () => {
  const otherGraph = (before: NodeStatus, rows: ('done' | 'left')[], reached?: number) =>
    settleNode({
      status: 'deploying',
      before,
      provisioning: null,
      rows,
      failedAs: null,
      otherGraph: true,
      reached,
    });

  it('a ready node stays ready when the graph ran to its end there, and is stopped when work was left', () => {
    expect(otherGraph('ready', ['done', 'done'])).toEqual({
      status: 'ready',
      errorType: null,
      progress: 100,
    });
    expect(otherGraph('ready', ['done', 'left'])).toEqual({
      status: 'stopped',
      errorType: null,
      progress: 50,
    });
    expect(otherGraph('ready', ['done', 'left'], 100).progress).toBeLessThan(100);
  });

  it('a node not deployed by the default graph does not become ready: it keeps its status (and error type)', () => {
    expect(otherGraph('provisioned', ['done'])).toEqual({
      status: 'provisioned',
      errorType: null,
      progress: 0,
    });
    expect(otherGraph('stopped', ['done']).status).toBe('stopped');
    expect(otherGraph('stopped', ['done']).progress).toBeLessThan(100);
    expect(otherGraph('stopped', []).progress).toBe(0);
    expect(
      settleNode({
        status: 'error',
        before: 'error',
        provisioning: null,
        rows: ['done'],
        failedAs: null,
        otherGraph: true,
        errorTypeBefore: 'stop_deployment',
      }),
    ).toEqual({ status: 'error', errorType: 'stop_deployment', progress: 100 });
  });

  it('a node the run failed is in error, as after any run', () => {
    expect(
      settleNode({
        status: 'error',
        before: 'ready',
        provisioning: null,
        rows: ['failed'],
        failedAs: 'deploy',
        otherGraph: true,
      }),
    ).toEqual({ status: 'error', errorType: 'deploy', progress: 100 });
  });
});

describe('settleNode of a provisioning-only run', () => {
  it('a node provisioned by the run -> provisioned, even with no task planned', () => {
    expect(
      settleNode({ status: 'provisioning', provisioning: 'done', rows: [], failedAs: null, deploys: false }),
    ).toEqual({ status: 'provisioned', errorType: null, progress: 0 });
  });

  it('a node whose provisioning never ran (stopped first) -> discover', () => {
    expect(
      settleNode({
        status: 'provisioning',
        provisioning: 'not_run',
        rows: [],
        failedAs: null,
        deploys: false,
      }),
    ).toEqual({ status: 'discover', errorType: null, progress: 0 });
  });

  it('a node whose provisioning failed -> error provision', () => {
    expect(
      settleNode({
        status: 'provisioning',
        provisioning: 'not_run',
        rows: [],
        failedAs: 'provision',
        deploys: false,
      }).status,
    ).toBe('error');
  });
});

describe('settleCluster', () => {
  it('completed with every node ready -> operational', () => {
    expect(settleCluster('completed', ['ready', 'ready'])).toBe('operational');
  });

  it('completed with a node not deployed (selected nodes only) -> partially_deployed', () => {
    expect(settleCluster('completed', ['ready', 'provisioned'])).toBe('partially_deployed');
    expect(settleCluster('completed', ['ready', 'discover'])).toBe('partially_deployed');
  });

  it('completed while a node left out is in error -> error', () => {
    expect(settleCluster('completed', ['ready', 'provisioned', 'error'])).toBe('error');
  });

  it('failed -> error, even with every node ready', () => {
    expect(settleCluster('failed', ['ready'])).toBe('error');
  });

  it('stopped -> stopped, even when a node ended in error while the stop settled', () => {
    expect(settleCluster('stopped', ['ready', 'stopped', 'provisioned'])).toBe('stopped');
    expect(settleCluster('stopped', ['ready', 'error'])).toBe('stopped');
  });
});

describe('status rules', () => {
  const legal: [HistoryStatus, HistoryStatus][] = [
    ['pending', 'running'],
    ['pending', 'skipped'],
    ['running', 'ready'],
    ['running', 'error'],
    // a failed command of a task with fail_on_error: false
    ['running', 'skipped'],
  ];

  it('history moves only along pending -> running -> ready|error|skipped and pending -> skipped', () => {
    for (const from of HISTORY_STATUSES) {
      for (const to of HISTORY_STATUSES) {
        const expected = legal.some(([f, t]) => f === from && t === to);
        expect(canMoveHistory(from, to), `${from} -> ${to}`).toBe(expected);
      }
    }
  });

  it.each<[HistoryStatus, HistoryStatus]>([
    ['pending', 'ready'],
    ['pending', 'error'],
    ['running', 'pending'],
    ['ready', 'error'],
    ['error', 'ready'],
    ['skipped', 'running'],
    ['ready', 'ready'],
  ])('%s -> %s is illegal', (from, to) => {
    expect(canMoveHistory(from, to)).toBe(false);
  });

  it('historySourcesOf and isHistoryFinished agree with the transitions', () => {
    expect(historySourcesOf('running')).toEqual(['pending']);
    expect(historySourcesOf('ready')).toEqual(['running']);
    expect(historySourcesOf('skipped')).toEqual(['pending', 'running']);
    expect(historySourcesOf('pending')).toEqual([]);
    expect(HISTORY_STATUSES.filter(isHistoryFinished)).toEqual(['ready', 'error', 'skipped']);
  });

  it('a cluster is locked while deploying or being removed only', () => {
    const locked = CLUSTER_STATUSES.filter(isClusterLocked);
    expect(locked.sort()).toEqual(['deployment', 'remove']);
    for (const s of ['new', 'operational', 'error', 'stopped', 'partially_deployed'] as const) {
      expect(isClusterLocked(s)).toBe(false);
    }
  });

  it('needsProvisioning: discover, provisioning, and error of type provision only', () => {
    for (const status of NODE_STATUSES) {
      for (const errorType of [null, ...NODE_ERROR_TYPES]) {
        const expected =
          status === 'discover' ||
          status === 'provisioning' ||
          (status === 'error' && errorType === 'provision');
        expect(needsProvisioning(status, errorType), `${status}/${errorType}`).toBe(expected);
      }
    }
    expect(needsProvisioning('error', 'deploy')).toBe(false);
    expect(needsProvisioning('stopped', null)).toBe(false);
    expect(needsProvisioning('provisioned', null)).toBe(false);
  });
});
