/**
 * Fingerprints of a task's inputs: a task whose fingerprint is unchanged since its last successful run on a
 * node need not run again there. Inputs are the task's definition and the cluster's settings.
 */
import type { GraphTask } from './graph.js';

/** JSON with object keys sorted, so that equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A 64-bit FNV-1a hash of a text, as 16 hex digits. */
export function hash64(text: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * prime) & mask;
  }
  return h.toString(16).padStart(16, '0');
}

export function taskFingerprint(task: GraphTask, settings: Record<string, unknown>): string {
  return hash64(canonicalJson({ task, settings }));
}

/** The fingerprint of every task of a graph in a run, by task id. */
export function graphFingerprints(
  graph: readonly GraphTask[],
  settings: Record<string, unknown>,
): Map<string, string> {
  return new Map(graph.map((t) => [t.id, taskFingerprint(t, settings)]));
}
