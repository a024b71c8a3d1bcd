/** The environment at a glance: the deployment's progress, the nodes by status, the newest tasks. */
import { useEffect, useState } from 'preact/hooks';
import type { NodeJson, TaskJson } from '../../../lambdas/api/wire.js';
import { api } from '../api.js';
import { deploymentLabel, isRunning, taskState, time } from '../format.js';
import type { Activity } from '../state.js';
import { Progress, Status } from './ui.js';

export function Dashboard({
  clusterId,
  activity,
  tasks,
  nodes,
}: {
  clusterId: number;
  activity: Activity;
  tasks: TaskJson[];
  nodes: NodeJson[];
}) {
  const byStatus = new Map<string, number>();
  for (const n of nodes) byStatus.set(n.status, (byStatus.get(n.status) ?? 0) + 1);
  const offline = nodes.filter((n) => !n.online).length;
  const { deploy, stop } = activity;
  return (
    <div class="grid">
      <section class="card">
        <h3>Deployment</h3>
        {deploy === null ? (
          <p class="muted">No deployment yet.</p>
        ) : (
          <div data-testid="deploy-summary">
            <p>
              {deploymentLabel(deploy)} <Status value={taskState(deploy)} /> started {time(deploy.time_start)}
              {deploy.time_end && <> · ended {time(deploy.time_end)}</>}
            </p>
            <Progress value={deploy.progress} label="deployment progress" />
            {deploy.message && <p class="message">{deploy.message}</p>}
            {stop && (
              <p class="stop-note" data-testid="stop-note">
                Stop (task {stop.id}) requested by {String(stop.result.requested_by ?? 'someone')}
                {stop.result.reason ? `: ${String(stop.result.reason)}` : ''}{' '}
                <Status value={isRunning(stop) ? 'running' : stop.status} />
              </p>
            )}
          </div>
        )}
      </section>
      <section class="card">
        <h3>Nodes</h3>
        {nodes.length === 0 ? (
          <p class="muted">No node: add some in the Nodes tab.</p>
        ) : (
          <ul class="counts" data-testid="node-counts">
            {[...byStatus].map(([status, count]) => (
              <li key={status}>
                <Status value={status} /> {count}
              </li>
            ))}
            {offline > 0 && (
              <li>
                <Status value="offline" /> {offline}
              </li>
            )}
          </ul>
        )}
      </section>
      <section class="card wide">
        <h3>
          Newest tasks <a href={`#/env/${clusterId}/tasks`}>all tasks</a>
        </h3>
        <TaskTable tasks={tasks.slice(0, 6)} known={tasks} />
      </section>
    </div>
  );
}

/** Ended tasks read to tell a child's state (they do not change any more). */
const endedParents = new Map<number, TaskJson>();

/**
 * The parents of `tasks` that are neither among them nor in `known`: read once each (a child of a stopped
 * deployment reads `stopped` only next to its parent).
 */
function useParents(tasks: readonly TaskJson[], known: readonly TaskJson[]): Map<number, TaskJson> {
  // parents read that still ran then (read again, below)
  const [runningParents, setRunningParents] = useState<ReadonlyMap<number, TaskJson>>(new Map());
  const [, setRead] = useState(0);
  const byId = new Map<number, TaskJson>();
  for (const t of [...known, ...tasks]) byId.set(t.id, t);
  const wanted = [
    ...new Set(tasks.map((t) => t.parent_id).filter((id): id is number => id !== null && !byId.has(id))),
  ];
  const missing = wanted.filter((id) => !endedParents.has(id));
  const key = missing.join(',');
  const again = missing.some((id) => runningParents.has(id));
  useEffect(() => {
    if (key === '') return;
    const controller = new AbortController();
    void Promise.all(
      key.split(',').map(async (id) => {
        try {
          return await api.get<TaskJson>(`/transactions/${id}/`, controller.signal);
        } catch {
          return null;
        }
      }),
    ).then((read) => {
      if (controller.signal.aborted) return;
      const running = new Map<number, TaskJson>();
      for (const parent of read) {
        if (parent === null) continue;
        if (isRunning(parent)) running.set(parent.id, parent);
        else endedParents.set(parent.id, parent);
      }
      setRunningParents(running);
      setRead((n) => n + 1);
    });
    return () => controller.abort();
    // a parent that still runs: read again with the readings of its children, at most every few seconds
  }, [key, again ? Math.floor(Date.now() / 3000) : 0]);
  for (const id of wanted) {
    const parent = endedParents.get(id) ?? runningParents.get(id);
    if (parent) byId.set(id, parent);
  }
  return byId;
}

/** Tasks, newest first; `known` are other tasks of the same reading, to find a child's parent among. */
export function TaskTable({ tasks, known = [] }: { tasks: TaskJson[]; known?: readonly TaskJson[] }) {
  const parents = useParents(tasks, known);
  return (
    <table class="list" aria-label="Tasks">
      <thead>
        <tr>
          <th>Id</th>
          <th>Name</th>
          <th>Status</th>
          <th>Progress</th>
          <th>Started</th>
          <th>Ended</th>
          <th>Message</th>
        </tr>
      </thead>
      <tbody>
        {tasks.map((t) => (
          <tr key={t.id} data-task={t.id}>
            <td>{t.id}</td>
            <td>
              {t.parent_id !== null && <span class="muted">↳ </span>}
              {t.name}
            </td>
            <td>
              <Status value={taskState(t, t.parent_id === null ? undefined : parents.get(t.parent_id))} />
            </td>
            <td>
              <Progress value={t.progress} />
            </td>
            <td>{time(t.time_start)}</td>
            <td>{time(t.time_end)}</td>
            <td class="message">{t.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
