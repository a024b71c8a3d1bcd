/**
 * The history tab's list of deployments, in a real browser against a mocked API (Playwright's `page.route`;
 * the page and its bundle come from the local runtime): once older deployments were read, deployments that
 * start later push the newest page on, and none of those in between leaves the list; the one the operator
 * chose stays chosen.
 */
import { type Browser, chromium, type Page, type Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson, TaskJson } from '../../lambdas/api/wire.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const at = (s: number) => new Date(Date.parse('2026-12-01T10:00:00.000Z') + s * 1000).toISOString();

let runtime: Runtime;
let browser: Browser;
let page: Page;
/** The newest deployment's id: deployments 1 to `newest` exist, all ended. */
let newest = 60;

const cluster: ClusterJson = {
  id: 1,
  name: 'mocked',
  status: 'operational',
  release_id: 1,
  is_locked: false,
  is_customized: true,
  changes: [],
  fuel_version: '9.0',
  mode: 'ha_compact',
  net_provider: 'neutron',
  pending_release_id: null,
  ui_settings: {},
};

const deployment = (id: number): TaskJson => ({
  id,
  uuid: `u-${id}`,
  name: 'deploy',
  status: 'ready',
  progress: 100,
  message: null,
  cluster: 1,
  result: {},
  parent_id: null,
  time_start: at(id * 60),
  time_end: at(id * 60 + 30),
  graph_type: 'default',
  dry_run: false,
  execution_arn: null,
  execution_url: null,
});

/** The API as the page reads it: tasks newest first, paged by `marker` and `limit` (X-Next-Marker). */
async function answer(route: Route): Promise<void> {
  const url = new URL(route.request().url());
  const path = url.pathname.replace(/^\/api\/v1/, '');
  const json = (body: unknown, headers: Record<string, string> = {}) =>
    route.fulfill({ status: 200, contentType: 'application/json', headers, body: JSON.stringify(body) });
  if (path === '/clusters/1/') return json(cluster);
  if (path === '/clusters/') return json([cluster]);
  if (path === '/nodes/') return json([]);
  if (path === '/transactions/') {
    if (url.searchParams.get('transaction_types') === 'stop_deployment') return json([]);
    const all = Array.from({ length: newest }, (_, k) => deployment(newest - k));
    const marker = url.searchParams.get('marker');
    const after = marker === null ? all : all.filter((t) => t.id < Number(marker));
    const limit = Number(url.searchParams.get('limit') ?? after.length);
    const items = after.slice(0, limit);
    const last = items.at(-1);
    return json(items, after.length > limit && last ? { 'X-Next-Marker': String(last.id) } : {});
  }
  if (/deployment_history/.test(path)) return json([]);
  return route.fulfill({
    status: 404,
    contentType: 'application/json',
    body: JSON.stringify({ message: `not mocked: ${path}`, errors: [] }),
  });
}

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 1, demo: false, authToken: 'deployments-token' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  await page.addInitScript("sessionStorage.setItem('fuel-token', 'mocked')");
  await page.route('**/api/v1/**', answer);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

describe('the list of deployments', () => {
  it('keeps every deployment listed, and the one chosen, when newer ones start after older ones were read', async () => {
    await page.goto(`${runtime.url}/#/env/1/history`);
    const select = page.locator('select[name="deployment"]');
    await select.waitFor();
    const listed = () =>
      select
        .locator('option')
        .evaluateAll((os) => os.map((o) => Number((o as unknown as { value: string }).value)));
    await page.locator('button[data-action="older-deployments"]').click();
    await expect.poll(async () => (await listed()).length, { timeout: 10_000 }).toBe(60);
    await select.selectOption('13');

    newest = 65;
    await expect.poll(async () => (await listed()).includes(65), { timeout: 10_000 }).toBe(true);
    const now = await listed();
    expect(Array.from({ length: 65 }, (_, k) => k + 1).filter((id) => !now.includes(id))).toEqual([]);
    expect(await select.inputValue()).toBe('13');
  });
});
