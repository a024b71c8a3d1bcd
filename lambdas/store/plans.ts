/**
 * A run's plan besides its history rows, under the run's partition, in items of bounded size:
 * - the outline's layers (the stage names and time limits the state machine iterates over), LAYERS_PER_CHUNK
 *   to an item: the run's own item keeps only their number;
 * - the target sets that rows' requirements name (`task@#n`, domain/requirements.ts), TARGETS_PER_CHUNK
 *   target ids to an item;
 * - the statuses of the run's nodes when it was planned (what Finish settles them from), NODES_PER_CHUNK to an
 *   item;
 * - the stage of each planned row, by target (what a node's progress is read from, domain/progress.ts), at most
 *   STAGES_PER_CHUNK characters or NODES_PER_CHUNK targets to an item, and the rows of each stage of the whole
 *   run in one small item (what the run's progress is read from).
 * Written by the plan step before the run's item records the plan, so that a retried plan rewrites them.
 * Besides, once the run has ended, Finish writes the seconds each task took (the median over its nodes) in one
 * small item, `PLAN#D#`: what the next run's plan orders its layers by, read instead of this run's rows. It
 * holds one number per task that ran (a graph has at most MAX_GRAPH_TASKS, domain/graph.ts); durations that
 * would not fit one item (the longest task ids) are not written, and the next plan reads the rows.
 */
import { ITEM_KEY_ROOM_BYTES, itemSize, MAX_ITEM_BYTES } from '../domain/dynamo-limits.js';
import { decodeStages, encodeStages } from '../domain/progress.js';
import type { TargetSets } from '../domain/requirements.js';
import type { LayerStage } from '../domain/stage.js';
import type { NodeStatus } from '../domain/status.js';
import type { OutlineLayer } from '../domain/task.js';
import { runPk } from './history.js';
import { type Item, pad, type Table } from './table.js';

export const LAYERS_PER_CHUNK = 100;
export const TARGETS_PER_CHUNK = 2000;
export const NODES_PER_CHUNK = 1000;
/** Characters of stage indexes (`-1,0,3,...`) to a chunk of the rows' stages: about as many bytes. */
export const STAGES_PER_CHUNK = 16_000;

const LAYERS_PREFIX = 'PLAN#L#';
const SETS_PREFIX = 'PLAN#S#';
const NODES_PREFIX = 'PLAN#N#';
const STAGES_PREFIX = 'PLAN#R#';
const COUNTS_KEY = 'PLAN#C#';
const DURATIONS_KEY = 'PLAN#D#';

const layer = (value: unknown): OutlineLayer => {
  const l = value as Record<string, unknown>;
  return {
    taskId: Number(l.taskId),
    stage: String(l.stage) as LayerStage,
    timeoutSeconds: Number(l.timeoutSeconds),
  };
};

export class DynamoPlans {
  constructor(private readonly table: Table) {}

  async putLayers(runId: number, layers: OutlineLayer[]): Promise<void> {
    const items: Item[] = [];
    for (let i = 0; i < layers.length; i += LAYERS_PER_CHUNK) {
      items.push({
        pk: runPk(runId),
        sk: `${LAYERS_PREFIX}${pad(i / LAYERS_PER_CHUNK, 5)}`,
        entity: 'plan-layers',
        layers: layers.slice(i, i + LAYERS_PER_CHUNK),
      });
    }
    await this.table.putMany(items);
  }

  /** The first `count` layers of the run's outline. */
  async layers(runId: number, count: number): Promise<OutlineLayer[]> {
    const chunks = Math.ceil(count / LAYERS_PER_CHUNK);
    const items = (await this.table.query(runPk(runId), LAYERS_PREFIX)).slice(0, chunks);
    const layers = items.flatMap((item) => (Array.isArray(item.layers) ? item.layers.map(layer) : []));
    if (layers.length < count)
      throw new Error(`The outline of run ${runId} has ${layers.length} of its ${count} layers`);
    return layers.slice(0, count);
  }

  /** The target sets of the run's plan, by id (ascending target ids each). */
  async putTargetSets(runId: number, sets: number[][]): Promise<void> {
    const items: Item[] = [];
    for (const [id, targets] of sets.entries()) {
      for (let i = 0; i < targets.length; i += TARGETS_PER_CHUNK) {
        items.push({
          pk: runPk(runId),
          sk: `${SETS_PREFIX}${pad(id, 5)}#${pad(i / TARGETS_PER_CHUNK, 4)}`,
          entity: 'plan-targets',
          targets: targets.slice(i, i + TARGETS_PER_CHUNK),
        });
      }
    }
    await this.table.putMany(items);
  }

  async targetSets(runId: number): Promise<TargetSets> {
    const sets = new Map<number, Set<number>>();
    for (const item of await this.table.query(runPk(runId), SETS_PREFIX)) {
      const id = Number(String(item.sk).slice(SETS_PREFIX.length, SETS_PREFIX.length + 5));
      const set = sets.get(id) ?? new Set<number>();
      for (const target of Array.isArray(item.targets) ? item.targets : []) set.add(Number(target));
      sets.set(id, set);
    }
    return sets;
  }

  async putNodesBefore(runId: number, statuses: Record<string, NodeStatus>): Promise<void> {
    const entries = Object.entries(statuses);
    const items: Item[] = [];
    for (let i = 0; i < Math.max(entries.length, 1); i += NODES_PER_CHUNK) {
      items.push({
        pk: runPk(runId),
        sk: `${NODES_PREFIX}${pad(i / NODES_PER_CHUNK, 5)}`,
        entity: 'plan-nodes',
        chunks: Math.max(1, Math.ceil(entries.length / NODES_PER_CHUNK)),
        statuses: Object.fromEntries(entries.slice(i, i + NODES_PER_CHUNK)),
      });
    }
    await this.table.putMany(items);
  }

  /** The statuses of the run's nodes when it was planned; null when the plan stored none. */
  async nodesBefore(runId: number): Promise<Record<string, NodeStatus> | null> {
    const items = await this.table.query(runPk(runId), NODES_PREFIX);
    const first = items[0];
    if (!first) return null;
    const statuses: Record<string, NodeStatus> = {};
    for (const item of items.slice(0, Number(first.chunks ?? items.length)))
      Object.assign(statuses, item.statuses as Record<string, NodeStatus>);
    return statuses;
  }

  /**
   * The stage index of every planned row, by target (`-1` provisioning, else its layer), in chunks; and the
   * rows of each stage of the run in one item. Every chunk names how many there are, so that a read can tell
   * a complete set from one being written.
   */
  async putRowStages(runId: number, byTarget: ReadonlyMap<number, readonly number[]>): Promise<void> {
    const chunks: Record<string, string>[] = [];
    let chunk: Record<string, string> = {};
    let size = 0;
    const totals: Record<string, number> = {};
    for (const [target, indexes] of byTarget) {
      const text = encodeStages(indexes);
      if (
        Object.keys(chunk).length > 0 &&
        (size + text.length > STAGES_PER_CHUNK || Object.keys(chunk).length >= NODES_PER_CHUNK)
      ) {
        chunks.push(chunk);
        chunk = {};
        size = 0;
      }
      chunk[String(target)] = text;
      size += text.length;
      for (const index of indexes) totals[String(index)] = (totals[String(index)] ?? 0) + 1;
    }
    chunks.push(chunk);
    await this.table.putMany([
      ...chunks.map((targets, i) => ({
        pk: runPk(runId),
        sk: `${STAGES_PREFIX}${pad(i, 5)}`,
        entity: 'plan-rows',
        chunks: chunks.length,
        targets,
      })),
      { pk: runPk(runId), sk: COUNTS_KEY, entity: 'plan-counts', stages: totals },
    ]);
  }

  /** The planned rows of each target by stage index; null when the plan stored none (planned before them). */
  async rowStages(runId: number): Promise<Map<number, Map<number, number>> | null> {
    const items = await this.table.query(runPk(runId), STAGES_PREFIX);
    const first = items[0];
    if (!first || items.length < Number(first.chunks)) return null;
    const byTarget = new Map<number, Map<number, number>>();
    for (const item of items.slice(0, Number(first.chunks))) {
      const targets = (item.targets ?? {}) as Record<string, unknown>;
      for (const [target, text] of Object.entries(targets))
        if (typeof text === 'string') byTarget.set(Number(target), decodeStages(text));
    }
    return byTarget;
  }

  /** The run's planned rows by stage index; null when the plan stored none. */
  async stageCounts(runId: number): Promise<Map<number, number> | null> {
    const item = await this.table.get({ pk: runPk(runId), sk: COUNTS_KEY });
    if (!item) return null;
    const stages = (item.stages ?? {}) as Record<string, unknown>;
    return new Map(Object.entries(stages).map(([index, n]) => [Number(index), Number(n)]));
  }

  /** The seconds each task of the ended run took, by task id, in one item (unless it would not fit one). */
  async putDurations(runId: number, durations: ReadonlyMap<string, number>): Promise<void> {
    const item: Item = {
      pk: runPk(runId),
      sk: DURATIONS_KEY,
      entity: 'plan-durations',
      seconds: Object.fromEntries(durations),
    };
    if (itemSize(item) + ITEM_KEY_ROOM_BYTES > MAX_ITEM_BYTES) return;
    await this.table.put(item);
  }

  /** The seconds each task of the run took; null when its end recorded none (or a value is not a duration). */
  async durations(runId: number): Promise<Map<string, number> | null> {
    const item = await this.table.get({ pk: runPk(runId), sk: DURATIONS_KEY });
    const seconds = item?.seconds;
    if (seconds === null || typeof seconds !== 'object' || Array.isArray(seconds)) return null;
    const durations = new Map<string, number>();
    for (const [task, value] of Object.entries(seconds)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return null;
      durations.set(task, value);
    }
    return durations;
  }
}
