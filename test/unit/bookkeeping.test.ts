import { describe, expect, it } from 'vitest';
import {
  isStageAllIn,
  PROGRESS_STEP,
  progressAtEnd,
  progressStepAt,
  tokenToComplete,
  UNOPENED_STAGE,
} from '../../lambdas/domain/bookkeeping.js';

describe("a batch's progress", () => {
  it('adds up to the batch: a step every PROGRESS_STEP closes while open, the rest at its end', () => {
    for (const size of [1, 2, PROGRESS_STEP - 1, PROGRESS_STEP, PROGRESS_STEP + 1, 49, 50]) {
      let added = 0;
      let writes = 0;
      for (let closed = 1; closed <= size; closed++) {
        const step = progressStepAt(closed, size);
        added += step;
        if (step > 0) writes++;
      }
      added += progressAtEnd(size);
      expect(added, `size ${size}`).toBe(size);
      expect(writes, `size ${size}`).toBeLessThanOrEqual(Math.floor(size / PROGRESS_STEP));
    }
  });
});

describe("a stage's completion", () => {
  it('waits for every batch and every legacy key, and completes a token once', () => {
    const open = { ...UNOPENED_STAGE, token: 't', openBatches: [2] };
    expect(isStageAllIn(open)).toBe(false);
    expect(tokenToComplete(open)).toBeNull();
    expect(isStageAllIn({ ...open, openBatches: [], outstanding: ['a@1'] })).toBe(false);
    expect(tokenToComplete({ ...open, openBatches: [] })).toBe('t');
    expect(tokenToComplete({ ...open, openBatches: [], completedToken: 't' })).toBeNull();
    expect(tokenToComplete(UNOPENED_STAGE)).toBeNull();
  });
});
