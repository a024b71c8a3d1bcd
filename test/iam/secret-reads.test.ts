/**
 * The one AWS call the local runtime cannot record: `secretsmanager:GetSecretValue`. On AWS the API and stop
 * functions read the token and the signing key of issued tokens (and the API the admin password) through
 * lambdas/handlers/env.ts, and the authorizer reads the token and the signing key itself; locally the runtime
 * hands the values to the handlers in-process, and the authorizer does not run (API Gateway invokes it). Here
 * the AWS handlers run as they are deployed, with a mocked SecretsManagerClient: each reads exactly the
 * secrets of its environment variables, which are the secrets its role may read (calls-allowed.test.ts
 * exempts these grants from "was called" on this ground).
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler as apiFunction } from '../../lambdas/handlers/api.js';
import { handler as authorizerFunction } from '../../lambdas/handlers/authorizer.js';
import { handler as stopFunction } from '../../lambdas/handlers/stop.js';

const TOKEN_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:AuthToken-abc123';
const KEY_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:TokenSigningKey-ghi789';
const PASSWORD_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:AdminPassword-def456';
const TOKEN = 'Zq3vLk9PmX2cR7tYw4NbH8sJd6FgA1eU5oKiM0lQ';
const KEY = 'pV7wQ2sN9xL4cT6yB1mR8kJ3hF5dG0aZeUoIiWqEpV7wQ2sN9xL4cT6yB1mR8kJ3';
const PASSWORD = 'correct-horse-battery';

const VARIABLES = {
  TABLE_NAME: 'FuelDeployment-Table',
  AUTH_TOKEN_SECRET_ARN: TOKEN_ARN,
  TOKEN_SIGNING_KEY_SECRET_ARN: KEY_ARN,
  ADMIN_PASSWORD_SECRET_ARN: PASSWORD_ARN,
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:FuelDeployment-deployment',
  SSM_DOCUMENT_NAME: 'FuelDeployment-RunTask',
  STOP_FUNCTION_NAME: 'FuelDeployment-stop',
  AWS_REGION: 'us-east-1',
};
const saved: Record<string, string | undefined> = {};

/** The secret ids the handlers asked SecretsManager for, in order; any other command fails the test. */
const reads: string[] = [];
const others: string[] = [];

beforeAll(() => {
  for (const [name, value] of Object.entries(VARIABLES)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  vi.spyOn(SecretsManagerClient.prototype, 'send').mockImplementation((async (command: unknown) => {
    if (!(command instanceof GetSecretValueCommand)) {
      others.push(String((command as object)?.constructor?.name));
      throw new Error('unexpected Secrets Manager command');
    }
    const id = String(command.input.SecretId);
    reads.push(id);
    if (id === TOKEN_ARN) return { SecretString: TOKEN };
    if (id === KEY_ARN) return { SecretString: KEY };
    if (id === PASSWORD_ARN) return { SecretString: PASSWORD };
    throw new Error(`no secret ${id}`);
  }) as never);
});

afterAll(() => {
  vi.restoreAllMocks();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

beforeEach(() => {
  reads.length = 0;
});

function httpEvent(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: {
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
    },
  } as unknown as APIGatewayProxyEventV2;
}

const statusOf = (out: unknown): number => (out as { statusCode: number }).statusCode;

/** The token the API function's login issued (test 2), for the authorizer (test 5). */
let issued = '';

describe('secretsmanager:GetSecretValue, as the deployed handlers call it', () => {
  it('the API function reads the token secret and the signing key to check X-Auth-Token', async () => {
    const out = await apiFunction(httpEvent('GET', '/api/v1/clusters/', { 'x-auth-token': 'wrong' }));
    expect(statusOf(out)).toBe(401);
    expect([...reads].sort()).toEqual([TOKEN_ARN, KEY_ARN].sort());
  });

  it("the API function reads the admin password secret (and the signing key, which signs) for Keystone's login", async () => {
    const out = await apiFunction(
      httpEvent(
        'POST',
        '/keystone/v2.0/tokens',
        {},
        { auth: { passwordCredentials: { username: 'admin', password: PASSWORD } } },
      ),
    );
    expect(statusOf(out)).toBe(200);
    // the token and the signing key were read by the first test and are kept for a few minutes
    expect([...new Set(reads)]).toEqual([PASSWORD_ARN]);
    issued = (JSON.parse(String((out as { body: string }).body)) as { access: { token: { id: string } } })
      .access.token.id;
  });

  it('the stop function reads the token secret and the signing key only', async () => {
    const out = await stopFunction(
      httpEvent('PUT', '/api/v1/clusters/1/stop_deployment/', { 'x-auth-token': 'wrong' }),
    );
    expect(statusOf(out)).toBe(401);
    expect([...reads].sort()).toEqual([TOKEN_ARN, KEY_ARN].sort());
  });

  it('the authorizer reads the token secret and the signing key only', async () => {
    const decision = await authorizerFunction({
      headers: { 'x-auth-token': TOKEN },
    } as unknown as APIGatewayRequestAuthorizerEventV2);
    expect(decision).toMatchObject({ isAuthorized: true });
    expect([...reads].sort()).toEqual([TOKEN_ARN, KEY_ARN].sort());
  });

  it('the authorizer accepts the token the API issued: both read the same signing key', async () => {
    expect(issued).toMatch(/^fsl1\./);
    const decision = await authorizerFunction({
      headers: { 'x-auth-token': issued },
    } as unknown as APIGatewayRequestAuthorizerEventV2);
    expect(decision).toEqual({ isAuthorized: true, context: { user: 'admin' } });
  });

  it('no handler sends Secrets Manager anything else', () => {
    expect(others).toEqual([]);
  });
});
