/**
 * A deployment's history: the timeline (one lane per node, one bar per task from its start to its end,
 * coloured by status; the stop as a vertical line with who and why; what never started, with its reason;
 * a task's output on click) and the table with fuel2's filters (nodes, statuses, task names).
 * The timeline draws only the lanes in view: a thousand nodes scroll without freezing the page.
 */
import { useMemo, useState } from 'preact/hooks';
import type { HistoryJson, TaskJson } from '../../../lambdas/api/wire.js';
import { allPages, api, request, withQuery } from '../api.js';
import { duration, isRunning, outputTail, rowReason, taskState, time } from '../format.js';
import { useLive } from '../poll.js';
import { ErrorLine, MarkerPager, Status } from './ui.js';

const LANE_HEIGHT = 24;
/** The share of a lane's width for time; what did not run (skipped, never started) is drawn in the rest, after it. */
const TIME_SPAN = 88;
const NOT_STARTED_AT = 90;
const VIEW_HEIGHT = 480;
const HISTORY_STATUSES = ['pending', 'running', 'ready', 'error', 'skipped'] as const;

export function HistoryTab({ clusterId, latest }: { clusterId: number; latest: TaskJson[] }) {
  const deploys = useLive(
    () =>
      api.get<TaskJson[]>(
        withQuery('/transactions/', {
          cluster_id: clusterId,
          transaction_types: 'deploy',
          limit: 50,
          order_by: '-id',
        }),
      ),
    5000,
    [clusterId],
  );
  const [chosen, setChosen] = useState<number | null>(null);
  const [view, setView] = useState<'timeline' | 'table'>('timeline');
  const list = deploys.data ?? latest.filter((t) => t.name === 'deploy');
  const task = list.find((t) => t.id === chosen) ?? list[0];

  return (
    <section class="card">
      <h3>Deployment history</h3>
      <ErrorLine error={deploys.error} />
      {task === undefined ? (
        <p class="muted">No deployment yet.</p>
      ) : (
        <>
          <div class="row">
            <label>
              Deployment
              <select
                name="deployment"
                value={task.id}
                onChange={(e) => setChosen(Number(e.currentTarget.value))}
              >
                {list.map((t) => (
                  <option key={t.id} value={t.id}>
                    task {t.id}: {taskState(t)}, {time(t.time_start)}
                  </option>
                ))}
              </select>
            </label>
            <div class="tabs small" role="tablist">
              <button
                type="button"
                role="tab"
                aria-selected={view === 'timeline'}
                onClick={() => setView('timeline')}
              >
                Timeline
              </button>
              <button
                type="button"
                role="tab"
                aria-selected={view === 'table'}
                onClick={() => setView('table')}
              >
                Table
              </button>
            </div>
          </div>
          {view === 'timeline' ? (
            <Timeline key={task.id} clusterId={clusterId} task={task} />
          ) : (
            <HistoryTable key={task.id} taskId={task.id} />
          )}
        </>
      )}
    </section>
  );
}

/** A tick's offset from the start: tenths of a second on a short axis, whole seconds, then minutes. */
function tickLabel(ms: number, range: number): string {
  if (range < 20_000) return `${(ms / 1000).toFixed(1)} s`;
  if (range < 600_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

interface Lane {
  node: string;
  rows: HistoryJson[];
}

/** The lanes of a history: one per node (the master first), stages (the sync points) left out. */
export function lanesOf(rows: readonly HistoryJson[]): Lane[] {
  const byNode = new Map<string, HistoryJson[]>();
  for (const row of rows) {
    if (row.node_id === null || row.type === 'stage') continue;
    byNode.set(row.node_id, [...(byNode.get(row.node_id) ?? []), row]);
  }
  const rank = (node: string) => (node === 'master' ? -1 : Number(node));
  return [...byNode]
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([node, laneRows]) => ({ node, rows: laneRows }));
}

function Timeline({ clusterId, task }: { clusterId: number; task: TaskJson }) {
  const running = isRunning(task);
  const rows = useLive(
    () => allPages<HistoryJson>(`/transactions/${task.id}/deployment_history/`),
    running ? 3000 : 0,
    [task.id, running],
  );
  const stops = useLive(
    () =>
      api.get<TaskJson[]>(
        withQuery('/transactions/', {
          cluster_id: clusterId,
          transaction_types: 'stop_deployment',
          order_by: '-id',
        }),
      ),
    running ? 3000 : 0,
    [clusterId, task.id, running],
  );
  const stop = stops.data?.find((s) => s.result.deploy_task_id === task.id) ?? null;
  const [scrollTop, setScrollTop] = useState(0);
  const [picked, setPicked] = useState<HistoryJson | null>(null);
  const lanes = useMemo(() => lanesOf(rows.data ?? []), [rows.data]);

  if (rows.error) return <ErrorLine error={rows.error} />;
  if (rows.data === undefined) return <p class="muted">Reading the history…</p>;

  const starts = rows.data.flatMap((r) => (r.time_start ? [Date.parse(r.time_start)] : []));
  const ends = rows.data.flatMap((r) => (r.time_end ? [Date.parse(r.time_end)] : []));
  const stopAt = stop?.time_start ? Date.parse(stop.time_start) : null;
  const t0 = Math.min(...starts, task.time_start ? Date.parse(task.time_start) : Date.now());
  const t1 = Math.max(
    ...ends,
    stopAt ?? 0,
    running ? Date.now() : 0,
    task.time_end ? Date.parse(task.time_end) : 0,
    t0 + 1000,
  );
  const pct = (t: number) => ((t - t0) / (t1 - t0)) * TIME_SPAN;
  const anyNeverStarted = rows.data.some(
    (r) => r.time_start === null && r.node_id !== null && r.type !== 'stage',
  );

  const first = Math.max(0, Math.floor(scrollTop / LANE_HEIGHT) - 4);
  const last = Math.min(lanes.length, first + Math.ceil(VIEW_HEIGHT / LANE_HEIGHT) + 8);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ f, at: t0 + f * (t1 - t0) }));
  const counts = new Map<string, number>();
  for (const r of rows.data)
    if (r.node_id !== null && r.type !== 'stage') counts.set(r.status, (counts.get(r.status) ?? 0) + 1);

  return (
    <div class="timeline" data-testid="timeline">
      <p class="legend">
        {[...counts].map(([status, n]) => (
          <span key={status}>
            <Status value={status} /> {n}
          </span>
        ))}
        <span class="muted">
          {lanes.length} node(s), {duration(new Date(t0).toISOString(), new Date(t1).toISOString())}
        </span>
      </p>
      {stop && (
        <p class="stop-label" data-testid="stop-label">
          <span class="stop-swatch" /> Stop requested at {time(stop.time_start)} by{' '}
          {String(stop.result.requested_by ?? '?')}
          {stop.result.reason ? `: ${String(stop.result.reason)}` : ' (no reason given)'}
        </p>
      )}
      <div class="axis">
        <span class="axis-spacer" />
        <div class="axis-ticks">
          {ticks.map((t) => (
            <span key={t.f} style={{ left: `${t.f * TIME_SPAN}%` }}>
              +{tickLabel(t.at - t0, t1 - t0)}
            </span>
          ))}
          {anyNeverStarted && (
            <span class="not-started-label" style={{ left: `${NOT_STARTED_AT + 1}%` }}>
              not run
            </span>
          )}
        </div>
      </div>
      <div
        class="timeline-body"
        style={{ height: `${Math.min(VIEW_HEIGHT, lanes.length * LANE_HEIGHT + 2)}px` }}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      >
        <div class="timeline-lanes" style={{ height: `${lanes.length * LANE_HEIGHT}px` }}>
          {stopAt !== null && (
            <div
              class="stop-line"
              data-testid="stop-line"
              style={{ left: `calc(8rem + (100% - 8rem) * ${pct(stopAt) / 100})` }}
            />
          )}
          {lanes.slice(first, last).map((lane, i) => (
            <div
              key={lane.node}
              class="lane"
              data-lane={lane.node}
              style={{ top: `${(first + i) * LANE_HEIGHT}px` }}
            >
              <span class="lane-label">{lane.node === 'master' ? 'master' : `node ${lane.node}`}</span>
              <div class="lane-bars">
                {lane.rows.map((row) => {
                  const never = row.time_start === null;
                  const k = never ? lane.rows.filter((r) => r.time_start === null).indexOf(row) : 0;
                  const left = never
                    ? NOT_STARTED_AT + (k % 12) * 0.8
                    : pct(Date.parse(row.time_start ?? ''));
                  const end = row.time_end ? Date.parse(row.time_end) : running ? Date.now() : t1;
                  const width = never ? 0.6 : Math.max(0.35, pct(end) - left);
                  const reason = rowReason(row);
                  return (
                    <button
                      type="button"
                      key={`${row.task_name}-${row.type}`}
                      class={`bar bar-${row.status}${never ? ' bar-never' : ''}`}
                      data-task={row.task_name}
                      data-status={row.status}
                      style={{ left: `${left}%`, width: `${width}%` }}
                      title={`${row.task_name} on ${lane.node}: ${row.status}${never ? ' (not run)' : `, ${duration(row.time_start, row.time_end)}`}${reason ? ` — ${reason}` : ''}`}
                      onClick={() => setPicked(row)}
                    />
                  );
                })}
              </div>
            </div>
          ))}
        </div>
      </div>
      {picked && <RowDetails row={picked} onClose={() => setPicked(null)} />}
    </div>
  );
}

function RowDetails({ row, onClose }: { row: HistoryJson; onClose: () => void }) {
  const tail = outputTail(row);
  const reason = rowReason(row);
  return (
    <div class="details" data-testid="row-details">
      <h4>
        {row.task_name} on {row.node_id === 'master' ? 'master' : `node ${row.node_id}`}{' '}
        <Status value={row.status} />
        <button type="button" class="link" onClick={onClose} aria-label="Close">
          ×
        </button>
      </h4>
      <p>
        {row.type} · started {time(row.time_start)} · ended {time(row.time_end)} ·{' '}
        {duration(row.time_start, row.time_end)}
        {typeof row.custom.exit_code === 'number' && <> · exit code {row.custom.exit_code}</>}
      </p>
      {reason && <p class="reason">{reason}</p>}
      {tail ? (
        <pre class="output" data-testid="output-tail">
          {tail}
        </pre>
      ) : (
        <p class="muted">No output recorded.</p>
      )}
    </div>
  );
}

function HistoryTable({ taskId }: { taskId: number }) {
  const [nodes, setNodes] = useState('');
  const [statuses, setStatuses] = useState<string[]>([]);
  const [names, setNames] = useState('');
  const [markers, setMarkers] = useState<(string | undefined)[]>([undefined]);
  const marker = markers[markers.length - 1];
  const csv = (text: string) =>
    text
      .split(/[\s,]+/)
      .filter((s) => s !== '')
      .join(',') || undefined;
  const filter = { nodes: csv(nodes), statuses: statuses.join(',') || undefined, tasks_names: csv(names) };
  const page = useLive(
    () =>
      request<HistoryJson[]>(
        'GET',
        withQuery(`/transactions/${taskId}/deployment_history/`, { ...filter, limit: 50, marker }),
      ),
    0,
    [taskId, filter.nodes, filter.statuses, filter.tasks_names, marker],
  );
  const reset = () => setMarkers([undefined]);
  return (
    <div>
      <form class="row filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Nodes
          <input
            name="nodes"
            placeholder="1,2"
            value={nodes}
            onChange={(e) => {
              setNodes(e.currentTarget.value);
              reset();
            }}
          />
        </label>
        <label>
          Task names
          <input
            name="tasks"
            placeholder="netconfig"
            value={names}
            onChange={(e) => {
              setNames(e.currentTarget.value);
              reset();
            }}
          />
        </label>
        <fieldset class="roles">
          <legend>Statuses</legend>
          {HISTORY_STATUSES.map((s) => (
            <label key={s} class="check">
              <input
                type="checkbox"
                name={`status-${s}`}
                checked={statuses.includes(s)}
                onChange={(e) => {
                  setStatuses(e.currentTarget.checked ? [...statuses, s] : statuses.filter((x) => x !== s));
                  reset();
                }}
              />
              {s}
            </label>
          ))}
        </fieldset>
      </form>
      <ErrorLine error={page.error} />
      <table class="list" aria-label="History">
        <thead>
          <tr>
            <th>Task</th>
            <th>Node</th>
            <th>Status</th>
            <th>Started</th>
            <th>Ended</th>
            <th>Why / output</th>
          </tr>
        </thead>
        <tbody>
          {(page.data?.body ?? []).map((r) => (
            <tr key={`${r.node_id}-${r.task_name}-${r.type}`} data-status={r.status}>
              <td>{r.task_name}</td>
              <td>{r.node_id ?? '(stage)'}</td>
              <td>
                <Status value={r.status} />
              </td>
              <td>{time(r.time_start)}</td>
              <td>{time(r.time_end)}</td>
              <td class="message">{rowReason(r) ?? outputTail(r)?.split('\n').slice(-1)[0] ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <MarkerPager
        markers={markers}
        next={page.data?.next}
        onMarkers={setMarkers}
        back="Previous"
        on="Next"
      />
    </div>
  );
}
