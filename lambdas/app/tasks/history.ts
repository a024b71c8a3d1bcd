/** Deployment history (`GET transactions/{id}/deployment_history/`): a run's rows, or a stage task's. */
import type { HistoryRow } from '../../domain/history.js';
import type { RowScope } from '../../domain/stage.js';
import type { HistoryStatus } from '../../domain/status.js';
import { stageTaskScope } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { getTask } from './tasks.js';

export interface HistoryFilter {
  nodes?: number[];
  statuses?: HistoryStatus[];
  taskNames?: string[];
}

export async function history(ctx: Context, taskId: number, filter: HistoryFilter): Promise<HistoryRow[]> {
  const t = await getTask(ctx, taskId);
  // a run (`deploy`, or a top-level run of selected nodes) shows all its rows; a stage task, its stage's
  const source: { runId: number; scope: RowScope } | null =
    t.kind === 'run'
      ? { runId: t.id, scope: 'all' }
      : t.kind === 'stage'
        ? { runId: t.parentId, scope: stageTaskScope(t) }
        : null;
  if (!source) return [];
  const rows = await ctx.repos.history.rows(source.runId, source.scope);
  // provisioning first, then the layers in order
  rows.sort((a, b) => Number(b.stage === 'provision') - Number(a.stage === 'provision'));
  return rows.filter(
    (r) =>
      (filter.nodes === undefined || filter.nodes.includes(r.nodeId)) &&
      (filter.statuses === undefined || filter.statuses.includes(r.status)) &&
      (filter.taskNames === undefined || filter.taskNames.includes(r.taskName)),
  );
}
