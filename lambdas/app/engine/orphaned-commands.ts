/**
 * Commands left running by an orchestration that failed (a step that kept failing, an execution aborted from
 * the console or timed out): Finish cancels them and does not settle (nor unlock the cluster) until SSM
 * reports each of them ended, so a new deployment never overlaps them on a node. A node that does not answer
 * is given up on after a grace period; its row then ends in error ("no result").
 */
import { historyStatusOfInvocation } from '../../domain/command-result.js';
import type { HistoryRow } from '../../domain/history.js';
import type { DeploymentRun } from '../../domain/task.js';
import { inParallel, SSM_CALLS_AT_ONCE } from '../parallel.js';
import type { Context } from '../ports.js';
import { commandsOf } from '../stop/undelivered.js';

/** How long Finish waits for cancelled commands to end (its retries in the state machine last about as long). */
export const ORPHAN_GRACE_MS = 120_000;

/** Thrown while cancelled commands still run: the caller (a retried Finish, the watchdog) tries again. */
export class CommandsStillRunningError extends Error {
  constructor(runId: number, count: number) {
    super(
      `Deployment ${runId}: ${count} cancelled command(s) still running; the cluster stays locked until they end`,
    );
    this.name = 'CommandsStillRunning';
  }
}

export async function endCommandsStillRunning(
  ctx: Context,
  run: DeploymentRun,
  rows: HistoryRow[],
): Promise<void> {
  const running = rows.filter((r) => r.status === 'running');
  if (running.length === 0) return;
  const states = await inParallel(
    await commandsOf(ctx, run.id, running),
    SSM_CALLS_AT_ONCE,
    async ({ commandId, instanceIds }) => {
      const wanted = new Set(instanceIds);
      const live = (await ctx.commands.invocations(commandId)).filter(
        (i) => wanted.has(i.instanceId) && historyStatusOfInvocation(i.status) === null,
      );
      if (live.length > 0)
        await ctx.commands.cancel(
          commandId,
          live.map((i) => i.instanceId),
        );
      // each ends once SSM (undelivered) or its node (running) has taken the cancellation: ask again then
      return live.length;
    },
  );
  const stillRunning = states.reduce((a, n) => a + n, 0);
  if (stillRunning === 0) return;
  const since = Date.parse(run.finishingAt ?? ctx.clock.now().toISOString());
  if (ctx.clock.now().getTime() - since >= ORPHAN_GRACE_MS) {
    ctx.log('gave up waiting for cancelled commands', { taskId: run.id, stillRunning });
    return;
  }
  throw new CommandsStillRunningError(run.id, stillRunning);
}
