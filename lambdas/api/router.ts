/**
 * One router for the Nailgun API: `/api` and `/api/v1` prefixes, trailing slash optional,
 * 404 for unknown paths, 405 with `Allow` for a known path and another method.
 */
import { z } from 'zod';
import { authenticate } from './auth.js';
import {
  errorResponse,
  HttpError,
  type HttpRequest,
  type HttpResponse,
  parseBody,
  parseQuery,
  withNosniff,
} from './http.js';
import { idParam } from './schemas.js';
import type { WebFile } from './web-files.js';

export interface RouteContext {
  req: HttpRequest;
  params: Record<string, number>;
  /** The path's text parameters (a route's `text`), as sent (percent-decoded). */
  text: Record<string, string>;
  /** Who is calling: the user the token belongs to. */
  principal: string;
}

export type RouteHandler = (ctx: RouteContext) => Promise<HttpResponse>;

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  handler: RouteHandler;
  public?: boolean;
  /** Path parameters that are names, not ids: each must match its pattern (else 400). */
  text?: Record<string, RegExp>;
  /** The query parameters it reads (the keys of its query's schema): those the OpenAPI document lists. */
  queryNames: readonly string[];
}

/** What a route declares: the schemas of its body and query, always both, and its handler of the parsed input. */
export interface RouteSpec<B, Q> {
  method: Route['method'];
  path: string;
  public?: boolean;
  /** Path parameters that are names, not ids, with the pattern each must match. */
  text?: Record<string, RegExp>;
  /** `emptyBody` for a route that takes none. */
  body: z.ZodType<B>;
  /** `noQuery` for a route without query parameters. */
  query: z.ZodType<Q>;
  handler: (ctx: RouteContext & { body: B; query: Q }) => Promise<HttpResponse>;
}

/** A route whose body (415 / 413 / 400) and query (400) are validated before its handler runs. */
export function route<B, Q>(spec: RouteSpec<B, Q>): Route {
  return {
    method: spec.method,
    path: spec.path,
    public: spec.public,
    text: spec.text,
    queryNames: spec.query instanceof z.ZodObject ? Object.keys(spec.query.shape) : [],
    handler: async (ctx) => {
      const body = parseBody(ctx.req, spec.body);
      const query = parseQuery(ctx.req, spec.query);
      return spec.handler({ ...ctx, body, query });
    },
  };
}

export interface RouterOptions {
  /** The static token: every protected route requires it, or an issued token, in `X-Auth-Token`. */
  authToken: () => Promise<string>;
  /** The key issued tokens are signed with (a secret apart from the static token). */
  signingKey: () => Promise<string>;
  /** The user the static token stands for. */
  principal?: string;
  /** The web UI's files outside `/api`, by path (web-files.ts: the page with its security headers). */
  files?: ReadonlyMap<string, WebFile>;
  log?: (err: unknown) => void;
}

/** A request path as the routes see it: without `/api` or `/api/v1`, without a trailing slash. */
export function normalize(path: string): string | null {
  if (path.startsWith('/keystone/')) return path.replace(/\/+$/, '');
  const match = /^\/api(?:\/v1)?(\/.*)?$/.exec(path);
  if (!match) return null;
  const rest = (match[1] ?? '/').replace(/\/+$/, '');
  return rest === '' ? '/' : rest;
}

export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? '';
    const g = got[i] ?? '';
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return null;
  }
  return params;
}

export function createRouter(routes: Route[], options: RouterOptions) {
  const files = options.files ?? new Map<string, WebFile>();
  return async function route(req: HttpRequest): Promise<HttpResponse> {
    try {
      try {
        decodeURIComponent(req.path);
      } catch {
        throw new HttpError(400, `Malformed percent-encoding in the path: ${req.path}`);
      }
      const file = files.get(req.path);
      if (file !== undefined) {
        const method = req.method.toUpperCase();
        if (method !== 'GET' && method !== 'HEAD') {
          throw new HttpError(
            405,
            `Method ${req.method} is not allowed on ${req.path}; allowed: GET, HEAD`,
            [],
            {
              Allow: 'GET, HEAD',
            },
          );
        }
        return { status: 200, headers: { ...file.headers }, body: method === 'HEAD' ? '' : file.body };
      }
      const path = normalize(req.path);
      if (path === null) throw new HttpError(404, `No such resource: ${req.path}`);
      const candidates = routes
        .map((r) => ({ route: r, params: matchPath(r.path, path) }))
        .filter((c): c is { route: Route; params: Record<string, string> } => c.params !== null);
      if (candidates.length === 0) throw new HttpError(404, `No such resource: ${req.path}`);
      const method = req.method.toUpperCase();
      const found = candidates.find((c) => c.route.method === method);
      if (!found) {
        const allow = [...new Set(candidates.map((c) => c.route.method))].join(', ');
        throw new HttpError(405, `Method ${method} is not allowed on ${req.path}; allowed: ${allow}`, [], {
          Allow: allow,
        });
      }
      let principal = options.principal ?? 'admin';
      if (!found.route.public) {
        const [staticToken, signingKey] = await Promise.all([options.authToken(), options.signingKey()]);
        const who = authenticate(req.headers['x-auth-token'], staticToken, signingKey, principal, new Date());
        if (!who) throw new HttpError(401, 'Authentication required: send a valid X-Auth-Token header');
        principal = who.user;
      }
      const params: Record<string, number> = {};
      const text: Record<string, string> = {};
      for (const [key, raw] of Object.entries(found.params)) {
        const pattern = found.route.text?.[key];
        if (pattern !== undefined) {
          if (!pattern.test(raw)) {
            const message = `must match ${pattern.source}`;
            throw new HttpError(400, `Invalid ${key} '${raw}' in the path: ${message}`, [
              { field: key, message },
            ]);
          }
          text[key] = raw;
          continue;
        }
        const parsed = idParam.safeParse(raw);
        if (!parsed.success) {
          throw new HttpError(
            400,
            `Invalid ${key} '${raw}' in the path: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
            [{ field: key, message: parsed.error.issues[0]?.message ?? 'invalid' }],
          );
        }
        params[key] = parsed.data;
      }
      return withNosniff(await found.route.handler({ req, params, text, principal }));
    } catch (err) {
      return errorResponse(err, options.log);
    }
  };
}
