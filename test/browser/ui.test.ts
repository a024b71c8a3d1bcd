/**
 * The web UI in a real browser (Debian's chromium, driven by playwright-core): an operator deploys,
 * presses "Stop deployment" while the deployment runs, sees the truthful statuses, and deploys again.
 */
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryJson, TaskJson } from '../../lambdas/api/wire.js';
import { doneAction } from '../../lambdas/domain/task.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { Api, waitForTask } from '../helpers/target.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let runtime: Runtime;
let api: Api;
let browser: Browser;
let page: Page;
let clusterId: number;

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 3, demo: false, authToken: 'ui-token' });
  api = new Api(runtime);
  const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: 'ui-env' });
  clusterId = cluster.id;
  await api.ok('POST', `/api/v1/clusters/${clusterId}/assignment/`, [
    { id: 1, roles: ['controller'] },
    { id: 2, roles: ['compute'] },
  ]);
  await api.ok('PUT', `/api/v1/clusters/${clusterId}/deployment_tasks/`, [
    { id: 'base', type: 'shell', roles: '*', parameters: { cmd: 'sleep 0.2', timeout: 60 } },
    {
      id: 'long',
      type: 'shell',
      roles: ['controller'],
      requires: ['base'],
      parameters: { cmd: 'sleep 2', timeout: 60 },
    },
    {
      id: 'after',
      type: 'shell',
      roles: ['controller'],
      requires: ['long'],
      parameters: { cmd: 'true', timeout: 60 },
    },
  ]);
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
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

const section = () => page.locator(`section[data-cluster="${clusterId}"]`);

describe('the web UI', () => {
  it('asks for the token and shows nothing without it', async () => {
    await page.goto(runtime.url);
    await expect.poll(() => page.locator('#message').textContent()).toContain('X-Auth-Token');
    expect(await page.locator('section[data-cluster]').count()).toBe(0);
  });

  it('shows the environment with its nodes once the token is given', async () => {
    await page.fill('#token', 'ui-token');
    await page.locator('#token').dispatchEvent('change');
    await expect.poll(() => section().locator('h2').textContent()).toContain('ui-env');
    expect(await section().locator('h2 .status').textContent()).toBe('new');
    expect(await section().locator('td', { hasText: 'node-1' }).count()).toBe(1);
    expect(await section().locator('button[data-action="stop"]').isDisabled()).toBe(true);
  });

  it('deploys, stops in the middle, and shows the truthful statuses', async () => {
    await section().locator('button[data-action="deploy"]').click();
    await expect
      .poll(() => page.locator('#message').textContent())
      .toMatch(/Deploy changes: task \d+ \(deploy\) is running/);
    const stop = section().locator('button[data-action="stop"]');
    await expect.poll(() => stop.isEnabled(), { timeout: 10_000 }).toBe(true);
    await expect
      .poll(
        async () => {
          const deploy = (
            await api.ok<TaskJson[]>('GET', `/api/v1/transactions/?cluster_id=${clusterId}`)
          ).find((t) => t.name === 'deploy');
          const rows = await api.ok<HistoryJson[]>(
            'GET',
            `/api/v1/transactions/${deploy?.id}/deployment_history/`,
          );
          return rows.find((r) => r.task_name === 'long')?.status;
        },
        { timeout: 15_000 },
      )
      .toBe('running');
    await stop.click();
    await expect
      .poll(() => page.locator('#message').textContent())
      .toMatch(/Stop deployment: task \d+ \(stop_deployment\)/);
    await expect
      .poll(() => section().locator('h2 .status').textContent(), { timeout: 20_000 })
      .toBe('stopped');
    const statuses = await section().locator('td .status').allTextContents();
    expect(statuses).toContain('stopped');
    expect(statuses).toContain('ready');
    await page.screenshot({ path: 'test-results/ui-stopped.png', fullPage: true });
  });

  it('deploys again to operational', async () => {
    const deploy = section().locator('button[data-action="deploy"]');
    await expect.poll(() => deploy.isEnabled()).toBe(true);
    await deploy.click();
    await expect
      .poll(() => section().locator('h2 .status').textContent(), { timeout: 30_000 })
      .toBe('operational');
    const last = (
      await api.ok<TaskJson[]>(
        'GET',
        `/api/v1/transactions/?cluster_id=${clusterId}&transaction_types=deploy`,
      )
    ).at(-1);
    expect((await waitForTask(api, Number(last?.id))).status).toBe('ready');
  });

  it('shows an environment’s tasks newest first, ten at a time, and older ones on request', async () => {
    const many = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name: 'ui-many' });
    const at = new Date().toISOString();
    for (let i = 0; i < 13; i++) {
      const id = await runtime.repos.tasks.nextId();
      const message = `reset number ${i + 1}`;
      await runtime.repos.tasks.put(
        doneAction(
          { id, uuid: `ui-${id}`, clusterId: many.id, at, endedAt: at },
          'reset_environment',
          message,
        ),
      );
    }
    const shown = page.locator(`section[data-cluster="${many.id}"]`);
    const rows = shown.locator('table').nth(1).locator('tr', { hasText: 'reset_environment' });
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(10);
    expect(await rows.first().textContent()).toContain('reset number 13');
    const older = shown.locator('button[data-action="more"]');
    await older.click();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(13);
    expect(await rows.last().textContent()).toContain('reset number 1');
    expect(await older.count()).toBe(0);
  });
});
