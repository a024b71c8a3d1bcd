/**
 * The HTTP shell of a local AWS JSON endpoint (protocol 1.0 or 1.1): takes `POST /` with
 * `X-Amz-Target: <Service>.<Operation>`, reads the JSON object body, runs the operation from the
 * service's table and answers its result, an AwsJsonError as `{"__type", "message"}`, or HTTP 500 for
 * anything unexpected. An unchanged AWS SDK client pointed at `listen()`'s URL drives it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AwsJsonError } from './errors.js';
import { type Body, isRecord } from './fields.js';

/** One operation: the request body in, the reply body out (or a promise of it). */
export type Operation = (body: Body) => unknown;

export interface AwsJsonServiceOptions {
  /** What `X-Amz-Target` starts with, before the dot: `AmazonSSM`, `AWSStepFunctions`. */
  targetPrefix: string;
  /** The protocol version, shown in the content type of the answers. */
  jsonVersion: '1.0' | '1.1';
  /** The operations served, by name. */
  operations: Readonly<Record<string, Operation>>;
  /** The error answered for an operation the table does not have (services name it differently). */
  unknownOperation: (operation: string) => AwsJsonError;
  /** The `__type` and message of the HTTP 500 answered for an unexpected failure. */
  internalError: { type: string; message: string };
  /** Told of every unexpected failure. */
  onUnexpected: (error: unknown) => void;
  /** Answers this request with a throttling error instead (chaos.ts), before running it. */
  throttle?: () => boolean;
}

export class AwsJsonServer {
  private server: Server | null = null;

  constructor(private readonly options: AwsJsonServiceOptions) {}

  /** Starts the endpoint; resolves with its URL, e.g. `http://127.0.0.1:41234`. */
  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server !== null) throw new Error('The endpoint is already listening');
    const server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.options.onUnexpected(error);
        const { type, message } = this.options.internalError;
        if (!response.headersSent) this.send(response, 500, { __type: type, message });
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address() as AddressInfo;
        const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`http://${shownHost}:${address.port}`);
      });
    });
  }

  /** Closes the server and every open connection. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    try {
      const body = readBody(request, Buffer.concat(chunks).toString('utf8'));
      const operation = this.operation(request);
      if (this.options.throttle?.()) throw new AwsJsonError('ThrottlingException', 'Rate exceeded');
      this.send(response, 200, await operation(body));
    } catch (error) {
      if (!(error instanceof AwsJsonError)) throw error;
      this.send(response, error.status, { __type: error.type, message: error.message });
    }
  }

  private operation(request: IncomingMessage): Operation {
    const target = String(request.headers['x-amz-target'] ?? '');
    const prefix = `${this.options.targetPrefix}.`;
    const name = target.startsWith(prefix) ? target.slice(prefix.length) : '';
    const operations = this.options.operations;
    const operation = Object.hasOwn(operations, name) ? operations[name] : undefined;
    if (operation === undefined) throw this.options.unknownOperation(name);
    return operation;
  }

  private send(response: ServerResponse, status: number, payload: unknown): void {
    const text = JSON.stringify(payload);
    response.writeHead(status, {
      'content-type': `application/x-amz-json-${this.options.jsonVersion}`,
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    response.end(text);
  }
}

function readBody(request: IncomingMessage, text: string): Body {
  if (request.method !== 'POST') throw new AwsJsonError('UnknownOperationException', 'Only POST / is served');
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      throw new AwsJsonError('SerializationException', 'The request body is not JSON');
    }
  }
  if (!isRecord(body))
    throw new AwsJsonError('SerializationException', 'The request body is not a JSON object');
  return body;
}
