/**
 * Live data: a reading of the API that is refreshed every few seconds and after each action, so that what
 * the page shows is what the API says now. A reading that fails shows its error, never an older value
 * as if it were current.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Live<T> {
  data: T | undefined;
  error: Error | null;
  /** Reads again now (after an action). */
  refresh: () => Promise<void>;
}

export function useLive<T>(read: () => Promise<T>, everyMs: number, deps: readonly unknown[]): Live<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | null>(null);
  const generation = useRef(0);
  const inFlight = useRef(false);
  const readRef = useRef(read);
  readRef.current = read;

  const refresh = useCallback(async () => {
    const mine = generation.current;
    inFlight.current = true;
    try {
      const value = await readRef.current();
      if (mine !== generation.current) return;
      setData(value);
      setError(null);
    } catch (err) {
      if (mine !== generation.current) return;
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      inFlight.current = false;
    }
  }, []);

  // the caller names what the reading depends on (`deps`)
  useEffect(() => {
    generation.current += 1;
    setData(undefined);
    setError(null);
    void refresh();
    if (everyMs <= 0) return;
    const timer = setInterval(() => {
      if (!inFlight.current && document.visibilityState !== 'hidden') void refresh();
    }, everyMs);
    return () => {
      clearInterval(timer);
      generation.current += 1;
    };
  }, deps);

  return { data, error, refresh };
}
