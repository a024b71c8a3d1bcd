/**
 * The security headers over real HTTP: the web UI page with a Content-Security-Policy that allows exactly
 * its inline script and style (by hash), no framing, no sniffing, no referrer; API replies with nosniff.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { UI_HTML } from '../../web/ui.js';

let runtime: Runtime;

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 1, demo: false, authToken: 'headers-token' });
});

afterAll(async () => {
  await runtime?.stop();
});

/** The CSP hash source of the page's one inline `<tag>` block, as a browser computes it. */
function hashOf(tag: 'script' | 'style'): string {
  const blocks = [...UI_HTML.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))];
  expect(blocks).toHaveLength(1);
  const digest = createHash('sha256')
    .update(blocks[0]?.[1] ?? '')
    .digest('base64');
  return `'sha256-${digest}'`;
}

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

describe('the web UI page', () => {
  it.each(['/', '/index.html'])('%s is sent with a strict Content-Security-Policy', async (path) => {
    const res = await fetch(`${runtime.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(UI_HTML);

    const policy = res.headers.get('content-security-policy') ?? '';
    expect(policy).not.toContain('unsafe-inline');
    expect(policy).not.toContain('unsafe-eval');
    const csp = directives(policy);
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual([hashOf('script')]);
    expect(csp.get('style-src')).toEqual([hashOf('style')]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);

    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('uses no inline event handlers or style attributes the policy would block', () => {
    expect(UI_HTML).not.toMatch(/\son[a-z]+\s*=/i);
    expect(UI_HTML).not.toMatch(/\sstyle\s*=/i);
    expect(UI_HTML).not.toMatch(/<script\s[^>]*src/i);
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
