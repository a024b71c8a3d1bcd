/**
 * Paged lists: a page of at most `limit` entries and the marker of the page after it. A marker is opaque (the
 * store makes it from the key of the page's last entry) and is valid for the list it came from only. A page may
 * hold fewer entries than `limit`, even none, when a filter leaves out most of what was read: only a page
 * without a next marker ends the list.
 */

/** The most entries one page holds, and the page size of a list read whole. */
export const MAX_PAGE_SIZE = 1000;

export type Order = 'asc' | 'desc';

export interface PageRequest {
  limit: number;
  /** Where the page starts: after the entry this marker names; null for the first page. */
  marker: string | null;
  /** By ascending (default) or descending key. */
  order?: Order;
}

export interface Page<T> {
  items: T[];
  /** The marker of the next page; null when this page ends the list. */
  next: string | null;
}

/** Every entry of a paged list, read page by page (each of MAX_PAGE_SIZE), from `marker` on. */
export async function allPages<T>(
  read: (request: PageRequest) => Promise<Page<T>>,
  from: { marker?: string | null; order?: Order } = {},
): Promise<T[]> {
  const items: T[] = [];
  let marker = from.marker ?? null;
  do {
    const page = await read({ limit: MAX_PAGE_SIZE, marker, order: from.order });
    items.push(...page.items);
    marker = page.next;
  } while (marker !== null);
  return items;
}
