/** EventBridge "Step Functions Execution Status Change": settles what "Finish deployment" did not. */
import { type ExecutionEnded, executionEnded } from '../app/engine/execution-ended.js';
import type { Context } from '../app/ports.js';
import { contextFromEnv } from './env.js';
import { once } from './payload.js';

export interface ExecutionStatusEvent {
  detail: ExecutionEnded;
}

export function executionEndedHandler(context: () => Context) {
  const ctx = once(context);
  return async (event: ExecutionStatusEvent) => executionEnded(ctx(), event.detail);
}

export const handler = executionEndedHandler(contextFromEnv);
