/**
 * Tokens: the static token of the deployment (X-Auth-Token), and tokens issued by the Keystone v2.0
 * compatible login that python-fuelclient uses — expiring, and signed with a signing key of their own (a
 * secret apart from the static token: knowing or rotating one says nothing about the other).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const ISSUED_TOKEN_TTL_S = 3600;

export interface Principal {
  user: string;
  tenant: string;
  /** When the issued token presented expires (epoch seconds); absent for the static token. */
  expiresAt?: number;
}

function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function equalSecrets(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  if (a.length !== b.length) {
    timingSafeEqual(b, b);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** A token for `principal` signed with `signingKey`, valid until `now + ttl`. */
export function issueToken(
  signingKey: string,
  principal: Principal,
  now: Date,
  ttlSeconds = ISSUED_TOKEN_TTL_S,
) {
  if (!signingKey) throw new Error('No key to sign tokens with');
  // a token re-scoped from an issued one keeps its expiry: issued tokens cannot be renewed forever
  const fresh = Math.floor(now.getTime() / 1000) + ttlSeconds;
  const e = principal.expiresAt === undefined ? fresh : Math.min(fresh, principal.expiresAt);
  const expires = new Date(e * 1000);
  const payload = Buffer.from(JSON.stringify({ u: principal.user, t: principal.tenant, e })).toString(
    'base64url',
  );
  return { id: `fsl1.${payload}.${sign(signingKey, payload)}`, expires: expires.toISOString() };
}

/** The principal of a valid issued token, or null (bad signature, expired, not an issued token, no key). */
export function verifyIssuedToken(signingKey: string, token: string, now: Date): Principal | null {
  if (!signingKey) return null;
  const [version, payload, signature] = token.split('.');
  if (version !== 'fsl1' || !payload || !signature || !equalSecrets(signature, sign(signingKey, payload)))
    return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      u?: unknown;
      t?: unknown;
      e?: unknown;
    };
    if (typeof claims.u !== 'string' || typeof claims.t !== 'string' || typeof claims.e !== 'number')
      return null;
    if (claims.e * 1000 <= now.getTime()) return null;
    return { user: claims.u, tenant: claims.t, expiresAt: claims.e };
  } catch {
    return null;
  }
}

/**
 * Who a request's X-Auth-Token stands for: the static token is the admin; issued tokens, verified with the
 * signing key, name their user. A token signed with the static token is refused, so a signing key that is
 * the static token (a misconfiguration: the two secrets are meant to be apart) verifies nothing.
 */
export function authenticate(
  given: string | undefined,
  staticToken: string,
  signingKey: string,
  admin: string,
  now: Date,
): Principal | null {
  if (!given) return null;
  if (equalSecrets(given, staticToken)) return { user: admin, tenant: 'admin' };
  if (signingKey === staticToken) return null;
  return verifyIssuedToken(signingKey, given, now);
}

/** The answer of the API Gateway (HTTP API, simple responses) Lambda authorizer. */
export type AuthorizerDecision = { isAuthorized: true; context: { user: string } } | { isAuthorized: false };

/**
 * The authorizer's decision on a request's X-Auth-Token, the same rule as the API's own check: the static
 * token (constant-time compare) or an issued token with a good signature (by the signing key) that has not
 * expired. Anything else, a missing or empty header included, is refused.
 */
export function authorizeToken(
  given: string | undefined,
  staticToken: string,
  signingKey: string,
  admin: string,
  now: Date,
): AuthorizerDecision {
  const who = authenticate(given, staticToken, signingKey, admin, now);
  return who ? { isAuthorized: true, context: { user: who.user } } : { isAuthorized: false };
}

/** How long a Lambda container keeps a secret (token, signing key, admin password) before it reads it again. */
export const SECRET_CACHE_TTL_MS = 5 * 60_000;

/**
 * `load`, called at most once per `ttlMs` (`now` in epoch milliseconds): calls within that time share
 * one load, concurrent ones too; a failed load is not kept, the next call tries again.
 */
export function cachedFor<T>(
  load: () => Promise<T>,
  ttlMs = SECRET_CACHE_TTL_MS,
  now: () => number = Date.now,
): () => Promise<T> {
  let cached: { value: Promise<T>; loadedAt: number } | undefined;
  return () => {
    const at = now();
    if (cached && at - cached.loadedAt < ttlMs) return cached.value;
    const entry = { value: (async () => load())(), loadedAt: at };
    cached = entry;
    entry.value.catch(() => {
      if (cached === entry) cached = undefined;
    });
    return entry.value;
  };
}
