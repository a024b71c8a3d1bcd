import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runStep, terminate } from '../../local/ssm/processes.js';
import { spawnStep } from '../../local/ssm/spawner.js';

const slot = () => ({ child: null, stdout: '', stderr: '' });
const launch = (script: string) => ({ file: 'bash', args: ['-c', script], cwd: '/tmp' });
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

describe("the fleet's process starter (a small process of its own)", () => {
  it('runs a step to its end: output and exit code', async () => {
    const s = slot();
    const exit = await runStep(launch('echo out; echo err >&2; exit 3'), 10_000, env, s);
    expect(exit).toEqual({ code: 3, timedOut: false });
    expect(s.stdout).toBe('out\n');
    expect(s.stderr).toBe('err\n');
    expect(s.child).toBeNull();
  });

  it('reports a program that cannot start as exit -1 with the reason', async () => {
    const s = slot();
    const exit = await runStep({ file: '/nonexistent/program', args: [], cwd: '/tmp' }, 10_000, env, s);
    expect(exit.code).toBe(-1);
    expect(s.stderr).toMatch(/ENOENT/);
  });

  it('starts each step as the leader of its own session', async () => {
    const child = spawnStep({ ...launch('sleep 5'), env, detached: true });
    const pid = await new Promise<number>((resolve) => child.whenRunning(resolve));
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
    expect(session).toBe(pid);
    const closed = new Promise((resolve) => child.once('close', (_code, signal) => resolve(signal)));
    terminate(child);
    expect(await closed).toBe('SIGTERM');
  });

  it('ends a step terminated before it has started', async () => {
    const child = spawnStep({ ...launch('sleep 30'), env, detached: true });
    const closed = new Promise((resolve) => child.once('close', (_code, signal) => resolve(signal)));
    // asked for at once, before the thread has reported the process started
    expect(child.pid).toBeNull();
    terminate(child);
    expect(await closed).toBe('SIGTERM');
    expect(child.closed).toBe(true);
  });
});
