/**
 * A function invocation killed at its timeout, as Lambda kills one (chaos.ts): the invocation stops at one of
 * its AWS calls: before the call, or after it was made and before its answer was used. From there every AWS
 * call of that invocation fails, and the invocation fails as Lambda reports it (`Sandbox.Timedout`). The
 * invocation is told apart from the ones running beside it by AsyncLocalStorage; the runtime puts the
 * middleware on every SDK client of the functions.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Pluggable } from '@smithy/types';
import type { Chaos } from '../chaos.js';

interface Doomed {
  /** AWS calls left before the kill. */
  callsLeft: number;
  /** The call at the kill is made (and its answer lost) rather than never made. */
  madeAtKill: boolean;
  killed: boolean;
}

const invocations = new AsyncLocalStorage<Doomed>();

export class FunctionTimedOut extends Error {
  constructor(name: string) {
    super(`${name}: Task timed out (killed at its timeout)`);
    this.name = 'Sandbox.Timedout';
  }
}

/** The handler, of which a share of invocations (the chaos's `killed` rate) is killed at an AWS call. */
export function killable<E, R>(chaos: Chaos | undefined, name: string, handler: (event: E) => Promise<R>) {
  return async (event: E): Promise<R> => {
    if (!chaos?.chance('kill', chaos.rates.killed, `${name} invocations killed`)) return handler(event);
    const doomed: Doomed = {
      callsLeft: chaos.int('kill', 0, 6),
      madeAtKill: chaos.int('kill', 0, 1) === 1,
      killed: false,
    };
    return invocations.run(doomed, async () => {
      try {
        const out = await handler(event);
        if (doomed.killed) throw new FunctionTimedOut(name);
        return out;
      } catch (err) {
        throw doomed.killed ? new FunctionTimedOut(name) : err;
      }
    });
  };
}

/** The SDK middleware that carries out the kill in the invocation it belongs to (`client.middlewareStack.use`). */
export function killMiddleware<I extends object, O extends object>(): Pluggable<I, O> {
  return {
    applyToStack: (stack) => {
      stack.add(
        (next) => async (args) => {
          const doomed = invocations.getStore();
          if (!doomed) return next(args);
          if (doomed.killed) throw new FunctionTimedOut('the function');
          if (doomed.callsLeft-- > 0) return next(args);
          doomed.killed = true;
          if (doomed.madeAtKill) await next(args).catch(() => undefined);
          throw new FunctionTimedOut('the function');
        },
        { step: 'initialize', name: 'fuelChaosKill' },
      );
    },
  };
}
