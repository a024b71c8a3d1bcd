/** Small shared hooks: running an action (busy, its error), and a page of a list held in memory. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { asError } from './api.js';

export interface ActionState {
  /**
   * Runs `what`; its error is kept in `error` (cleared when the next run starts). `after` runs in any
   * case once it ended (the readings to take again). Answers whether it succeeded, and its value.
   */
  run: <T>(
    what: () => Promise<T>,
    after?: () => Promise<unknown> | undefined,
  ) => Promise<{ ok: true; value: T } | { ok: false }>;
  busy: boolean;
  error: Error | null;
  clearError: () => void;
}

export function useAction(): ActionState {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = useCallback(async <T>(what: () => Promise<T>, after?: () => Promise<unknown> | undefined) => {
    setBusy(true);
    setError(null);
    try {
      const value = await what();
      return { ok: true as const, value };
    } catch (err) {
      if (mounted.current) setError(asError(err));
      return { ok: false as const };
    } finally {
      if (mounted.current) setBusy(false);
      await after?.();
    }
  }, []);
  const clearError = useCallback(() => setError(null), []);
  return { run, busy, error, clearError };
}

export interface Paged<T> {
  /** The entries of the page shown. */
  shown: T[];
  /** The page shown, from 0: always a page that exists (the last one when the list shrank). */
  page: number;
  pages: number;
  setPage: (page: number) => void;
}

/** A page of `size` entries of `list`; when the list shrinks below the page, the last page is shown. */
export function usePaged<T>(list: readonly T[], size: number): Paged<T> {
  const [wanted, setPage] = useState(0);
  const pages = Math.ceil(list.length / size);
  const page = Math.max(0, Math.min(wanted, pages - 1));
  // once clamped, stay there (a list that grows again does not jump back to the page that was gone)
  useEffect(() => {
    if (wanted !== page) setPage(page);
  }, [wanted, page]);
  return { shown: list.slice(page * size, (page + 1) * size), page, pages, setPage };
}
