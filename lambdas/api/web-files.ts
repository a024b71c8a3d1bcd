/**
 * The web UI's files as the router serves them: `index.html` at `/` and `/index.html` with its security
 * headers, the built scripts and styles under `/assets/` (their names carry a content hash: cached for a
 * year). The files themselves are read by the caller (lambdas/handlers/web-dir.ts); this module is pure.
 */
import { pageHeaders } from './http.js';

export interface WebFile {
  body: string;
  headers: Record<string, string>;
}

/** The types of what the UI's build writes (Vite: HTML, JavaScript, CSS, SVG, source maps). */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.json': 'application/json',
};

const extension = (path: string): string => /\.[a-z0-9]+$/i.exec(path)?.[0].toLowerCase() ?? '';

/** Whether a built file can be served (text of a known type). */
export const servable = (path: string): boolean => extension(path) in CONTENT_TYPES;

/** What `/` says when the UI was not built (a fresh clone before `npm run build:web`). */
export const NOT_BUILT_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fuel deployments</title></head>
<body><h1>The web UI is not built</h1>
<p>Run <code>npm run build:web</code> (npm start and npm test do it), then reload. The API is at /api/v1/.</p>
</body></html>
`;

/**
 * The routes of the UI's files, from the built folder's files by their path relative to it
 * (`index.html`, `assets/index-3f2a.js`). Without an `index.html`, `/` explains how to build it.
 */
export function webFiles(files: Record<string, string>): Map<string, WebFile> {
  const served = new Map<string, WebFile>();
  for (const [path, body] of Object.entries(files)) {
    if (path === 'index.html' || !servable(path)) continue;
    const immutable = path.startsWith('assets/');
    served.set(`/${path}`, {
      body,
      headers: {
        'content-type': CONTENT_TYPES[extension(path)] ?? 'application/octet-stream',
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        'x-content-type-options': 'nosniff',
      },
    });
  }
  const index = files['index.html'] ?? NOT_BUILT_HTML;
  const page: WebFile = { body: index, headers: { ...pageHeaders(index), 'cache-control': 'no-cache' } };
  served.set('/', page);
  served.set('/index.html', page);
  return served;
}
