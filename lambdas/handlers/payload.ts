/** What the thin Lambda handlers share: a context made once per container, and checked payload fields. */
import { parseStage, type Stage } from '../domain/stage.js';

export function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    if (value === undefined) value = make();
    return value;
  };
}

function field(payload: unknown, name: string): unknown {
  return typeof payload === 'object' && payload !== null
    ? (payload as Record<string, unknown>)[name]
    : undefined;
}

export function integerField(payload: unknown, name: string): number {
  const value = field(payload, name);
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new Error(`payload.${name} must be an integer`);
  return value;
}

export function stringField(payload: unknown, name: string): string {
  const value = field(payload, name);
  if (typeof value !== 'string' || value === '')
    throw new Error(`payload.${name} must be a non-empty string`);
  return value;
}

export function stageField(payload: unknown, name: string): Stage {
  const value = stringField(payload, name);
  const stage = parseStage(value);
  if (stage === null) throw new Error(`payload.${name} must be 'provision' or 'layer-<n>' (got '${value}')`);
  return stage;
}

export function objectField(payload: unknown, name: string): Record<string, unknown> | null {
  const value = field(payload, name);
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
}
