/**
 * The timeline of a long history while its deployment runs, in a real browser, against a mocked API
 * (Playwright's `page.route`; the page and its bundle come from the local runtime): 1,000 nodes, 12 tasks
 * each, 12,000 rows in 12 pages of 1,000. The UI reads the whole history once; then, while it runs, at
 * most 5 pages a reading, never the settled pages (every row ended) again; when it ends, every page
 * that was not settled once more, and then nothing. Scrolled to the last node when the deployment ends,
 * the timeline still draws the lanes in view. Never-run tasks never cover each other: past 12 in a lane
 * they are one "N not run" bar that lists them. The list of deployments: once older ones were read,
 * deployments that start later push its newest page on, and none of those in between leaves the list; the
 * one the operator chose stays chosen.
 */
import { type Browser, chromium, type Page, type Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, TaskJson } from '../../lambdas/api/wire.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const NODES = 1000;
const TASKS = 12;
const PAGE = 1000;
const START = Date.parse('2026-12-01T10:00:00.000Z');
const iso = (ms: number) => new Date(START + ms).toISOString();

let runtime: Runtime;
let browser: Browser;
let page: Page;

interface Mock {
  running: boolean;
  /** A second, stopped deployment (task 11) with many tasks never run on node 1. */
  second: boolean;
  /** The reading of the stops fails. */
  failStops: boolean;
  rows: HistoryJson[];
  /** The history pages asked for, by marker ('' for the first). */
  reads: string[];
  /** Deployments 1 to this, all ended, paged as the API pages tasks (or null: task 10, and 11). */
  deployments: number | null;
}

const mock: Mock = {
  running: true,
  second: false,
  failStops: false,
  rows: [],
  reads: [],
  deployments: null,
};

/** Task 11's rows: node 1 ran 5 tasks and never started 15; node 2 ran 5 and never started 3. */
function stoppedRows(): HistoryJson[] {
  const rows: HistoryJson[] = [];
  for (const [node, never] of [
    [1, 15],
    [2, 3],
  ] as const) {
    for (let t = 0; t < 5; t++) rows.push(row(node, t, 'ready'));
    for (let t = 5; t < 5 + never; t++)
      rows.push({
        ...row(node, t, 'pending'),
        status: 'skipped',
        custom: { reason: 'not started: the deployment was stopped', skip_reason: 'stopped' },
      });
  }
  return rows;
}

function row(node: number, task: number, status: HistoryJson['status']): HistoryJson {
  const started = status !== 'pending';
  const ended = status === 'ready' || status === 'error';
  return {
    task_name: `task-${task}`,
    deployment_graph_task_name: `task-${task}`,
    node_id: String(node),
    status,
    time_start: started ? iso(task * 10_000 + (node % 7) * 100) : null,
    time_end: ended ? iso(task * 10_000 + 8000 + (node % 7) * 100) : null,
    custom: {},
    type: 'shell',
  };
}

/** Layer by layer, as the API orders them: tasks 0-3 ended, 4 running, the rest pending. */
function rowsWhileRunning(): HistoryJson[] {
  const rows: HistoryJson[] = [];
  for (let t = 0; t < TASKS; t++)
    for (let n = 1; n <= NODES; n++) rows.push(row(n, t, t < 4 ? 'ready' : t === 4 ? 'running' : 'pending'));
  return rows;
}

function rowsEnded(): HistoryJson[] {
  const rows: HistoryJson[] = [];
  for (let t = 0; t < TASKS; t++) for (let n = 1; n <= NODES; n++) rows.push(row(n, t, 'ready'));
  return rows;
}

const cluster = (): ClusterJson => ({
  id: 1,
  name: 'mocked',
  status: mock.running ? 'deployment' : 'operational',
  release_id: 1,
  is_locked: mock.running,
  is_customized: true,
  changes: [],
  fuel_version: '9.0',
  mode: 'ha_compact',
  net_provider: 'neutron',
  pending_release_id: null,
  ui_settings: {},
});

const deployTask = (): TaskJson => ({
  id: 10,
  uuid: 'u-10',
  name: 'deploy',
  status: mock.running ? 'running' : 'ready',
  progress: mock.running ? 40 : 100,
  message: null,
  cluster: 1,
  result: mock.running ? {} : { stop_task_status: null },
  parent_id: null,
  time_start: iso(0),
  time_end: mock.running ? null : iso(TASKS * 10_000),
  graph_type: 'default',
  dry_run: false,
  execution_arn: null,
  execution_url: null,
});

async function answer(route: Route): Promise<void> {
  const url = new URL(route.request().url());
  const path = url.pathname.replace(/^\/api\/v1/, '');
  const json = (body: unknown, headers: Record<string, string> = {}) =>
    route.fulfill({ status: 200, contentType: 'application/json', headers, body: JSON.stringify(body) });
  if (path === '/clusters/1/') return json(cluster());
  if (path === '/clusters/') return json([cluster()]);
  if (path === '/nodes/') return json([]);
  if (path === '/transactions/') {
    const types = url.searchParams.get('transaction_types');
    if (types === 'stop_deployment' && mock.failStops)
      return route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ message: 'Stops unavailable (test)', errors: [] }),
      });
    if (mock.deployments !== null) {
      const all = Array.from({ length: mock.deployments }, (_, k) => ({
        ...deployTask(),
        id: (mock.deployments ?? 0) - k,
        uuid: `u-${(mock.deployments ?? 0) - k}`,
      }));
      const marker = url.searchParams.get('marker');
      const after = marker === null ? all : all.filter((t) => t.id < Number(marker));
      const limit = Number(url.searchParams.get('limit') ?? after.length);
      const items = after.slice(0, limit);
      const last = items.at(-1);
      return json(items, after.length > limit && last ? { 'X-Next-Marker': String(last.id) } : {});
    }
    const deploys = mock.second
      ? [
          { ...deployTask(), id: 11, uuid: 'u-11', status: 'error', result: { stop_task_status: 'ready' } },
          deployTask(),
        ]
      : [deployTask()];
    return json(types === null || types.split(',').includes('deploy') ? deploys : []);
  }
  if (path === '/transactions/11/deployment_history/') return json(stoppedRows());
  if (path === '/transactions/10/deployment_history/') {
    const marker = url.searchParams.get('marker') ?? '';
    mock.reads.push(marker);
    const from = marker === '' ? 0 : Number(marker);
    const limit = Number(url.searchParams.get('limit') ?? mock.rows.length);
    const next: Record<string, string> =
      from + limit < mock.rows.length ? { 'X-Next-Marker': String(from + limit) } : {};
    return json(mock.rows.slice(from, from + limit), next);
  }
  return route.fulfill({
    status: 404,
    contentType: 'application/json',
    body: JSON.stringify({ message: `not mocked: ${path}`, errors: [] }),
  });
}

const readsOf = (marker: string) => mock.reads.filter((m) => m === marker).length;
const markerOf = (pageIndex: number) => (pageIndex === 0 ? '' : String(pageIndex * PAGE));

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 1, demo: false, authToken: 'history-token' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  await page.addInitScript("sessionStorage.setItem('fuel-token', 'mocked')");
  await page.route('**/api/v1/**', answer);
  mock.rows = rowsWhileRunning();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

describe('the timeline of a long running deployment', () => {
  it('reads the history once, then a bounded number of pages a reading, never the settled ones', async () => {
    await page.goto(`${runtime.url}/#/env/1/history`);
    const timeline = page.getByTestId('timeline');
    await expect.poll(() => timeline.locator('.lane').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await timeline.locator('.lane').count()).toBeLessThanOrEqual(40);
    expect(await timeline.locator('.legend').textContent()).toContain(`${NODES} node(s)`);
    // the whole history once
    for (let p = 0; p < TASKS; p++) expect(readsOf(markerOf(p))).toBeGreaterThanOrEqual(1);
    // three more readings of the front (the first page that is not settled: the running layer)
    const front = markerOf(4);
    const before = mock.reads.length;
    const frontBefore = readsOf(front);
    await expect.poll(() => readsOf(front), { timeout: 20_000 }).toBeGreaterThanOrEqual(frontBefore + 3);
    const readings = readsOf(front) - frontBefore;
    expect(mock.reads.length - before).toBeLessThanOrEqual(5 * readings);
    // the settled pages were read once, at the start
    for (let p = 0; p < 4; p++) expect(readsOf(markerOf(p))).toBe(1);
    // and the pages further on are read in turn
    const tail = [5, 6, 7, 8, 9, 10, 11].map((p) => readsOf(markerOf(p)));
    expect(tail.filter((n) => n > 1).length).toBeGreaterThan(0);
  });

  it('still draws the lanes in view when the deployment ends while scrolled down, and reads the end once', async () => {
    const timeline = page.getByTestId('timeline');
    await timeline.locator('.timeline-body').evaluate((body) => {
      body.scrollTop = body.scrollHeight;
    });
    await expect.poll(() => timeline.locator(`.lane[data-lane="${NODES}"]`).count()).toBe(1);
    // a running task's details follow the readings: they are not the reading it was clicked on
    await timeline.locator(`.lane[data-lane="${NODES}"] .bar[data-task="task-4"]`).click();
    const details = page.getByTestId('row-details');
    expect(await details.locator('.status').textContent()).toBe('running');
    mock.rows = rowsEnded();
    mock.running = false;
    await expect
      .poll(() => timeline.locator('.legend').textContent(), { timeout: 20_000 })
      .toContain(`ready ${NODES * TASKS}`);
    // the lanes in view are drawn: the body did not jump back to the top with nothing drawn
    expect(await timeline.locator(`.lane[data-lane="${NODES}"]`).count()).toBe(1);
    const box = await timeline.locator('.timeline-body').boundingBox();
    const lane = await timeline.locator(`.lane[data-lane="${NODES}"]`).boundingBox();
    expect(lane && box && lane.y >= box.y && lane.y + lane.height <= box.y + box.height + 1).toBe(true);
    expect(await details.locator('.status').textContent()).toBe('ready');
    // once ended, nothing more is read: the settled pages never again, the others once more
    const settledReads = [0, 1, 2, 3].map((p) => readsOf(markerOf(p)));
    expect(settledReads).toEqual([1, 1, 1, 1]);
    const after = mock.reads.length;
    // two more readings of the environment (every two seconds) pass without a history request
    const seen = { n: 0 };
    const onRequest = (req: { url: () => string }) => {
      if (new URL(req.url()).searchParams.get('limit') === '20') seen.n += 1;
    };
    page.on('requestfinished', onRequest);
    await expect.poll(() => seen.n, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    page.off('requestfinished', onRequest);
    expect(mock.reads.length).toBe(after);
  });

  it('draws never-run tasks side by side, and more than 12 in a lane as one bar that lists them', async () => {
    mock.second = true;
    mock.failStops = true;
    const timeline = page.getByTestId('timeline');
    await expect
      .poll(() => page.locator('select[name="deployment"]').inputValue(), { timeout: 15_000 })
      .toBe('11');
    await expect.poll(() => timeline.locator('.lane').count(), { timeout: 10_000 }).toBe(2);
    const group = timeline.locator('.lane[data-lane="1"] .bar-group');
    expect(await group.textContent()).toBe('15 not run');
    expect(await timeline.locator('.lane[data-lane="1"] .bar-never:not(.bar-group)').count()).toBe(0);
    const boxes = await timeline
      .locator('.lane[data-lane="2"] .bar-never')
      .evaluateAll((bars) => bars.map((b) => b.getBoundingClientRect()).map((r) => [r.x, r.x + r.width]));
    expect(boxes.length).toBe(3);
    const sorted = boxes.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
    for (let i = 1; i < sorted.length; i++)
      expect(sorted[i]?.[0] ?? 0).toBeGreaterThanOrEqual(sorted[i - 1]?.[1] ?? 0);
    await group.click();
    expect(await page.getByTestId('never-list').locator('tbody tr').count()).toBe(15);
    expect(await page.getByTestId('never-list').textContent()).toContain(
      'not started: the deployment was stopped',
    );
    // the stop of this deployment could not be read: said, not silently left out
    expect(await timeline.getByRole('alert').textContent()).toMatch(
      /Could not read the stop of this deployment: Stops unavailable \(test\)/,
    );
  });

  it('keeps every deployment listed, and the one chosen, when newer ones start after older ones were read', async () => {
    mock.failStops = false;
    mock.deployments = 60;
    await page.goto(`${runtime.url}/#/env/1/history`);
    await page.reload();
    const select = page.locator('select[name="deployment"]');
    await select.waitFor();
    const listed = () =>
      select
        .locator('option')
        .evaluateAll((os) => os.map((o) => Number((o as unknown as { value: string }).value)));
    await page.locator('button[data-action="older-deployments"]').click();
    await expect.poll(async () => (await listed()).length, { timeout: 10_000 }).toBe(60);
    await select.selectOption('13');

    mock.deployments = 65;
    await expect.poll(async () => (await listed()).includes(65), { timeout: 10_000 }).toBe(true);
    const now = await listed();
    expect(Array.from({ length: 65 }, (_, k) => k + 1).filter((id) => !now.includes(id))).toEqual([]);
    expect(await select.inputValue()).toBe('13');
  });
});
