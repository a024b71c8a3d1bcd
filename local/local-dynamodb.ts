/** DynamoDB for the embedded runtime and the tests: dynalite on a loopback port, with the service's table. */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import type { Chaos } from './chaos.js';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
export const TABLE_NAME = 'fuel';

export interface LocalDynamoDb {
  url: string;
  client: DynamoDBClient;
  tableName: string;
  close(): Promise<void>;
}

/**
 * Answers a request with DynamoDB's throttling error instead of handing it to dynalite, as an on-demand table
 * may past its throughput (chaos.ts); the SDK retries it. Table creation is never throttled.
 */
function throttled(server: Server, chaos: Chaos): void {
  const [dynaliteHandler] = server.listeners('request') as ((
    req: IncomingMessage,
    res: ServerResponse,
  ) => void)[];
  if (!dynaliteHandler) throw new Error('dynalite has no request handler');
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (
      !target.endsWith('.CreateTable') &&
      chaos.chance('throttling', chaos.rates.throttled, 'DynamoDB requests throttled')
    ) {
      const body = JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
        message: 'Throughput exceeds the current capacity of your table or index.',
      });
      req.resume();
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    dynaliteHandler(req, res);
  });
}

/** Starts dynalite (in memory, or in `dataDir`) and creates the table unless it exists. */
export async function startLocalDynamoDb(
  options: { host?: string; dataDir?: string; chaos?: Chaos } = {},
): Promise<LocalDynamoDb> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.dataDir ? { path: options.dataDir } : {}),
  });
  if (options.chaos) throttled(server, options.chaos);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint: url, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: TABLE_NAME,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (err) {
    if ((err as Error).name !== 'ResourceInUseException') throw err;
  }
  return {
    url,
    client,
    tableName: TABLE_NAME,
    close: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        server.close(() => resolve());
      }),
  };
}
