/**
 * A deployment's history: the timeline (one lane per node, one bar per task from its start to its end,
 * coloured by status; the stop as a vertical line with who and why; what never started, with its reason;
 * a task's output on click) and the table with fuel2's filters (nodes, statuses, task names).
 * The timeline draws only the lanes in view, and what it draws from (the time axis, the counts, each
 * lane's bars) is worked out once per reading, not per scroll: a thousand nodes scroll without freezing.
 */
import { Component } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { HistoryJson, TaskJson } from '../../../lambdas/api/wire.js';
import { api, readPage, request, withQuery } from '../api.js';
import {
  duration,
  isDeployment,
  isRunning,
  outputTail,
  rowReason,
  taskState,
  tickLabel,
  time,
} from '../format.js';
import { HISTORY_EVERY_MS, useHistoryRows } from '../history-read.js';
import { useAction } from '../hooks.js';
import { useLive } from '../poll.js';
import { Choice, ErrorLine, LiveView, MarkerPager, StaleNote, Status } from './ui.js';

const LANE_HEIGHT = 24;
/** The share of a lane's width for time; what did not run (skipped, never started) is drawn in the rest, after it. */
const TIME_SPAN = 88;
const NOT_STARTED_AT = 90;
const NOT_STARTED_SPAN = 9.5;
/** At most this many never-run tasks are drawn one by one in a lane; more are one bar, "N not run". */
const NEVER_ONE_BY_ONE = 12;
const VIEW_HEIGHT = 480;
const HISTORY_STATUSES = ['pending', 'running', 'ready', 'error', 'skipped'] as const;
const DEPLOYMENTS_PAGE = 50;
const DEPLOYMENT_TYPES = 'deploy,provision,deployment';

export function HistoryTab({ clusterId, latest }: { clusterId: number; latest: TaskJson[] }) {
  const deployments = useDeployments(clusterId, latest);
  const [chosen, setChosen] = useState<number | null>(null);
  const [view, setView] = useState<'timeline' | 'table'>('timeline');
  const { list } = deployments;
  const task = list.find((t) => t.id === chosen) ?? list[0];

  return (
    <section class="card">
      <h3>Deployment history</h3>
      <ErrorLine
        error={deployments.error}
        prefix="Could not read the deployments: "
        onRetry={deployments.retry}
      />
      {task === undefined ? (
        <p class="muted">{deployments.loading ? 'Loading…' : 'No deployment yet.'}</p>
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
                    task {t.id}
                    {t.name === 'deploy' ? '' : ` (${t.name} of selected nodes)`}: {taskState(t)},{' '}
                    {time(t.time_start)}
                  </option>
                ))}
              </select>
            </label>
            {deployments.older && (
              <button
                type="button"
                onClick={deployments.older}
                disabled={deployments.busy}
                data-action="older-deployments"
              >
                Older deployments
              </button>
            )}
            <Choice
              small
              label="View"
              value={view}
              onChange={setView}
              options={[
                { value: 'timeline', label: 'Timeline' },
                { value: 'table', label: 'Table' },
              ]}
            />
          </div>
          {view === 'timeline' ? (
            <Timeline key={task.id} clusterId={clusterId} task={task} latest={latest} />
          ) : (
            <HistoryTable key={task.id} task={task} />
          )}
        </>
      )}
    </section>
  );
}

/**
 * The environment's deployments, newest first: the newest page read again now and then and at once when
 * the environment's newest reading names a deployment it lacks; older pages on demand; each task as the
 * newest reading (`latest`, every two seconds) has it when it is there.
 */
function useDeployments(clusterId: number, latest: readonly TaskJson[]) {
  const query = { cluster_id: clusterId, transaction_types: DEPLOYMENT_TYPES, order_by: '-id' };
  const first = useLive(
    (signal) =>
      request<TaskJson[]>(
        'GET',
        withQuery('/transactions/', { ...query, limit: DEPLOYMENTS_PAGE }),
        undefined,
        {
          signal,
        },
      ),
    10_000,
    [clusterId],
  );
  const [older, setOlder] = useState<{ tasks: TaskJson[]; next: string | null }>({ tasks: [], next: null });
  const [olderRead, setOlderRead] = useState(false);
  const action = useAction();
  // every deployment a reading of the newest page listed stays listed when newer ones push it off that page
  // (it is still between the page and the older pages read); one gone from within the page's span was deleted
  const seen = useRef({ clusterId, tasks: new Map<number, TaskJson>() });
  if (seen.current.clusterId !== clusterId) seen.current = { clusterId, tasks: new Map() };
  const page = first.data?.body ?? [];
  if (page.length > 0) {
    const oldest = Math.min(...page.map((t) => t.id));
    for (const id of seen.current.tasks.keys()) if (id >= oldest) seen.current.tasks.delete(id);
    for (const t of page) seen.current.tasks.set(t.id, t);
  }
  const byId = new Map<number, TaskJson>();
  for (const t of older.tasks) byId.set(t.id, t);
  for (const [id, t] of seen.current.tasks) byId.set(id, t);
  // the environment's newest tasks are read every two seconds: its deployments there are listed as they are
  const newest = latest.find(isDeployment);
  for (const t of latest) if (isDeployment(t)) byId.set(t.id, t);
  const list = [...byId.values()].filter(isDeployment).sort((a, b) => b.id - a.id);
  const known = first.data?.body.some((t) => t.id === newest?.id) ?? true;
  useEffect(() => {
    if (!known) void first.refresh();
  }, [newest?.id, known]);
  const next = olderRead ? older.next : (first.data?.next ?? null);
  return {
    list,
    error: first.error ?? action.error,
    loading: first.data === undefined && first.error === null,
    retry: () => {
      action.clearError();
      void first.refresh();
    },
    busy: action.busy,
    older:
      next === null
        ? null
        : () =>
            action.run(async () => {
              const page = await readPage<TaskJson>(
                withQuery('/transactions/', query),
                next,
                DEPLOYMENTS_PAGE,
              );
              setOlder((o) => ({ tasks: [...o.tasks, ...page.items], next: page.next }));
              setOlderRead(true);
            }),
  };
}

interface Lane {
  node: string;
  rows: HistoryJson[];
  /** The rows that never started, in order. */
  never: HistoryJson[];
}

/** The lanes of a history: one per node (the master first), stages (the sync points) left out. */
export function lanesOf(rows: readonly HistoryJson[]): Lane[] {
  const byNode = new Map<string, Lane>();
  for (const row of rows) {
    if (row.node_id === null || row.type === 'stage') continue;
    let lane = byNode.get(row.node_id);
    if (lane === undefined) {
      lane = { node: row.node_id, rows: [], never: [] };
      byNode.set(row.node_id, lane);
    }
    lane.rows.push(row);
    if (row.time_start === null) lane.never.push(row);
  }
  const rank = (node: string) => (node === 'master' ? -1 : Number(node));
  return [...byNode.values()].sort((a, b) => rank(a.node) - rank(b.node));
}

interface Model {
  lanes: Lane[];
  t0: number;
  t1: number;
  counts: [string, number][];
  /** The most never-run rows in one lane. */
  maxNever: number;
  /** Where a running row's bar ends: when the rows were read. */
  now: number;
  /** A time's place on a lane, in % of its width. */
  pct: (t: number) => number;
  /** Each lane's bars, worked out the first time the lane is drawn (then kept with this reading). */
  bars: WeakMap<Lane, Bar[]>;
}

/** One bar of a lane, ready to draw. */
interface Bar {
  key: string;
  class: string;
  task?: string;
  status?: string;
  group?: number;
  left: number;
  width: number;
  title: string;
  label?: string;
  picked: Picked;
}

/** A time as `toISOString()` writes it (which compares as text); the API's already are. */
function utc(time: string): string | null {
  if (time.length === 24 && time.endsWith('Z')) return time;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** What the timeline draws from, worked out once per reading (one pass over the rows, no spread). */
export function timelineModel(
  rows: readonly HistoryJson[],
  task: TaskJson,
  stopAt: number | null,
  readAt: number,
): Model {
  const running = isRunning(task);
  let t0 = task.time_start ? Date.parse(task.time_start) : readAt;
  let t1 = Math.max(stopAt ?? 0, running ? readAt : 0, task.time_end ? Date.parse(task.time_end) : 0);
  const counts = new Map<string, number>();
  // the API's times are ISO 8601 in UTC (toISOString): compared as text, parsed once (no Date.parse per row)
  let first: string | null = null;
  let last: string | null = null;
  for (const r of rows) {
    const start = r.time_start === null ? null : utc(r.time_start);
    const end = r.time_end === null ? null : utc(r.time_end);
    if (start !== null && (first === null || start < first)) first = start;
    if (end !== null && (last === null || end > last)) last = end;
    if (r.node_id !== null && r.type !== 'stage') counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  }
  if (first !== null) t0 = Math.min(t0, Date.parse(first));
  if (last !== null) t1 = Math.max(t1, Date.parse(last));
  t1 = Math.max(t1, t0 + 1000);
  const lanes = lanesOf(rows);
  let maxNever = 0;
  for (const lane of lanes) maxNever = Math.max(maxNever, lane.never.length);
  const pct = (t: number) => ((t - t0) / (t1 - t0)) * TIME_SPAN;
  return {
    lanes,
    t0,
    t1,
    counts: [...counts],
    maxNever,
    now: running ? readAt : t1,
    pct,
    bars: new WeakMap(),
  };
}

/** The bars of a lane: one per task from its start to its end; what never started side by side after the axis. */
function barsOf(lane: Lane, model: Model): Bar[] {
  const cached = model.bars.get(lane);
  if (cached) return cached;
  const { pct, now } = model;
  const slots = Math.min(model.maxNever, NEVER_ONE_BY_ONE);
  const step = slots === 0 ? 0 : NOT_STARTED_SPAN / slots;
  const grouped = lane.never.length > NEVER_ONE_BY_ONE;
  const bars: Bar[] = [];
  let k = 0;
  for (const row of lane.rows) {
    const never = row.time_start === null;
    if (never && grouped) continue;
    const left = never ? NOT_STARTED_AT + k++ * step : pct(Date.parse(row.time_start ?? ''));
    const end = row.time_end ? Date.parse(row.time_end) : now;
    const reason = rowReason(row);
    const took = duration(row.time_start, row.time_end ?? new Date(now).toISOString());
    bars.push({
      key: rowKey(row),
      class: `bar bar-${row.status}${never ? ' bar-never' : ''}`,
      task: row.task_name,
      status: row.status,
      left,
      width: never ? step * 0.75 : Math.max(0.35, pct(end) - left),
      title: `${row.task_name} on ${lane.node}: ${row.status}${never ? ' (not run)' : `, ${took}`}${reason ? ` — ${reason}` : ''}`,
      picked: { node: lane.node, task: row.task_name, type: row.type },
    });
  }
  if (grouped)
    bars.push({
      key: '(not run)',
      class: 'bar bar-never bar-group',
      group: lane.never.length,
      left: NOT_STARTED_AT,
      width: NOT_STARTED_SPAN,
      title: `${lane.never.length} tasks on ${lane.node} not run: click for the list and why`,
      label: `${lane.never.length} not run`,
      picked: { node: lane.node, never: true },
    });
  model.bars.set(lane, bars);
  return bars;
}

/** One lane, drawn again only when its bars or its place change (not for each scroll of the others). */
class LaneView extends Component<{ lane: Lane; bars: Bar[]; top: number; onPick: (p: Picked) => void }> {
  override shouldComponentUpdate(next: LaneView['props']): boolean {
    return next.bars !== this.props.bars || next.top !== this.props.top || next.onPick !== this.props.onPick;
  }

  override render() {
    const { lane, bars, top, onPick } = this.props;
    return (
      <div class="lane" data-lane={lane.node} style={{ top: `${top}px` }}>
        <span class="lane-label">{lane.node === 'master' ? 'master' : `node ${lane.node}`}</span>
        <div class="lane-bars">
          {bars.map((bar) => (
            <button
              type="button"
              key={bar.key}
              class={bar.class}
              data-task={bar.task}
              data-status={bar.status}
              data-never-group={bar.group}
              style={{ left: `${bar.left}%`, width: `${bar.width}%` }}
              title={bar.title}
              onClick={() => onPick(bar.picked)}
            >
              {bar.label}
            </button>
          ))}
        </div>
      </div>
    );
  }
}

/** A row picked on the timeline, by what names it (its newest reading is shown), or a lane's never-run rows. */
type Picked = { node: string; task: string; type: string } | { node: string; never: true };

const rowKey = (r: HistoryJson) => `${r.task_name}-${r.type}`;

function Timeline({
  clusterId,
  task,
  latest,
}: {
  clusterId: number;
  task: TaskJson;
  latest: readonly TaskJson[];
}) {
  const running = isRunning(task);
  const rows = useHistoryRows(task.id, running);
  const stop = useStop(clusterId, task, latest);
  const stopAt = stop.task?.time_start ? Date.parse(stop.task.time_start) : null;
  const model = useMemo(
    () => (rows.rows === undefined ? null : timelineModel(rows.rows, task, stopAt, rows.at ?? Date.now())),
    [rows.rows, task.time_start, task.time_end, task.status, stopAt, rows.at],
  );
  const [picked, setPicked] = useState<Picked | null>(null);

  if (model === null) {
    if (rows.error)
      return <ErrorLine error={rows.error} prefix="Could not read the history: " onRetry={rows.refresh} />;
    return <p class="muted">Reading the history…</p>;
  }
  const { t0, t1, lanes } = model;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ f, at: t0 + f * (t1 - t0) }));
  const lane = picked ? lanes.find((l) => l.node === picked.node) : undefined;
  const pickedRow =
    picked && 'task' in picked
      ? lane?.rows.find((r) => r.task_name === picked.task && r.type === picked.type)
      : undefined;

  return (
    <div class="timeline" data-testid="timeline">
      <StaleNote live={rows} what="the history" />
      <ErrorLine
        error={stop.error}
        prefix="Could not read the stop of this deployment: "
        onRetry={stop.refresh}
      />
      <p class="legend">
        {model.counts.map(([status, n]) => (
          <span key={status}>
            <Status value={status} /> {n}
          </span>
        ))}
        <span class="muted">
          {lanes.length} node(s), {duration(new Date(t0).toISOString(), new Date(t1).toISOString())}
        </span>
      </p>
      {stop.task && (
        <p class="stop-label" data-testid="stop-label">
          <span class="stop-swatch" /> Stop requested at {time(stop.task.time_start)} by{' '}
          {String(stop.task.result.requested_by ?? '?')}
          {stop.task.result.reason ? `: ${String(stop.task.result.reason)}` : ' (no reason given)'}
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
          {model.maxNever > 0 && (
            <span class="not-started-label" style={{ left: `${NOT_STARTED_AT + 1}%` }}>
              not run
            </span>
          )}
        </div>
      </div>
      <div class={rows.error ? 'stale' : undefined} data-stale={rows.error ? 'true' : undefined}>
        <Lanes model={model} stopAt={stopAt} onPick={setPicked} />
      </div>
      {pickedRow && <RowDetails row={pickedRow} onClose={() => setPicked(null)} />}
      {picked && 'never' in picked && lane && <NeverList lane={lane} onClose={() => setPicked(null)} />}
    </div>
  );
}

/** The lanes in view (and a few around them), drawn again at most once a frame while scrolling. */
function Lanes({
  model,
  stopAt,
  onPick,
}: {
  model: Model;
  stopAt: number | null;
  onPick: (picked: Picked) => void;
}) {
  const { lanes, pct } = model;
  const [scrollTop, setScrollTop] = useState(0);
  const body = useRef<HTMLDivElement>(null);
  const frame = useRef<number | null>(null);
  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );
  const onScroll = () => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setScrollTop(body.current?.scrollTop ?? 0);
    });
  };
  // what is drawn follows where the body is scrolled to, also after the lanes changed under it
  const top = Math.min(scrollTop, Math.max(0, lanes.length * LANE_HEIGHT - VIEW_HEIGHT));
  const first = Math.max(0, Math.floor(top / LANE_HEIGHT) - 4);
  const last = Math.min(lanes.length, first + Math.ceil(VIEW_HEIGHT / LANE_HEIGHT) + 8);
  return (
    <div
      ref={body}
      class="timeline-body"
      style={{ height: `${Math.min(VIEW_HEIGHT, lanes.length * LANE_HEIGHT + 2)}px` }}
      onScroll={onScroll}
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
          <LaneView
            key={lane.node}
            lane={lane}
            bars={barsOf(lane, model)}
            top={(first + i) * LANE_HEIGHT}
            onPick={onPick}
          />
        ))}
      </div>
    </div>
  );
}

/** The stop of a deployment: from the environment's newest reading when it is there, read otherwise. */
function useStop(clusterId: number, task: TaskJson, latest: readonly TaskJson[]) {
  const ofTask = (t: TaskJson) => t.name === 'stop_deployment' && t.result.deploy_task_id === task.id;
  const fromLatest = latest.find(ofTask);
  const running = isRunning(task);
  const stops = useLive(
    (signal) =>
      api.get<TaskJson[]>(
        withQuery('/transactions/', {
          cluster_id: clusterId,
          transaction_types: 'stop_deployment',
          order_by: '-id',
        }),
        signal,
      ),
    running && fromLatest === undefined ? HISTORY_EVERY_MS : 0,
    [clusterId, task.id],
  );
  return {
    task: fromLatest ?? stops.data?.find(ofTask) ?? null,
    error: fromLatest ? null : stops.error,
    refresh: stops.refresh,
  };
}

function nodeLabel(node: string | null): string {
  return node === 'master' ? 'master' : node === null ? 'the sync node' : `node ${node}`;
}

function RowDetails({ row, onClose }: { row: HistoryJson; onClose: () => void }) {
  const tail = outputTail(row);
  const reason = rowReason(row);
  return (
    <div class="details" data-testid="row-details">
      <h4>
        {row.task_name} on {nodeLabel(row.node_id)} <Status value={row.status} />
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

/** A lane's tasks that did not run, each with why. */
function NeverList({ lane, onClose }: { lane: Lane; onClose: () => void }) {
  return (
    <div class="details" data-testid="never-list">
      <h4>
        {lane.never.length} tasks on {nodeLabel(lane.node)} not run
        <button type="button" class="link" onClick={onClose} aria-label="Close">
          ×
        </button>
      </h4>
      <table class="list compact">
        <tbody>
          {lane.never.map((r) => (
            <tr key={rowKey(r)} data-task={r.task_name}>
              <td>{r.task_name}</td>
              <td>
                <Status value={r.status} />
              </td>
              <td class="reason">{rowReason(r) ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function HistoryTable({ task }: { task: TaskJson }) {
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
  // while the deployment runs, the page shown is read again as the timeline is
  const page = useLive(
    (signal) =>
      request<HistoryJson[]>(
        'GET',
        withQuery(`/transactions/${task.id}/deployment_history/`, { ...filter, limit: 50, marker }),
        undefined,
        { signal },
      ),
    isRunning(task) ? HISTORY_EVERY_MS : 0,
    [task.id, filter.nodes, filter.statuses, filter.tasks_names, marker],
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
      <LiveView live={page} what="the history">
        {(data) => (
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
              {data.body.map((r) => (
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
        )}
      </LiveView>
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
