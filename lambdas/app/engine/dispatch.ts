/**
 * "Dispatch layer" (and provisioning): sends a stage's commands (SSM SendCommand) and arranges for the stage's
 * callback token to be completed when every node has reported back. Safe to run again after a crash: the
 * intents of every batch are recorded before anything is sent, and a batch whose intent already has a
 * command (or a command with its comment) is not sent again.
 */
import {
  type CommandIntent,
  commandComment,
  isStageAllIn,
  type StageState,
} from '../../domain/bookkeeping.js';
import {
  batchRows,
  commandParameters,
  DELIVERY_TIMEOUT_S,
  decideLayer,
  unfinishedOf,
} from '../../domain/dispatch.js';
import type { HistoryRow } from '../../domain/history.js';
import type { Node } from '../../domain/model.js';
import { instanceKey, isProvisionStage, rowKey, type Stage } from '../../domain/stage.js';
import { MASTER_NODE } from '../../domain/targets.js';
import { inParallel, WRITES_AT_ONCE } from '../parallel.js';
import { type Context, nowIso } from '../ports.js';
import { sendUnderLease } from '../stop/dispatch-lease.js';
import { loadRun, targetSetsOf } from './run.js';
import { addProgress, completeStage, endBatch } from './stage.js';

export interface StageInput {
  taskId: number;
  stage: Stage;
  token: string;
}

export async function dispatch(ctx: Context, input: StageInput): Promise<{ sent: number }> {
  const { taskId, stage, token } = input;
  const { bookkeeping, history } = ctx.repos;
  const { intents, fresh, planned } = await stageIntents(ctx, taskId, stage);

  const keys = new Set(
    intents.flatMap((i) => Object.values(i.targets).map((t) => instanceKey(t.taskName, t.nodeId))),
  );
  const tracked = intents.every((i) => i.tracked !== null);
  if (tracked)
    await bookkeeping.openStage(
      taskId,
      stage,
      token,
      intents.map((i) => i.batch),
    );
  else await bookkeeping.openLegacyStage(taskId, stage, token, [...keys]);
  // planned just now, every target is pending and its node was read; otherwise both are read again
  await markNodesBusy(
    ctx,
    stage,
    planned?.nodes ??
      (await ctx.repos.nodes.getMany(
        unfinishedOf(await history.rows(taskId, stage), keys).map((r) => r.nodeId),
      )),
  );

  let sent = 0;
  for (const intent of intents) {
    if (intent.commandId !== null) continue;
    const since = new Date(Date.parse(intent.createdAt) - 60_000);
    // An intent recorded by an earlier attempt may have been sent already (crash between SendCommand and its record)
    const earlier = fresh.has(intent.batch) ? null : await ctx.commands.findByComment(intent.comment, since);
    if (earlier !== null) {
      await bookkeeping.setIntentCommand(taskId, stage, intent.batch, earlier);
      continue;
    }
    const first = planned?.firstRows.get(intent.batch) ?? null;
    sent += await sendUnderLease(ctx, taskId, stage, intent, () =>
      sendBatch(ctx, taskId, stage, intent, first),
    );
  }

  // A batch whose last close found it not open yet (or that a crash left emptied but open) ends now.
  let state = await bookkeeping.getStage(taskId, stage);
  if (tracked) {
    if (await endEmptiedBatches(ctx, taskId, stage, intents, state))
      state = await bookkeeping.getStage(taskId, stage);
  } else {
    const finished = (await history.rows(taskId, stage)).filter(
      (r) => r.status !== 'pending' && r.status !== 'running',
    );
    for (const row of finished) await bookkeeping.closeLegacyInstance(taskId, stage, rowKey(row));
    state = await bookkeeping.getStage(taskId, stage);
  }
  if (isStageAllIn(state)) await completeStage(ctx, taskId, stage, token);
  ctx.log('dispatched stage', {
    taskId,
    stage,
    commands: intents.length,
    sent,
    openBatches: state.openBatches.length + state.outstanding.length,
  });
  return { sent };
}

/** Ends the open batches of the stage (as `state` has it) whose shard is empty; true if it ended one. */
async function endEmptiedBatches(
  ctx: Context,
  taskId: number,
  stage: Stage,
  intents: CommandIntent[],
  state: StageState,
): Promise<boolean> {
  const open = new Set(state.openBatches);
  if (open.size === 0) return false;
  const shards = await ctx.repos.bookkeeping.shards(taskId, stage);
  let ended = false;
  for (const intent of intents) {
    const shard = shards.get(intent.batch);
    if (open.has(intent.batch) && shard && shard.open.length === 0) {
      await endBatch(ctx, intent, shard);
      ended = true;
    }
  }
  return ended;
}

/** What planning a stage read, for the rest of the same dispatch: the nodes of its batches, each batch's first row. */
interface PlannedStage {
  intents: CommandIntent[];
  nodes: Node[];
  firstRows: Map<number, HistoryRow>;
}

/**
 * The stage is planned once: the intents of every batch are recorded before anything is sent. A dispatch that
 * crashed while recording them computes the same batches again (same rows, same failures). `planned` is set
 * when this call planned it and every intent it recorded was new.
 */
async function stageIntents(
  ctx: Context,
  taskId: number,
  stage: Stage,
): Promise<{ intents: CommandIntent[]; fresh: Set<number>; planned: PlannedStage | null }> {
  const { bookkeeping } = ctx.repos;
  const fresh = new Set<number>();
  if ((await bookkeeping.getStage(taskId, stage)).planned) {
    return { intents: await bookkeeping.intents(taskId, stage), fresh, planned: null };
  }
  const plan = await planStage(ctx, taskId, stage);
  const recorded = await inParallel(plan.intents, WRITES_AT_ONCE, (intent) =>
    bookkeeping.recordIntent(intent),
  );
  for (const { intent, created } of recorded) if (created) fresh.add(intent.batch);
  const intents = recorded.map((r) => r.intent);
  return { intents, fresh, planned: fresh.size === intents.length ? plan : null };
}

/** Skips the rows that cannot run and batches the others into command intents (not yet recorded). */
async function planStage(ctx: Context, taskId: number, stage: Stage): Promise<PlannedStage> {
  const { bookkeeping, history } = ctx.repos;
  const [run, rows, failures] = await Promise.all([
    loadRun(ctx, taskId),
    history.rows(taskId, stage),
    bookkeeping.failures(taskId),
  ]);
  const stageTaskId = isProvisionStage(stage) ? run.children.provision : run.children.deployment;
  const decision = decideLayer(rows, failures, await targetSetsOf(ctx, taskId, rows));
  // the markers first: dependents in later layers must see them even if this Lambda dies right after
  const blocked = decision.skip.filter((s) => s.kind === 'blocked');
  await inParallel(blocked, WRITES_AT_ONCE, ({ row }) =>
    bookkeeping.markFailed(taskId, { instanceKey: rowKey(row) }, 'blocked'),
  );
  const moved = await inParallel(decision.skip, WRITES_AT_ONCE, ({ row, reason, kind }) =>
    history.moveRow(row, 'skipped', { reason, skipReason: kind }),
  );
  await addProgress(ctx, taskId, stageTaskId, moved.filter(Boolean).length);
  const batches = batchRows(decision.send);
  const nodes = await ctx.repos.nodes.getMany(batches.flatMap((b) => b.rows.map((r) => r.nodeId)));
  const instanceOf = new Map(nodes.map((n) => [n.id, n.instanceId]));
  if (ctx.master.instanceId !== null) instanceOf.set(MASTER_NODE, ctx.master.instanceId);
  const firstRows = new Map(batches.map((batch, index) => [index, batch.rows[0] as HistoryRow]));
  const intents = batches.map((batch, index): CommandIntent => {
    const first = batch.rows[0] as HistoryRow;
    return {
      deployTaskId: taskId,
      stage,
      batch: index,
      comment: commandComment(taskId, stage, index),
      commandId: null,
      targets: Object.fromEntries(
        batch.rows.map((r) => [
          instanceOf.get(r.nodeId) ?? `missing-${r.nodeId}`,
          { taskName: r.taskName, nodeId: r.nodeId },
        ]),
      ),
      createdAt: nowIso(ctx),
      // one task, one command: the same on every row of the batch
      tracked: { task: { failOnError: first.failOnError, fingerprint: first.fingerprint }, stageTaskId },
    };
  });
  return { intents, nodes, firstRows };
}

/** Sends a batch's command; its first row (for the command's parameters) is read unless given. */
async function sendBatch(
  ctx: Context,
  taskId: number,
  stage: Stage,
  intent: CommandIntent,
  firstRow: HistoryRow | null,
): Promise<number> {
  const targets = Object.entries(intent.targets);
  const at = nowIso(ctx);
  await inParallel(targets, WRITES_AT_ONCE, async ([, t]) => {
    const row = {
      deployTaskId: taskId,
      stage,
      taskName: t.taskName,
      nodeId: t.nodeId,
      status: 'pending' as const,
    };
    // a node about to be provisioned keeps nothing of what ran on it before
    if (isProvisionStage(stage)) await ctx.repos.nodes.forgetLastRuns(t.nodeId);
    await ctx.repos.history.moveRow(row, 'running', { timeStart: at });
  });
  const first = targets[0];
  const row = !first
    ? null
    : (firstRow ??
      (await ctx.repos.history.getRow({
        deployTaskId: taskId,
        stage,
        taskName: first[1].taskName,
        nodeId: first[1].nodeId,
      })));
  if (!row) return 0;
  const commandId = await ctx.commands.send({
    instanceIds: targets.map(([instanceId]) => instanceId),
    parameters: commandParameters(row),
    comment: intent.comment,
    deliveryTimeoutSeconds: DELIVERY_TIMEOUT_S,
  });
  await ctx.repos.bookkeeping.setIntentCommand(taskId, stage, intent.batch, commandId);
  return targets.length;
}

/** Nodes with work in flight in this stage show it: `provisioning` or `deploying`. */
async function markNodesBusy(ctx: Context, stage: Stage, busy: Node[]): Promise<void> {
  const status = isProvisionStage(stage) ? 'provisioning' : 'deploying';
  const nodes = busy.filter((n) => n.status !== status && n.status !== 'error');
  await inParallel(nodes, WRITES_AT_ONCE, (node) =>
    ctx.repos.nodes.update(node.id, { status, errorType: null, errorMsg: null, progress: 0 }),
  );
}
