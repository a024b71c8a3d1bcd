/**
 * An execution that failed, timed out or was aborted never reached (or never completed) "Finish deployment":
 * it is finished from here (EventBridge's execution status change), so that no task stays running and the
 * cluster is unlocked. Finish is idempotent.
 */
import type { Context } from '../ports.js';
import { finish } from './finish.js';

/** EventBridge "Step Functions Execution Status Change" for the deployment state machine. */
export interface ExecutionEnded {
  status: string;
  input?: string | null;
  error?: string | null;
  cause?: string | null;
  name?: string;
}

const ENDED_WITHOUT_FINISH: Record<string, string> = {
  FAILED: 'ExecutionFailed',
  TIMED_OUT: 'ExecutionTimedOut',
  ABORTED: 'ExecutionAborted',
};

export async function executionEnded(ctx: Context, detail: ExecutionEnded): Promise<{ finished: boolean }> {
  const error = ENDED_WITHOUT_FINISH[detail.status];
  if (error === undefined) return { finished: false };
  let taskId: unknown;
  try {
    taskId = (JSON.parse(detail.input ?? 'null') as Record<string, unknown> | null)?.taskId;
  } catch {
    taskId = undefined;
  }
  if (typeof taskId !== 'number') return { finished: false };
  await finish(ctx, {
    taskId,
    failure: { Error: error, Cause: detail.cause ?? detail.error ?? `The execution ended ${detail.status}` },
  });
  return { finished: true };
}
