/** How the UI words and colours what the API says. */
import type { HistoryJson, TaskJson } from '../../lambdas/api/wire.js';

/**
 * A task's status as an operator reads it: a deployment a stop ended is `stopped`, not an error, and so is
 * the part of it (`deployment`, `provision`) the stop ended (given the deployment it belongs to).
 */
export function taskState(task: TaskJson, parent?: TaskJson): string {
  const stopped = (t: TaskJson) =>
    t.result.stop_task_status !== undefined && t.result.stop_task_status !== null;
  if (stopped(task)) return 'stopped';
  if (parent !== undefined && task.parent_id === parent.id && stopped(parent) && task.status === 'error')
    return 'stopped';
  return task.status;
}

export const isRunning = (task: TaskJson): boolean => task.status === 'running' || task.status === 'pending';

export function time(iso: string | null): string {
  if (iso === null) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function duration(start: string | null, end: string | null): string {
  if (start === null) return '—';
  const ms = (end === null ? Date.now() : Date.parse(end)) - Date.parse(start);
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 100) / 10;
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Why a history row did not run, or what ended it, in the words its `custom` carries. */
export function rowReason(row: HistoryJson): string | null {
  const c = row.custom;
  for (const key of ['reason', 'skip_reason', 'message', 'error']) {
    const value = c[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return null;
}

/** The end of a command's output (stdout, then stderr), as the node reported it. */
export function outputTail(row: HistoryJson): string | null {
  const parts = [row.custom.output_tail, row.custom.error_tail].filter(
    (v): v is string => typeof v === 'string' && v.trim() !== '',
  );
  return parts.length === 0 ? null : parts.join('\n');
}
