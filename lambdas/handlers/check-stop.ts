import { engineFromEnv } from './env.js';
import { checkStopHandler } from './factories.js';

export const handler = checkStopHandler(engineFromEnv);
