/** Deployment history (`GET transactions/{id}/deployment_history/`): a run's rows, or a stage task's. */
import type { HistoryRow } from '../../domain/history.js';
import { allPages, type Page, type PageRequest } from '../../domain/page.js';
import type { RowScope } from '../../domain/stage.js';
import type { HistoryStatus } from '../../domain/status.js';
import { stageTaskScope, type Task } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { getTask } from './tasks.js';

export interface HistoryFilter {
  nodes?: number[];
  statuses?: HistoryStatus[];
  taskNames?: string[];
}

/** Whose rows a task shows: a run (`deploy`, or a top-level run of selected nodes) all its own, a stage task its stage's. */
function sourceOf(t: Task): { runId: number; scope: RowScope } | null {
  if (t.kind === 'run') return { runId: t.id, scope: 'all' };
  if (t.kind === 'stage') return { runId: t.parentId, scope: stageTaskScope(t) };
  return null;
}

/** One page of a task's rows the filter keeps: provisioning first, then the layers in order. */
export async function historyPage(
  ctx: Context,
  taskId: number,
  filter: HistoryFilter,
  request: PageRequest,
): Promise<Page<HistoryRow>> {
  const source = sourceOf(await getTask(ctx, taskId));
  if (!source) return { items: [], next: null };
  return ctx.repos.history.rowsPage(
    source.runId,
    source.scope,
    request,
    (r) =>
      (filter.nodes === undefined || filter.nodes.includes(r.nodeId)) &&
      (filter.statuses === undefined || filter.statuses.includes(r.status)) &&
      (filter.taskNames === undefined || filter.taskNames.includes(r.taskName)),
  );
}

/** Every row of a task the filter keeps, read page by page. */
export function history(ctx: Context, taskId: number, filter: HistoryFilter): Promise<HistoryRow[]> {
  return allPages((request) => historyPage(ctx, taskId, filter, request));
}
