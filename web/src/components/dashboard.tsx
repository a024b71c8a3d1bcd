/** The environment at a glance: the deployment's progress, the nodes by status, the newest tasks. */
import type { NodeJson, TaskJson } from '../../../lambdas/api/wire.js';
import { isRunning, taskState, time } from '../format.js';
import type { Activity } from './environment.js';
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
              Task {deploy.id} <Status value={taskState(deploy)} /> started {time(deploy.time_start)}
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
        <TaskTable tasks={tasks.slice(0, 6)} />
      </section>
    </div>
  );
}

export function TaskTable({ tasks }: { tasks: TaskJson[] }) {
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
              <Status
                value={taskState(
                  t,
                  tasks.find((p) => p.id === t.parent_id),
                )}
              />
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
