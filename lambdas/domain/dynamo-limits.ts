/**
 * DynamoDB's limits on what the service stores, checked where the API receives the input and before anything
 * is written, so that content DynamoDB would refuse is a 400 or 413 that names the limit, never a 500 half-way
 * through a use case. Pure: sizes are computed as DynamoDB counts them, from the values the service writes.
 *
 * - an item holds at most 400 KB: attribute names and values, lists and maps with their overhead
 *   (`itemSize`, `assertItemFits`);
 * - a number has at most 38 significant digits and a magnitude between 1E-130 and 9.99...E+125; the SDK's
 *   marshaller (`@aws-sdk/lib-dynamodb`) is stricter above: it refuses a JavaScript number beyond
 *   `Number.MAX_SAFE_INTEGER` and reads such a stored number back as a BigInt, which JSON cannot write.
 *   A number parsed from JSON is a double, whose shortest decimal form has at most 17 significant digits,
 *   so the 38-digit precision always holds for it (`numberProblem`);
 * - a document nests at most 32 levels (`storableProblem`);
 * - a partition key holds at most 2048 bytes, a sort key 1024 (`keyTextProblem`, for text of an operator's
 *   that becomes part of a key: a cluster name in its name claim, a graph task id in history rows).
 */
import { TooLargeError } from './errors.js';

export const MAX_ITEM_BYTES = 400 * 1024;
/** Room kept in an item for its key, its entity tag and the names of its attributes. */
export const ITEM_KEY_ROOM_BYTES = 1024;
export const MAX_NESTING_LEVELS = 32;
export const MAX_PARTITION_KEY_BYTES = 2048;
export const MAX_SORT_KEY_BYTES = 1024;
/** Text that becomes part of a sort key, leaving room for the key's prefix, separators and ids. */
export const MAX_KEY_TEXT_BYTES = MAX_SORT_KEY_BYTES - 64;
/** The smallest magnitude DynamoDB keeps (a smaller number other than 0 is an underflow). */
export const MIN_NUMBER_MAGNITUDE = 1e-130;
/** The largest magnitude the service keeps: the SDK's limit for a JavaScript number, below DynamoDB's 9.99E+125. */
export const MAX_NUMBER_MAGNITUDE = Number.MAX_SAFE_INTEGER;

const utf8 = new TextEncoder();

export function utf8Bytes(text: string): number {
  return utf8.encode(text).length;
}

/** Significant digits of a number's shortest decimal form (`1.5e-7` has 2, `120` has 2, `0` has 0). */
function significantDigits(value: number): number {
  const mantissa = Math.abs(value).toString().split('e')[0] ?? '';
  return mantissa.replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
}

/** DynamoDB's size of a number: 1 byte, and 1 per two significant digits. */
function numberSize(value: number): number {
  return 1 + Math.ceil(significantDigits(value) / 2);
}

/**
 * The size DynamoDB counts for a value: a string its UTF-8 bytes, a number 1 byte per two significant
 * digits and 1, a boolean or null 1 byte, a list or map 3 bytes and, per element, 1 byte and the element
 * (with its name in a map), a set as a list of its elements. `undefined` fields are not written (the
 * marshaller removes them).
 */
export function valueSize(value: unknown): number {
  if (typeof value === 'string') return utf8Bytes(value);
  if (typeof value === 'number') return numberSize(value);
  if (typeof value === 'boolean' || value === null) return 1;
  if (value instanceof Set) {
    // a string or number set: its elements (counted here as a list's, an upper bound)
    let size = 3;
    for (const element of value) size += 1 + valueSize(element);
    return size;
  }
  if (Array.isArray(value)) {
    let size = 3;
    for (const element of value) size += 1 + valueSize(element ?? null);
    return size;
  }
  if (typeof value === 'object') {
    let size = 3;
    for (const [name, element] of Object.entries(value as Record<string, unknown>)) {
      if (element === undefined) continue;
      size += 1 + utf8Bytes(name) + valueSize(element);
    }
    return size;
  }
  return 0;
}

/** The size of an item with these attributes: each attribute's name and value. */
export function itemSize(attributes: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    size += utf8Bytes(name) + valueSize(value);
  }
  return size;
}

/**
 * Refuses (413) content whose item would be over DynamoDB's 400 KB once stored: `what` names it (e.g.
 * "The deployment graph of environment 'x'"), `item` names the item it is kept in.
 */
export function assertItemFits(what: string, item: string, attributes: Record<string, unknown>): void {
  const size = itemSize(attributes) + ITEM_KEY_ROOM_BYTES;
  if (size > MAX_ITEM_BYTES) {
    throw new TooLargeError(
      `${what} is too large to keep: its item (${item}) would be about ${size} bytes, ` +
        `more than the ${MAX_ITEM_BYTES} bytes (400 KB) a DynamoDB item holds`,
    );
  }
}

/** Why DynamoDB (or its SDK) cannot keep this number, or null when it can. */
export function numberProblem(value: number): string | null {
  if (!Number.isFinite(value)) return `${value} is not a finite number`;
  const magnitude = Math.abs(value);
  if (magnitude > MAX_NUMBER_MAGNITUDE) {
    return `the number ${value} is too large to keep: numbers are kept up to ${MAX_NUMBER_MAGNITUDE} (2^53 - 1) in magnitude`;
  }
  if (magnitude !== 0 && magnitude < MIN_NUMBER_MAGNITUDE) {
    return `the number ${value} is too small to keep: DynamoDB keeps magnitudes from 1E-130 (or 0)`;
  }
  return null;
}

export interface StorableProblem {
  /** Where: list indexes and object keys from the top of the uploaded value. */
  path: (string | number)[];
  message: string;
}

/**
 * The first thing in an uploaded JSON value that DynamoDB cannot keep: a number out of its range, or lists
 * and objects nested more than 32 levels (the value itself is level 1, as an attribute holding it is). Walks
 * without recursion, so a value nested thousands deep is reported, not a stack overflow.
 */
export function storableProblem(
  value: unknown,
  prefix: readonly (string | number)[] = [],
): StorableProblem | null {
  const stack: { value: unknown; path: (string | number)[]; level: number }[] = [
    { value, path: [...prefix], level: 1 },
  ];
  while (stack.length > 0) {
    const { value: v, path, level } = stack.pop() as (typeof stack)[number];
    if (typeof v === 'number') {
      const problem = numberProblem(v);
      if (problem) return { path, message: problem };
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (level > MAX_NESTING_LEVELS) {
      return {
        path,
        message: `is nested more than ${MAX_NESTING_LEVELS} levels deep: DynamoDB keeps at most ${MAX_NESTING_LEVELS}`,
      };
    }
    const entries: [string | number, unknown][] = Array.isArray(v)
      ? v.map((element, i) => [i, element])
      : Object.entries(v as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, element] = entries[i] as [string | number, unknown];
      stack.push({ value: element, path: [...path, key], level: level + 1 });
    }
  }
  return null;
}

/** Why a text cannot be part of a key (`what` names it: "a cluster name"), or null when it can. */
export function keyTextProblem(text: string, what: string): string | null {
  const bytes = utf8Bytes(text);
  return bytes > MAX_KEY_TEXT_BYTES
    ? `is ${bytes} bytes in UTF-8: ${what} is part of a DynamoDB key and may have at most ${MAX_KEY_TEXT_BYTES} bytes (a sort key holds ${MAX_SORT_KEY_BYTES})`
    : null;
}
