/** "Finish deployment" (Step Functions task, also reached by the Map's catch of a stop or a failure). */
import { finish } from '../app/engine/finish.js';
import type { Context } from '../app/ports.js';
import { contextFromEnv } from './env.js';
import { integerField, objectField, once } from './payload.js';

export function finishHandler(context: () => Context) {
  const ctx = once(context);
  return async (payload: unknown) =>
    finish(ctx(), { taskId: integerField(payload, 'taskId'), failure: objectField(payload, 'failure') });
}

export const handler = finishHandler(contextFromEnv);
