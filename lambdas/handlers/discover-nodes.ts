/** Scheduled every minute: SSM managed instances become nodes; `online` follows them. */
import { discoverNodes } from '../app/engine/discovery.js';
import type { Context } from '../app/ports.js';
import { contextFromEnv } from './env.js';
import { once } from './payload.js';

export function discoverNodesHandler(context: () => Context) {
  const ctx = once(context);
  return async () => discoverNodes(ctx());
}

export const handler = discoverNodesHandler(contextFromEnv);
