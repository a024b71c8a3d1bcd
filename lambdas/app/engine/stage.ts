/**
 * The end of a stage: when the last outstanding instance of a stage is closed, provisioning's task ends and
 * the state machine's callback token is completed, so that the next layer (or the finish) runs.
 */
import { provisioningMessage } from '../../domain/messages.js';
import { allDone, workProgress } from '../../domain/settlement.js';
import { isProvisionStage, type Stage } from '../../domain/stage.js';
import { type Context, nowIso } from '../ports.js';
import { loadRun } from './run.js';

/** Every command of the stage has reported: provisioning ends here; the state machine moves on. */
export async function completeStage(ctx: Context, runId: number, stage: Stage, token: string): Promise<void> {
  if (isProvisionStage(stage)) {
    const run = await loadRun(ctx, runId);
    if (run.children.provision !== null) {
      const rows = await ctx.repos.history.rows(runId, stage);
      // provisioning that a stop kept from some nodes did not finish: it does not read `ready`
      await ctx.repos.tasks.finish(run.children.provision, {
        status: allDone(rows) ? 'ready' : 'error',
        progress: workProgress(rows),
        timeEnd: nowIso(ctx),
        message: provisioningMessage(rows),
      });
    }
  }
  await ctx.workflows.complete(token, { stage });
  await ctx.repos.bookkeeping.markStageCompleted(runId, stage, token);
}

/** An instance of the stage has its result: it is no longer outstanding; the last one completes the stage. */
export async function closeInstance(ctx: Context, runId: number, stage: Stage, key: string): Promise<void> {
  const state = await ctx.repos.bookkeeping.closeInstance(runId, stage, key);
  if (state && state.outstanding.length === 0 && state.token)
    await completeStage(ctx, runId, stage, state.token);
}
