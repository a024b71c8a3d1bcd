/** Scheduled every minute: ends runs that never started, escalates stops, gives up on silent nodes. */
import { watchdog } from '../app/engine/watchdog.js';
import type { Context } from '../app/ports.js';
import { contextFromEnv } from './env.js';
import { once } from './payload.js';

export function watchdogHandler(context: () => Context) {
  const ctx = once(context);
  return async () => watchdog(ctx());
}

export const handler = watchdogHandler(contextFromEnv);
