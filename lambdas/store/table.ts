/**
 * The one DynamoDB table, as the repositories use it: consistent reads, paged queries, batched writes, and
 * conditional writes whose lost condition becomes a `WriteConflictError`. Keys are built by the codecs.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ValidationError, WriteConflictError } from '../domain/errors.js';
import { MAX_PAGE_SIZE } from '../domain/page.js';

export type Item = Record<string, unknown>;

export interface Key {
  pk: string;
  sk: string;
}

/** A condition on a write, with its own attribute names and values. */
export interface Condition {
  expr: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

/** Zero-padded ids keep numeric order in sort keys. */
export function pad(id: number, width = 10): string {
  return String(id).padStart(width, '0');
}

/** An item without its key attributes and entity tag. */
export function withoutKeys(item: Item): Item {
  const { pk: _pk, sk: _sk, entity: _entity, ...rest } = item;
  return rest;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** BatchWriteItem requests a bulk write keeps in flight (a plan's rows, a node's last runs). */
const BATCH_WRITES_AT_ONCE = 8;

/** Runs a conditional write; a lost condition is a WriteConflictError. */
export async function conditional<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) throw new WriteConflictError();
    throw err;
  }
}

/** True when the write held, false when its condition was lost. */
export async function held(write: Promise<unknown>): Promise<boolean> {
  try {
    await conditional(write);
    return true;
  } catch (err) {
    if (err instanceof WriteConflictError) return false;
    throw err;
  }
}

export class Table {
  readonly doc: DynamoDBDocumentClient;

  constructor(
    readonly name: string,
    client: DynamoDBClient,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }

  async get(key: Key): Promise<Item | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.name, Key: key, ConsistentRead: true }));
    return out.Item;
  }

  /** The items with these keys (those that exist), in no particular order: BatchGetItems of 100, at once. */
  async getMany(keys: Key[]): Promise<Item[]> {
    const items: Item[] = [];
    const chunks: Record<string, unknown>[][] = [];
    for (let i = 0; i < keys.length; i += 100) chunks.push(keys.slice(i, i + 100).map((k) => ({ ...k })));
    await Promise.all(
      chunks.map(async (chunk) => {
        let batch = chunk;
        while (batch.length > 0) {
          const out = await this.doc.send(
            new BatchGetCommand({ RequestItems: { [this.name]: { Keys: batch, ConsistentRead: true } } }),
          );
          items.push(...(out.Responses?.[this.name] ?? []));
          batch = (out.UnprocessedKeys?.[this.name]?.Keys ?? []) as Record<string, unknown>[];
        }
      }),
    );
    return items;
  }

  /** Every item of a partition, or of the part of it whose sort key starts with `prefix`. */
  async query(pk: string, prefix?: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.name,
          KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :p)' : 'pk = :pk',
          ExpressionAttributeValues: prefix ? { ':pk': pk, ':p': prefix } : { ':pk': pk },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * One page of the part of a partition whose sort keys start with `prefix`, in sort-key order (or reversed,
   * `forward: false`), from after the key `after`. `keep` turns the items read into entries, null for one it
   * leaves out. Reads until `limit` entries are kept, the part ends, or MAX_QUERIES_PER_PAGE Queries were sent
   * (a filter that leaves out most items gives a short page, not a long wait). `next` is the key to read on
   * after: that of the last entry kept, or of the last item read; null when the part has nothing more.
   */
  async queryPage<T>(
    part: { pk: string; prefix: string; after: Key | null; forward?: boolean },
    limit: number,
    keep: (items: Item[]) => Promise<(T | null)[]> | (T | null)[],
  ): Promise<{ items: T[]; next: Key | null }> {
    const items: T[] = [];
    let start: Key | undefined = part.after ?? undefined;
    // one item more than it looks at tells whether anything follows (that item is not looked at: read again)
    let batch = limit + 1;
    for (let queries = 1; ; queries++) {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.name,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': part.pk, ':p': part.prefix },
          ConsistentRead: true,
          ExclusiveStartKey: start,
          Limit: batch,
          ScanIndexForward: part.forward ?? true,
        }),
      );
      const read = out.Items ?? [];
      const ahead = read.length === batch;
      const looked = ahead ? read.slice(0, -1) : read;
      const kept = await keep(looked);
      for (const [i, entry] of kept.entries()) {
        if (entry === null) continue;
        items.push(entry);
        if (items.length === limit) {
          const more = i < read.length - 1 || out.LastEvaluatedKey !== undefined;
          return { items, next: more ? keyOf(looked[i] as Item) : null };
        }
      }
      const last = looked.at(-1);
      if (ahead && last) start = keyOf(last);
      else if (out.LastEvaluatedKey) start = keyOf(out.LastEvaluatedKey);
      else return { items, next: null };
      if (queries >= MAX_QUERIES_PER_PAGE) return { items, next: start };
      batch = Math.min(MAX_PAGE_SIZE, Math.max(limit - items.length + 1, batch * 2));
    }
  }

  /** Writes an item; with `onlyNew`, only if no item has its key (else WriteConflictError). */
  async put(item: Item, onlyNew = false): Promise<void> {
    const write = this.doc.send(
      new PutCommand({
        TableName: this.name,
        Item: item,
        ...(onlyNew ? { ConditionExpression: 'attribute_not_exists(pk)' } : {}),
      }),
    );
    await (onlyNew ? conditional(write) : write);
  }

  async putMany(items: Item[]): Promise<void> {
    await this.batchWrite(items.map((Item) => ({ PutRequest: { Item } })));
  }

  async deleteMany(keys: Key[]): Promise<void> {
    await this.batchWrite(keys.map((Key) => ({ DeleteRequest: { Key } })));
  }

  /**
   * BatchWriteItem in chunks of 25, a few chunks at a time (BATCH_WRITES_AT_ONCE), retrying what DynamoDB
   * left unprocessed with backoff.
   */
  private async batchWrite(all: Record<string, unknown>[]): Promise<void> {
    const chunks: Record<string, unknown>[][] = [];
    for (let i = 0; i < all.length; i += 25) chunks.push(all.slice(i, i + 25));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        let requests = chunks[next++] as Record<string, unknown>[];
        for (let attempt = 0; requests.length > 0; attempt++) {
          const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.name]: requests } }));
          requests = (out.UnprocessedItems?.[this.name] ?? []) as Record<string, unknown>[];
          if (requests.length > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_WRITES_AT_ONCE, chunks.length) }, worker));
  }

  /**
   * SET for each defined field of `patch` on an existing item, under `condition` if given; returns the item
   * as written. A missing item or a lost condition is a WriteConflictError.
   */
  async update(key: Key, patch: Record<string, unknown>, condition?: Condition): Promise<Item> {
    const set = setClause(patch);
    const names: Record<string, string> = { ...condition?.names, ...set.names };
    const values: Record<string, unknown> = { ...condition?.values, ...set.values };
    const parts = set.parts;
    const out = await conditional(
      this.doc.send(
        new UpdateCommand({
          TableName: this.name,
          Key: key,
          UpdateExpression: `SET ${parts.join(', ')}`,
          ConditionExpression: condition
            ? `attribute_exists(pk) AND (${condition.expr})`
            : 'attribute_exists(pk)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return out.Attributes ?? {};
  }

  /** As `update`, but returns the item as it was just before the write. */
  async updateReturningOld(key: Key, patch: Record<string, unknown>, condition?: Condition): Promise<Item> {
    const set = setClause(patch);
    const out = await conditional(
      this.doc.send(
        new UpdateCommand({
          TableName: this.name,
          Key: key,
          UpdateExpression: `SET ${set.parts.join(', ')}`,
          ConditionExpression: condition
            ? `attribute_exists(pk) AND (${condition.expr})`
            : 'attribute_exists(pk)',
          ExpressionAttributeNames: { ...condition?.names, ...set.names },
          ExpressionAttributeValues: { ...condition?.values, ...set.values },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    return out.Attributes ?? {};
  }

  /** An update written as an expression of its own (ADD, DELETE, nested SET); returns the item as written. */
  async updateExpression(
    key: Key,
    expression: string,
    options: { condition?: string; names?: Record<string, string>; values?: Record<string, unknown> } = {},
  ): Promise<Item> {
    const write = this.doc.send(
      new UpdateCommand({
        TableName: this.name,
        Key: key,
        UpdateExpression: expression,
        ...(options.condition ? { ConditionExpression: options.condition } : {}),
        ...(options.names ? { ExpressionAttributeNames: options.names } : {}),
        ...(options.values ? { ExpressionAttributeValues: options.values } : {}),
        ReturnValues: 'ALL_NEW',
      }),
    );
    const out = await (options.condition ? conditional(write) : write);
    return out.Attributes ?? {};
  }

  async delete(key: Key, condition?: Condition): Promise<void> {
    const write = this.doc.send(
      new DeleteCommand({
        TableName: this.name,
        Key: key,
        ...(condition
          ? {
              ConditionExpression: `attribute_exists(pk) AND (${condition.expr})`,
              ...(condition.names ? { ExpressionAttributeNames: condition.names } : {}),
              ...(condition.values ? { ExpressionAttributeValues: condition.values } : {}),
            }
          : {}),
      }),
    );
    await (condition ? conditional(write) : write);
  }

  /** Atomic counter for Nailgun's integer ids. */
  async nextId(name: 'cluster' | 'node' | 'task' | 'graph'): Promise<number> {
    const out = await this.updateExpression({ pk: 'COUNTER', sk: name }, 'ADD #v :one', {
      names: { '#v': 'value' },
      values: { ':one': 1 },
    });
    return Number(out.value);
  }
}

/** The most Queries one page of a list sends (see `Table.queryPage`). */
export const MAX_QUERIES_PER_PAGE = 8;

function keyOf(item: Record<string, unknown>): Key {
  return { pk: String(item.pk), sk: String(item.sk) };
}

/** The marker of a page that starts after `key`: base64url of its JSON, opaque to clients. */
export function encodeMarker(key: Key): string {
  return Buffer.from(JSON.stringify({ pk: key.pk, sk: key.sk }), 'utf8').toString('base64url');
}

/**
 * The key a marker stands for, if it belongs to the list read: the partition `pk`, a sort key under one of
 * `prefixes`. Any other marker is a ValidationError (400) that says so.
 */
export function decodeMarker(marker: string, list: { pk: string; prefixes: readonly string[] }): Key {
  const bad = (why: string) =>
    new ValidationError(
      `Invalid marker: ${why}; send the marker a reply of this list gave (X-Next-Marker), or none for the first page`,
      [{ field: 'marker', message: why }],
    );
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(marker))
    throw bad('it is not a marker of this service (not base64url)');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(marker, 'base64url').toString('utf8'));
  } catch {
    throw bad('it is not a marker of this service');
  }
  const key = value as Record<string, unknown>;
  if (
    typeof value !== 'object' ||
    value === null ||
    Object.keys(key).length !== 2 ||
    typeof key.pk !== 'string' ||
    typeof key.sk !== 'string'
  )
    throw bad('it is not a marker of this service');
  const sk = key.sk;
  if (key.pk !== list.pk || !list.prefixes.some((p) => sk.startsWith(p)))
    throw bad('it belongs to another list');
  return { pk: key.pk, sk };
}

/**
 * `#f<i> = :v<i>` for each defined field of `patch` (the names and values to go with them), for an update
 * expression of one's own; its placeholders do not clash with those of a `Condition`.
 */
export function setClause(patch: Record<string, unknown>): {
  parts: string[];
  names: Record<string, string>;
  values: Record<string, unknown>;
} {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const parts: string[] = [];
  for (const [i, [field, value]] of Object.entries(patch).entries()) {
    if (value === undefined) continue;
    names[`#f${i}`] = field;
    values[`:v${i}`] = value;
    parts.push(`#f${i} = :v${i}`);
  }
  return { parts, names, values };
}

/** Parses an item with a codec's schema; a stored item that does not fit is an error that names it. */
export function parseItem<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } };
  },
  item: Item,
): T {
  const result = schema.safeParse(withoutKeys(item));
  if (!result.success) {
    throw new Error(
      `Stored ${String(item.entity ?? 'item')} ${String(item.pk)}/${String(item.sk)} is invalid: ${result.error.message}`,
    );
  }
  return result.data;
}
