/**
 * A local Lambda endpoint for the one call the product makes to Lambda: `Invoke` (REST-JSON,
 * `POST /2015-03-31/functions/{name}/invocations`). `InvocationType: Event` is queued and answered 202 at
 * once, then run in-process as Lambda runs an asynchronous invocation: on failure retried twice, with a
 * pause, then handed to the function's dead-letter queue (kept here, and logged). `RequestResponse` runs
 * the handler and answers its result. An unchanged `LambdaClient` pointed at `listen()`'s URL drives it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Chaos } from '../chaos.js';
import { readBody } from '../http-body.js';

/** A handler of any event type: the endpoint hands it the parsed payload as the function's event. */
export type LambdaFunction = (event: never) => Promise<unknown>;

export interface DeadLetter {
  functionName: string;
  requestId: string;
  payload: unknown;
  error: string;
  at: string;
}

export interface LocalLambdaOptions {
  functions: Record<string, LambdaFunction>;
  /** Retries of an asynchronous invocation that failed (Lambda's default: 2). */
  retryAttempts?: number;
  /** Pause before the first retry, doubled for the next (Lambda waits about a minute, then two). */
  retryDelayMs?: number;
  log?: (line: string) => void;
  /** Attempts of asynchronous invocations that fail before the function runs, as Lambda's may (chaos.ts). */
  chaos?: Chaos;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export class LocalLambda {
  private server: Server | null = null;
  private readonly running = new Set<Promise<void>>();
  readonly deadLetters: DeadLetter[] = [];

  constructor(private readonly options: LocalLambdaOptions) {}

  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) reply(res, 500, { Type: 'Service', message: String(err) });
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const { port: bound } = server.address() as AddressInfo;
        resolve(`http://${host}:${bound}`);
      });
    });
  }

  /** Resolves when every asynchronous invocation queued so far has ended (retries and dead letters included). */
  async drained(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    }
    await this.drained();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const match = INVOKE_PATH.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      reply(res, 404, { Type: 'User', message: `No such resource: ${req.method} ${url.pathname}` });
      return;
    }
    const name = functionNameOf(decodeURIComponent(match[1] ?? ''));
    const fn = this.options.functions[name];
    if (!fn) {
      reply(res, 404, { Type: 'User', message: `Function not found: ${name}` }, 'ResourceNotFoundException');
      return;
    }
    const body = await readBody(req);
    let payload: unknown;
    try {
      payload = body === '' ? {} : JSON.parse(body);
    } catch {
      reply(
        res,
        400,
        { Type: 'User', message: 'Could not parse request body into json' },
        'InvalidRequestContentException',
      );
      return;
    }
    const requestId = randomUUID();
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (type === 'Event') {
      const run = this.runAsync(name, fn, payload, requestId).finally(() => this.running.delete(run));
      this.running.add(run);
      res.writeHead(202, { 'x-amzn-requestid': requestId });
      res.end();
      return;
    }
    try {
      const out = await fn(payload as never);
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
      res.end(JSON.stringify(out ?? null));
    } catch (err) {
      res.writeHead(200, { 'x-amz-function-error': 'Unhandled', 'x-amzn-requestid': requestId });
      res.end(JSON.stringify({ errorMessage: String(err), errorType: (err as Error)?.name ?? 'Error' }));
    }
  }

  private async runAsync(
    name: string,
    fn: LambdaFunction,
    payload: unknown,
    requestId: string,
  ): Promise<void> {
    const retries = this.options.retryAttempts ?? 2;
    const delay = this.options.retryDelayMs ?? 1000;
    let last: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, delay * 2 ** (attempt - 1)));
      try {
        const chaos = this.options.chaos;
        if (chaos?.chance('async', chaos.rates.asyncAttemptFailed, 'asynchronous invocation attempts failed'))
          throw new Error('Rate exceeded: the function was throttled (chaos)');
        await fn(payload as never);
        return;
      } catch (err) {
        last = err;
        this.options.log?.(
          `lambda ${name}: asynchronous invocation ${requestId} failed (attempt ${attempt + 1}): ${String(err)}`,
        );
      }
    }
    const letter = {
      functionName: name,
      requestId,
      payload,
      error: String(last),
      at: new Date().toISOString(),
    };
    this.deadLetters.push(letter);
    this.options.log?.(`lambda ${name}: invocation ${requestId} sent to the dead-letter queue`);
  }
}

/** A function is named by its name or its ARN (`arn:aws:lambda:<region>:<account>:function:<name>`). */
function functionNameOf(nameOrArn: string): string {
  const arn = /^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:([^:]+)/.exec(nameOrArn);
  return arn?.[1] ?? nameOrArn;
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>, type?: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    ...(type ? { 'x-amzn-errortype': type } : {}),
  });
  res.end(JSON.stringify(body));
}
