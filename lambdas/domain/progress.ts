/**
 * Progress of a running deployment, derived from what the engine keeps anyway: a target's (a node's, the
 * master's, the sync node's) share of its planned rows that ended (`ready`, `error` or `skipped`), and the
 * run's share of all its rows. Nothing is written per result for it.
 *
 * The state machine runs the stages in order (provisioning, then layer 0, 1, ...) and opens a stage only once
 * every row of the one before it has ended; in the open stage, an instance whose result is recorded is no
 * longer open in its batch's shard (rows that dispatch skips are never in one). So, with the stage index of
 * each planned row (provisioning -1, a layer its number), the rows ended while stage `s` is open are those of
 * the stages before `s`, plus those of `s` less the instances still open in its shards. The plan records the
 * stage indexes once per target; a read adds the current stage and its shards.
 */
import { isProvisionStage, layerOf, type Stage } from './stage.js';

/** The stage index of provisioning: before every layer. */
export const PROVISION_INDEX = -1;

/** The order of a stage in a run: provisioning -1, a layer its number. */
export function stageIndex(stage: Stage): number {
  return isProvisionStage(stage) ? PROVISION_INDEX : layerOf(stage);
}

/** Rows of a piece of work (a target, a stage task, a run) that ended, and all it planned. */
export interface RowCount {
  ended: number;
  planned: number;
}

/** Planned rows by stage index (a target's, or a whole run's). */
export type StageCounts = ReadonlyMap<number, number>;

/** The planned rows' stage indexes of a target, as the plan stores them: `-1,0,3,3` (ascending). */
export function encodeStages(indexes: readonly number[]): string {
  return [...indexes].sort((a, b) => a - b).join(',');
}

/** The planned rows by stage index, from the stored form (an entry that is not an integer is left out). */
export function decodeStages(text: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const part of text.split(',')) {
    if (!/^-?\d+$/.test(part)) continue;
    const index = Number(part);
    counts.set(index, (counts.get(index) ?? 0) + 1);
  }
  return counts;
}

/** Where a run is: the stage opened last (null before the first opens) and its instances not reported. */
export interface RunPosition {
  current: number | null;
  /** Instances of the current stage still open in its batches' shards (of the work counted). */
  open: number;
}

/**
 * Ended and planned rows of a piece of work (its planned rows by stage index) at a position of its run.
 * `only` keeps the stages counted (a stage task counts provisioning, or the layers).
 */
export function countAt(
  counts: StageCounts,
  position: RunPosition,
  only: (index: number) => boolean = () => true,
): RowCount {
  let planned = 0;
  let ended = 0;
  for (const [index, n] of counts) {
    if (!only(index)) continue;
    planned += n;
    if (position.current === null) continue;
    if (index < position.current) ended += n;
    else if (index === position.current) ended += Math.max(0, n - position.open);
  }
  return { ended, planned };
}

/** The stage tasks' share of a run's rows: provisioning's, the deployment's (the layers). */
export const isProvisionIndex = (index: number): boolean => index === PROVISION_INDEX;
export const isLayerIndex = (index: number): boolean => index > PROVISION_INDEX;

/** Integer percent of a count, rounded down; work that planned nothing has no share (null). */
export function countPercent(count: RowCount): number | null {
  if (count.planned <= 0) return null;
  return Math.floor((Math.min(Math.max(count.ended, 0), count.planned) * 100) / count.planned);
}

/**
 * A deploy task's (or stage task's) progress when its run settles after a stop: 100 when all its work was
 * done, else the share it had reached, never 100 (work was left).
 */
export function stoppedTaskPercent(reached: RowCount, allDone: boolean): number {
  if (allDone) return 100;
  return unfinishedPercent(countPercent(reached) ?? 0);
}

/**
 * The progress of work that was left undone (a stopped node, a stopped task): what it reached, never 100.
 * Rows skipped because they were blocked or refused by the stop count as ended, so what was reached can be
 * all of it while nothing finished the work.
 */
export function unfinishedPercent(reached: number): number {
  return Math.min(99, reached);
}
