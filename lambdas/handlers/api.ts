import { adminPassword, secretToken, serviceFromEnv } from './env.js';
import { apiHandler } from './factories.js';

export const handler = apiHandler(() => ({
  service: serviceFromEnv(),
  authToken: secretToken(),
  admin: { user: process.env.FUEL_ADMIN_USER || 'admin', password: adminPassword() },
  log: (err) =>
    console.error(JSON.stringify({ level: 'ERROR', message: String(err), stack: (err as Error)?.stack })),
}));
