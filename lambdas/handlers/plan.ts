import { engineFromEnv } from './env.js';
import { planHandler } from './factories.js';

export const handler = planHandler(engineFromEnv);
