/**
 * The command line's paged reads (cli/api.ts `list`) against a small HTTP server that pages as the API does:
 * at most `limit` entries a page (here never more than 3), the next page's marker in X-Next-Marker.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../../cli/api.js';

const ENTRIES = Array.from({ length: 7 }, (_, i) => ({ id: i + 1 }));
const SERVER_PAGE = 3;

let server: Server;
let url: string;
let requests: string[];

beforeAll(async () => {
  server = createServer((req, res) => {
    const at = new URL(req.url ?? '/', 'http://x');
    requests.push(`${at.pathname}${at.search}`);
    if (at.pathname === '/api/v1/object/') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    const from = Number(at.searchParams.get('marker') ?? 0);
    const limit = Math.min(SERVER_PAGE, Number(at.searchParams.get('limit')));
    const page = ENTRIES.slice(from, from + limit);
    const next = from + limit < ENTRIES.length ? { 'x-next-marker': String(from + limit) } : {};
    res.writeHead(200, { 'content-type': 'application/json', ...next });
    res.end(JSON.stringify(page));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  requests = [];
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('the command line reads a list page by page', () => {
  it('follows X-Next-Marker to the end, asking for the largest page', async () => {
    expect(await createApi(url, 't').list('/things/')).toEqual(ENTRIES);
    expect(requests).toEqual([
      '/api/v1/things/?limit=1000',
      '/api/v1/things/?limit=1000&marker=3',
      '/api/v1/things/?limit=1000&marker=6',
    ]);
  });

  it('with a maximum, asks for what is still missing and stops there', async () => {
    expect(await createApi(url, 't').list('/things/?cluster_id=1', 5)).toEqual(ENTRIES.slice(0, 5));
    expect(requests).toEqual([
      '/api/v1/things/?cluster_id=1&limit=5',
      '/api/v1/things/?cluster_id=1&limit=2&marker=3',
    ]);
  });

  it('refuses a reply that is not a list', async () => {
    await expect(createApi(url, 't').list('/object/')).rejects.toThrow(
      'GET /api/v1/object/?limit=1000: the reply is not a list',
    );
  });
});
