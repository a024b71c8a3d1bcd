/**
 * After a stop is recorded: commands sent but not yet delivered (their node is unreachable, or the send was
 * a moment ago) are cancelled, so that they can never start after the stop is acknowledged. Their rows end
 * `skipped` ("not started") when the cancellation is reported.
 */
import { isCommandNotStarted } from '../../domain/command-status.js';
import type { HistoryRow } from '../../domain/history.js';
import { instanceKey, rowKey } from '../../domain/stage.js';
import type { Context } from '../ports.js';

/** A command sent this recently may not have been delivered yet when a stop comes. */
const RECENT_SEND_MS = 10_000;

/** The rows of a run whose command was sent and has not reported yet. */
export async function runningRows(ctx: Context, runId: number): Promise<HistoryRow[]> {
  return (await ctx.repos.history.rows(runId, 'all')).filter((r) => r.status === 'running');
}

export async function cancelUndelivered(ctx: Context, runId: number): Promise<number> {
  const rows = await runningRows(ctx, runId);
  if (rows.length === 0) return 0;
  const offline = new Set(
    (await ctx.repos.nodes.getMany(rows.map((r) => r.nodeId))).filter((n) => !n.online).map((n) => n.id),
  );
  const recent = ctx.clock.now().getTime() - RECENT_SEND_MS;
  const suspects = new Set(
    rows
      .filter((r) => offline.has(r.nodeId) || (r.timeStart !== null && Date.parse(r.timeStart) >= recent))
      .map(rowKey),
  );
  let cancelled = 0;
  for (const stage of new Set(rows.map((r) => r.stage))) {
    for (const intent of await ctx.repos.bookkeeping.intents(runId, stage)) {
      if (intent.commandId === null) continue;
      const undelivered: string[] = [];
      for (const [instanceId, t] of Object.entries(intent.targets)) {
        if (!suspects.has(instanceKey(t.taskName, t.nodeId))) continue;
        const invocation = await ctx.commands.invocation(intent.commandId, instanceId);
        if (invocation && isCommandNotStarted(invocation.status)) undelivered.push(instanceId);
      }
      if (undelivered.length > 0) {
        await ctx.commands.cancel(intent.commandId, undelivered);
        cancelled += undelivered.length;
      }
    }
  }
  if (cancelled > 0) ctx.log('cancelled undelivered commands', { taskId: runId, cancelled });
  return cancelled;
}
