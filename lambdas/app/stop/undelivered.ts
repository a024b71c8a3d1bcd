/**
 * After a stop is recorded: commands sent but not yet delivered (their node is unreachable, or the send was
 * a moment before the stop) are cancelled, so that they never start. Their rows end `skipped` ("not
 * started") when the cancellation is reported. One `ListCommandInvocations` per command (a command is a
 * batch of up to 50 nodes), a few commands at a time.
 */
import { isCommandNotStarted } from '../../domain/command-status.js';
import type { HistoryRow } from '../../domain/history.js';
import { instanceKey, rowKey } from '../../domain/stage.js';
import type { DeploymentRun } from '../../domain/task.js';
import { inParallel, SSM_CALLS_AT_ONCE } from '../parallel.js';
import type { Context } from '../ports.js';

/** A command sent this long before the stop (or after it) may not have been delivered yet. */
const RECENT_SEND_MS = 10_000;

/**
 * The rows of a run whose command was sent and has not reported yet: all in the stage opened last (a stage
 * opens only once every instance of the one before it has reported), so only its rows are read.
 */
export async function runningRows(ctx: Context, runId: number): Promise<HistoryRow[]> {
  const stage = await ctx.repos.bookkeeping.currentStage(runId);
  if (stage === null) return [];
  return (await ctx.repos.history.rows(runId, stage)).filter((r) => r.status === 'running');
}

/** The commands of these rows, each with the instances it was sent to for them. */
export async function commandsOf(
  ctx: Context,
  runId: number,
  rows: HistoryRow[],
): Promise<{ commandId: string; instanceIds: string[] }[]> {
  const keys = new Set(rows.map(rowKey));
  const found: { commandId: string; instanceIds: string[] }[] = [];
  for (const stage of new Set(rows.map((r) => r.stage))) {
    for (const intent of await ctx.repos.bookkeeping.intents(runId, stage)) {
      if (intent.commandId === null) continue;
      const instanceIds = Object.entries(intent.targets)
        .filter(([, t]) => keys.has(instanceKey(t.taskName, t.nodeId)))
        .map(([instanceId]) => instanceId);
      if (instanceIds.length > 0) found.push({ commandId: intent.commandId, instanceIds });
    }
  }
  return found;
}

/** Cancels the commands of a stopping run that were sent and never delivered; says how many it looked at. */
export async function cancelUndelivered(
  ctx: Context,
  run: DeploymentRun,
  stopAt: Date,
): Promise<{ checked: number; cancelled: number }> {
  const rows = await runningRows(ctx, run.id);
  if (rows.length === 0) return { checked: 0, cancelled: 0 };
  const offline = new Set(
    (await ctx.repos.nodes.getMany(rows.map((r) => r.nodeId))).filter((n) => !n.online).map((n) => n.id),
  );
  const recent = stopAt.getTime() - RECENT_SEND_MS;
  const suspects = rows.filter(
    (r) => offline.has(r.nodeId) || (r.timeStart !== null && Date.parse(r.timeStart) >= recent),
  );
  const commands = await commandsOf(ctx, run.id, suspects);
  const counts = await inParallel(commands, SSM_CALLS_AT_ONCE, async ({ commandId, instanceIds }) => {
    const wanted = new Set(instanceIds);
    const undelivered = (await ctx.commands.invocations(commandId))
      .filter((i) => wanted.has(i.instanceId) && isCommandNotStarted(i.status))
      .map((i) => i.instanceId);
    if (undelivered.length > 0) await ctx.commands.cancel(commandId, undelivered);
    return { checked: instanceIds.length, cancelled: undelivered.length };
  });
  const total = counts.reduce(
    (a, c) => ({ checked: a.checked + c.checked, cancelled: a.cancelled + c.cancelled }),
    {
      checked: 0,
      cancelled: 0,
    },
  );
  if (total.cancelled > 0) ctx.log('cancelled undelivered commands', { taskId: run.id, ...total });
  return total;
}
