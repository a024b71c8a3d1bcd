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

/**
 * The names of a deployment's top-level task: `deploy` (Deploy changes), or `provision` / `deployment`
 * of selected nodes (`PUT clusters/ID/provision/?nodes=`, `.../deploy/?nodes=`: fuel2 and the CLI).
 */
export const DEPLOYMENT_NAMES: readonly string[] = ['deploy', 'provision', 'deployment'];

/** A deployment the operator started (not the `provision` / `deployment` part of a `deploy`). */
export const isDeployment = (task: TaskJson): boolean =>
  task.parent_id === null && DEPLOYMENT_NAMES.includes(task.name);

/** How a deployment's task is named in a sentence: "Deployment task 9", "Provisioning task 12". */
export function deploymentLabel(task: TaskJson): string {
  if (task.name === 'provision') return `Provisioning task ${task.id} (selected nodes)`;
  if (task.name === 'deployment') return `Deployment task ${task.id} (selected nodes)`;
  return `Deployment task ${task.id}`;
}

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
  if (ms < 59_950) return `${(Math.round(ms / 100) / 10).toString()} s`;
  // whole seconds first, then minutes and seconds: 119.6 s is 2 min 0 s, never 1 min 60 s
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A time axis' tick (an offset from its start): tenths of a second on a short axis, then seconds, then m:ss. */
export function tickLabel(ms: number, range: number): string {
  if (range < 20_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (range < 600_000) return `${s} s`;
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
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
