import { describe, expect, it } from 'vitest';
import {
  countAt,
  countPercent,
  decodeStages,
  encodeStages,
  isLayerIndex,
  isProvisionIndex,
  PROVISION_INDEX,
  stageIndex,
  stoppedTaskPercent,
} from '../../lambdas/domain/progress.js';
import { settleNode } from '../../lambdas/domain/settlement.js';

describe('row stages as the plan stores them', () => {
  it('round-trips a target planned on provisioning and layers, rows of one layer counted apart', () => {
    const text = encodeStages([3, PROVISION_INDEX, 0, 3, 12]);
    expect(text).toBe('-1,0,3,3,12');
    expect([...decodeStages(text)]).toEqual([
      [-1, 1],
      [0, 1],
      [3, 2],
      [12, 1],
    ]);
    expect(decodeStages('').size).toBe(0);
  });

  it('orders provisioning before every layer', () => {
    expect(stageIndex('provision')).toBe(-1);
    expect(stageIndex('layer-0')).toBe(0);
    expect(stageIndex('layer-41')).toBe(41);
  });
});

describe('countAt', () => {
  const counts = decodeStages('-1,0,3,3,12');

  it('counts nothing before the first stage opens', () => {
    expect(countAt(counts, { current: null, open: 0 })).toEqual({ ended: 0, planned: 5 });
  });

  it('counts the stages before the open one, and the open one less what is still open in it', () => {
    expect(countAt(counts, { current: 3, open: 2 })).toEqual({ ended: 2, planned: 5 });
    expect(countAt(counts, { current: 3, open: 1 })).toEqual({ ended: 3, planned: 5 });
    expect(countAt(counts, { current: 3, open: 0 })).toEqual({ ended: 4, planned: 5 });
    // a layer with none of its rows: everything before it ended
    expect(countAt(counts, { current: 5, open: 0 })).toEqual({ ended: 4, planned: 5 });
    expect(countAt(counts, { current: 12, open: 0 })).toEqual({ ended: 5, planned: 5 });
  });

  it('splits a run into its stage tasks: provisioning, the layers', () => {
    const at = { current: 0, open: 1 };
    expect(countAt(counts, at, isProvisionIndex)).toEqual({ ended: 1, planned: 1 });
    expect(countAt(counts, at, isLayerIndex)).toEqual({ ended: 0, planned: 4 });
    expect(countAt(counts, { current: -1, open: 1 }, isLayerIndex)).toEqual({ ended: 0, planned: 4 });
  });

  it('never counts below zero when more is open than planned in the stage', () => {
    expect(countAt(counts, { current: 0, open: 5 })).toEqual({ ended: 1, planned: 5 });
  });
});

describe('percentages', () => {
  it('round down; nothing planned has no share', () => {
    expect(countPercent({ ended: 2, planned: 3 })).toBe(66);
    expect(countPercent({ ended: 3, planned: 3 })).toBe(100);
    expect(countPercent({ ended: 0, planned: 0 })).toBeNull();
  });

  it('a stopped task keeps what it reached, below 100 unless all was done', () => {
    expect(stoppedTaskPercent({ ended: 9, planned: 10 }, false)).toBe(90);
    expect(stoppedTaskPercent({ ended: 10, planned: 10 }, false)).toBe(99);
    expect(stoppedTaskPercent({ ended: 9, planned: 10 }, true)).toBe(100);
  });
});

describe('settleNode with the progress reached', () => {
  it('a stopped or provisioned node keeps it; ready, error and discover are 100, 100 and 0', () => {
    const base = { status: 'deploying' as const, provisioning: null, failedAs: null, reached: 75 };
    expect(settleNode({ ...base, rows: ['done', 'done', 'left'] })).toEqual({
      status: 'stopped',
      errorType: null,
      progress: 75,
    });
    expect(settleNode({ ...base, rows: ['done', 'done'] }).progress).toBe(100);
    expect(settleNode({ ...base, rows: ['done'], failedAs: 'deploy' }).progress).toBe(100);
    expect(
      settleNode({ ...base, status: 'provisioned', provisioning: 'done', rows: ['left'], reached: 50 }),
    ).toEqual({ status: 'provisioned', errorType: null, progress: 50 });
    expect(settleNode({ ...base, provisioning: 'not_run', rows: ['left'] }).progress).toBe(0);
  });

  it('a node whose work left was all skipped (blocked, refused by the stop) is stopped below 100', () => {
    const base = { status: 'deploying' as const, provisioning: null, failedAs: null };
    expect(settleNode({ ...base, rows: ['done', 'left'], reached: 100 })).toEqual({
      status: 'stopped',
      errorType: null,
      progress: 99,
    });
    expect(
      settleNode({ ...base, status: 'provisioned', provisioning: 'done', rows: ['left'], reached: 100 }),
    ).toEqual({ status: 'provisioned', errorType: null, progress: 99 });
  });
});
