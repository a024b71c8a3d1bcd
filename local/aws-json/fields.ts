/**
 * Readers for the members of an AWS JSON request body, each answering a ValidationException that names
 * the member when it has the wrong type, and the epoch-seconds form AWS JSON uses for timestamps.
 */
import { validationError } from './errors.js';

/** A request body, or any JSON object in it. */
export type Body = Record<string, unknown>;

export function isRecord(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const absent = (value: unknown): value is undefined | null => value === undefined || value === null;

/** A member that must be present as a non-empty string. */
export function requiredString(body: Body, key: string): string {
  const value = body[key];
  if (absent(value) || value === '') {
    throw validationError(`1 validation error detected: '${key}' must not be null`);
  }
  if (!isString(value)) throw validationError(`${key} must be a string`);
  return value;
}

/** A member that is absent (undefined, null) or passes `is`; `what` names the type in the error. */
function optionalOf<T>(
  body: Body,
  key: string,
  is: (value: unknown) => value is T,
  what: string,
): T | undefined {
  const value = body[key];
  if (absent(value)) return undefined;
  if (!is(value)) throw validationError(`${key} must be ${what}`);
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);
const isBoolean = (value: unknown): value is boolean => typeof value === 'boolean';

export const optionalString = (body: Body, key: string): string | undefined =>
  optionalOf(body, key, isString, 'a string');

export const optionalInteger = (body: Body, key: string): number | undefined =>
  optionalOf(body, key, isInteger, 'an integer');

export const optionalBoolean = (body: Body, key: string): boolean | undefined =>
  optionalOf(body, key, isBoolean, 'a boolean');

/** A list of strings anywhere in a body (`what` names it in the error), or undefined when absent. */
export function stringList(value: unknown, what: string): string[] | undefined {
  if (absent(value)) return undefined;
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw validationError(`${what} must be a list of strings`);
  }
  return value;
}

export function optionalStringList(body: Body, key: string): string[] | undefined {
  return stringList(body[key], key);
}

/** A timestamp as AWS JSON carries it: seconds since the epoch, with fractions. */
export function epochSeconds(at: Date | number): number {
  return (typeof at === 'number' ? at : at.getTime()) / 1000;
}
