/**
 * One environment: its name and status, what runs now, the actions, and the tabs (dashboard, nodes, graph,
 * history, tasks). Everything shown is read again every two seconds and after each action.
 */
import { useState } from 'preact/hooks';
import type { ClusterJson, NodeJson, TaskJson } from '../../../lambdas/api/wire.js';
import { api, withQuery } from '../api.js';
import { isRunning, taskState } from '../format.js';
import { useLive } from '../poll.js';
import { Actions } from './actions.js';
import { Dashboard } from './dashboard.js';
import { GraphTab } from './graph.js';
import { HistoryTab } from './history.js';
import { NodesTab } from './nodes.js';
import { TasksTab } from './tasks.js';
import { ErrorLine, Status } from './ui.js';

export const TABS = ['dashboard', 'nodes', 'graph', 'history', 'tasks'] as const;
export type Tab = (typeof TABS)[number];

/** What the environment is doing now, from its newest tasks. */
export interface Activity {
  /** The newest top-level deployment (`deploy`), or null. */
  deploy: TaskJson | null;
  /** The newest stop of that deployment, or null. */
  stop: TaskJson | null;
  /** A task that holds the environment (deployment, reset, deletion) while it runs, or null. */
  running: TaskJson | null;
}

export function activityOf(tasks: readonly TaskJson[]): Activity {
  const deploy = tasks.find((t) => t.name === 'deploy') ?? null;
  const stop =
    deploy === null
      ? null
      : (tasks.find((t) => t.name === 'stop_deployment' && t.result.deploy_task_id === deploy.id) ?? null);
  const running =
    tasks.find((t) => t.parent_id === null && t.name !== 'stop_deployment' && isRunning(t)) ?? null;
  return { deploy, stop, running };
}

/** One line that says what the API says now. */
function statusLine(cluster: ClusterJson, activity: Activity): string {
  const { deploy, stop, running } = activity;
  if (running !== null && running.name !== 'deploy')
    return `${running.name} (task ${running.id}) is running.`;
  if (deploy !== null && isRunning(deploy)) {
    if (stop !== null) {
      const by = typeof stop.result.requested_by === 'string' ? ` by ${stop.result.requested_by}` : '';
      return `Stopping: a stop was requested${by}; no new task starts, running tasks finish (${deploy.progress}% done).`;
    }
    return `Deployment task ${deploy.id} is running: ${deploy.progress}% done.`;
  }
  if (deploy !== null) {
    const state = taskState(deploy);
    return `Last deployment (task ${deploy.id}) ${state === 'ready' ? 'ended ready' : `ended ${state}`}${
      deploy.message ? `: ${deploy.message}` : '.'
    }`;
  }
  return cluster.status === 'new' ? 'Not deployed yet.' : `The environment is ${cluster.status}.`;
}

export function Environment({ clusterId, tab }: { clusterId: number; tab: Tab }) {
  // one reading of the environment, its newest tasks and its nodes, taken together: the page never shows
  // a status of one moment beside a status of another
  const live = useLive(
    async () => {
      const [cluster, tasks, nodes] = await Promise.all([
        api.get<ClusterJson>(`/clusters/${clusterId}/`),
        api.get<TaskJson[]>(
          withQuery('/transactions/', { cluster_id: clusterId, limit: 20, order_by: '-id' }),
        ),
        api.get<NodeJson[]>(withQuery('/nodes/', { cluster_id: clusterId })),
      ]);
      return { cluster, tasks, nodes };
    },
    2000,
    [clusterId],
  );
  const refreshAll = live.refresh;

  if (live.error !== null && live.data === undefined) {
    return (
      <main class="page">
        <ErrorLine error={live.error} />
        <a href="#/">Back to the environments</a>
      </main>
    );
  }
  if (live.data === undefined) return <main class="page muted">Loading…</main>;
  const { cluster, tasks, nodes } = live.data;
  const activity = activityOf(tasks);

  return (
    <main class="page" data-cluster={clusterId}>
      <section class="card env-head">
        <Title cluster={cluster} onRenamed={refreshAll} />
        <p class="status-line" role="status" data-testid="status-line">
          {statusLine(cluster, activity)}
        </p>
        <ErrorLine error={live.error} />
        <Actions cluster={cluster} activity={activity} nodeCount={nodes.length} onChanged={refreshAll} />
      </section>
      <nav class="tabs" aria-label="Environment">
        {TABS.map((t) => (
          <a key={t} href={`#/env/${clusterId}/${t}`} aria-current={t === tab ? 'page' : undefined}>
            {t[0]?.toUpperCase()}
            {t.slice(1)}
          </a>
        ))}
      </nav>
      {tab === 'dashboard' && (
        <Dashboard clusterId={clusterId} activity={activity} tasks={tasks} nodes={nodes} />
      )}
      {tab === 'nodes' && (
        <NodesTab cluster={cluster} nodes={nodes} locked={activity.running !== null} onChanged={refreshAll} />
      )}
      {tab === 'graph' && <GraphTab cluster={cluster} onChanged={refreshAll} />}
      {tab === 'history' && <HistoryTab clusterId={clusterId} latest={tasks} />}
      {tab === 'tasks' && <TasksTab clusterId={clusterId} />}
    </main>
  );
}

function Title({ cluster, onRenamed }: { cluster: ClusterJson; onRenamed: () => Promise<void> }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(cluster.name);
  const [error, setError] = useState<Error | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      await api.put(`/clusters/${cluster.id}/`, { name: name.trim() });
      setEditing(false);
      setError(null);
      await onRenamed();
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    }
  };
  return (
    <div class="title-row">
      {editing ? (
        <form class="row" onSubmit={save} aria-label="Rename">
          <input name="new-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <button type="submit" class="primary" disabled={name.trim() === ''}>
            Save
          </button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <h2>
          <span data-testid="env-name">{cluster.name}</span> <Status value={cluster.status} />
          <button
            type="button"
            class="link"
            onClick={() => {
              setName(cluster.name);
              setEditing(true);
            }}
          >
            Rename
          </button>
        </h2>
      )}
      <ErrorLine error={error} onClose={() => setError(null)} />
    </div>
  );
}
