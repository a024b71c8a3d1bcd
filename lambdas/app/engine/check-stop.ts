/** "Check stop flag", the first state of every layer: once a stop is requested, the layer is not dispatched. */
import { isStopping } from '../../domain/stop.js';
import type { Context } from '../ports.js';
import { loadRun } from './run.js';

export async function checkStop(
  ctx: Context,
  input: { taskId: number },
): Promise<{ stopRequested: boolean }> {
  const run = await loadRun(ctx, input.taskId);
  return { stopRequested: isStopping(run.stop) };
}
