/** DynamoDB's limits as the service checks them before it writes (lambdas/domain/dynamo-limits.ts). */
import { describe, expect, it } from 'vitest';
import {
  assertItemFits,
  ITEM_KEY_ROOM_BYTES,
  itemSize,
  keyTextProblem,
  MAX_ITEM_BYTES,
  MAX_KEY_TEXT_BYTES,
  MAX_NESTING_LEVELS,
  numberProblem,
  storableProblem,
  valueSize,
} from '../../lambdas/domain/dynamo-limits.js';
import { TooLargeError } from '../../lambdas/domain/errors.js';

/** A value nested `levels` deep: `levels` lists (or objects) around a number. */
function nested(levels: number, as: 'list' | 'object' = 'list'): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = as === 'list' ? [value] : { a: value };
  return value;
}

describe('item sizes, as DynamoDB counts them', () => {
  it('counts strings in UTF-8 bytes, numbers by significant digits, booleans and null as 1 byte', () => {
    expect(valueSize('abc')).toBe(3);
    expect(valueSize('é')).toBe(2);
    expect(valueSize('🌸')).toBe(4);
    expect(valueSize(0)).toBe(1);
    expect(valueSize(7)).toBe(2);
    expect(valueSize(12)).toBe(2);
    expect(valueSize(123)).toBe(3);
    // trailing and leading zeros are not significant; the exponent is not either
    expect(valueSize(1200)).toBe(2);
    expect(valueSize(0.0012)).toBe(2);
    expect(valueSize(1.5e-7)).toBe(2);
    expect(valueSize(-123456)).toBe(4);
    expect(valueSize(true)).toBe(1);
    expect(valueSize(null)).toBe(1);
  });

  it('counts 3 bytes for a list or map, and 1 byte per element with its name', () => {
    expect(valueSize([])).toBe(3);
    expect(valueSize({})).toBe(3);
    expect(valueSize(['ab', 'c'])).toBe(3 + (1 + 2) + (1 + 1));
    expect(valueSize({ ab: 'c', d: true })).toBe(3 + (1 + 2 + 1) + (1 + 1 + 1));
    // undefined fields are not written
    expect(valueSize({ a: undefined, b: 'x' })).toBe(3 + (1 + 1 + 1));
    expect(itemSize({ pk: 'CLUSTER#1', sk: 'GRAPH', tasks: [] })).toBe(2 + 9 + 2 + 5 + 5 + 3);
  });

  it('refuses with 413 an item over 400 KB once its key is counted, naming what and where', () => {
    const room = MAX_ITEM_BYTES - ITEM_KEY_ROOM_BYTES - 'v'.length;
    expect(() => assertItemFits('The graph', 'the graph item', { v: 'x'.repeat(room) })).not.toThrow();
    let refused: unknown;
    try {
      assertItemFits('The graph', 'the graph item', { v: 'x'.repeat(room + 1) });
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(TooLargeError);
    expect((refused as Error).message).toBe(
      `The graph is too large to keep: its item (the graph item) would be about ${MAX_ITEM_BYTES + 1} bytes, ` +
        `more than the ${MAX_ITEM_BYTES} bytes (400 KB) a DynamoDB item holds`,
    );
  });
});

describe('numbers DynamoDB and its SDK can keep', () => {
  it('accepts zero, integers up to 2^53 - 1 and magnitudes down to 1E-130', () => {
    for (const n of [
      0,
      -0,
      1,
      -1,
      0.5,
      2.71,
      1e-130,
      -1e-130,
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
    ]) {
      expect(numberProblem(n), String(n)).toBeNull();
    }
  });

  it('refuses magnitudes above 2^53 - 1 (the SDK would refuse or read them back as BigInt)', () => {
    expect(numberProblem(Number.MAX_SAFE_INTEGER + 2)).toMatch(
      /too large to keep: numbers are kept up to 9007199254740991/,
    );
    expect(numberProblem(1e300)).toMatch(/^the number 1e\+300 is too large/);
    expect(numberProblem(-1e20)).toMatch(/too large/);
  });

  it('refuses magnitudes below 1E-130 (an underflow in DynamoDB) and non-finite numbers', () => {
    expect(numberProblem(1e-131)).toMatch(/too small to keep: DynamoDB keeps magnitudes from 1E-130/);
    expect(numberProblem(-5e-324)).toMatch(/too small/);
    expect(numberProblem(Number.POSITIVE_INFINITY)).toMatch(/not a finite number/);
    expect(numberProblem(Number.NaN)).toMatch(/not a finite number/);
  });
});

describe('what an uploaded JSON value holds', () => {
  it('finds a number out of range anywhere, with its path', () => {
    expect(storableProblem([{ id: 'a', parameters: { n: 1, deep: [0, 1e300] } }])).toEqual({
      path: [0, 'parameters', 'deep', 1],
      message: expect.stringMatching(/1e\+300 is too large/),
    });
    expect(storableProblem({ g: { s: { value: 1e-200 } } }, ['editable'])).toEqual({
      path: ['editable', 'g', 's', 'value'],
      message: expect.stringMatching(/too small/),
    });
    expect(storableProblem({ a: [1, 'x', null, true, { b: 2.5 }] })).toBeNull();
  });

  it('allows 32 levels of lists and objects and refuses the 33rd, where it starts', () => {
    expect(storableProblem(nested(MAX_NESTING_LEVELS))).toBeNull();
    expect(storableProblem(nested(MAX_NESTING_LEVELS, 'object'))).toBeNull();
    const problem = storableProblem(nested(MAX_NESTING_LEVELS + 1, 'object'), ['editable']);
    expect(problem?.message).toBe('is nested more than 32 levels deep: DynamoDB keeps at most 32');
    expect(problem?.path).toEqual(['editable', ...Array(MAX_NESTING_LEVELS).fill('a')]);
  });

  it('walks a value nested far deeper than a call stack without overflowing', () => {
    expect(storableProblem(nested(200_000))?.path).toHaveLength(MAX_NESTING_LEVELS);
  });
});

describe('text that becomes part of a key', () => {
  it('allows at most the bytes a sort key leaves for it, counted in UTF-8', () => {
    expect(MAX_KEY_TEXT_BYTES).toBeLessThanOrEqual(1024);
    expect(keyTextProblem('x'.repeat(MAX_KEY_TEXT_BYTES), 'a task id')).toBeNull();
    expect(keyTextProblem('x'.repeat(MAX_KEY_TEXT_BYTES + 1), 'a task id')).toBe(
      `is ${MAX_KEY_TEXT_BYTES + 1} bytes in UTF-8: a task id is part of a DynamoDB key and may have at most ${MAX_KEY_TEXT_BYTES} bytes (a sort key holds 1024)`,
    );
    // 4 bytes per character: fewer characters fit
    const flowers = '🌸'.repeat(Math.floor(MAX_KEY_TEXT_BYTES / 4) + 1);
    expect(keyTextProblem(flowers, 'a cluster name')).toMatch(/^is \d+ bytes in UTF-8: a cluster name/);
  });
});
