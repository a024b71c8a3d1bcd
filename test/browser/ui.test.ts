/**
 * The web UI in a real browser (Debian's chromium, driven by playwright-core), through the UI alone: a
 * wrong password, the login, a new environment, three nodes with roles (and a fourth added, then removed
 * through its confirmation), a graph uploaded from a file, Deploy changes after its preview (nothing is
 * deployed while the dialog is open, Escape cancels it), a stop in the middle with a reason (the task
 * that runs then waits on a gate file, opened only once the stop was accepted; Force stop's confirmation
 * is cancelled with Escape), the timeline (the stop line between the held task's start and what never
 * started), Deploy changes again to `operational`; the confirmation dialogs, a disabled button's reason
 * (Reset before a first deployment; for the pointer, the keyboard and screen readers), and a failed
 * task's output. The API is read only to check that the page says what it says.
 * Screenshots of each step are kept in test-results/ui/ (not committed).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, HistoryJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { gated, openGate as openFleetGate } from '../helpers/gates.js';
import { Api } from '../helpers/target.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = 'test-results/ui';

let runtime: Runtime;
let api: Api;
let browser: Browser;
let page: Page;
let clusterId: number;
let step = 0;

/** A task held on its gate (a minute at most), on every node, until the test opens it. */
const holdOn = (gate: string) => gated(gate, 'true', 60);
const openGate = (gate: string) => openFleetGate(runtime.fleet, gate);

const GRAPH = [
  { id: 'base', type: 'shell', version: '2.1.0', roles: '*', parameters: { cmd: 'sleep 0.3', timeout: 60 } },
  {
    // held running until the stop was accepted
    id: 'long',
    type: 'shell',
    version: '2.1.0',
    roles: ['controller', 'compute'],
    requires: ['base'],
    parameters: { cmd: holdOn('long'), timeout: 90 },
  },
  {
    id: 'after',
    type: 'shell',
    version: '2.1.0',
    roles: ['controller', 'compute'],
    requires: ['long'],
    parameters: { cmd: 'true', timeout: 60 },
  },
];

beforeAll(async () => {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  runtime = await startRuntime({
    port: 0,
    nodeCount: 4,
    demo: false,
    authToken: 'ui-token',
    adminPassword: 'ui-secret',
  });
  api = new Api(runtime);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

async function shot(name: string): Promise<void> {
  step += 1;
  await page.screenshot({ path: `${SHOTS}/${String(step).padStart(2, '0')}-${name}.png`, fullPage: true });
}

const statusLine = () => page.getByTestId('status-line');
const button = (action: string): Locator => page.locator(`button[data-action="${action}"]`);
/** Why a button cannot be used: the text its `aria-describedby` names (what a screen reader says). */
const whyOf = (locator: Locator): Promise<string | null> =>
  locator.evaluate((b) => {
    const id = b.getAttribute('aria-describedby');
    return id === null ? null : (b.ownerDocument.getElementById(id)?.textContent ?? null);
  });
const whyDisabled = (action: string): Promise<string | null> => whyOf(button(action));
/** The `data-action` of what has the keyboard's focus. */
const focused = (): Promise<string | null> => page.locator(':focus').getAttribute('data-action');
const tasksNow = () => api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${clusterId}`);
const dialog = (): Locator => page.locator('dialog[open]');
/** The statuses in the Nodes tab's rows, sorted. */
const nodeStatuses = async (): Promise<string[]> =>
  (await page.locator('[data-node] .status').allTextContents()).sort();
const clusterNow = () => api.ok<ClusterJson>('GET', `/api/v1/clusters/${clusterId}/`);
const deploysNow = () =>
  api.ok<TaskJson[]>(
    'GET',
    `/api/v1/transactions/?cluster_id=${clusterId}&transaction_types=deploy&order_by=-id`,
  );

async function tab(name: string): Promise<void> {
  await page.locator('nav.tabs a', { hasText: new RegExp(`^${name}$`, 'i') }).click();
}

describe('the web UI, the whole story', () => {
  it('refuses a wrong password with a clear message', async () => {
    await page.goto(runtime.url);
    await page.fill('input[name="user"]', 'admin');
    await page.fill('input[name="password"]', 'not-the-password');
    await page.click('button[type="submit"]');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Wrong user name or password.');
    expect(await page.locator('main.page').count()).toBe(0);
    await shot('wrong-password');
  });

  it('logs in with the user and password, and shows the environments', async () => {
    await page.fill('input[name="password"]', 'ui-secret');
    await page.click('button[type="submit"]');
    await expect.poll(() => page.locator('h2', { hasText: 'Environments' }).count()).toBe(1);
    await expect.poll(() => page.getByText('No environment yet').count()).toBe(1);
  });

  it('creates an environment from a name and a release', async () => {
    await expect.poll(() => page.locator('select[name="release"] option').count()).toBeGreaterThan(0);
    await page.fill('input[name="name"]', 'ui-env');
    await page.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.getByTestId('env-name').textContent()).toBe('ui-env');
    clusterId = Number(/#\/env\/(\d+)/.exec(page.url())?.[1]);
    expect((await clusterNow()).name).toBe('ui-env');
    expect(await page.locator('h2 .status').textContent()).toBe('new');
    await shot('environment-created');
  });

  it('says why the buttons it cannot use are disabled, to the pointer, the keyboard and screen readers', async () => {
    expect(await button('stop').isDisabled()).toBe(true);
    expect(await button('stop').getAttribute('title')).toMatch(/Nothing is running/);
    expect(await whyDisabled('stop')).toMatch(/Nothing is running/);
    expect(await button('deploy').isDisabled()).toBe(true);
    expect(await whyDisabled('deploy')).toMatch(/Add nodes/);
    // Reset, before a first deployment
    expect(await button('reset').isDisabled()).toBe(true);
    expect(await whyDisabled('reset')).toMatch(/Nothing to reset: the environment was never deployed/);
    // a disabled action stays in the tab order, and says why while it has the focus
    await button('force-stop').focus();
    await page.keyboard.press('Shift+Tab');
    expect(await focused()).toBe('stop');
    expect((await page.locator('[data-why="stop"]').boundingBox())?.width ?? 0).toBeGreaterThan(50);
    // a click on it does nothing
    await button('reset').dispatchEvent('click');
    expect(await dialog().count()).toBe(0);
  });

  it('adds three free nodes with their roles', async () => {
    await tab('nodes');
    const free = page.locator('[data-free-node]');
    await expect.poll(() => free.count(), { timeout: 15_000 }).toBe(4);
    const ids = (
      await free.evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-free-node'))))
    ).sort((a, b) => a - b);
    const pick = async (id: number) =>
      page.locator(`[data-free-node="${id}"] input[type="checkbox"]`).check();
    await pick(ids[0] ?? 0);
    await page.check('input[name="role-controller"]');
    await button('add-nodes').click();
    await expect.poll(() => page.locator('[data-node]').count()).toBe(1);
    await page.uncheck('input[name="role-controller"]');
    await pick(ids[1] ?? 0);
    await pick(ids[2] ?? 0);
    await page.check('input[name="role-compute"]');
    await button('add-nodes').click();
    await expect.poll(() => page.locator('[data-node]').count()).toBe(3);
    const nodes = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    expect(nodes.map((n) => n.pending_roles.join()).sort()).toEqual(['compute', 'compute', 'controller']);
    await shot('nodes-added');
  });

  it("confirms a node's Remove: Cancel keeps it, Remove returns it to the free nodes", async () => {
    const spare = page.locator('[data-free-node]');
    await expect.poll(() => spare.count()).toBe(1);
    const spareId = Number(await spare.first().getAttribute('data-free-node'));
    await page.locator(`[data-free-node="${spareId}"] input[type="checkbox"]`).check();
    await button('add-nodes').click();
    await expect.poll(() => page.locator('[data-node]').count()).toBe(4);
    const row = page.locator(`[data-node="${spareId}"]`);
    await row.locator('button[data-action="remove"]').click();
    expect(await dialog().locator('h3').textContent()).toBe('Remove the node');
    await dialog().locator('button[data-dialog="cancel"]').click();
    expect(await dialog().count()).toBe(0);
    expect((await api.ok<NodeJson>('GET', `/api/v1/nodes/${spareId}/`)).cluster).toBe(clusterId);
    await row.locator('button[data-action="remove"]').click();
    await dialog().locator('button[data-dialog="confirm"]').click();
    await expect.poll(() => page.locator('[data-node]').count()).toBe(3);
    expect((await api.ok<NodeJson>('GET', `/api/v1/nodes/${spareId}/`)).cluster).toBe(null);
    // and it is free again at once, without waiting for the free nodes' next reading
    await expect.poll(() => page.locator(`[data-free-node="${spareId}"]`).count(), { timeout: 2000 }).toBe(1);
  });

  it('uploads a graph from a YAML file and draws the layers it will run', async () => {
    await tab('graph');
    const yaml = GRAPH.map(
      (t) =>
        `- id: ${t.id}\n  type: ${t.type}\n  version: ${t.version}\n  roles: ${JSON.stringify(t.roles)}\n` +
        `${t.requires ? `  requires: ${JSON.stringify(t.requires)}\n` : ''}` +
        `  parameters: {cmd: ${JSON.stringify(t.parameters.cmd)}, timeout: ${t.parameters.timeout}}\n`,
    ).join('');
    await page.setInputFiles('input[name="graph"]', {
      name: 'graph.yaml',
      mimeType: 'application/yaml',
      buffer: Buffer.from(yaml),
    });
    await expect
      .poll(() => page.getByTestId('graph-said').textContent())
      .toContain('Uploaded 3 task(s) from graph.yaml');
    const stored = await api.ok<{ id: string }[]>('GET', `/api/v1/clusters/${clusterId}/deployment_tasks/`);
    expect(stored.map((t) => t.id).sort()).toEqual(['after', 'base', 'long']);
    const layers = page.locator('table.layers');
    await expect
      .poll(() => layers.locator('tbody tr').count(), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(3);
    // base, then long, then after, on each node: three layers at least, each task in a later one
    const columnOf = async (task: string) =>
      layers
        .locator('tbody tr')
        .first()
        .locator('td')
        .evaluateAll((cells, name) => cells.findIndex((c) => c.textContent?.includes(name as string)), task);
    const [base, long, after] = [await columnOf('base'), await columnOf('long'), await columnOf('after')];
    expect(base).toBeGreaterThanOrEqual(0);
    expect(long).toBeGreaterThan(base);
    expect(after).toBeGreaterThan(long);
    await shot('graph-layers');
  });

  it('shows what Deploy changes would run before it deploys, and deploys nothing until Deploy is pressed', async () => {
    await button('deploy').click();
    expect(await tasksNow()).toEqual([]);
    await expect
      .poll(() => dialog().getByTestId('preview-summary').textContent(), { timeout: 10_000 })
      .toMatch(/Would provision 3 node\(s\), run 9 task\(s\) and skip 0/);
    await shot('deploy-preview');
    // the preview's own readings start nothing
    await dialog().locator('input[name="resume"]').check();
    await expect.poll(() => dialog().getByTestId('preview-summary').textContent()).toMatch(/run 9 task/);
    await dialog().locator('input[name="resume"]').uncheck();
    expect(await tasksNow()).toEqual([]);
    // Escape cancels, and the focus is back on the button that opened the dialog
    await page.keyboard.press('Escape');
    expect(await dialog().count()).toBe(0);
    expect(await focused()).toBe('deploy');
    expect(await tasksNow()).toEqual([]);
    // opened again, Resume starts unchecked
    await button('deploy').click();
    expect(await dialog().locator('input[name="resume"]').isChecked()).toBe(false);
    await expect.poll(() => dialog().getByTestId('preview-summary').textContent()).toMatch(/run 9 task/);
    expect(await tasksNow()).toEqual([]);
    await dialog().locator('button[data-dialog="confirm"]').click();
    await expect
      .poll(() => statusLine().textContent(), { timeout: 10_000 })
      .toMatch(/Deployment task \d+ is running/);
  });

  it('stops in the middle with a reason; every node ends in a truthful status', async () => {
    // stop while `long` runs on every node: it waits on its gate, opened only once the stop was accepted
    await expect
      .poll(
        async () => {
          const [deploy] = await deploysNow();
          const rows = await api.ok<HistoryJson[]>(
            'GET',
            `/api/v1/transactions/${deploy?.id}/deployment_history/`,
          );
          return rows.filter((r) => r.task_name === 'long' && r.status === 'running').length;
        },
        { timeout: 30_000 },
      )
      .toBe(3);
    await tab('dashboard');
    await button('stop').click();
    await page.fill('dialog[open] textarea[name="reason"]', 'wrong NTP server');
    await shot('stop-dialog');
    await dialog().locator('button[data-dialog="confirm"]').click();
    await expect
      .poll(() => statusLine().textContent(), { timeout: 10_000 })
      .toMatch(/^Stopping: a stop was requested by admin/);
    const [stopped] = await deploysNow();
    const stop = (await tasksNow()).find((t) => t.name === 'stop_deployment');
    expect(stop?.result.deploy_task_id).toBe(stopped?.id);
    expect(await button('stop').isDisabled()).toBe(true);
    expect(await whyDisabled('stop')).toMatch(/A stop was requested/);
    // Force stop is confirmed; Escape cancels it and nothing is forced
    await button('force-stop').click();
    expect(await dialog().locator('h3').textContent()).toBe('Force stop');
    await page.keyboard.press('Escape');
    expect(await dialog().count()).toBe(0);
    expect(await focused()).toBe('force-stop');
    await button('force-stop').click();
    await dialog().locator('button[data-dialog="cancel"]').click();
    expect(await dialog().count()).toBe(0);
    expect(await statusLine().textContent()).toMatch(/^Stopping: a stop was requested/);
    // while it runs, nothing that the API refuses on a locked environment is offered
    await tab('nodes');
    const remove = page.locator('button[data-action="remove"]').first();
    expect(await remove.isDisabled()).toBe(true);
    expect(await whyOf(remove)).toMatch(/Deployment task \d+ is running: stop it or wait for it to end/);
    await tab('graph');
    expect(await page.locator('input[name="graph"]').isDisabled()).toBe(true);
    expect(await page.locator('[data-why="upload-graph"]').textContent()).toMatch(
      /Deployment task \d+ is running/,
    );
    await tab('dashboard');
    openGate('long');
    await expect.poll(() => page.locator('h2 .status').textContent(), { timeout: 30_000 }).toBe('stopped');
    await expect.poll(() => statusLine().textContent()).toMatch(/Last deployment \(task \d+\) ended stopped/);
    expect((await clusterNow()).status).toBe('stopped');
    await tab('nodes');
    await expect.poll(nodeStatuses, { timeout: 10_000 }).toEqual(['stopped', 'stopped', 'stopped']);
    await shot('stopped');
  });

  it('draws the timeline: a lane per node, the stop line with who and why, what never started', async () => {
    await tab('history');
    const timeline = page.getByTestId('timeline');
    await expect.poll(() => timeline.locator('.lane').count(), { timeout: 10_000 }).toBe(3);
    expect(await page.getByTestId('stop-label').textContent()).toMatch(/by admin: wrong NTP server/);
    expect(await page.getByTestId('stop-line').count()).toBe(1);
    const never = timeline.locator('.bar-never[data-task="after"]');
    expect(await never.count()).toBe(3);
    expect(await never.first().getAttribute('data-status')).toBe('skipped');
    expect(await never.first().getAttribute('title')).toMatch(
      /after on \d+: skipped \(not run\) — not started: the deployment was stopped/,
    );
    expect(await timeline.locator('.bar[data-task="long"][data-status="ready"]').count()).toBe(3);
    // the stop line lies after every `long` bar starts, and before the `after` markers
    const lineX = (await page.getByTestId('stop-line').boundingBox())?.x ?? 0;
    const longStart = Math.max(
      ...(await timeline
        .locator('.bar[data-task="long"]')
        .evaluateAll((bars) => bars.map((b) => b.getBoundingClientRect().x))),
    );
    const afterStart = Math.min(
      ...(await never.evaluateAll((bars) => bars.map((b) => b.getBoundingClientRect().x))),
    );
    expect(lineX).toBeGreaterThan(longStart);
    expect(lineX).toBeLessThan(afterStart);
    await never.first().click();
    expect(await page.getByTestId('row-details').textContent()).toMatch(
      /after on node \d+ skipped.*not started: the deployment was stopped/,
    );
    await shot('timeline-stopped');
  });

  it('filters the history table as fuel2 does', async () => {
    await page.getByRole('button', { name: 'Table' }).click();
    await page.check('input[name="status-skipped"]');
    await expect
      .poll(async () => [
        ...new Set(
          await page
            .locator('table[aria-label="History"] tbody tr')
            .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status'))),
        ),
      ])
      .toEqual(['skipped']);
    expect(await page.locator('table[aria-label="History"] tbody tr').count()).toBe(3);
    await shot('history-table');
  });

  it('confirms Reset and Delete, and does nothing when they are cancelled', async () => {
    await tab('dashboard');
    for (const action of ['reset', 'delete']) {
      await button(action).click();
      expect(await dialog().locator('h3').textContent()).toMatch(action === 'reset' ? /Reset/ : /Delete/);
      await dialog().locator('button[data-dialog="cancel"]').click();
      expect(await dialog().count()).toBe(0);
    }
    expect((await clusterNow()).status).toBe('stopped');
  });

  it('deploys again, resuming: the preview says why, and the environment ends operational', async () => {
    await button('deploy').click();
    const summary = dialog().getByTestId('preview-summary');
    await expect.poll(() => summary.textContent(), { timeout: 10_000 }).toMatch(/run 9 task\(s\) and skip 0/);
    expect(await dialog().getByTestId('preview').textContent()).toMatch(/node was stopped/);
    await dialog().locator('input[name="resume"]').check();
    await expect.poll(() => summary.textContent(), { timeout: 10_000 }).toMatch(/run 3 task\(s\) and skip 6/);
    expect(await dialog().getByTestId('preview').textContent()).toMatch(
      /ran ready with the same input \(resume\)/,
    );
    await shot('restart-preview');
    await dialog().locator('button[data-dialog="confirm"]').click();
    await expect
      .poll(() => page.locator('h2 .status').textContent(), { timeout: 60_000 })
      .toBe('operational');
    const [latest] = await deploysNow();
    expect(latest?.status).toBe('ready');
    // what the preview said: `after` ran, what had run ready was skipped
    const rows = await api.ok<HistoryJson[]>('GET', `/api/v1/transactions/${latest?.id}/deployment_history/`);
    const statusOf = (task: string) => [
      ...new Set(rows.filter((r) => r.task_name === task).map((r) => r.status)),
    ];
    expect(statusOf('after')).toEqual(['ready']);
    expect(statusOf('long')).toEqual(['skipped']);
    expect(statusOf('base')).toEqual(['skipped']);
    await tab('nodes');
    await expect.poll(nodeStatuses, { timeout: 10_000 }).toEqual(['ready', 'ready', 'ready']);
    await tab('history');
    await expect
      .poll(() => page.getByTestId('timeline').locator('.bar[data-status="ready"]').count())
      .toBeGreaterThan(0);
    expect(await page.getByTestId('stop-line').count()).toBe(0);
    await shot('operational');
  });

  it('shows every task of the environment, newest first, and a stopped deployment as stopped', async () => {
    await tab('tasks');
    const rows = page.locator('table[aria-label="Tasks"] tbody tr');
    // two deployments (each with its deployment child), the first one's provisioning, and the stop
    await expect.poll(() => rows.count()).toBe(6);
    const deploys = await deploysNow();
    const stopped = deploys[1];
    expect(await page.locator(`tr[data-task="${stopped?.id}"] .status`).textContent()).toBe('stopped');
    expect(await page.locator(`tr[data-task="${deploys[0]?.id}"] .status`).textContent()).toBe('ready');
    // the stopped deployment's own part (its `deployment` child) reads stopped too, not error
    const all = await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${clusterId}`);
    const child = all.find((t) => t.parent_id === stopped?.id && t.name === 'deployment');
    expect(child?.status).toBe('error');
    expect(await page.locator(`tr[data-task="${child?.id}"] .status`).textContent()).toBe('stopped');
  });

  it("shows a failed task's output on click", async () => {
    await tab('graph');
    const failing = [
      { id: 'base', type: 'shell', version: '2.1.0', roles: '*', parameters: { cmd: 'true', timeout: 60 } },
      {
        id: 'broken',
        type: 'shell',
        version: '2.1.0',
        roles: ['controller'],
        requires: ['base'],
        parameters: { cmd: 'echo checking the disks; echo no space left on /var >&2; exit 3', timeout: 60 },
      },
    ];
    await page.setInputFiles('input[name="graph"]', {
      name: 'broken.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(failing)),
    });
    await expect.poll(() => page.getByTestId('graph-said').textContent()).toContain('from broken.json');
    await button('deploy').click();
    await dialog().locator('button[data-dialog="confirm"]').click();
    await expect.poll(() => page.locator('h2 .status').textContent(), { timeout: 60_000 }).toBe('error');
    await tab('history');
    const failed = page.getByTestId('timeline').locator('.bar[data-status="error"][data-task="broken"]');
    await expect.poll(() => failed.count(), { timeout: 10_000 }).toBe(1);
    await failed.click();
    const output = page.getByTestId('output-tail');
    await expect.poll(() => output.textContent()).toContain('no space left on /var');
    expect(await output.textContent()).toContain('checking the disks');
    await shot('failed-output');
    // the dashboard's newest tasks: the stopped deployment's part reads stopped, though the deployment
    // itself is no longer among the six shown
    await tab('dashboard');
    const [, , first] = await deploysNow();
    const all = await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${clusterId}`);
    const child = all.find((t) => t.parent_id === first?.id && t.name === 'deployment');
    const newest = page.locator('table[aria-label="Tasks"]');
    await expect.poll(() => newest.locator(`tr[data-task="${child?.id}"]`).count()).toBe(1);
    expect(await newest.locator(`tr[data-task="${first?.id}"]`).count()).toBe(0);
    expect(await newest.locator(`tr[data-task="${child?.id}"] .status`).textContent()).toBe('stopped');
  });

  it('brings the login back with the reason when the session is refused', async () => {
    await page.evaluate("sessionStorage.setItem('fuel-token', 'expired-token')");
    await expect.poll(() => page.locator('.notice').textContent(), { timeout: 10_000 }).toMatch(/401/);
    expect(await page.locator('form[aria-label="Log in"]').count()).toBe(1);
  });

  it('says a mistyped token is not valid, and nothing else', async () => {
    await page.getByRole('button', { name: 'Token' }).click();
    expect(await page.getByRole('button', { name: 'Token' }).getAttribute('aria-pressed')).toBe('true');
    await page.fill('input[name="token"]', 'not-the-token');
    await page.click('button[type="submit"]');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('This token is not valid.');
    // the notice of the refused session is history: this try's answer is the only one
    expect(await page.locator('.notice').count()).toBe(0);
    await page.fill('input[name="token"]', 'ui-token');
    await page.click('button[type="submit"]');
    await expect.poll(() => page.getByTestId('env-name').textContent()).toBe('ui-env');
  });
});
