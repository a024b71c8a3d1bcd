/** "Check stop flag" (Step Functions task, first state of every layer). */
import { checkStop } from '../app/engine/check-stop.js';
import type { Context } from '../app/ports.js';
import { contextFromEnv } from './env.js';
import { integerField, once } from './payload.js';

export function checkStopHandler(context: () => Context) {
  const ctx = once(context);
  return async (payload: unknown) => checkStop(ctx(), { taskId: integerField(payload, 'taskId') });
}

export const handler = checkStopHandler(contextFromEnv);
