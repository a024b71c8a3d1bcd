/** "Plan deployment" (Step Functions task). */
import { plan } from '../app/engine/plan.js';
import type { Context } from '../app/ports.js';
import { contextFromEnv } from './env.js';
import { integerField, once } from './payload.js';

export function planHandler(context: () => Context) {
  const ctx = once(context);
  return async (payload: unknown) => plan(ctx(), { taskId: integerField(payload, 'taskId') });
}

export const handler = planHandler(contextFromEnv);
