/**
 * One environment: its name and status, what runs now, the actions, and the tabs (dashboard, nodes, graph,
 * history, tasks). Everything shown is read again every two seconds and after each action; while the newest
 * reading fails, the page says the state is unknown (and since when), and the actions wait.
 */
import { useState } from 'preact/hooks';
import type { ClusterJson, NodeJson, TaskJson } from '../../../lambdas/api/wire.js';
import { api, withQuery } from '../api.js';
import { useAction } from '../hooks.js';
import { clock, useLive } from '../poll.js';
import { activityOf, lockReason, statusLine, stopIsForced } from '../state.js';
import { Actions } from './actions.js';
import { Dashboard } from './dashboard.js';
import { GraphTab } from './graph.js';
import { HistoryTab } from './history.js';
import { NodesTab } from './nodes.js';
import { TasksTab } from './tasks.js';
import { Boundary, ErrorLine, Status } from './ui.js';

export const TABS = ['dashboard', 'nodes', 'graph', 'history', 'tasks'] as const;
export type Tab = (typeof TABS)[number];

interface Reading {
  cluster: ClusterJson;
  tasks: TaskJson[];
  nodes: NodeJson[];
}

export function Environment({ clusterId, tab }: { clusterId: number; tab: Tab }) {
  // one reading of the environment, its newest tasks and its nodes, taken together: the page never shows
  // a status of one moment beside a status of another
  const live = useLive<Reading>(
    async (signal) => {
      const [cluster, tasks, nodes] = await Promise.all([
        api.get<ClusterJson>(`/clusters/${clusterId}/`, signal),
        api.get<TaskJson[]>(
          withQuery('/transactions/', { cluster_id: clusterId, limit: 20, order_by: '-id' }),
          signal,
        ),
        api.get<NodeJson[]>(withQuery('/nodes/', { cluster_id: clusterId }), signal),
      ]);
      return { cluster, tasks, nodes };
    },
    2000,
    [clusterId],
  );
  const refreshAll = live.refresh;

  if (live.data === undefined) {
    if (live.error === null) return <main class="page muted">Loading…</main>;
    return (
      <main class="page">
        <ErrorLine error={live.error} prefix="Could not read the environment: " onRetry={live.refresh} />
        <a href="#/">Back to the environments</a>
      </main>
    );
  }
  const { cluster, tasks, nodes } = live.data;
  const activity = activityOf(tasks);
  const isForced = stopIsForced(activity.deploy);
  // while the newest reading failed, what the page holds is an older state: it is not presented as now
  const unknown =
    live.error === null
      ? null
      : `The current state is unknown: the newest reading failed (${live.error.message}); wait for the next one, or Retry`;
  const locked = unknown ?? lockReason(cluster, activity);

  return (
    <main class="page" data-cluster={clusterId}>
      <section class="card env-head">
        <Title cluster={cluster} stale={unknown !== null} onRenamed={refreshAll} />
        <p
          class="status-line"
          role="status"
          data-testid="status-line"
          data-stale={unknown !== null ? 'true' : undefined}
        >
          {unknown === null
            ? statusLine(cluster, activity, isForced)
            : `The current state is unknown: the newest reading failed. The last one that answered was taken at ${clock(live.at ?? Date.now())}.`}
        </p>
        <ErrorLine error={live.error} prefix="Could not read the environment: " onRetry={live.refresh} />
        <Actions
          cluster={cluster}
          activity={activity}
          nodes={nodes}
          tasks={tasks}
          readAt={live.at}
          unknownBecause={unknown}
          forced={isForced}
          onChanged={refreshAll}
        />
      </section>
      <nav class="tabs" aria-label="Environment">
        {TABS.map((t) => (
          <a key={t} href={`#/env/${clusterId}/${t}`} aria-current={t === tab ? 'page' : undefined}>
            {t[0]?.toUpperCase()}
            {t.slice(1)}
          </a>
        ))}
      </nav>
      <Boundary key={tab} what={`the ${tab} tab`}>
        <div
          class={unknown !== null ? 'stale' : undefined}
          data-stale={unknown !== null ? 'true' : undefined}
        >
          {unknown !== null && live.at !== null && (
            <p class="stale-note">
              Read at {clock(live.at)}; the newest reading failed, so this may be out of date.
            </p>
          )}
          {tab === 'dashboard' && (
            <Dashboard clusterId={clusterId} activity={activity} tasks={tasks} nodes={nodes} />
          )}
          {tab === 'nodes' && (
            <NodesTab cluster={cluster} nodes={nodes} lockedBecause={locked} onChanged={refreshAll} />
          )}
          {tab === 'graph' && <GraphTab cluster={cluster} lockedBecause={locked} onChanged={refreshAll} />}
          {tab === 'history' && <HistoryTab clusterId={clusterId} latest={tasks} />}
          {tab === 'tasks' && <TasksTab clusterId={clusterId} />}
        </div>
      </Boundary>
    </main>
  );
}

function Title({
  cluster,
  stale,
  onRenamed,
}: {
  cluster: ClusterJson;
  stale: boolean;
  onRenamed: () => Promise<void>;
}) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(cluster.name);
  const action = useAction();
  const cancel = () => {
    setEditing(false);
    action.clearError();
  };
  const save = async (e: Event) => {
    e.preventDefault();
    const done = await action.run(() => api.put(`/clusters/${cluster.id}/`, { name: name.trim() }));
    if (done.ok) {
      setEditing(false);
      await onRenamed();
    }
  };
  return (
    <div class="title-row">
      {editing ? (
        <form
          class="row"
          onSubmit={save}
          aria-label="Rename"
          onKeyDown={(e) => {
            if (e.key === 'Escape') cancel();
          }}
        >
          <input
            name="new-name"
            aria-label="New name"
            value={name}
            // biome-ignore lint/a11y/noAutofocus: the field the operator asked for by pressing Rename
            autoFocus
            onInput={(e) => setName(e.currentTarget.value)}
          />
          <button type="submit" class="primary" disabled={name.trim() === '' || action.busy}>
            Save
          </button>
          <button type="button" onClick={cancel}>
            Cancel
          </button>
        </form>
      ) : (
        <h2>
          <span data-testid="env-name">{cluster.name}</span>{' '}
          <Status value={stale ? 'unknown' : cluster.status} />
          <button
            type="button"
            class="link"
            onClick={() => {
              setName(cluster.name);
              action.clearError();
              setEditing(true);
            }}
          >
            Rename
          </button>
        </h2>
      )}
      <ErrorLine error={action.error} onClose={action.clearError} />
    </div>
  );
}
