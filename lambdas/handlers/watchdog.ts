import { engineFromEnv } from './env.js';
import { watchdogHandler } from './factories.js';

export const handler = watchdogHandler(engineFromEnv);
