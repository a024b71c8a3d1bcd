/** What every engine step shares: finding its run, counting a finished row on the run and its stage task. */
import { NotFoundError } from '../../domain/errors.js';
import { isProvisionStage, type Stage } from '../../domain/stage.js';
import type { DeploymentRun } from '../../domain/task.js';
import type { Context } from '../ports.js';

export async function loadRun(ctx: Context, runId: number): Promise<DeploymentRun> {
  const run = await ctx.repos.tasks.getRun(runId);
  if (!run) throw new NotFoundError(`Deploy task ${runId} not found`);
  return run;
}

/** One more row of the run has finished: progress of the run and of the stage task that owns the row. */
export async function countDone(ctx: Context, runId: number, stage: Stage): Promise<void> {
  const run = await loadRun(ctx, runId);
  const child = isProvisionStage(stage) ? run.children.provision : run.children.deployment;
  await ctx.repos.tasks.addDone(run.id, 1);
  if (child !== null) await ctx.repos.tasks.addDone(child, 1);
}
