/**
 * The web UI's live state under races, in a real browser: what the page says is what the API says now.
 * A reading is held, delayed or failed on its way (Playwright's `page.route`) to check that an older
 * reading landing after an action does not bring back the state the action changed, that a failed
 * reading says the state is unknown instead of showing the old one as current, that Deploy waits for its
 * preview, that an action's message goes once the API shows it moved on, and that a forced stop or an
 * offline node disables what the API would refuse. Tasks are held running by a gate file in each node's
 * work directory, opened by the test. Nothing waits a fixed time: every wait polls for a condition.
 */
import { type Browser, chromium, type Locator, type Page, type Request, type Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { closeGate as closeFleetGate, gated, openGate as openFleetGate } from '../helpers/gates.js';
import { Api } from '../helpers/target.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'live-token';

let runtime: Runtime;
let api: Api;
let browser: Browser;
let page: Page;
let clusterId: number;

/** A task held on its gate (a minute at most), on every node, until the test opens it. */
const holdOn = (gate: string) => gated(gate, 'true', 60);
const openGate = (gate: string) => openFleetGate(runtime.fleet, gate);
const closeGate = (gate: string) => closeFleetGate(runtime.fleet, gate);

const GRAPH = [
  { id: 'base', type: 'shell', version: '2.1.0', roles: '*', parameters: { cmd: 'true', timeout: 60 } },
  {
    id: 'held',
    type: 'shell',
    version: '2.1.0',
    roles: ['controller', 'compute'],
    requires: ['base'],
    parameters: { cmd: holdOn('held'), timeout: 90 },
  },
  {
    id: 'after',
    type: 'shell',
    version: '2.1.0',
    roles: ['controller', 'compute'],
    requires: ['held'],
    parameters: { cmd: 'true', timeout: 60 },
  },
];

const statusLine = () => page.getByTestId('status-line');
const button = (action: string): Locator => page.locator(`button[data-action="${action}"]`);
const dialog = (): Locator => page.locator('dialog[open]');
const confirm = () => dialog().locator('button[data-dialog="confirm"]');
const whyDisabled = (locator: Locator): Promise<string | null> =>
  locator.evaluate((b) => {
    const id = b.getAttribute('aria-describedby');
    return id === null ? null : (b.ownerDocument.getElementById(id)?.textContent ?? null);
  });
const tasksNow = () => api.ok<TaskJson[]>('GET', `/api/v1/tasks/?cluster_id=${clusterId}`);
const deploysNow = () =>
  api.ok<TaskJson[]>(
    'GET',
    `/api/v1/transactions/?cluster_id=${clusterId}&transaction_types=deploy&order_by=-id`,
  );
/** The environment's reading of its newest tasks (the status line is made from it). */
const isTasksReading = (url: URL) =>
  url.pathname === '/api/v1/transactions/' &&
  url.searchParams.get('cluster_id') === String(clusterId) &&
  url.searchParams.get('limit') === '20';

/** Counts the requests that match, from now on. */
function countRequests(match: (url: URL) => boolean): { count: () => number; stop: () => void } {
  let n = 0;
  const listener = (req: Request) => {
    if (match(new URL(req.url()))) n += 1;
  };
  page.on('requestfinished', listener);
  return { count: () => n, stop: () => page.off('requestfinished', listener) };
}

/** Waits for `n` more environment readings to have answered (the page has taken them in). */
async function readingsPass(n: number): Promise<void> {
  const seen = countRequests(isTasksReading);
  await expect.poll(seen.count, { timeout: 15_000 }).toBeGreaterThanOrEqual(n);
  seen.stop();
}

/** Starts recording every text the status line shows (in the page, as it changes). */
async function recordStatusLine(): Promise<void> {
  await page.evaluate(`(() => {
    const line = document.querySelector('[data-testid="status-line"]');
    if (!line) throw new Error('no status line');
    window.lines = [line.textContent];
    new MutationObserver(() => window.lines.push(line.textContent)).observe(line, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  })()`);
}
const recorded = (): Promise<string[]> => page.evaluate('window.lines');

async function deployThroughTheUi(): Promise<TaskJson> {
  await button('deploy').click();
  await expect.poll(() => dialog().getByTestId('preview-summary').count(), { timeout: 10_000 }).toBe(1);
  await confirm().click();
  await expect
    .poll(() => statusLine().textContent(), { timeout: 10_000 })
    .toMatch(/Deployment task \d+ is running/);
  const [deploy] = await deploysNow();
  if (!deploy) throw new Error('no deployment');
  // `held` runs on every node
  await expect
    .poll(
      async () =>
        (
          await api.ok<{ task_name: string; status: string }[]>(
            'GET',
            `/api/v1/transactions/${deploy.id}/deployment_history/`,
          )
        ).filter((r) => r.task_name === 'held' && r.status === 'running').length,
      { timeout: 30_000 },
    )
    .toBe(3);
  return deploy;
}

async function waitEnded(deployId: number): Promise<void> {
  await expect
    .poll(async () => (await api.ok<TaskJson>('GET', `/api/v1/transactions/${deployId}/`)).status, {
      timeout: 30_000,
    })
    .not.toMatch(/running|pending/);
  await expect
    .poll(
      async () => (await tasksNow()).filter((t) => t.status === 'running' || t.status === 'pending').length,
      {
        timeout: 30_000,
      },
    )
    .toBe(0);
}

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 3, demo: false, authToken: TOKEN });
  api = new Api(runtime);
  clusterId = (await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: 'live', release_id: 1 })).id;
  await runtime.discover();
  const nodes = (await api.ok<NodeJson[]>('GET', '/api/v1/nodes/')).sort((a, b) => a.id - b.id);
  await api.ok(
    'POST',
    `/api/v1/clusters/${clusterId}/assignment/`,
    nodes.map((n, i) => ({ id: n.id, roles: [i === 0 ? 'controller' : 'compute'] })),
  );
  await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, GRAPH);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  await page.addInitScript(`sessionStorage.setItem('fuel-token', '${TOKEN}')`);
  await page.goto(`${runtime.url}/#/env/${clusterId}`);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

describe('the web UI, live', () => {
  it('shows the environment', async () => {
    await expect.poll(() => statusLine().textContent(), { timeout: 10_000 }).toBe('Not deployed yet.');
    expect(await page.locator('[data-node]').count()).toBe(0);
  });

  it('says the state is unknown while its reading fails, and never shows the old one as current', async () => {
    let failing = true;
    const clusterPath = `/api/v1/clusters/${clusterId}/`;
    const handler = (route: Route) =>
      failing
        ? route.fulfill({
            status: 503,
            contentType: 'application/json',
            body: JSON.stringify({ message: 'Service Unavailable (test)', errors: [] }),
          })
        : route.continue();
    await page.route((url) => url.pathname === clusterPath, handler);
    await expect
      .poll(() => statusLine().textContent(), { timeout: 10_000 })
      .toMatch(/^The current state is unknown/);
    expect(await page.locator('h2 .status').textContent()).toBe('unknown');
    expect(await page.getByRole('alert').first().textContent()).toMatch(/Service Unavailable \(test\)/);
    for (const action of ['deploy', 'reset', 'delete']) {
      expect(await button(action).isDisabled()).toBe(true);
      expect(await whyDisabled(button(action))).toMatch(/The current state is unknown/);
    }
    expect(await page.locator('[data-stale="true"]').count()).toBeGreaterThan(0);
    failing = false;
    await expect.poll(() => statusLine().textContent(), { timeout: 10_000 }).toBe('Not deployed yet.');
    expect(await button('deploy').isDisabled()).toBe(false);
    expect(await page.locator('h2 .status').textContent()).toBe('new');
    await page.unroute((url) => url.pathname === clusterPath, handler);
  });

  it('disables Deploy while a node is offline, and says which', async () => {
    const nodes = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`);
    const node = nodes[2] as NodeJson;
    await api.ok('POST', `/_local/nodes/${node.id}/offline`);
    await expect.poll(() => button('deploy').isDisabled(), { timeout: 10_000 }).toBe(true);
    expect(await whyDisabled(button('deploy'))).toMatch(new RegExp(`A node is offline \\(${node.name}\\)`));
    await api.ok('POST', `/_local/nodes/${node.id}/online`);
    await expect.poll(() => button('deploy').isDisabled(), { timeout: 10_000 }).toBe(false);
  });

  it('lets Deploy be confirmed only once the preview has answered, and deploys nothing before', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let failPreview = false;
    const isPreview = (url: URL) => url.pathname === `/api/v1/clusters/${clusterId}/changes/preview/`;
    const handler = async (route: Route) => {
      if (failPreview)
        return route.fulfill({
          status: 503,
          contentType: 'application/json',
          body: JSON.stringify({ message: 'Preview unavailable (test)', errors: [] }),
        });
      await held;
      return route.continue().catch(() => {});
    };
    await page.route(isPreview, handler);
    await button('deploy').click();
    expect(await confirm().isDisabled()).toBe(true);
    expect(await dialog().getByTestId('confirm-why').textContent()).toBe('Reading what would run…');
    await confirm().dispatchEvent('click');
    expect(await tasksNow()).toEqual([]);
    release();
    await expect.poll(() => dialog().getByTestId('preview-summary').count(), { timeout: 10_000 }).toBe(1);
    expect(await confirm().isDisabled()).toBe(false);
    // a preview that fails: what would run is unknown, Deploy waits
    failPreview = true;
    await dialog().locator('input[name="resume"]').check();
    await expect
      .poll(() => dialog().getByTestId('confirm-why').textContent(), { timeout: 10_000 })
      .toBe('The preview failed: what would run is unknown');
    expect(await dialog().getByRole('alert').textContent()).toMatch(/Preview unavailable \(test\)/);
    await confirm().dispatchEvent('click');
    await dialog().locator('button[data-dialog="cancel"]').click();
    expect(await tasksNow()).toEqual([]);
    await page.unroute(isPreview, handler);
  });

  it('never lets a reading taken before the stop land after it: Stop stays disabled', async () => {
    closeGate('held');
    const deploy = await deployThroughTheUi();
    // hold the next reading of the tasks, answered with the state before the stop
    let heldRoute: { route: Route; response: Awaited<ReturnType<Route['fetch']>> } | null = null;
    const handler = async (route: Route) => {
      if (heldRoute !== null) return route.continue();
      const response = await route.fetch();
      heldRoute = { route, response };
    };
    await page.route((url) => isTasksReading(url), handler);
    await expect.poll(() => heldRoute !== null, { timeout: 10_000 }).toBe(true);
    await page.unroute((url) => isTasksReading(url), handler);
    await recordStatusLine();

    await button('stop').click();
    await confirm().click();
    await expect
      .poll(() => statusLine().textContent(), { timeout: 10_000 })
      .toMatch(/^Stopping: a stop was requested/);
    // the old reading answers now, after the stop's own reading
    const late = heldRoute as unknown as { route: Route; response: Awaited<ReturnType<Route['fetch']>> };
    await late.route.fulfill({ response: late.response }).catch(() => {});
    await readingsPass(2);
    const lines = await recorded();
    const stopping = lines.findIndex((l) => l.startsWith('Stopping'));
    expect(stopping).toBeGreaterThanOrEqual(0);
    expect(
      lines.slice(stopping).filter((l) => /is running: \d+% done/.test(l) && !l.startsWith('Stopping')),
    ).toEqual([]);
    expect(await button('stop').isDisabled()).toBe(true);
    expect(await whyDisabled(button('stop'))).toMatch(/A stop was requested/);

    // what the stop answered is said as a past event; it goes once the API shows the stop ended
    const done = page.getByTestId('action-done');
    expect(await done.textContent()).toMatch(/^\d\d:\d\d:\d\d: stop requested \(task \d+\)\./);
    openGate('held');
    await waitEnded(deploy.id);
    await expect.poll(() => done.count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => statusLine().textContent(), { timeout: 10_000 }).toMatch(/ended stopped/);
  });

  it('disables Force stop once a forced stop was sent, and says so', async () => {
    closeGate('held');
    const deploy = await deployThroughTheUi();
    await button('force-stop').click();
    await confirm().click();
    await expect.poll(() => dialog().count()).toBe(0);
    // until the deployment ends, the page knows the stop is forced: Force stop is not offered twice
    const forcedOrEnded = async () =>
      (await button('force-stop').isDisabled()) &&
      /A forced stop was requested|Nothing is running/.test((await whyDisabled(button('force-stop'))) ?? '');
    expect(await forcedOrEnded()).toBe(true);
    openGate('held');
    await waitEnded(deploy.id);
    await expect.poll(() => statusLine().textContent(), { timeout: 10_000 }).toMatch(/^Last deployment/);
  });

  it('treats a deployment of selected nodes (fuel2, the CLI) as a deployment: it can be stopped, and is in the history', async () => {
    closeGate('held');
    const nodes = (await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${clusterId}`)).sort(
      (a, b) => a.id - b.id,
    );
    const picked = nodes.slice(0, 2).map((n) => n.id);
    const task = await api.ok<TaskJson>(
      'PUT',
      `/api/v1/clusters/${clusterId}/deploy/?nodes=${picked.join(',')}&force=1`,
    );
    expect(task.name).toBe('deployment');
    await expect
      .poll(() => statusLine().textContent(), { timeout: 10_000 })
      .toMatch(new RegExp(`^Deployment task ${task.id} \\(selected nodes\\) is running: \\d+% done\\.$`));
    expect(await button('stop').isDisabled()).toBe(false);
    expect(await whyDisabled(button('deploy'))).toMatch(
      new RegExp(`Deployment task ${task.id} \\(selected nodes\\) is running`),
    );
    await page.locator('nav.tabs a', { hasText: 'History' }).click();
    await expect
      .poll(() => page.locator('select[name="deployment"]').inputValue(), { timeout: 10_000 })
      .toBe(String(task.id));
    await page.locator('nav.tabs a', { hasText: 'Dashboard' }).click();
    await button('stop').click();
    await confirm().click();
    await expect
      .poll(() => statusLine().textContent(), { timeout: 10_000 })
      .toMatch(/^Stopping: a stop was requested/);
    openGate('held');
    await waitEnded(task.id);
    await expect
      .poll(() => statusLine().textContent(), { timeout: 10_000 })
      .toMatch(new RegExp(`^Last deployment task ${task.id} \\(selected nodes\\) ended stopped`));
  });

  it('says a reset as such: not deployed since', async () => {
    await button('reset').click();
    await confirm().click();
    await expect
      .poll(() => statusLine().textContent(), { timeout: 10_000 })
      .toMatch(/^Reset \(task \d+\) at .+: not deployed since\.$/);
    expect(await page.getByTestId('action-done').textContent()).toMatch(
      /^\d\d:\d\d:\d\d: reset as task \d+\./,
    );
    expect(await page.locator('h2 .status').textContent()).toBe('new');
  });

  it('deletes the environment once confirmed, and the list says so', async () => {
    await button('delete').click();
    await confirm().click();
    await expect
      .poll(() => page.getByTestId('list-notice').textContent(), { timeout: 10_000 })
      .toMatch(/^\d\d:\d\d:\d\d: Environment 'live' was deleted/);
    expect(page.url()).toMatch(/#\/$/);
    await expect.poll(() => page.locator(`tr[data-cluster="${clusterId}"]`).count()).toBe(0);
    expect((await api.call('GET', `/api/v1/clusters/${clusterId}/`)).status).toBe(404);
  });
});
