/**
 * The stop function: "Stop deployment" and deleting a task behind API Gateway (lambdas/api/stop-routes.ts),
 * with its own role and reserved concurrency so that a stop gets through when the API function is saturated
 * or throttled; and the stop's follow-up (lambdas/app/stop/follow-up.ts), which a stop hands to this function
 * as an asynchronous invocation of itself, to run after the reply.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createRouter } from '../api/router.js';
import { stopRoutes } from '../api/routes.js';
import type { Context, StopJob } from '../app/ports.js';
import { createService } from '../app/service.js';
import { followUpStop } from '../app/stop/follow-up.js';
import { contextFromEnv, secretToken, tokenSigningKey } from './env.js';
import { toHttpRequest } from './http-event.js';
import { integerField, objectField, once } from './payload.js';

export interface StopDeps {
  context: Context;
  authToken: () => Promise<string>;
  /** The key that verifies issued tokens. */
  signingKey: () => Promise<string>;
  /** The user the static token stands for. */
  principal: string;
  log?: (err: unknown) => void;
}

/** The asynchronous invocation a stop makes of this function. */
export interface StopFollowUpEvent {
  stopFollowUp: StopJob;
}

function followUpOf(event: unknown): StopJob | null {
  const job = objectField(event, 'stopFollowUp');
  return job === null ? null : { runId: integerField(job, 'runId') };
}

export function stopHandler(deps: () => StopDeps) {
  const d = once(deps);
  const router = once(() =>
    createRouter(stopRoutes(createService(d().context)), {
      authToken: d().authToken,
      signingKey: d().signingKey,
      principal: d().principal,
      log: d().log,
    }),
  );
  return async (
    event: APIGatewayProxyEventV2 | StopFollowUpEvent,
  ): Promise<APIGatewayProxyStructuredResultV2 | { followedUp: boolean }> => {
    const job = followUpOf(event);
    if (job !== null) return { followedUp: (await followUpStop(d().context, job)) !== null };
    const res = await router()(toHttpRequest(event as APIGatewayProxyEventV2));
    return { statusCode: res.status, headers: res.headers, body: res.body };
  };
}

export const handler = stopHandler(() => ({
  context: contextFromEnv(),
  authToken: secretToken(),
  signingKey: tokenSigningKey(),
  principal: process.env.FUEL_ADMIN_USER || 'admin',
  log: (err) =>
    console.error(JSON.stringify({ level: 'ERROR', message: String(err), stack: (err as Error)?.stack })),
}));
