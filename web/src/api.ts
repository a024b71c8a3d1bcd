/**
 * The UI's one way to the service: the public API under /api/v1 with the operator's X-Auth-Token (kept in
 * the browser's session storage), the Keystone-compatible login, and lists read page by page.
 */
import type { ErrorJson } from '../../lambdas/api/wire.js';

const TOKEN_KEY = 'fuel-token';
const NEXT_MARKER = 'X-Next-Marker';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: ErrorJson['errors'] = [],
  ) {
    super(message);
  }
}

let unauthorized: (message: string) => void = () => {};

/** Who to tell when the service answers 401 (the token expired or is wrong): the login screen. */
export function onUnauthorized(listener: (message: string) => void): void {
  unauthorized = listener;
}

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as Partial<ErrorJson> | null;
  const message = body?.message ?? `${res.status} ${res.statusText}`;
  return new ApiError(res.status, message, body?.errors ?? []);
}

export interface Reply<T> {
  body: T;
  /** The marker of the next page of a list, or null at its end. */
  next: string | null;
  headers: Headers;
}

export interface RequestOptions {
  /** Aborts the request (a reading nobody waits for any more). */
  signal?: AbortSignal;
  /** A 401 is only this request's answer: the session is not refused (checking a token given by hand). */
  quiet401?: boolean;
}

/** One request to `/api/v1{path}`; a 4xx or 5xx is an ApiError with the service's message. */
export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  options: RequestOptions = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { Accept: 'application/json', 'X-Auth-Token': token.get() ?? '' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: options.signal,
  });
  if (!res.ok) {
    const error = await errorOf(res);
    if (res.status === 401 && options.quiet401 !== true) unauthorized(error.message);
    throw error;
  }
  const text = res.status === 204 ? '' : await res.text();
  return {
    body: (text === '' ? null : JSON.parse(text)) as T,
    next: res.headers.get(NEXT_MARKER),
    headers: res.headers,
  };
}

export const api = {
  get: async <T>(path: string, signal?: AbortSignal): Promise<T> =>
    (await request<T>('GET', path, undefined, { signal })).body,
  put: async <T>(path: string, body: unknown = {}): Promise<T> => (await request<T>('PUT', path, body)).body,
  post: async <T>(path: string, body: unknown): Promise<T> => (await request<T>('POST', path, body)).body,
  delete: async <T>(path: string): Promise<T> => (await request<T>('DELETE', path)).body,
};

/** Adds `params` (those not undefined) to a path's query string. */
export function withQuery(path: string, params: Record<string, string | number | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, String(value));
  const text = query.toString();
  return text === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${text}`;
}

/** One page of a list: `limit` entries at most from `marker` (none: the first page), and the next page's marker. */
export async function readPage<T>(
  path: string,
  marker: string | undefined,
  limit: number,
  signal?: AbortSignal,
): Promise<{ items: T[]; next: string | null }> {
  const page = await request<T[]>('GET', withQuery(path, { limit, marker }), undefined, { signal });
  return { items: page.body, next: page.next };
}

/** Turns what was thrown into an Error (the message is what the UI shows). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** True for the error of a request that was aborted (its reading is not wanted any more). */
export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

/** Logs in through the Keystone-compatible endpoint; the token is kept for this browser tab. */
export async function login(username: string, password: string): Promise<void> {
  const res = await fetch('/keystone/v2.0/tokens', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ auth: { passwordCredentials: { username, password }, tenantName: 'admin' } }),
  });
  if (res.status === 401) throw new ApiError(401, 'Wrong user name or password.');
  if (!res.ok) throw await errorOf(res);
  const reply = (await res.json()) as { access: { token: { id: string } } };
  token.set(reply.access.token.id);
}

/** Checks a token given by hand (the service's static token, or one issued elsewhere) and keeps it. */
export async function acceptToken(value: string): Promise<void> {
  token.set(value);
  try {
    // the 401 of a mistyped token is this form's answer, not a refused session
    await request('GET', '/clusters/', undefined, { quiet401: true });
  } catch (err) {
    token.clear();
    if (err instanceof ApiError && err.status === 401) throw new ApiError(401, 'This token is not valid.');
    throw err;
  }
}
