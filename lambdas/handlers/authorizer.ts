/**
 * The API Gateway (HTTP API, payload 2.0, simple responses) Lambda authorizer in front of every protected
 * route: a request goes through when its X-Auth-Token is the static token or an issued token that has not
 * expired. The API function checks the token again.
 *
 * It imports neither env.ts nor factories.ts on purpose: they bring the store, the engine, zod and three
 * more AWS SDK clients into a function that runs before every request.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { type AuthorizerDecision, authorizeToken, cachedFor } from '../api/auth.js';

export interface AuthorizerDeps {
  /** The static token; it also signs the tokens the Keystone-compatible login issues. */
  authToken: () => Promise<string>;
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
    return authorizeToken(header?.[1], await d.authToken(), d.admin, d.now());
  };
}

export const handler = authorizerHandler(() => {
  const secretId = process.env.AUTH_TOKEN_SECRET_ARN;
  if (!secretId) throw new Error('Environment variable AUTH_TOKEN_SECRET_ARN is not set');
  const secrets = new SecretsManagerClient({});
  return {
    // kept for a few minutes in the container's memory
    authToken: cachedFor(async () => {
      const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (!out.SecretString) throw new Error('The token secret has no value');
      return out.SecretString;
    }),
    admin: process.env.FUEL_ADMIN_USER || 'admin',
    now: () => new Date(),
  };
});
