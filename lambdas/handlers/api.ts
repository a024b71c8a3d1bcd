import { secretToken, serviceFromEnv } from './env.js';
import { apiHandler } from './factories.js';

export const handler = apiHandler(() => ({
  service: serviceFromEnv(),
  authToken: secretToken(),
  // the admin's password for the Keystone-compatible login is the token itself on AWS
  admin: { user: process.env.FUEL_ADMIN_USER || 'admin', password: secretToken() },
  log: (err) =>
    console.error(JSON.stringify({ level: 'ERROR', message: String(err), stack: (err as Error)?.stack })),
}));
