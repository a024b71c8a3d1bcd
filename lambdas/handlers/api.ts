import { secretToken, serviceFromEnv } from './env.js';
import { apiHandler } from './factories.js';

export const handler = apiHandler(() => ({
  service: serviceFromEnv(),
  authToken: secretToken(),
  log: (err) =>
    console.error(JSON.stringify({ level: 'ERROR', message: String(err), stack: (err as Error)?.stack })),
}));
