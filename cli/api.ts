/** The one HTTP client of the command line; it reads the API's wire types (lambdas/api/wire.ts). */
import { Failure, messageOf } from './command.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Api {
  /** Sends a JSON request to `/api/v1<path>` and returns the parsed reply; any non-2xx is a Failure. */
  call<T>(method: Method, path: string, body?: unknown): Promise<T>;
}

/** A wait longer than any reply of the API (a stop answers once dispatch has ended, within seconds). */
const TIMEOUT_MS = 60_000;

export function createApi(url: string, token: string): Api {
  return {
    async call<T>(method: Method, path: string, body?: unknown): Promise<T> {
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
      return parsed as T;
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
