/** The `fuel-sls` command line against the embedded runtime (or FUEL_API_URL), as a separate process. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, freeNodes, openTarget, type Target, type TaskJson } from '../helpers/target.js';

const BIN = fileURLToPath(new URL('../../cli/fuel-sls.js', import.meta.url));

let target: Target;
let api: Api;

beforeAll(async () => {
  target = await openTarget(6);
  api = new Api(target);
});

afterAll(async () => {
  await target?.close();
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, FUEL_API_URL: target.url, FUEL_AUTH_TOKEN: target.token },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function environment(name: string, graph: unknown[], count = 2): Promise<number> {
  const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', { name });
  const nodes = await freeNodes(api, count);
  await api.ok(
    'POST',
    `/api/v1/clusters/${cluster.id}/assignment/`,
    nodes.map((n, i) => ({ id: n.id, roles: [i === 0 ? 'controller' : 'compute'] })),
  );
  await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, graph);
  return cluster.id;
}

describe('fuel-sls', () => {
  it('env deploy --wait shows progress and node statuses and exits 0 when the deployment is done', async () => {
    const id = await environment(`cli-ok-${Date.now()}`, [
      { id: 'a', type: 'shell', roles: '*', parameters: { cmd: 'sleep 0.5', timeout: 60 } },
      { id: 'b', type: 'shell', roles: '*', requires: ['a'], parameters: { cmd: 'sleep 0.5', timeout: 60 } },
    ]);
    const run = await cli('env', 'deploy', String(id), '--wait');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/deploy \d+ \[[#.]{20}\] +\d+% running/);
    expect(run.stdout).toMatch(/\[#{20}\] 100% ready/);
    expect(run.stdout).toContain('is done.');
    expect(run.stdout).toMatch(/node-\d+ +ready/);

    const list = await cli('env', 'list', '--json');
    expect(list.code).toBe(0);
    const envs = JSON.parse(list.stdout) as { id: number; status: string }[];
    expect(envs.find((e) => e.id === id)?.status).toBe('operational');
  });

  it('exits non-zero when the deployment ends in error', async () => {
    const id = await environment(`cli-fail-${Date.now()}`, [
      { id: 'broken', type: 'shell', roles: '*', parameters: { cmd: 'exit 5', timeout: 60 } },
    ]);
    const run = await cli('env', 'deploy', String(id), '--wait');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/error/);
    expect(run.stdout).toContain('broken');
  });

  it('stops a deployment with env stop-deployment --wait and shows the history', async () => {
    const id = await environment(`cli-stop-${Date.now()}`, [
      { id: 'long', type: 'shell', roles: ['controller'], parameters: { cmd: 'sleep 1.5', timeout: 60 } },
      {
        id: 'after',
        type: 'shell',
        roles: ['controller'],
        requires: ['long'],
        parameters: { cmd: 'true', timeout: 60 },
      },
    ]);
    const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${id}/changes/`, {});
    for (let i = 0; i < 200; i++) {
      const rows = await api.ok<{ task_name: string; status: string }[]>(
        'GET',
        `/api/v1/transactions/${deploy.id}/deployment_history/`,
      );
      if (rows.some((r) => r.task_name === 'long' && r.status === 'running')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const stop = await cli('env', 'stop-deployment', String(id), '--message', 'from the cli', '--wait');
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain('was successfully stopped.');
    expect(stop.stdout).toMatch(/node-\d+ +stopped/);

    const history = await cli('task', 'history', 'show', String(deploy.id), '--statuses', 'skipped');
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/after +\d+ +skipped .*not started: the deployment was stopped/);

    const again = await cli('env', 'stop-deployment', String(id));
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('Nothing to stop');
  });

  it('explains its commands and refuses a bad id', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('env stop-deployment ENV');
    const bad = await cli('task', 'show', 'abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('TASK must be a positive number');
  });
});
