/**
 * The embedded runtime's HTTP server keeps an idle connection open longer than a client's pause between
 * polls: with Node's default (5 s) a client that reuses a connection just as the server closes it gets
 * "other side closed", which happened to `fuel-sls env deploy --wait` style polling on a busy event loop.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../local/runtime.js';

let runtime: Runtime;

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 1, demo: false, authToken: 'keep-alive' });
});

afterAll(async () => {
  await runtime?.stop();
});

/** Sends one request on the socket and resolves with the status line of its whole reply (sized or chunked). */
function request(socket: Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const onData = (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      const head = reply.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = /content-length: (\d+)/i.exec(reply.slice(0, head))?.[1];
      const complete =
        length === undefined ? reply.endsWith('\r\n0\r\n\r\n') : reply.length >= head + 4 + Number(length);
      if (!complete) return;
      socket.off('data', onData);
      resolve(reply.split('\r\n')[0] ?? '');
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('the server closed the connection')));
    const { host } = new URL(runtime.url);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Auth-Token: keep-alive\r\nConnection: keep-alive\r\n\r\n`,
    );
  });
}

describe('the local API server', () => {
  it('answers on a connection left idle for longer than 5 s', async () => {
    const { hostname, port } = new URL(runtime.url);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    try {
      expect(await request(socket, '/api/v1/clusters/')).toBe('HTTP/1.1 200 OK');
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      expect(socket.destroyed).toBe(false);
      expect(await request(socket, '/api/v1/clusters/')).toBe('HTTP/1.1 200 OK');
    } finally {
      socket.destroy();
    }
  });
});
