/**
 * `npm start` on a port something else already listens on, as an operator meets it with a second service
 * left running: one clear line on stderr (no stack trace), exit 1, and nothing left behind (no nodes'
 * folder in the temporary folder). The service is run as its own process (`tsx local/main.ts`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(REPO, 'node_modules/.bin/tsx');

let busy: Server;
let port: number;
let scratch: string;

beforeAll(async () => {
  busy = createServer((_req, res) => res.end('taken'));
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  port = (busy.address() as AddressInfo).port;
  scratch = await mkdtemp(join(tmpdir(), 'port-in-use-'));
});

afterAll(async () => {
  await new Promise<void>((resolve) => busy.close(() => resolve()));
  await rm(scratch, { recursive: true, force: true });
});

function start(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    FUEL_DEMO: '0',
    FUEL_LOCAL_NODES: '2',
    // the nodes' folder would be made here
    TMPDIR: scratch,
  };
  for (const name of ['FUEL_AWS_CALL_LOG', 'FUEL_API_URL', 'FUEL_CHAOS', 'FUEL_LOG', 'FUEL_DATA_DIR'])
    delete env[name];
  return new Promise((resolve) => {
    execFile(TSX, ['local/main.ts'], { cwd: REPO, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm start on a port already in use', () => {
  it('says so in one line, exits 1 and leaves no nodes folder behind', async () => {
    const { code, stdout, stderr } = await start();
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Port ${port} on 127\\.0\\.0\\.1 is already in use`));
    expect(lines[0]).toMatch(/PORT=\d+ npm start/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).not.toMatch(/listening on/);
    // what the start made in the temporary folder is gone (the nodes' folders are fuel-nodes-*)
    expect((await readdir(scratch)).filter((name) => name.startsWith('fuel-nodes-'))).toEqual([]);
    // and the port's owner still answers
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('taken');
  });
});
