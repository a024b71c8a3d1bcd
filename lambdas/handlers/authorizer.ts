/**
 * The API Gateway (HTTP API, payload 2.0, simple responses) Lambda authorizer in front of every protected
 * route: a request goes through when its X-Auth-Token is the static token or an issued token (signed with
 * the signing key) that has not expired. The API function checks the token again.
 *
 * It imports neither env.ts nor factories.ts on purpose: they bring the store, the engine, zod and three
 * more AWS SDK clients into a function that runs before every request.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { type AuthorizerDecision, authorizeToken, cachedFor } from '../api/auth.js';

export interface AuthorizerDeps {
  /** The static token. */
  authToken: () => Promise<string>;
  /** The key the tokens the Keystone-compatible login issues are signed with. */
  signingKey: () => Promise<string>;
  /** The user the static token stands for. */
  admin: string;
  now: () => Date;
}

export function authorizerHandler(deps: () => AuthorizerDeps) {
  let d: AuthorizerDeps | undefined;
  return async (event: APIGatewayRequestAuthorizerEventV2): Promise<AuthorizerDecision> => {
    d ??= deps();
    const header = Object.entries(event.headers ?? {}).find(
      ([name]) => name.toLowerCase() === 'x-auth-token',
    );
    const [staticToken, signingKey] = await Promise.all([d.authToken(), d.signingKey()]);
    return authorizeToken(header?.[1], staticToken, signingKey, d.admin, d.now());
  };
}

export const handler = authorizerHandler(() => {
  const secrets = new SecretsManagerClient({});
  /** The secret whose ARN is in `variable`, kept for a few minutes in the container's memory. */
  const secret = (variable: string) => {
    const secretId = process.env[variable];
    if (!secretId) throw new Error(`Environment variable ${variable} is not set`);
    return cachedFor(async () => {
      const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (!out.SecretString) throw new Error(`The secret in ${variable} has no value`);
      return out.SecretString;
    });
  };
  return {
    authToken: secret('AUTH_TOKEN_SECRET_ARN'),
    signingKey: secret('TOKEN_SIGNING_KEY_SECRET_ARN'),
    admin: process.env.FUEL_ADMIN_USER || 'admin',
    now: () => new Date(),
  };
});
