/**
 * python-fuelclient's login: GET /api/v1/version (auth_required), the Keystone v2.0 password flow, then the
 * token flow at the same endpoint, then X-Auth-Token = access.token.id on every call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../lambdas/api/auth.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';

let runtime: Runtime;

beforeAll(async () => {
  runtime = await startRuntime({
    port: 0,
    nodeCount: 1,
    demo: false,
    authToken: 'static-token',
    signingKey: 'signing-key',
    adminUser: 'operator',
    adminPassword: 's3cret',
  });
});

afterAll(async () => {
  await runtime?.stop();
});

interface Access {
  access: {
    token: { id: string; expires: string; tenant: { id: string; name: string } };
    user: { name: string };
    serviceCatalog: unknown[];
  };
}

async function post(path: string, body: unknown) {
  const res = await fetch(`${runtime.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Access & { message?: string } };
}

describe('Keystone-compatible login', () => {
  it('logs in as python-fuelclient does and uses the issued token', async () => {
    const version = await fetch(`${runtime.url}/api/v1/version`);
    expect(version.status).toBe(200);
    expect(((await version.json()) as { auth_required: boolean }).auth_required).toBe(true);

    const password = await post('/keystone/v2.0/tokens', {
      auth: { passwordCredentials: { username: 'operator', password: 's3cret' }, tenantName: 'admin' },
    });
    expect(password.status).toBe(200);
    const first = password.body.access;
    expect(first.user.name).toBe('operator');
    expect(first.token.tenant.name).toBe('admin');
    expect(Date.parse(first.token.expires)).toBeGreaterThan(Date.now());
    expect(first.serviceCatalog).toEqual([]);

    const rescoped = await post('/keystone/v2.0/tokens', {
      auth: { token: { id: first.token.id }, tenantId: 'admin' },
    });
    expect(rescoped.status).toBe(200);
    const token = rescoped.body.access.token.id;
    // re-scoping does not extend an issued token: it expires when the password login's token does
    expect(rescoped.body.access.token.expires).toBe(first.token.expires);

    const clusters = await fetch(`${runtime.url}/api/v1/clusters/`, { headers: { 'X-Auth-Token': token } });
    expect(clusters.status).toBe(200);
    const created = await fetch(`${runtime.url}/api/v1/clusters/`, {
      method: 'POST',
      headers: { 'X-Auth-Token': token, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'via-keystone' }),
    });
    expect(created.status).toBe(201);
  });

  it('an issued token about to expire cannot be renewed through the token flow', async () => {
    const old = issueToken(
      'signing-key',
      { user: 'operator', tenant: 'admin' },
      new Date(Date.now() - 3_590_000),
    );
    const renewed = await post('/keystone/v2.0/tokens', {
      auth: { token: { id: old.id }, tenantId: 'admin' },
    });
    expect(renewed.status).toBe(200);
    expect(Date.parse(renewed.body.access.token.expires)).toBeLessThanOrEqual(Date.parse(old.expires));
    // the static token is the admin's own secret: a login with it gets a fresh hour
    const fromStatic = await post('/keystone/v2.0/tokens', { auth: { token: { id: 'static-token' } } });
    expect(Date.parse(fromStatic.body.access.token.expires)).toBeGreaterThan(Date.now() + 3_500_000);
  });

  it('refuses wrong credentials, forged and expired tokens with 401 (a token signed with the static token too)', async () => {
    const wrong = await post('/keystone/v2.0/tokens', {
      auth: { passwordCredentials: { username: 'operator', password: 'nope' }, tenantName: 'admin' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.message).toMatch(/invalid credentials/);
    const forged = issueToken('another-key', { user: 'operator', tenant: 'admin' }, new Date());
    // the static token is not the signing key: a token signed with it is forged too
    const signedWithStatic = issueToken('static-token', { user: 'operator', tenant: 'admin' }, new Date());
    const expired = issueToken(
      'signing-key',
      { user: 'operator', tenant: 'admin' },
      new Date(Date.now() - 7_200_000),
    );
    for (const id of [forged.id, signedWithStatic.id, expired.id, 'fsl1.garbage.sig']) {
      const res = await fetch(`${runtime.url}/api/v1/clusters/`, { headers: { 'X-Auth-Token': id } });
      expect(res.status, id).toBe(401);
      const rescope = await post('/keystone/v2.0/tokens', { auth: { token: { id } } });
      expect(rescope.status, id).toBe(401);
    }
    const bad = await post('/keystone/v2.0/tokens', {
      auth: { passwordCredentials: { username: 'operator' } },
    });
    expect(bad.status).toBe(400);
  });
});
