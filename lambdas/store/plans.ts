/**
 * A run's plan besides its history rows, under the run's partition, in items of bounded size:
 * - the outline's layers (the stage names and time limits the state machine iterates over), LAYERS_PER_CHUNK
 *   to an item: the run's own item keeps only their number;
 * - the target sets that rows' requirements name (`task@#n`, domain/requirements.ts), TARGETS_PER_CHUNK
 *   target ids to an item;
 * - the statuses of the run's nodes when it was planned (what Finish settles them from), NODES_PER_CHUNK to an
 *   item.
 * Written by the plan step before the run's item records the plan, so that a retried plan rewrites them.
 */
import type { TargetSets } from '../domain/requirements.js';
import type { LayerStage } from '../domain/stage.js';
import type { NodeStatus } from '../domain/status.js';
import type { OutlineLayer } from '../domain/task.js';
import { runPk } from './history.js';
import { type Item, pad, type Table } from './table.js';

export const LAYERS_PER_CHUNK = 100;
export const TARGETS_PER_CHUNK = 2000;
export const NODES_PER_CHUNK = 1000;

const LAYERS_PREFIX = 'PLAN#L#';
const SETS_PREFIX = 'PLAN#S#';
const NODES_PREFIX = 'PLAN#N#';

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
}
