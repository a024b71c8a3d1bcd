import { engineFromEnv } from './env.js';
import { executionEndedHandler } from './factories.js';

export const handler = executionEndedHandler(engineFromEnv);
