/** The Nailgun API behind API Gateway (HTTP API, payload 2.0): one router, the service's use cases. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { UI_HTML } from '../../web/ui.js';
import { createRouter } from '../api/router.js';
import { nailgunRoutes } from '../api/routes.js';
import type { Context } from '../app/ports.js';
import { createService } from '../app/service.js';
import { adminPassword, contextFromEnv, secretToken, tokenSigningKey } from './env.js';
import { toHttpRequest } from './http-event.js';
import { once } from './payload.js';

export interface ApiDeps {
  context: Context;
  /** The static token (X-Auth-Token). */
  authToken: () => Promise<string>;
  /** The key that signs the tokens the Keystone-compatible login issues, and verifies them. */
  signingKey: () => Promise<string>;
  /** The Keystone-compatible login's admin user and password. */
  admin: { user: string; password: () => Promise<string> };
  log?: (err: unknown) => void;
}

export function apiHandler(deps: () => ApiDeps) {
  const router = once(() => {
    const d = deps();
    const login = {
      user: d.admin.user,
      password: d.admin.password,
      signingKey: d.signingKey,
      staticToken: d.authToken,
    };
    return createRouter(nailgunRoutes(createService(d.context), login), {
      authToken: d.authToken,
      signingKey: d.signingKey,
      principal: d.admin.user,
      log: d.log,
      pages: { '/': UI_HTML, '/index.html': UI_HTML },
    });
  });
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const res = await router()(toHttpRequest(event));
    return { statusCode: res.status, headers: res.headers, body: res.body };
  };
}

export const handler = apiHandler(() => ({
  context: contextFromEnv(),
  authToken: secretToken(),
  signingKey: tokenSigningKey(),
  admin: { user: process.env.FUEL_ADMIN_USER || 'admin', password: adminPassword() },
  log: (err) =>
    console.error(JSON.stringify({ level: 'ERROR', message: String(err), stack: (err as Error)?.stack })),
}));
