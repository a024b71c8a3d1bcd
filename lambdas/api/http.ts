/**
 * The HTTP edge: requests and responses independent of API Gateway, the one error model, and the security
 * headers of what it sends (every reply `X-Content-Type-Options: nosniff`; a page also a Content-Security-Policy
 * that allows its own inline script and style by their hashes and nothing else, no framing, no referrer).
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ServiceError,
  TooLargeError,
  UnauthorizedError,
  ValidationError,
} from '../domain/errors.js';
import type { ErrorJson } from './wire.js';

export interface HttpRequest {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  body: string | null;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export const MAX_BODY_BYTES = 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: { field: string; message: string }[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Every reply: the browser takes the content type as sent and never guesses another. */
export const NOSNIFF = { 'x-content-type-options': 'nosniff' } as const;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...NOSNIFF, ...headers },
    body: status === 204 ? '' : JSON.stringify(body),
  };
}

/** A reply with `X-Content-Type-Options: nosniff`, whoever built it. */
export const withNosniff = (res: HttpResponse): HttpResponse =>
  'x-content-type-options' in res.headers ? res : { ...res, headers: { ...res.headers, ...NOSNIFF } };

const sha256 = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The contents of a page's inline `<tag>` blocks (a `<script src=...>` is not inline). */
function inlineBlocks(html: string, tag: 'script' | 'style'): string[] {
  const blocks: string[] = [];
  for (const match of html.matchAll(new RegExp(`<${tag}(\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'gi'))) {
    if (/\ssrc\s*=/i.test(match[1] ?? '')) continue;
    blocks.push(match[2] ?? '');
  }
  return blocks;
}

/** Whether a page loads a script (`<script src>`) or a style sheet (`<link rel="stylesheet">`) of its own. */
function loadsFiles(html: string, tag: 'script' | 'style'): boolean {
  return tag === 'script'
    ? /<script\s[^>]*\bsrc\s*=/i.test(html)
    : /<link\s[^>]*\brel\s*=\s*["']?stylesheet/i.test(html);
}

/**
 * The strictest policy a page allows: its own origin's script and style files if it loads any ('self'),
 * its inline scripts and styles by their SHA-256 hashes (no 'unsafe-inline', no eval, no inline event
 * handlers or style attributes), requests to its own origin only (the API), nothing else loaded, no
 * `<base>`, no form posts, no framing.
 */
export function contentSecurityPolicy(html: string): string {
  const sources = (tag: 'script' | 'style'): string => {
    const all = [
      ...(loadsFiles(html, tag) ? ["'self'"] : []),
      ...new Set(inlineBlocks(html, tag).map(sha256)),
    ];
    return all.length > 0 ? all.join(' ') : "'none'";
  };
  return [
    "default-src 'none'",
    `script-src ${sources('script')}`,
    `style-src ${sources('style')}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The headers a page is sent with: HTML, its Content-Security-Policy, never framed, no referrer. */
export function pageHeaders(html: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': contentSecurityPolicy(html),
    'x-frame-options': 'DENY',
    ...NOSNIFF,
    'referrer-policy': 'no-referrer',
  };
}

function errorJson(message: string, errors: ErrorJson['errors']): ErrorJson {
  return { message, errors };
}

export function errorResponse(err: unknown, log: (e: unknown) => void = () => {}): HttpResponse {
  if (err instanceof HttpError) {
    return json(err.status, errorJson(err.message, err.errors), err.headers);
  }
  if (err instanceof ServiceError) {
    const status =
      err instanceof ValidationError
        ? 400
        : err instanceof NotFoundError
          ? 404
          : err instanceof ConflictError
            ? 409
            : err instanceof ForbiddenError
              ? 403
              : err instanceof UnauthorizedError
                ? 401
                : err instanceof TooLargeError
                  ? 413
                  : 400;
    return json(status, errorJson(err.message, err.errors));
  }
  log(err);
  return json(500, errorJson('Internal error; the request may not have been applied', []));
}

/** A field's path as the service names fields too: `[0].id`, `editable.provision`, `nodes[1]`. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

/** Parses and validates a JSON body with a schema; 415 / 413 / 400 name what is wrong. */
export function parseBody<T>(req: HttpRequest, schema: z.ZodType<T>): T {
  const type = req.headers['content-type'];
  if (type && !/^application\/json\b/i.test(type) && req.body) {
    throw new HttpError(415, `Unsupported content type '${type}': send application/json`);
  }
  const raw = req.body ?? '';
  if (Buffer.byteLength(raw) > MAX_BODY_BYTES) {
    throw new HttpError(413, `Request body too large: at most ${MAX_BODY_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = raw.trim() === '' ? undefined : JSON.parse(raw);
  } catch (err) {
    throw new HttpError(400, `Malformed JSON body: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const errors = result.error.issues.map((i) => ({
      field: fieldPath(i.path) || '(body)',
      message: value === undefined && i.path.length === 0 ? 'is missing: send a JSON body' : i.message,
    }));
    throw new HttpError(
      400,
      `Invalid request body: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
      errors,
    );
  }
  return result.data;
}

/** Validates query parameters with a schema. */
export function parseQuery<T>(req: HttpRequest, schema: z.ZodType<T>): T {
  const result = schema.safeParse(req.query);
  if (!result.success) {
    const errors = result.error.issues.map((i) => ({
      field: fieldPath(i.path) || '(query)',
      message: i.message,
    }));
    throw new HttpError(
      400,
      `Invalid query: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
      errors,
    );
  }
  return result.data;
}
