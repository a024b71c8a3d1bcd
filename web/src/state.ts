/**
 * What the page makes of a reading of an environment (pure: no reading, no drawing): what it is doing
 * now, the status line, and why each action cannot be used now.
 */
import type { ClusterJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { deploymentLabel, isDeployment, isRunning, taskState, time } from './format.js';

/** What the environment is doing now, from its newest tasks (newest first). */
export interface Activity {
  /** The newest deployment: a top-level `deploy`, or `provision` / `deployment` of selected nodes; or null. */
  deploy: TaskJson | null;
  /** The stop of that deployment, or null. */
  stop: TaskJson | null;
  /** A top-level task that holds the environment (deployment, reset, deletion) while it runs, or null. */
  running: TaskJson | null;
  /** A stop that has not settled yet (no deployment starts meanwhile), or null. */
  settling: TaskJson | null;
  /** The newest top-level task other than a stop, when it is newer than `deploy` (a reset), or null. */
  since: TaskJson | null;
}

export function activityOf(tasks: readonly TaskJson[]): Activity {
  const deploy = tasks.find(isDeployment) ?? null;
  const stop =
    deploy === null
      ? null
      : (tasks.find((t) => t.name === 'stop_deployment' && t.result.deploy_task_id === deploy.id) ?? null);
  const running =
    tasks.find((t) => t.parent_id === null && t.name !== 'stop_deployment' && isRunning(t)) ?? null;
  const settling = tasks.find((t) => t.name === 'stop_deployment' && isRunning(t)) ?? null;
  const newest = tasks.find((t) => t.parent_id === null && t.name !== 'stop_deployment') ?? null;
  const since =
    newest !== null && newest !== deploy && (deploy === null || newest.id > deploy.id) ? newest : null;
  return { deploy, stop, running, settling, since };
}

/** Was the deployment's stop forced? Its task says so (`result.stop.forced_at`), whoever forced it. */
export function stopIsForced(deploy: TaskJson | null): boolean {
  const stop = deploy?.result.stop;
  return (
    typeof stop === 'object' &&
    stop !== null &&
    typeof (stop as { forced_at?: unknown }).forced_at === 'string'
  );
}

/**
 * Why the environment cannot be changed now (the API answers 409 while it is locked), or null: the same
 * reason for the actions, the nodes' Remove and Add, and the graph's upload.
 */
export function lockReason(cluster: ClusterJson, activity: Activity): string | null {
  const { running } = activity;
  if (running !== null) {
    return isDeployment(running)
      ? `${deploymentLabel(running)} is running: stop it or wait for it to end`
      : `${running.name} (task ${running.id}) is running: wait for it to end`;
  }
  if (cluster.is_locked) return `The environment is locked while it is ${cluster.status}: wait for it to end`;
  return null;
}

/** One line that says what the API says now. */
export function statusLine(cluster: ClusterJson, activity: Activity, forced: boolean): string {
  const { deploy, stop, running, since } = activity;
  if (running !== null && !isDeployment(running)) return `${running.name} (task ${running.id}) is running.`;
  if (deploy !== null && isRunning(deploy)) {
    if (stop !== null && forced)
      return `Stopping by force (stop task ${stop.id}): the running tasks are being cancelled, no new task starts (${deploy.progress}% done).`;
    if (stop !== null) {
      const by = typeof stop.result.requested_by === 'string' ? ` by ${stop.result.requested_by}` : '';
      return `Stopping: a stop was requested${by}; no new task starts, running tasks finish (${deploy.progress}% done).`;
    }
    return `${deploymentLabel(deploy)} is running: ${deploy.progress}% done.`;
  }
  if (since !== null) {
    if (since.name === 'reset_environment')
      return `Reset (task ${since.id}) at ${time(since.time_end ?? since.time_start)}: not deployed since.`;
    return `${since.name} (task ${since.id}) ended ${since.status}${since.message ? `: ${since.message}` : '.'}`;
  }
  if (deploy !== null) {
    const state = taskState(deploy);
    const what =
      deploy.name === 'deploy'
        ? `Last deployment (task ${deploy.id})`
        : `Last ${deploymentLabel(deploy).replace(/^\w/, (c) => c.toLowerCase())}`;
    const settling =
      activity.settling !== null ? ` Its stop (task ${activity.settling.id}) is still settling.` : '';
    return `${what} ended ${state}${deploy.message ? `: ${deploy.message}` : '.'}${settling}`;
  }
  return cluster.status === 'new' ? 'Not deployed yet.' : `The environment is ${cluster.status}.`;
}

export type Kind = 'deploy' | 'stop' | 'force' | 'reset' | 'delete';

export type Reasons = Record<Kind, string | null>;

/** The nodes named in a reason: the first few, and how many more. */
export function someNames(nodes: readonly NodeJson[], shown = 3): string {
  const names = nodes.slice(0, shown).map((n) => n.name);
  return nodes.length > shown ? `${names.join(', ')} and ${nodes.length - shown} more` : names.join(', ');
}

export function disabledReasons(
  cluster: ClusterJson,
  activity: Activity,
  nodes: readonly NodeJson[],
  forced: boolean,
): Reasons {
  const { deploy, stop, settling } = activity;
  const deploying = deploy !== null && isRunning(deploy);
  const busy = lockReason(cluster, activity);
  const offline = nodes.filter((n) => !n.online && !n.pending_deletion);
  const nothingRuns = deploying ? null : 'Nothing is running: there is no deployment to stop';
  return {
    deploy:
      busy ??
      (settling !== null
        ? `The stop (task ${settling.id}) is still settling: deploy again when it has completed`
        : nodes.length === 0
          ? 'Add nodes to the environment first (Nodes tab)'
          : offline.length > 0
            ? `${offline.length === 1 ? 'A node is' : `${offline.length} nodes are`} offline (${someNames(offline)}): the service refuses a deployment with offline nodes`
            : null),
    stop:
      nothingRuns ??
      (stop !== null
        ? `A stop was requested (task ${stop.id}); running tasks are finishing. Force stop also ends them`
        : null),
    force:
      nothingRuns ??
      (forced && stop !== null
        ? `A forced stop was requested (task ${stop.id}): the running tasks are being cancelled`
        : null),
    reset: busy ?? (cluster.status === 'new' ? 'Nothing to reset: the environment was never deployed' : null),
    delete: busy,
  };
}
