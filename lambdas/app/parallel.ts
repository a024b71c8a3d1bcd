/** Bounded parallelism for calls to AWS: at most `limit` at a time, results in the order of `items`. */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  each: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await each(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** How many SSM calls a stop or the watchdog makes at once (SSM throttles each API per account). */
export const SSM_CALLS_AT_ONCE = 8;

/** DynamoDB writes of one step in flight at once (rows of a layer or a run, nodes of a cluster). */
export const WRITES_AT_ONCE = 16;

/** DynamoDB reads of one step in flight at once (the last runs of a plan's nodes). */
export const READS_AT_ONCE = 16;
