/** The one HTTP client of the command line; it reads the API's wire types (lambdas/api/wire.ts). */
import { NEXT_MARKER_HEADER } from '../lambdas/api/wire.js';
import { Failure, messageOf } from './command.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Api {
  /** Sends a JSON request to `/api/v1<path>` and returns the parsed reply; any non-2xx is a Failure. */
  call<T>(method: Method, path: string, body?: unknown): Promise<T>;
  /**
   * GETs a paged list (`/api/v1<path>`, a path with or without a query) page by page, following each page's
   * `X-Next-Marker`, until its end or, with `max`, until `max` entries.
   */
  list<T>(path: string, max?: number): Promise<T[]>;
}

/** The entries the CLI asks for in one page (the API's largest page). */
export const PAGE_SIZE = 1000;

/** A wait longer than any reply of the API (a stop answers once dispatch has ended, within seconds). */
const TIMEOUT_MS = 60_000;

export function createApi(url: string, token: string): Api {
  async function send(
    method: Method,
    path: string,
    body?: unknown,
  ): Promise<{ parsed: unknown; res: Response }> {
    const fullPath = `/api/v1${path}`;
    let res: Response;
    try {
      res = await fetch(`${url}${fullPath}`, {
        method,
        headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new Failure(unreachable(url, err));
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      if (res.ok) throw new Failure(`${method} ${fullPath}: ${res.status} the reply is not JSON`);
    }
    if (!res.ok) {
      const message =
        isObject(parsed) && typeof parsed.message === 'string'
          ? parsed.message
          : text.trim().slice(0, 200) || res.statusText;
      throw new Failure(`${method} ${fullPath}: ${res.status} ${message}`);
    }
    return { parsed, res };
  }
  return {
    async call<T>(method: Method, path: string, body?: unknown): Promise<T> {
      return (await send(method, path, body)).parsed as T;
    },
    async list<T>(path: string, max?: number): Promise<T[]> {
      const items: T[] = [];
      const sep = path.includes('?') ? '&' : '?';
      let marker: string | null = null;
      do {
        const limit = Math.min(PAGE_SIZE, max === undefined ? PAGE_SIZE : max - items.length);
        const page = `${path}${sep}limit=${limit}${marker === null ? '' : `&marker=${encodeURIComponent(marker)}`}`;
        const { parsed, res } = await send('GET', page);
        if (!Array.isArray(parsed)) throw new Failure(`GET /api/v1${page}: the reply is not a list`);
        items.push(...(parsed as T[]).slice(0, limit));
        marker = res.headers.get(NEXT_MARKER_HEADER);
      } while (marker !== null && (max === undefined || items.length < max));
      return items;
    },
  };
}

function unreachable(url: string, err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') {
    return `no answer from the Fuel API at ${url} within ${TIMEOUT_MS / 1000} s`;
  }
  const cause = err instanceof Error ? err.cause : undefined;
  const why = isObject(cause) && typeof cause.code === 'string' ? cause.code : messageOf(cause ?? err);
  return `cannot reach the Fuel API at ${url} (${why}); is it running? Set --url or FUEL_API_URL`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** `?a=1&b=x,y` from the defined parameters; lists are comma-separated, as Nailgun reads them. */
export function query(params: Record<string, string | number | readonly (string | number)[] | undefined>) {
  const parts = Object.entries(params)
    .filter(
      (entry): entry is [string, string | number | readonly (string | number)[]] => entry[1] !== undefined,
    )
    .map(([key, value]) => {
      const items = Array.isArray(value) ? value : [value];
      return `${key}=${items.map((item) => encodeURIComponent(String(item))).join(',')}`;
    });
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}
