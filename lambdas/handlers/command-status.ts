import { engineFromEnv } from './env.js';
import { commandStatusHandler } from './factories.js';

export const handler = commandStatusHandler(engineFromEnv);
