/**
 * The web UI on a 1,000-node environment, in a real browser: the node list is paged (50 rows in the page,
 * whichever page; when the list shrinks under the last page, the new last page), and the timeline of a
 * 4,000-row deployment draws only the lanes in view, so scrolling to the last node neither builds a
 * thousand lanes nor freezes the page. The environment, its nodes and its finished deployment are written
 * through the runtime's repositories (no thousand processes are started), offline (no instance runs
 * them): Deploy changes is disabled, and its reason names a few of them, not all.
 */
import { mkdirSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryRow } from '../../lambdas/domain/history.js';
import type { Node } from '../../lambdas/domain/model.js';
import { layerStage } from '../../lambdas/domain/stage.js';
import { newRun } from '../../lambdas/domain/task.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { historyRow } from '../helpers/rows.js';
import { Api } from '../helpers/target.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const NODES = 1000;
const TASKS = ['netconfig', 'hosts', 'ntp', 'globals'];
const START = Date.parse('2026-12-01T10:00:00.000Z');

let runtime: Runtime;
let browser: Browser;
let page: Page;
let clusterId: number;

const iso = (ms: number) => new Date(START + ms).toISOString();

beforeAll(async () => {
  mkdirSync('test-results/ui-scale', { recursive: true });
  runtime = await startRuntime({ port: 0, nodeCount: 1, demo: false, authToken: 'scale-token' });
  const api = new Api(runtime);
  clusterId = (await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: 'large', release_id: 1 }))
    .id;
  const nodes: Node[] = Array.from({ length: NODES }, (_, i) => ({
    id: 100 + i,
    // ids no instance of the local fleet has (its own are mi-0000…1 on)
    instanceId: `mi-a${String(i).padStart(16, '0')}`,
    name: `large-${i + 1}`,
    hostname: `large-${i + 1}`,
    ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    mac: `52:54:00:01:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`,
    platformName: 'kvm',
    osPlatform: 'ubuntu',
    status: 'ready',
    errorType: null,
    errorMsg: null,
    progress: 100,
    roles: [i === 0 ? 'controller' : 'compute'],
    pendingRoles: [],
    primaryRoles: [],
    pendingAddition: false,
    pendingDeletion: false,
    // no instance of the fleet runs them: discovery would mark them offline, so they are seeded offline
    online: false,
    clusterId,
    discoveredAt: iso(0),
  }));
  for (let i = 0; i < nodes.length; i += 50) {
    await Promise.all(nodes.slice(i, i + 50).map((n) => runtime.repos.nodes.put(n)));
  }
  const id = await runtime.repos.tasks.nextId();
  await runtime.repos.tasks.put({
    ...newRun({
      id,
      uuid: `uuid-${id}`,
      clusterId,
      mode: { force: false, resume: false, scope: 'all', nodes: null },
      children: { provision: null, deployment: null },
      message: 'done',
      at: iso(0),
    }),
    status: 'ready',
    progress: 100,
    timeEnd: iso(60_000),
  });
  const rows: HistoryRow[] = nodes.flatMap((n, i) =>
    TASKS.map((taskName, layer) =>
      historyRow({
        deployTaskId: id,
        stage: layerStage(layer),
        taskName,
        nodeId: n.id,
        layer,
        status: 'ready',
        timeStart: iso(layer * 15_000 + (i % 7) * 100),
        timeEnd: iso(layer * 15_000 + 10_000 + (i % 7) * 100),
      }),
    ),
  );
  await runtime.repos.history.putRows(rows);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  await page.goto(runtime.url);
  await page.click('text=Token');
  await page.fill('input[name="token"]', 'scale-token');
  await page.click('button[type="submit"]');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

describe('the web UI on 1,000 nodes', () => {
  it('pages the node list: 50 rows at a time, the last page ends with the last node, and stays a page that exists', async () => {
    await page.goto(`${runtime.url}/#/env/${clusterId}/nodes`);
    const rows = page.locator('table[aria-label="Nodes"] tbody tr');
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(50);
    expect(await page.locator('nav[aria-label="Nodes"] span').textContent()).toBe('page 1 of 20');
    for (let i = 0; i < 19; i++)
      await page.locator('nav[aria-label="Nodes"] button', { hasText: 'Next' }).click();
    expect(await rows.count()).toBe(50);
    expect(await rows.last().getAttribute('data-node')).toBe(String(100 + NODES - 1));
    // the list shrinks under the last page (50 nodes removed elsewhere): the page shown is the new last one
    const gone = Array.from({ length: 50 }, (_, i) => ({ id: 100 + NODES - 50 + i }));
    await new Api(runtime).ok('POST', `/api/v1/clusters/${clusterId}/unassignment/`, gone);
    await expect
      .poll(() => page.locator('nav[aria-label="Nodes"] span').textContent(), { timeout: 10_000 })
      .toBe('page 19 of 19');
    expect(await rows.count()).toBe(50);
    expect(await rows.last().getAttribute('data-node')).toBe(String(100 + NODES - 51));
    // the dashboard counts every node
    await page.locator('nav.tabs a', { hasText: 'Dashboard' }).click();
    await expect
      .poll(() => page.getByTestId('node-counts').textContent(), { timeout: 10_000 })
      .toContain(String(NODES - 50));
    const deploy = page.locator('button[data-action="deploy"]');
    expect(await deploy.isDisabled()).toBe(true);
    expect(await page.locator('[data-why="deploy"]').textContent()).toBe(
      `${NODES - 50} nodes are offline (large-1, large-2, large-3 and ${NODES - 53} more): the service refuses a deployment with offline nodes`,
    );
  });

  it('draws only the timeline lanes in view, and the last node when scrolled to', async () => {
    await page.goto(`${runtime.url}/#/env/${clusterId}/history`);
    const timeline = page.getByTestId('timeline');
    await expect.poll(() => timeline.locator('.lane').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await timeline.locator('.legend').textContent()).toContain(`${NODES} node(s)`);
    expect(await timeline.locator('.lane').count()).toBeLessThanOrEqual(40);
    await timeline.locator('.timeline-body').evaluate((body) => {
      body.scrollTop = body.scrollHeight;
    });
    await expect.poll(() => timeline.locator(`.lane[data-lane="${100 + NODES - 1}"]`).count()).toBe(1);
    expect(await timeline.locator('.lane').count()).toBeLessThanOrEqual(40);
    expect(await timeline.locator(`.lane[data-lane="${100 + NODES - 1}"] .bar`).count()).toBe(TASKS.length);
    await page.screenshot({ path: 'test-results/ui-scale/timeline.png' });
  });
});
