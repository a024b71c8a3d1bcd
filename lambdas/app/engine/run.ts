/** What every engine step shares: finding its run, and the target sets its rows' requirements name. */
import { NotFoundError } from '../../domain/errors.js';
import type { HistoryRow } from '../../domain/history.js';
import { NO_TARGET_SETS, namesTargetSet, type TargetSets } from '../../domain/requirements.js';
import type { DeploymentRun } from '../../domain/task.js';
import type { Context } from '../ports.js';

export async function loadRun(ctx: Context, runId: number): Promise<DeploymentRun> {
  const run = await ctx.repos.tasks.getRun(runId);
  if (!run) throw new NotFoundError(`Deploy task ${runId} not found`);
  return run;
}

/** The plan's target sets, read only when one of these rows names one. */
export async function targetSetsOf(ctx: Context, runId: number, rows: HistoryRow[]): Promise<TargetSets> {
  return rows.some((r) => r.requires.some(namesTargetSet))
    ? ctx.repos.plans.targetSets(runId)
    : NO_TARGET_SETS;
}
