/**
 * History rows: one item per (run, stage, task, node), under the run's partition. The stage is part of the
 * sort key, so one Query returns one layer, the provisioning rows, or all of them. A row moves only along
 * the transitions of domain/status.ts, by a write conditional on the status it was read in.
 */
import { z } from 'zod';
import { COMMAND_STATUSES } from '../domain/command-status.js';
import { TASK_TYPES } from '../domain/graph.js';
import type { HistoryRow, RowMove, RowRef } from '../domain/history.js';
import type { Page, PageRequest } from '../domain/page.js';
import { isProvisionStage, layerOf, type RowScope, type Stage } from '../domain/stage.js';
import { canMoveHistory, HISTORY_STATUSES, type HistoryStatus, NODE_ERROR_TYPES } from '../domain/status.js';
import { SYNC_NODE } from '../domain/targets.js';
import { upgradedRow } from './legacy.js';
import {
  decodeMarker,
  encodeMarker,
  held,
  type Item,
  type Key,
  pad,
  parseItem,
  type Table,
} from './table.js';

export function runPk(runId: number): string {
  return `TX#${pad(runId)}`;
}

/** The sort-key part that orders a stage: provisioning first, then layers by index. */
export function stageSortKey(stage: Stage): string {
  return isProvisionStage(stage) ? 'P#' : `L${pad(layerOf(stage), 6)}#`;
}

const ROW_PREFIX = 'ROW#';

function scopePrefix(scope: RowScope): string {
  if (scope === 'all') return ROW_PREFIX;
  if (scope === 'layers') return `${ROW_PREFIX}L`;
  return `${ROW_PREFIX}${stageSortKey(scope)}`;
}

/** The sort-key parts of a scope as the API pages them: the provisioning rows first, then the layers. */
function pageParts(scope: RowScope): string[] {
  if (scope === 'all') return [`${ROW_PREFIX}P#`, `${ROW_PREFIX}L`];
  return [scopePrefix(scope)];
}

const stageSchema = z.string().regex(/^(provision|layer-(0|[1-9]\d*))$/) as unknown as z.ZodType<Stage>;

const rowSchema = z.object({
  deployTaskId: z.number().int(),
  stage: stageSchema,
  taskName: z.string(),
  taskType: z.enum(TASK_TYPES).default('shell'),
  nodeId: z.number().int(),
  status: z.enum(HISTORY_STATUSES),
  timeStart: z.string().nullable(),
  timeEnd: z.string().nullable(),
  cmd: z.string(),
  timeout: z.number(),
  retries: z.number(),
  interval: z.number().default(0),
  failOnError: z.boolean(),
  requires: z.array(z.string()),
  layer: z.number().int().nullable(),
  order: z.number().int().nullable().default(null),
  noop: z
    .object({ kind: z.enum(['condition', 'noop']), reason: z.string() })
    .nullable()
    .default(null),
  fingerprint: z.string().nullable(),
  unchanged: z.boolean(),
  command: z
    .object({
      commandId: z.string(),
      instanceId: z.string(),
      ssmStatus: z.enum(COMMAND_STATUSES),
      statusDetails: z.string(),
      exitCode: z.number().nullable(),
      outputTail: z.string(),
      errorTail: z.string(),
    })
    .nullable(),
  skipReason: z
    .enum(['unchanged', 'fail_on_error', 'blocked', 'stopped', 'aborted', 'condition', 'noop'])
    .nullable(),
  reason: z.string().nullable(),
  errorType: z.enum(NODE_ERROR_TYPES).nullable(),
  cancelledByStop: z.boolean(),
});

const historyCodec = {
  key: (ref: RowRef): Key => ({
    pk: runPk(ref.deployTaskId),
    sk: `${ROW_PREFIX}${stageSortKey(ref.stage)}${ref.taskName}#${ref.nodeId === SYNC_NODE ? 'sync' : pad(ref.nodeId)}`,
  }),
  toItem: (row: HistoryRow): Item => ({ ...historyCodec.key(row), entity: 'history', ...row }),
  fromItem: (item: Item): HistoryRow => parseItem(rowSchema, upgradedRow(item)),
};

export class DynamoHistory {
  constructor(private readonly table: Table) {}

  async putRows(rows: HistoryRow[]): Promise<void> {
    await this.table.putMany(rows.map(historyCodec.toItem));
  }

  /** A run's rows in `scope`, in sort-key order (provisioning, then each layer). */
  async rows(runId: number, scope: RowScope): Promise<HistoryRow[]> {
    return (await this.table.query(runPk(runId), scopePrefix(scope))).map(historyCodec.fromItem);
  }

  /**
   * One page of a run's rows in `scope` that `accept` keeps: provisioning first, then the layers in order
   * (within each, by task name and node), one Query after another of the run's partition.
   */
  async rowsPage(
    runId: number,
    scope: RowScope,
    request: PageRequest,
    accept: (row: HistoryRow) => boolean = () => true,
  ): Promise<Page<HistoryRow>> {
    const pk = runPk(runId);
    const parts = pageParts(scope);
    let after = request.marker === null ? null : decodeMarker(request.marker, { pk, prefixes: parts });
    const first = after === null ? 0 : parts.findIndex((p) => after?.sk.startsWith(p));
    const items: HistoryRow[] = [];
    for (const [index, prefix] of parts.entries()) {
      if (index < first) continue;
      const page = await this.table.queryPage({ pk, prefix, after }, request.limit - items.length, (read) =>
        read.map((item) => {
          const row = historyCodec.fromItem(item);
          return accept(row) ? row : null;
        }),
      );
      items.push(...page.items);
      if (page.next !== null) return { items, next: encodeMarker(page.next) };
      after = null;
      const following = parts[index + 1];
      // full at the end of a part: the next page starts before the first row of the next part
      if (items.length === request.limit)
        return { items, next: following === undefined ? null : encodeMarker({ pk, sk: following }) };
    }
    return { items, next: null };
  }

  async getRow(ref: RowRef): Promise<HistoryRow | null> {
    const item = await this.table.get(historyCodec.key(ref));
    return item ? historyCodec.fromItem(item) : null;
  }

  /**
   * Moves a row from the status it was read in (`row.status`) to `to`, if the transition is legal and the row
   * is still in that status. Returns false when it had moved already (a duplicate event or a retried Lambda).
   */
  async moveRow(
    row: RowRef & { status: HistoryStatus },
    to: HistoryStatus,
    patch: RowMove = {},
  ): Promise<boolean> {
    if (!canMoveHistory(row.status, to)) return false;
    return held(
      this.table.update(
        historyCodec.key(row),
        { ...patch, status: to },
        { expr: '#status = :from', names: { '#status': 'status' }, values: { ':from': row.status } },
      ),
    );
  }
}
