import { engineFromEnv } from './env.js';
import { dispatchHandler } from './factories.js';

export const handler = dispatchHandler(engineFromEnv);
