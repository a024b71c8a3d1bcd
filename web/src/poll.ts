/**
 * Live data: a reading of the API that is refreshed every few seconds and after each action, so that what
 * the page shows is what the API says now.
 *
 * Readings are ordered: each has a sequence number, and a reading is shown only if it is newer than the
 * one shown. `refresh()` (after an action) also aborts every reading started before it, so a poll that
 * left before the action can never land after it and bring back the state the action changed. A reading
 * that fails sets `error` (the caller shows it, and must not present `data` as current meanwhile: `at`
 * says when `data` was read). Leaving the page (or changing what the reading depends on) aborts what is
 * in flight.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { asError, isAbort } from './api.js';

export interface Live<T> {
  /** The newest reading that answered, or undefined before the first. */
  data: T | undefined;
  /** The error of the newest reading, or null when it answered. */
  error: Error | null;
  /** When `data` was read (ms since the epoch), or null. */
  at: number | null;
  /** How many readings were shown: grows by one with each (an error counts too). */
  version: number;
  /** Reads again now (after an action): readings started before are dropped. */
  refresh: () => Promise<void>;
}

interface State<T> {
  data: T | undefined;
  error: Error | null;
  at: number | null;
  version: number;
}

export interface LiveOptions {
  /** Keep showing the previous reading while the first one for new `deps` is taken (no blank). */
  keep?: boolean;
}

/**
 * Reads with `read` now, again every `everyMs` (none when 0; not while the tab is hidden, and at once
 * when it is shown again), and on `refresh()`. `deps` name what the reading depends on.
 */
export function useLive<T>(
  read: (signal: AbortSignal) => Promise<T>,
  everyMs: number,
  deps: readonly unknown[],
  options: LiveOptions = {},
): Live<T> {
  const [state, setState] = useState<State<T>>({ data: undefined, error: null, at: null, version: 0 });
  const readRef = useRef(read);
  readRef.current = read;
  const seq = useRef({ started: 0, applied: 0, barrier: 0, generation: 0 });
  const inFlight = useRef(new Map<number, AbortController>());

  const abortAll = useCallback(() => {
    for (const controller of inFlight.current.values()) controller.abort();
    inFlight.current.clear();
  }, []);

  const run = useCallback(
    async (explicit: boolean) => {
      const s = seq.current;
      const mine = ++s.started;
      const generation = s.generation;
      if (explicit) {
        // what was asked before an action may answer with the state before it: never show it
        abortAll();
        s.barrier = mine;
      }
      const controller = new AbortController();
      inFlight.current.set(mine, controller);
      const current = () => generation === s.generation && mine >= s.barrier && mine > s.applied;
      const startedAt = Date.now();
      try {
        const value = await readRef.current(controller.signal);
        if (!current()) return;
        s.applied = mine;
        setState((prev) => ({ data: value, error: null, at: startedAt, version: prev.version + 1 }));
      } catch (err) {
        if (controller.signal.aborted || isAbort(err) || !current()) return;
        s.applied = mine;
        setState((prev) => ({ ...prev, error: asError(err), version: prev.version + 1 }));
      } finally {
        inFlight.current.delete(mine);
      }
    },
    [abortAll],
  );

  const refresh = useCallback(() => run(true), [run]);

  // a new subject: forget the old reading (unless kept) and read it
  useEffect(() => {
    seq.current.generation += 1;
    abortAll();
    if (options.keep !== true)
      setState((prev) => ({ data: undefined, error: null, at: null, version: prev.version }));
    void run(true);
    return () => {
      seq.current.generation += 1;
      abortAll();
    };
  }, deps);

  // the polling, separate: a change of the interval alone does not drop what is shown
  useEffect(() => {
    if (everyMs <= 0) return;
    const tick = () => {
      if (inFlight.current.size === 0 && document.visibilityState !== 'hidden') void run(false);
    };
    const timer = setInterval(tick, everyMs);
    document.addEventListener('visibilitychange', tick);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', tick);
    };
  }, [everyMs, run, ...deps]);

  return { ...state, refresh };
}

/** A clock time as the UI shows it, local and on 24 hours: 14:02:11. */
export function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
