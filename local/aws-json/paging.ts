/**
 * Paging of AWS JSON list operations: the page size a request asks for (MaxResults) and the opaque
 * NextToken that names the last item of the page, so that a token stays valid while items are added.
 */
import { AwsJsonError, validationError } from './errors.js';
import { type Body, optionalInteger } from './fields.js';

export interface PageLimits {
  min: number;
  max: number;
  /** The size when the request names none; `max` unless given. */
  fallback?: number;
}

/** The page size the member `key` asks for, within the operation's limits. */
export function maxResults(body: Body, key: string, limits: PageLimits): number {
  const value = optionalInteger(body, key);
  if (value === undefined) return limits.fallback ?? limits.max;
  if (value < limits.min || value > limits.max) {
    const member = key.charAt(0).toLowerCase() + key.slice(1);
    throw validationError(
      `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ` +
        `Member must have value between ${limits.min} and ${limits.max}`,
    );
  }
  return value;
}

export interface Page<T> {
  items: T[];
  nextToken: string | undefined;
}

/**
 * The page of `items` after the item whose key `nextToken` names (from the start without a token). A
 * token that names no item is answered with `invalidTokenType`, as the service calls it.
 */
export function pageAfter<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: number,
  nextToken: string | undefined,
  invalidTokenType = 'InvalidNextToken',
): Page<T> {
  let start = 0;
  if (nextToken !== undefined) {
    const after = Buffer.from(nextToken, 'base64url').toString('utf8');
    const index = items.findIndex((item) => keyOf(item) === after);
    if (index < 0) throw new AwsJsonError(invalidTokenType, 'The specified token is not valid.');
    start = index + 1;
  }
  const page = items.slice(start, start + limit);
  const last = page[page.length - 1];
  const more = start + limit < items.length && last !== undefined;
  return {
    items: page,
    nextToken: more ? Buffer.from(keyOf(last), 'utf8').toString('base64url') : undefined,
  };
}
