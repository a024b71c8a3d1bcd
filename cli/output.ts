/**
 * What the commands print: the API's JSON with --json, otherwise aligned tables. Nothing from the server
 * reaches the terminal with control characters (sanitize.ts): a cell is one line without them, and JSON
 * escapes them.
 */
import type { Context } from './command.js';
import { safeJson, sanitizeLine } from './sanitize.js';

type Row = object;

function text(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(text).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A cell: the value as one line of text without control characters. */
const cell = (value: unknown): string => sanitizeLine(text(value));

/** Columns padded to their widest cell, a dashed rule under the header; missing fields are empty. */
export function table(rows: readonly Row[], columns: readonly string[]): string {
  const cells = rows.map((row) => columns.map((c) => cell((row as Record<string, unknown>)[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** A list as a table of the given columns, or the JSON as received. */
export function printList(ctx: Context, rows: readonly Row[], columns: readonly string[]): void {
  ctx.io.out(ctx.json ? safeJson(rows) : table(rows, columns));
}

/** One object as a one-row table of the given columns, or the JSON as received. */
export function printRow(ctx: Context, value: Row, columns: readonly string[]): void {
  ctx.io.out(ctx.json ? safeJson(value) : table([value], columns));
}

/** One object as a `field value` table of the given fields, or the JSON as received. */
export function printObject(ctx: Context, value: Row, fields: readonly string[]): void {
  if (ctx.json) {
    ctx.io.out(safeJson(value));
    return;
  }
  const record = value as Record<string, unknown>;
  ctx.io.out(
    table(
      fields.map((field) => ({ field, value: record[field] })),
      ['field', 'value'],
    ),
  );
}

export const CLUSTER_COLUMNS = ['id', 'name', 'status', 'release_id', 'is_locked'];
export const CLUSTER_FIELDS = [...CLUSTER_COLUMNS, 'is_customized', 'fuel_version', 'mode', 'net_provider'];
export const NODE_COLUMNS = [
  'id',
  'name',
  'status',
  'error_type',
  'roles',
  'pending_roles',
  'cluster',
  'online',
  'progress',
];
export const TASK_COLUMNS = [
  'id',
  'name',
  'status',
  'progress',
  'cluster',
  'parent_id',
  'time_start',
  'time_end',
];
export const TASK_FIELDS = [
  'id',
  'uuid',
  'name',
  'status',
  'progress',
  'message',
  'cluster',
  'parent_id',
  'time_start',
  'time_end',
  'graph_type',
  'dry_run',
  'execution_arn',
];
/** What an action (deploy, stop, reset, delete) prints: the task it started. */
export const ACTION_COLUMNS = ['id', 'name', 'status', 'progress', 'cluster', 'message'];
