/** The Nailgun API behind API Gateway (HTTP API, payload 2.0): one router, the service's use cases. */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createRouter } from '../api/router.js';
import { nailgunRoutes } from '../api/routes.js';
import { webFiles } from '../api/web-files.js';
import type { Context } from '../app/ports.js';
import { createService } from '../app/service.js';
import { adminPassword, contextFromEnv, secretToken, tokenSigningKey } from './env.js';
import { toHttpRequest } from './http-event.js';
import { once } from './payload.js';
import { readWebDir } from './web-dir.js';

export interface ApiDeps {
  context: Context;
  /** The static token (X-Auth-Token). */
  authToken: () => Promise<string>;
  /** The key that signs the tokens the Keystone-compatible login issues, and verifies them. */
  signingKey: () => Promise<string>;
  /** The Keystone-compatible login's admin user and password. */
  admin: { user: string; password: () => Promise<string> };
  /** The web UI's built folder (`web/dist`; `web/` beside the bundled function on AWS). */
  webDir: string;
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
      files: webFiles(readWebDir(d.webDir)),
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
  // the deployment package holds the UI's build in `web/` beside this bundle (infra/stack.ts)
  webDir: join(dirname(fileURLToPath(import.meta.url)), 'web'),
  log: (err) =>
    console.error(JSON.stringify({ level: 'ERROR', message: String(err), stack: (err as Error)?.stack })),
}));
