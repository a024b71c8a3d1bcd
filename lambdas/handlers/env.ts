/** The context of the handlers on AWS: clients and names from the environment the CDK stack sets. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { cachedFor } from '../api/auth.js';
import { type Context, NO_MASTER } from '../app/ports.js';
import { compose } from './compose.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Environment variable ${name} is not set`);
  return value;
}

function log(message: string, data?: Record<string, unknown>): void {
  console.log(JSON.stringify({ level: 'INFO', message, ...data }));
}

export function contextFromEnv(): Context {
  return compose({
    table: { name: required('TABLE_NAME'), client: new DynamoDBClient({}) },
    ssm: { documentName: process.env.SSM_DOCUMENT_NAME ?? '', client: new SSMClient({}) },
    sfn: { stateMachineArn: process.env.STATE_MACHINE_ARN ?? '', client: new SFNClient({}) },
    lambda: { stopFunctionName: process.env.STOP_FUNCTION_NAME ?? '', client: new LambdaClient({}) },
    log,
    master: {
      instanceId: process.env.FUEL_MASTER_INSTANCE_ID || null,
      ip: process.env.FUEL_MASTER_IP || NO_MASTER.ip,
    },
  });
}

let secretsManager: SecretsManagerClient | undefined;

/** The string value of the secret whose ARN is in the environment variable `variable`. */
async function readSecret(variable: string): Promise<string> {
  secretsManager ??= new SecretsManagerClient({});
  const out = await secretsManager.send(new GetSecretValueCommand({ SecretId: required(variable) }));
  if (!out.SecretString) throw new Error(`The secret in ${variable} has no value`);
  return out.SecretString;
}

/** The static API token (X-Auth-Token), kept for a few minutes per container. */
export function secretToken(): () => Promise<string> {
  return cachedFor(() => readSecret('AUTH_TOKEN_SECRET_ARN'));
}

/** The key that signs and verifies issued tokens (a secret of its own), kept for a few minutes. */
export function tokenSigningKey(): () => Promise<string> {
  return cachedFor(() => readSecret('TOKEN_SIGNING_KEY_SECRET_ARN'));
}

/** The Keystone-compatible login's admin password (a secret of its own), kept for a few minutes. */
export function adminPassword(): () => Promise<string> {
  return cachedFor(() => readSecret('ADMIN_PASSWORD_SECRET_ARN'));
}
