/**
 * The layers Step Functions runs one after another, built from a plan's entries as a list schedule: a layer
 * holds at most one running entry per node (Astute runs one task at a time on a node) and at most a
 * strategy's number of entries of one task; among the entries that are ready, the one with the longest
 * remaining path (by duration) goes first, unless it is longer than the layer's most critical entry and
 * has the slack to wait: then a shorter one of its node takes the place, so the layer is no longer than
 * the critical path needs. An entry that runs nothing takes no time: it is decided in the
 * first layer after its requirements ended, before the entries of that layer that need it.
 */

export interface ScheduleItem {
  /** Indices of the items that must end first. */
  requires: Iterable<number>;
  /** Whether it runs (takes a place in a layer) or runs nothing. */
  runs: boolean;
  /** Where it runs: one running item per target per layer. */
  target: number;
  /** Items sharing a limit key share `limit` places per layer (a task's strategy). */
  limitKey: string;
  limit: number | null;
  /** Its expected duration, for priorities. */
  duration: number;
}

export interface Schedule {
  /** The layer of each item. */
  layerOf: Int32Array;
  /** A topological position of each item: within a layer, items are decided in this order. */
  orderOf: Int32Array;
  /** Number of layers, including a last one holding only items that run nothing. */
  layers: number;
}

/**
 * The schedule, or the index of an item on a dependency cycle, or `tooManyLayers` as soon as it would need
 * more than `maxLayers` layers (the work stops there).
 */
export function schedule(
  items: ScheduleItem[],
  maxLayers = Number.POSITIVE_INFINITY,
): Schedule | { cycleAt: number } | { tooManyLayers: true } {
  const n = items.length;
  const dependents: number[][] = items.map(() => []);
  const pending = new Int32Array(n);
  items.forEach((item, k) => {
    for (const r of item.requires) {
      dependents[r]?.push(k);
      pending[k] = (pending[k] as number) + 1;
    }
  });
  const rank = ranks(items, dependents, pending);
  if (typeof rank === 'number') return { cycleAt: rank };
  return new LayerBuilder(items, dependents, pending, rank).build(maxLayers);
}

/** Longest remaining path from each item (its duration included), or a cycle. */
function ranks(items: ScheduleItem[], dependents: number[][], pending: Int32Array): Float64Array | number {
  const left = Int32Array.from(pending);
  const topo: number[] = [];
  for (let k = 0; k < items.length; k++) if (left[k] === 0) topo.push(k);
  for (let i = 0; i < topo.length; i++) {
    for (const d of dependents[topo[i] as number] ?? []) {
      left[d] = (left[d] as number) - 1;
      if (left[d] === 0) topo.push(d);
    }
  }
  if (topo.length < items.length) return left.findIndex((v) => v > 0);
  const rank = new Float64Array(items.length);
  for (let i = topo.length - 1; i >= 0; i--) {
    const k = topo[i] as number;
    let longest = 0;
    for (const d of dependents[k] ?? []) longest = Math.max(longest, rank[d] as number);
    const item = items[k] as ScheduleItem;
    rank[k] = longest + (item.runs ? item.duration : 0);
  }
  return rank;
}

class LayerBuilder {
  private readonly layerOf: Int32Array;
  private readonly orderOf: Int32Array;
  /** The first layer each item may take, from its requirements so far. */
  private readonly earliest: Int32Array;
  private nextOrder = 0;
  private placedCount = 0;
  /** Ready running items per target, not yet placed. */
  private readonly ready = new Map<number, number[]>();
  /** Ready running items that may not start before a later layer, by layer. */
  private readonly future = new Map<number, number[]>();

  constructor(
    private readonly items: ScheduleItem[],
    private readonly dependents: number[][],
    private readonly pending: Int32Array,
    private readonly rank: Float64Array,
  ) {
    this.layerOf = new Int32Array(items.length);
    this.orderOf = new Int32Array(items.length);
    this.earliest = new Int32Array(items.length);
  }

  build(maxLayers: number): Schedule | { tooManyLayers: true } {
    const roots: number[] = [];
    for (let k = 0; k < this.items.length; k++) if (this.pending[k] === 0) roots.push(k);
    for (const k of roots) this.release(k);
    let layer = 0;
    let lastLayer = -1;
    while (this.placedCount < this.items.length) {
      if (layer > this.items.length) throw new Error('schedule: items left that no layer can take');
      if (layer >= maxLayers) return { tooManyLayers: true };
      for (const k of this.future.get(layer) ?? []) this.enqueue(k);
      this.future.delete(layer);
      const chosen = this.choose();
      for (const k of chosen) this.place(k, layer);
      if (chosen.length > 0) lastLayer = layer;
      layer++;
    }
    let layers = lastLayer + 1;
    for (const l of this.layerOf) layers = Math.max(layers, l + 1);
    return { layerOf: this.layerOf, orderOf: this.orderOf, layers };
  }

  /**
   * One ready item per target, highest rank first, within the limits of their tasks. A layer lasts as long
   * as its longest item, so then an item longer than the layer's most critical one, whose path is short
   * enough to wait a layer (its rank plus that item's duration within the critical rank), gives its place
   * to the best item of its target that fits in that time, or waits with its target idle.
   */
  private choose(): number[] {
    const used = new Map<string, number>();
    const count = (k: number, by: number) => {
      const key = (this.items[k] as ScheduleItem).limitKey;
      used.set(key, (used.get(key) ?? 0) + by);
    };
    const allowed = (k: number) => {
      const item = this.items[k] as ScheduleItem;
      return item.limit === null || (used.get(item.limitKey) ?? 0) < item.limit;
    };
    const picks = new Map<number, number>();
    for (const target of [...this.ready.keys()].sort((a, b) => a - b)) {
      const k = (this.ready.get(target) as number[]).find(allowed);
      if (k === undefined) continue;
      count(k, 1);
      picks.set(target, k);
    }
    let critical = -1;
    for (const k of picks.values()) {
      if (critical < 0 || (this.rank[k] as number) > (this.rank[critical] as number)) critical = k;
    }
    if (critical >= 0) this.fitInto(picks, critical, count, allowed);
    const chosen: number[] = [];
    for (const [target, k] of picks) {
      const queue = this.ready.get(target) as number[];
      queue.splice(queue.indexOf(k), 1);
      if (queue.length === 0) this.ready.delete(target);
      chosen.push(k);
    }
    return chosen;
  }

  /** Replaces the picks that would make the layer longer than its critical item, while they can wait. */
  private fitInto(
    picks: Map<number, number>,
    critical: number,
    count: (k: number, by: number) => void,
    allowed: (k: number) => boolean,
  ): void {
    const length = (this.items[critical] as ScheduleItem).duration;
    const top = this.rank[critical] as number;
    const duration = (k: number) => (this.items[k] as ScheduleItem).duration;
    for (const [target, k] of picks) {
      if (duration(k) <= length || (this.rank[k] as number) + length > top) continue;
      count(k, -1);
      const other = (this.ready.get(target) as number[]).find(
        (o) => o !== k && duration(o) <= length && allowed(o),
      );
      if (other === undefined) {
        picks.delete(target);
        continue;
      }
      count(other, 1);
      picks.set(target, other);
    }
  }

  /** Puts a ready running item in its target's queue, kept by descending rank then index. */
  private enqueue(k: number): void {
    const target = (this.items[k] as ScheduleItem).target;
    const queue = this.ready.get(target) ?? [];
    this.ready.set(target, queue);
    const r = this.rank[k] as number;
    let at = queue.length;
    while (at > 0) {
      const prev = queue[at - 1] as number;
      const pr = this.rank[prev] as number;
      if (pr > r || (pr === r && prev < k)) break;
      at--;
    }
    queue.splice(at, 0, k);
  }

  /** An item whose requirements are all placed: a running one waits for a layer, one that runs nothing is decided. */
  private release(k: number): void {
    const item = this.items[k] as ScheduleItem;
    if (item.runs) {
      const at = this.earliest[k] as number;
      const bucket = this.future.get(at) ?? [];
      bucket.push(k);
      this.future.set(at, bucket);
      return;
    }
    this.place(k, this.earliest[k] as number);
  }

  private place(k: number, layer: number): void {
    this.layerOf[k] = layer;
    this.orderOf[k] = this.nextOrder++;
    this.placedCount++;
    const item = this.items[k] as ScheduleItem;
    // a running item ends with its layer; one that runs nothing is decided at the start of its layer
    const after = item.runs ? layer + 1 : layer;
    for (const d of this.dependents[k] ?? []) {
      this.earliest[d] = Math.max(this.earliest[d] as number, after);
      this.pending[d] = (this.pending[d] as number) - 1;
      if (this.pending[d] === 0) this.release(d);
    }
  }
}
