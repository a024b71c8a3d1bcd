/**
 * The HTTP API's Lambda authorizer: its decision on the X-Auth-Token (static token, issued tokens signed with
 * the signing key), the handler's event and answer shapes, and how long the secrets are kept in the container.
 */
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  authorizeToken,
  cachedFor,
  ISSUED_TOKEN_TTL_S,
  issueToken,
  SECRET_CACHE_TTL_MS,
} from '../../lambdas/api/auth.js';
import { authorizerHandler } from '../../lambdas/handlers/authorizer.js';

const SECRET = 'Zq3vLk9PmX2cR7tYw4NbH8sJd6FgA1eU5oKiM0lQ';
const KEY = 'pV7wQ2sN9xL4cT6yB1mR8kJ3hF5dG0aZeUoIiWqE';
const NOW = new Date('2025-06-01T12:00:00Z');
const later = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

const issued = (secret = KEY, at = NOW) => issueToken(secret, { user: 'operator', tenant: 'admin' }, at).id;

describe('authorizeToken', () => {
  it('accepts the static token as the admin', () => {
    expect(authorizeToken(SECRET, SECRET, KEY, 'admin', NOW)).toEqual({
      isAuthorized: true,
      context: { user: 'admin' },
    });
  });

  it('refuses a wrong token of the same length and of another length', () => {
    const sameLength = `${SECRET.slice(0, -1)}x`;
    expect(sameLength).toHaveLength(SECRET.length);
    expect(authorizeToken(sameLength, SECRET, KEY, 'admin', NOW)).toEqual({ isAuthorized: false });
    expect(authorizeToken(SECRET.slice(0, 10), SECRET, KEY, 'admin', NOW)).toEqual({ isAuthorized: false });
    expect(authorizeToken(`${SECRET}x`, SECRET, KEY, 'admin', NOW)).toEqual({ isAuthorized: false });
  });

  it('refuses a missing or empty header', () => {
    expect(authorizeToken(undefined, SECRET, KEY, 'admin', NOW)).toEqual({ isAuthorized: false });
    expect(authorizeToken('', SECRET, KEY, 'admin', NOW)).toEqual({ isAuthorized: false });
  });

  it('accepts an issued token until it expires, as the user it names', () => {
    const token = issued();
    expect(authorizeToken(token, SECRET, KEY, 'admin', NOW)).toEqual({
      isAuthorized: true,
      context: { user: 'operator' },
    });
    expect(authorizeToken(token, SECRET, KEY, 'admin', later(ISSUED_TOKEN_TTL_S - 1)).isAuthorized).toBe(
      true,
    );
    expect(authorizeToken(token, SECRET, KEY, 'admin', later(ISSUED_TOKEN_TTL_S))).toEqual({
      isAuthorized: false,
    });
    expect(authorizeToken(token, SECRET, KEY, 'admin', later(ISSUED_TOKEN_TTL_S + 3600))).toEqual({
      isAuthorized: false,
    });
  });

  it('refuses a tampered issued token', () => {
    const [version, payload, signature] = issued().split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    // a later expiry, the same signature
    const extended = Buffer.from(JSON.stringify({ ...claims, e: (claims.e as number) + 86_400 })).toString(
      'base64url',
    );
    expect(authorizeToken(`${version}.${extended}.${signature}`, SECRET, KEY, 'admin', NOW)).toEqual({
      isAuthorized: false,
    });
    // another signature character
    const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(authorizeToken(`${version}.${payload}.${flipped}`, SECRET, KEY, 'admin', NOW)).toEqual({
      isAuthorized: false,
    });
    // no signature, or another version
    expect(authorizeToken(`${version}.${payload}`, SECRET, KEY, 'admin', NOW)).toEqual({
      isAuthorized: false,
    });
    expect(authorizeToken(`fsl2.${payload}.${signature}`, SECRET, KEY, 'admin', NOW)).toEqual({
      isAuthorized: false,
    });
  });

  it('refuses a token signed with another secret', () => {
    expect(authorizeToken(issued('another-secret'), SECRET, KEY, 'admin', NOW)).toEqual({
      isAuthorized: false,
    });
  });

  it('refuses a token signed with the static token: issued tokens are signed with the signing key only', () => {
    expect(authorizeToken(issued(SECRET), SECRET, KEY, 'admin', NOW)).toEqual({ isAuthorized: false });
    // and the signing key is not a token
    expect(authorizeToken(KEY, SECRET, KEY, 'admin', NOW)).toEqual({ isAuthorized: false });
  });

  it('verifies no issued token when the signing key is the static token, or empty', () => {
    expect(authorizeToken(issued(SECRET), SECRET, SECRET, 'admin', NOW)).toEqual({ isAuthorized: false });
    expect(authorizeToken(issued(KEY), SECRET, SECRET, 'admin', NOW)).toEqual({ isAuthorized: false });
    // the static token still works
    expect(authorizeToken(SECRET, SECRET, SECRET, 'admin', NOW).isAuthorized).toBe(true);
    expect(authorizeToken(issued(KEY), SECRET, '', 'admin', NOW)).toEqual({ isAuthorized: false });
    expect(() => issueToken('', { user: 'operator', tenant: 'admin' }, NOW)).toThrow();
  });
});

function event(headers: Record<string, string> | undefined): APIGatewayRequestAuthorizerEventV2 {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:eu-west-1:123456789012:abcdef/$default/GET/api/v1/clusters',
    identitySource: Object.values(headers ?? {}),
    routeKey: 'ANY /api/{proxy+}',
    rawPath: '/api/v1/clusters/',
    rawQueryString: '',
    cookies: [],
    ...(headers ? { headers } : {}),
  } as unknown as APIGatewayRequestAuthorizerEventV2;
}

describe('authorizerHandler', () => {
  const handler = (reads: { count: number }) =>
    authorizerHandler(() => ({
      authToken: cachedFor(async () => {
        reads.count += 1;
        return SECRET;
      }),
      signingKey: cachedFor(async () => {
        reads.count += 1;
        return KEY;
      }),
      admin: 'admin',
      now: () => NOW,
    }));

  it('reads X-Auth-Token in any case and answers a simple response', async () => {
    const reads = { count: 0 };
    const authorize = handler(reads);
    await expect(authorize(event({ 'x-auth-token': SECRET }))).resolves.toEqual({
      isAuthorized: true,
      context: { user: 'admin' },
    });
    await expect(authorize(event({ 'X-Auth-Token': issued() }))).resolves.toEqual({
      isAuthorized: true,
      context: { user: 'operator' },
    });
    await expect(authorize(event({ 'x-auth-token': 'wrong' }))).resolves.toEqual({ isAuthorized: false });
    await expect(authorize(event({ authorization: SECRET }))).resolves.toEqual({ isAuthorized: false });
    await expect(authorize(event(undefined))).resolves.toEqual({ isAuthorized: false });
    // each secret once
    expect(reads.count).toBe(2);
  });

  it('fails (API Gateway answers 500) when a secret cannot be read', async () => {
    const authorize = authorizerHandler(() => ({
      authToken: async () => SECRET,
      signingKey: async () => {
        throw new Error('AccessDeniedException');
      },
      admin: 'admin',
      now: () => NOW,
    }));
    await expect(authorize(event({ 'x-auth-token': SECRET }))).rejects.toThrow('AccessDeniedException');
  });
});

describe('cachedFor (the token secret in the container)', () => {
  const reader = () => {
    const state = { reads: 0, value: 'first', fail: false };
    const read = async () => {
      state.reads += 1;
      if (state.fail) throw new Error('throttled');
      return state.value;
    };
    return { state, read };
  };

  it('keeps a few minutes by default', () => {
    expect(SECRET_CACHE_TTL_MS).toBeGreaterThanOrEqual(60_000);
    expect(SECRET_CACHE_TTL_MS).toBeLessThanOrEqual(15 * 60_000);
  });

  it('reads once within the TTL, then again', async () => {
    const { state, read } = reader();
    let now = 1_000_000;
    const secret = cachedFor(read, 300_000, () => now);
    await expect(secret()).resolves.toBe('first');
    state.value = 'rotated';
    now += 299_999;
    await expect(secret()).resolves.toBe('first');
    expect(state.reads).toBe(1);
    now += 1;
    await expect(secret()).resolves.toBe('rotated');
    expect(state.reads).toBe(2);
  });

  it('shares one read between concurrent calls', async () => {
    const { state, read } = reader();
    const secret = cachedFor(read, 300_000, () => 0);
    await expect(Promise.all([secret(), secret(), secret()])).resolves.toEqual(['first', 'first', 'first']);
    expect(state.reads).toBe(1);
  });

  it('does not keep a failed read', async () => {
    const { state, read } = reader();
    const secret = cachedFor(read, 300_000, () => 0);
    state.fail = true;
    await expect(secret()).rejects.toThrow('throttled');
    state.fail = false;
    await expect(secret()).resolves.toBe('first');
    expect(state.reads).toBe(2);
  });
});
