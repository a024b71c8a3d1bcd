/**
 * The embedded runtime as mean as AWS, on demand: `FUEL_CHAOS=<seed>` makes the local endpoints behave as
 * AWS may, at the rates below (docs/chaos.md says where each comes from). Every part draws from its own
 * stream derived from the seed, so a seed replays the same choices per part (timings still vary).
 */
import { mixSeed, Random } from './random.js';

export interface ChaosRates {
  /** An EventBridge event is never delivered (SSM's status events are best-effort). */
  eventDropped: number;
  /** An event is delivered twice (EventBridge delivers at least once). */
  eventDuplicated: number;
  /** Each event is delivered after up to this long: events come late and out of order. */
  eventDelayMaxMs: number;
  /** A finished invocation still shows its previous status to GetCommandInvocation for a while... */
  invocationStale: number;
  /** ...of up to this long (Run Command's results are eventually consistent). */
  invocationStaleMaxMs: number;
  /** A request to DynamoDB, SSM or Step Functions is answered with a throttling error (the SDK retries). */
  throttled: number;
  /** An attempt of an asynchronous Lambda invocation fails (Lambda retries twice, then the DLQ). */
  asyncAttemptFailed: number;
  /** A function invocation is killed at its timeout: it stops at an AWS call, and fails. */
  killed: number;
}

export const DEFAULT_CHAOS_RATES: ChaosRates = {
  eventDropped: 0.02,
  eventDuplicated: 0.05,
  eventDelayMaxMs: 1500,
  invocationStale: 0.2,
  invocationStaleMaxMs: 1500,
  throttled: 0.02,
  asyncAttemptFailed: 0.1,
  killed: 0.02,
};

/** The parts that draw from the chaos, each its own stream. */
export type ChaosPart = 'events' | 'invocations' | 'throttling' | 'async' | 'kill';
const SALTS: Record<ChaosPart, number> = { events: 1, invocations: 2, throttling: 3, async: 4, kill: 5 };

export class Chaos {
  private readonly streams = new Map<ChaosPart, Random>();
  /** What the chaos did, per kind: shown at the end of a run, and read by tests. */
  readonly counts: Record<string, number> = {};

  constructor(
    readonly seed: number,
    readonly rates: ChaosRates = DEFAULT_CHAOS_RATES,
  ) {}

  private stream(part: ChaosPart): Random {
    let found = this.streams.get(part);
    if (!found) {
      found = new Random(mixSeed(this.seed, SALTS[part]));
      this.streams.set(part, found);
    }
    return found;
  }

  /** True with probability `p`, drawn from `part`'s stream; counted under `what` when true. */
  chance(part: ChaosPart, p: number, what: string): boolean {
    const yes = p > 0 && this.stream(part).chance(p);
    if (yes) this.counts[what] = (this.counts[what] ?? 0) + 1;
    return yes;
  }

  /** A whole number of milliseconds in [0, max]. */
  delay(part: ChaosPart, maxMs: number): number {
    return maxMs <= 0 ? 0 : this.stream(part).int(0, maxMs);
  }

  /** An integer in [min, max]. */
  int(part: ChaosPart, min: number, max: number): number {
    return this.stream(part).int(min, max);
  }

  describe(): string {
    const done = Object.entries(this.counts)
      .map(([what, n]) => `${what} ${n}`)
      .join(', ');
    return `chaos seed ${this.seed}: ${done || 'nothing yet'}`;
  }
}

/** `FUEL_CHAOS=<seed>` (a non-negative integer), or null when unset or empty. */
export function chaosFromEnv(env: NodeJS.ProcessEnv = process.env): Chaos | null {
  const raw = env.FUEL_CHAOS?.trim();
  if (!raw) return null;
  const seed = Number(raw);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new Error(`FUEL_CHAOS=${raw}: expected a seed, an integer from 0 to 4294967295`);
  return new Chaos(seed);
}
