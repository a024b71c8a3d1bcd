/** "Dispatch layer" and provisioning (Step Functions task with `.waitForTaskToken`). */
import { dispatch } from '../app/engine/dispatch.js';
import type { Context } from '../app/ports.js';
import { contextFromEnv } from './env.js';
import { integerField, once, stageField, stringField } from './payload.js';

export function dispatchHandler(context: () => Context) {
  const ctx = once(context);
  return async (payload: unknown) =>
    dispatch(ctx(), {
      taskId: integerField(payload, 'taskId'),
      stage: stageField(payload, 'stage'),
      token: stringField(payload, 'token'),
    });
}

export const handler = dispatchHandler(contextFromEnv);
