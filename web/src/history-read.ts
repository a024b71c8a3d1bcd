/**
 * A deployment's history rows, read page by page (`limit`, `X-Next-Marker`) and kept up to date while it
 * runs without reading it all again each time.
 *
 * The API creates every row `pending` when the deployment starts, in a fixed order, and a row only moves
 * forward: once `ready`, `error` or `skipped` it does not change (docs/api.md). So a page whose rows have
 * all ended, and which is not the last, is settled: it is never read again. While the deployment runs,
 * each reading takes at most MAX_PAGES_PER_READ pages: the first two that are not settled (where the
 * layer that runs now is) and, in turn, a few of the others, so every page is read again within a few
 * readings and the requests per reading stay bounded however long the history is. When the deployment
 * ends, every page that is not settled is read once more: what the timeline then shows is the final state.
 */
import { useEffect, useMemo, useRef } from 'preact/hooks';
import type { HistoryJson } from '../../lambdas/api/wire.js';
import { readPage } from './api.js';
import { type Live, useLive } from './poll.js';

export const PAGE_ROWS = 1000;
/** The most pages one reading takes while the deployment runs: the two at the front, and three in turn. */
export const MAX_PAGES_PER_READ = 5;
const FRONT = 2;
/** How often the rows are read while the deployment runs. */
export const HISTORY_EVERY_MS = 3000;

const ENDED: ReadonlySet<string> = new Set(['ready', 'error', 'skipped']);

export interface RowPage {
  /** The marker it was read with (none: the first page). */
  marker: string | undefined;
  rows: HistoryJson[];
  next: string | null;
}

const settled = (page: RowPage): boolean => page.next !== null && page.rows.every((r) => ENDED.has(r.status));

async function readFrom(path: string, start: string | undefined, signal: AbortSignal): Promise<RowPage[]> {
  const pages: RowPage[] = [];
  let marker = start;
  for (;;) {
    const page = await readPage<HistoryJson>(path, marker, PAGE_ROWS, signal);
    pages.push({ marker, rows: page.items, next: page.next });
    if (page.next === null) return pages;
    marker = page.next;
  }
}

/** Reads the pages `which` (ascending) again; if one now ends elsewhere, what follows it is read anew. */
async function reread(
  path: string,
  before: RowPage[],
  which: number[],
  signal: AbortSignal,
): Promise<RowPage[]> {
  const pages = before.slice();
  for (const i of which) {
    const old = pages[i];
    if (old === undefined) break;
    const page = await readPage<HistoryJson>(path, old.marker, PAGE_ROWS, signal);
    pages[i] = { marker: old.marker, rows: page.items, next: page.next };
    if (page.next !== old.next) {
      const rest = page.next === null ? [] : await readFrom(path, page.next, signal);
      return [...pages.slice(0, i + 1), ...rest];
    }
  }
  return pages;
}

/** Which pages a reading takes while the deployment runs (`cursor`: where the turn of the others is). */
export function pagesToRead(pages: readonly RowPage[], cursor: number): { which: number[]; cursor: number } {
  const open = pages.findIndex((p) => !settled(p));
  if (open === -1) return { which: [], cursor };
  const which = new Set<number>();
  for (let i = open; i < Math.min(pages.length, open + FRONT); i++) which.add(i);
  const from = open + FRONT;
  const others = pages.length - from;
  let at = cursor >= from && cursor < pages.length ? cursor : from;
  for (let n = 0; n < Math.min(others, MAX_PAGES_PER_READ - FRONT); n++) {
    // skip the settled ones: they do not change any more
    let tries = 0;
    while (tries < others && settled(pages[at] as RowPage)) {
      at = at + 1 < pages.length ? at + 1 : from;
      tries += 1;
    }
    if (tries === others) break;
    which.add(at);
    at = at + 1 < pages.length ? at + 1 : from;
  }
  return { which: [...which].sort((a, b) => a - b), cursor: at };
}

export interface HistoryRows extends Live<RowPage[]> {
  /** Every row, in the API's order. */
  rows: HistoryJson[] | undefined;
}

export function useHistoryRows(taskId: number, running: boolean): HistoryRows {
  const path = `/transactions/${taskId}/deployment_history/`;
  const held = useRef<RowPage[] | null>(null);
  const cursor = useRef(0);
  const runningRef = useRef(running);
  runningRef.current = running;
  const live = useLive(
    async (signal) => {
      const before = held.current;
      let pages: RowPage[];
      if (before === null) pages = await readFrom(path, undefined, signal);
      else if (runningRef.current) {
        const plan = pagesToRead(before, cursor.current);
        pages = await reread(path, before, plan.which, signal);
        cursor.current = plan.cursor;
      } else {
        // ended: every page that may still have moved, once
        const open = before.findIndex((p) => !settled(p));
        const which =
          open === -1
            ? []
            : before.map((_, i) => i).filter((i) => i >= open && !settled(before[i] as RowPage));
        pages = await reread(path, before, which, signal);
      }
      held.current = pages;
      return pages;
    },
    running ? HISTORY_EVERY_MS : 0,
    [path],
    { keep: true },
  );
  // the deployment just ended: its final state, once
  const wasRunning = useRef(running);
  useEffect(() => {
    if (wasRunning.current && !running) void live.refresh();
    wasRunning.current = running;
  }, [running]);
  const rows = useMemo(() => live.data?.flatMap((p) => p.rows), [live.data]);
  return { ...live, rows };
}
