import { engineFromEnv } from './env.js';
import { finishHandler } from './factories.js';

export const handler = finishHandler(engineFromEnv);
