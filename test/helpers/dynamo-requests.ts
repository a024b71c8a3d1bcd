/**
 * Counts the DynamoDB requests the repositories make: every one goes through `Table`'s document client
 * (lambdas/store/table.ts), whose `send` is wrapped for the time the counter is installed. Each request is
 * recorded with its operation and the item it names (`pk`/`sk`, for single-item requests).
 */
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface DynamoRequest {
  operation: string;
  /** `pk|sk` of the item a single-item request names; null for queries and batches. */
  item: string | null;
  write: boolean;
}

const WRITES = new Set(['Put', 'Update', 'Delete', 'BatchWrite']);

type Send = (this: DynamoDBDocumentClient, command: unknown, ...rest: unknown[]) => Promise<unknown>;

interface CommandLike {
  constructor: { name: string };
  input?: { Key?: { pk?: unknown; sk?: unknown }; Item?: { pk?: unknown; sk?: unknown } };
}

export class DynamoRequests {
  requests: DynamoRequest[] = [];
  private original: Send | null = null;

  install(): this {
    if (this.original) return this;
    const proto = DynamoDBDocumentClient.prototype as unknown as { send: Send };
    const original = proto.send;
    this.original = original;
    const self = this;
    proto.send = function (this: DynamoDBDocumentClient, command: unknown, ...rest: unknown[]) {
      const c = command as CommandLike;
      const operation = c.constructor.name.replace(/Command$/, '');
      const key = c.input?.Key ?? c.input?.Item;
      self.requests.push({
        operation,
        item: key && typeof key.pk === 'string' ? `${key.pk}|${String(key.sk)}` : null,
        write: WRITES.has(operation),
      });
      return original.call(this, command, ...rest);
    };
    return this;
  }

  uninstall(): void {
    if (!this.original) return;
    (DynamoDBDocumentClient.prototype as unknown as { send: Send }).send = this.original;
    this.original = null;
  }

  /** The requests recorded since the last reset, and forgets them. */
  take(): DynamoRequest[] {
    const taken = this.requests;
    this.requests = [];
    return taken;
  }
}

/** Requests by operation (`Get`, `Update`, ...). */
export function byOperation(requests: DynamoRequest[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of requests) counts[r.operation] = (counts[r.operation] ?? 0) + 1;
  return counts;
}

/** The item written most often, with how many writes. */
export function mostWritten(requests: DynamoRequest[]): { item: string; writes: number } | null {
  const counts = new Map<string, number>();
  for (const r of requests) if (r.write && r.item) counts.set(r.item, (counts.get(r.item) ?? 0) + 1);
  let best: { item: string; writes: number } | null = null;
  for (const [item, writes] of counts) if (!best || writes > best.writes) best = { item, writes };
  return best;
}
