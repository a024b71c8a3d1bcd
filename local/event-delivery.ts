/**
 * Events delivered to handlers as EventBridge delivers them to a Lambda target: asynchronously, at least
 * once (optionally several copies at the same time), retried with exponential backoff when the handler
 * fails, and given up on after the last attempt. Used by the embedded runtime and the test harness.
 */

import type { CommandStatusEvent as EventBridgeCommandStatus } from '../lambdas/handlers/command-status.js';
import type { Chaos } from './chaos.js';
import type { CommandStatusEvent } from './ssm/fleet.js';

/** A fleet status change as EventBridge hands it to the command-status Lambda. */
export function commandStatusEvent(event: CommandStatusEvent): EventBridgeCommandStatus {
  return {
    detail: {
      'command-id': event.commandId,
      'instance-id': event.instanceId,
      status: event.status,
      'document-name': event.documentName,
    },
  };
}

export interface DeliveryOptions {
  attempts: number;
  /** The wait before the first retry; it doubles on each further one. */
  backoffMs: number;
  /** Copies of each event, delivered concurrently (default 1). */
  copies?: number;
  onRetry?: (what: string, attempt: number, err: Error) => void;
  onGiveUp?: (what: string, err: Error) => void;
  /** Makes delivery as AWS's may be: events dropped, duplicated, late and out of order (chaos.ts). */
  chaos?: Chaos;
}

export interface Delivery {
  deliver(what: string, handle: () => Promise<unknown>): void;
  /** Deliveries still in progress (first attempt or retries). */
  readonly inFlight: number;
  /** Resolves when every delivery started so far has ended. */
  drained(): Promise<void>;
}

export function createDelivery(options: DeliveryOptions): Delivery {
  const pending = new Set<Promise<void>>();
  const once = async (what: string, handle: () => Promise<unknown>): Promise<void> => {
    let last: Error | null = null;
    for (let attempt = 0; attempt < options.attempts; attempt++) {
      try {
        await handle();
        return;
      } catch (err) {
        last = err instanceof Error ? err : new Error(String(err));
        options.onRetry?.(what, attempt + 1, last);
        await new Promise((r) => setTimeout(r, options.backoffMs * 2 ** attempt));
      }
    }
    if (last) options.onGiveUp?.(what, last);
  };
  const chaos = options.chaos;
  const late = async (what: string, handle: () => Promise<unknown>): Promise<void> => {
    if (chaos) await new Promise((r) => setTimeout(r, chaos.delay('events', chaos.rates.eventDelayMaxMs)));
    await once(what, handle);
  };
  return {
    deliver(what, handle) {
      if (chaos?.chance('events', chaos.rates.eventDropped, `${what} events dropped`)) return;
      const extra = chaos?.chance('events', chaos.rates.eventDuplicated, `${what} events duplicated`) ? 1 : 0;
      for (let i = 0; i < (options.copies ?? 1) + extra; i++) {
        const p = late(what, handle).finally(() => pending.delete(p));
        pending.add(p);
      }
    },
    get inFlight() {
      return pending.size;
    },
    async drained() {
      await Promise.allSettled([...pending]);
    },
  };
}
