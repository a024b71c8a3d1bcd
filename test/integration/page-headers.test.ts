/**
 * The security headers over real HTTP: the web UI's page (the build in web/dist, `npm run build:web`) with
 * a Content-Security-Policy that allows only its own origin's script and style files, no framing, no
 * sniffing, no referrer; its built files with their types and cache rules; API replies with nosniff.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentSecurityPolicy } from '../../lambdas/api/http.js';
import { NOT_BUILT_HTML, webFiles } from '../../lambdas/api/web-files.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';

let runtime: Runtime;
const INDEX = readFileSync(new URL('../../web/dist/index.html', import.meta.url), 'utf8');

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 1, demo: false, authToken: 'headers-token' });
});

afterAll(async () => {
  await runtime?.stop();
});

/** The policy's directives by name. */
function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0] !== '')
      .map(([name = '', ...sources]) => [name, sources]),
  );
}

/** The files the page loads: its module script and its style sheet. */
const referenced = (html: string): string[] =>
  [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1] ?? '');

describe('the web UI page', () => {
  it.each(['/', '/index.html'])('%s is sent with a strict Content-Security-Policy', async (path) => {
    const res = await fetch(`${runtime.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(INDEX);

    const policy = res.headers.get('content-security-policy') ?? '';
    expect(policy).not.toContain('unsafe-inline');
    expect(policy).not.toContain('unsafe-eval');
    const csp = directives(policy);
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('style-src')).toEqual(["'self'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);

    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-cache');
  });

  it('has no inline script, style or event handler the policy would block', () => {
    expect(INDEX).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(INDEX).not.toMatch(/<style/i);
    expect(INDEX).not.toMatch(/\son[a-z]+\s*=/i);
    expect(INDEX).not.toMatch(/\sstyle\s*=/i);
  });

  it('serves the script and style sheet the page loads, typed, cached for good (their names change with them)', async () => {
    const files = referenced(INDEX);
    expect(files.filter((f) => f.endsWith('.js'))).toHaveLength(1);
    expect(files.filter((f) => f.endsWith('.css'))).toHaveLength(1);
    for (const file of files) {
      const res = await fetch(`${runtime.url}/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(
        file.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
      );
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toBe(readFileSync(new URL(`../../web/dist/${file}`, import.meta.url), 'utf8'));
    }
    const head = await fetch(`${runtime.url}/${files[0]}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const post = await fetch(`${runtime.url}/${files[0]}`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${runtime.url}/assets/no-such-file.js`)).status).toBe(404);
  });

  it('says how to build the UI when it was not built, and serves nothing it does not know the type of', () => {
    const none = webFiles({});
    expect(none.get('/')?.body).toBe(NOT_BUILT_HTML);
    expect(none.get('/')?.body).toContain('npm run build:web');
    const some = webFiles({
      'index.html': INDEX,
      'assets/a.js': 'x',
      'assets/logo.png': 'binary',
      'notes.txt': 'y',
    });
    expect([...some.keys()].sort()).toEqual(['/', '/assets/a.js', '/index.html']);
  });

  it("allows an inline block by its hash, and 'self' only for a page that loads files", () => {
    expect(contentSecurityPolicy('<p>x</p>')).toContain("script-src 'none'; style-src 'none'");
    const inline = directives(contentSecurityPolicy('<script>1</script><style>p{}</style>'));
    expect(inline.get('script-src')).toEqual([expect.stringMatching(/^'sha256-[A-Za-z0-9+/=]+'$/)]);
    expect(inline.get('style-src')).toEqual([expect.stringMatching(/^'sha256-[A-Za-z0-9+/=]+'$/)]);
  });
});

describe('API replies', () => {
  it('are sent with X-Content-Type-Options: nosniff, errors too', async () => {
    const version = await fetch(`${runtime.url}/api/v1/version`);
    expect(version.status).toBe(200);
    expect(version.headers.get('content-type')).toBe('application/json');
    expect(version.headers.get('x-content-type-options')).toBe('nosniff');

    const clusters = await fetch(`${runtime.url}/api/v1/clusters/`, {
      headers: { 'X-Auth-Token': 'headers-token' },
    });
    expect(clusters.status).toBe(200);
    expect(clusters.headers.get('x-content-type-options')).toBe('nosniff');

    for (const [path, status] of [
      ['/api/v1/clusters/', 401],
      ['/api/v1/no-such-thing/', 404],
    ] as const) {
      const res = await fetch(`${runtime.url}${path}`);
      expect(res.status).toBe(status);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});
