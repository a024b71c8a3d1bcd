/**
 * Counts the DynamoDB requests the product makes, without changing how it makes them: every repository
 * reaches DynamoDB through `Table` (lambdas/store/table.ts), which sends each request through a
 * `DynamoDBDocumentClient`; the counter wraps that class's `send` for the whole process while it is
 * installed. Each request is counted by operation, by the item it writes (`pk`/`sk`), and by the Lambda
 * function it was made for: the first `lambdas/handlers/<name>.ts` frame of the call's (async) stack.
 */
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface DynamoRequest {
  at: number;
  operation: string;
  /** The handler file's name (`command-status`, `dispatch`...), `other` when no handler frame is on the stack. */
  fn: string;
  /** `pk|sk` of the item a single-item request names; null for queries and batches. */
  item: string | null;
  /** `pk|prefix` a query reads (the prefix empty for a whole partition); null for other requests. */
  query: string | null;
  /** Items a batch request carries (1 for a single-item request, 0 for a query). */
  items: number;
  write: boolean;
  /** Milliseconds from the request sent to its answer (null until answered). */
  ms: number | null;
}

const WRITES = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand', 'BatchWriteCommand']);

interface CommandLike {
  constructor: { name: string };
  input?: {
    Key?: { pk?: unknown; sk?: unknown };
    Item?: { pk?: unknown; sk?: unknown };
    RequestItems?: Record<string, unknown[]>;
    ExpressionAttributeValues?: Record<string, unknown>;
  };
}

type Send = (this: DynamoDBDocumentClient, command: unknown, ...rest: unknown[]) => Promise<unknown>;

export class DynamoCounter {
  readonly requests: DynamoRequest[] = [];
  private original: Send | null = null;

  install(): this {
    if (this.original) return this;
    const proto = DynamoDBDocumentClient.prototype as unknown as { send: Send };
    const original = proto.send;
    this.original = original;
    const requests = this.requests;
    proto.send = function (this: DynamoDBDocumentClient, command: unknown, ...rest: unknown[]) {
      const request = describe(command as CommandLike);
      requests.push(request);
      const answer = original.call(this, command, ...rest);
      const done = () => {
        request.ms = Date.now() - request.at;
      };
      answer.then(done, done);
      return answer;
    };
    return this;
  }

  uninstall(): void {
    if (!this.original) return;
    (DynamoDBDocumentClient.prototype as unknown as { send: Send }).send = this.original;
    this.original = null;
  }

  /** The requests made between two instants (epoch ms). */
  between(from: number, to: number): DynamoRequest[] {
    return this.requests.filter((r) => r.at >= from && r.at <= to);
  }

  /** The requests recorded since the last take, and forgets them. */
  take(): DynamoRequest[] {
    return this.requests.splice(0);
  }
}

function describe(command: CommandLike): DynamoRequest {
  const operation = command.constructor.name;
  const input = command.input ?? {};
  const key = input.Key ?? input.Item;
  const batch = input.RequestItems
    ? Object.values(input.RequestItems).reduce((n, l) => n + l.length, 0)
    : null;
  return {
    at: Date.now(),
    operation,
    fn: handlerOnStack(),
    item: key && typeof key.pk === 'string' ? `${key.pk}|${String(key.sk)}` : null,
    query:
      operation === 'QueryCommand'
        ? `${String(input.ExpressionAttributeValues?.[':pk'] ?? '')}|${String(input.ExpressionAttributeValues?.[':p'] ?? '')}`
        : null,
    items: batch ?? (key ? 1 : 0),
    write: WRITES.has(operation),
    ms: null,
  };
}

/** The engine step or use case that stands for a handler when the handler's own frame is not on the stack. */
const STEP_FUNCTION: Readonly<Record<string, string>> = {
  'record-result': 'command-status',
  discovery: 'discover-nodes',
  'execution-ended': 'execution-ended',
};

/**
 * The Lambda function this call runs for, from the (async) stack: the `lambdas/handlers/<name>.ts` frame,
 * else the outermost `lambdas/app/**` frame (a handler that returns its step's promise without awaiting it
 * leaves no frame of its own), else `api` for the HTTP layer; `other` when none is on the stack.
 */
function handlerOnStack(): string {
  const stack = stackFiles();
  const handler = /lambdas\/handlers\/([a-z-]+)\.ts/.exec(stack)?.[1];
  if (handler && handler !== 'compose') return handler;
  const steps = [...stack.matchAll(/lambdas\/app\/([a-z]+)\/([a-z-]+)\.ts/g)];
  const outer = steps.at(-1);
  if (outer) {
    const [, area, file] = outer as unknown as [string, string, string];
    if (area === 'engine') return STEP_FUNCTION[file] ?? file;
    if (area === 'stop') return 'stop';
    return 'api';
  }
  if (stack.includes('lambdas/api/')) return 'api';
  return 'other';
}

/**
 * The file names of the (async) stack's frames, one a line: read from V8's call sites as they are, without
 * the source-mapped text of a stack trace, which would cost the measured process a millisecond a request.
 */
function stackFiles(): string {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  Error.stackTraceLimit = 80;
  Error.prepareStackTrace = (_error, sites) => sites.map((site) => site.getFileName() ?? '').join('\n');
  try {
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder);
    return typeof holder.stack === 'string' ? holder.stack : '';
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
}

export interface RequestSummary {
  total: number;
  byOperation: Record<string, number>;
  byFunction: Record<string, number>;
  writes: number;
}

export function summarize(requests: DynamoRequest[]): RequestSummary {
  const byOperation: Record<string, number> = {};
  const byFunction: Record<string, number> = {};
  for (const r of requests) {
    const op = r.operation.replace(/Command$/, '');
    byOperation[op] = (byOperation[op] ?? 0) + 1;
    byFunction[r.fn] = (byFunction[r.fn] ?? 0) + 1;
  }
  return { total: requests.length, byOperation, byFunction, writes: requests.filter((r) => r.write).length };
}

/** The item written most often, and how often, within each window (e.g. a layer). */
export function hottestItem(requests: DynamoRequest[]): { item: string; writes: number } | null {
  const counts = new Map<string, number>();
  for (const r of requests) if (r.write && r.item) counts.set(r.item, (counts.get(r.item) ?? 0) + 1);
  let best: { item: string; writes: number } | null = null;
  for (const [item, writes] of counts) if (!best || writes > best.writes) best = { item, writes };
  return best;
}
