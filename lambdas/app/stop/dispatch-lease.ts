/**
 * The dispatch lease: a batch of commands is sent only under a lease that a stop cannot overtake. Once the
 * stop is recorded no lease is granted (the batch is recorded as never started), and the stop answers only
 * after any lease taken before it has ended, so no command is sent after a stop is acknowledged.
 */
import type { CommandIntent } from '../../domain/bookkeeping.js';
import { NOT_SENT_REASON } from '../../domain/messages.js';
import type { Stage } from '../../domain/stage.js';
import type { DeploymentRun } from '../../domain/task.js';
import { closeInstance } from '../engine/stage.js';
import type { Context } from '../ports.js';

/** How long one batch may take to send; a stop waits at most this long for a send in progress. */
export const DISPATCH_LEASE_MS = 20_000;
/** A stop answers only after any send in progress has ended; it never waits longer than this. */
const STOP_ACK_WAIT_MS = DISPATCH_LEASE_MS + 2_000;

/**
 * Sends one batch under the lease; returns how many instances were sent. When a stop holds the run, the
 * batch is abandoned instead and nothing is sent.
 */
export async function sendUnderLease(
  ctx: Context,
  runId: number,
  stage: Stage,
  intent: CommandIntent,
  send: () => Promise<number>,
): Promise<number> {
  const leaseUntil = new Date(ctx.clock.now().getTime() + DISPATCH_LEASE_MS).toISOString();
  if (!(await ctx.repos.tasks.takeDispatchLease(runId, leaseUntil))) {
    await abandonBatch(ctx, runId, stage, intent);
    return 0;
  }
  try {
    return await send();
  } finally {
    await ctx.repos.tasks.releaseDispatchLease(runId);
  }
}

/** A batch that a stop kept from being sent: its rows never started. */
async function abandonBatch(ctx: Context, runId: number, stage: Stage, intent: CommandIntent): Promise<void> {
  for (const t of Object.values(intent.targets)) {
    const row = {
      deployTaskId: runId,
      stage,
      taskName: t.taskName,
      nodeId: t.nodeId,
      status: 'pending' as const,
    };
    // a row already `running` may have been sent by a crashed attempt: its own result closes it
    if (await ctx.repos.history.moveRow(row, 'skipped', { reason: NOT_SENT_REASON, skipReason: 'stopped' }))
      await closeInstance(ctx, intent, t.nodeId, false);
  }
}

/**
 * Waits (bounded) until no dispatch holds a lease, and returns when that was: from then on no command of this
 * run is sent. Waits only while a batch is being sent, which one SendCommand bounds (SEND_TIMEOUT_MS).
 */
export async function waitForDispatchToEnd(ctx: Context, run: DeploymentRun): Promise<Date> {
  const deadline = ctx.clock.now().getTime() + STOP_ACK_WAIT_MS;
  let current: DeploymentRun | null = run;
  while (current?.dispatchLeaseUntil && Date.parse(current.dispatchLeaseUntil) > ctx.clock.now().getTime()) {
    if (ctx.clock.now().getTime() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
    current = await ctx.repos.tasks.getRun(run.id);
  }
  return ctx.clock.now();
}
