import { serviceFromEnv } from './env.js';
import { discoverNodesHandler } from './factories.js';

export const handler = discoverNodesHandler(serviceFromEnv);
