/**
 * The engine's bookkeeping of one run, besides its history rows:
 * - the state of each stage: the callback token the state machine waits on and the batches still open;
 * - a command intent per SendCommand batch, recorded before the command is sent, with the batch's open
 *   instances kept in a small item of their own (its shard of the stage's completion);
 * - failure markers of nodes that failed and of task instances that failed or were blocked.
 */
import type { Stage } from './stage.js';

export interface StageState {
  token: string | null;
  /** Batches whose instances have not all reported yet (each batch's open instances are in its shard). */
  openBatches: number[];
  /**
   * Instance keys (`task@node`) not reported yet, of a stage opened before batches were tracked (legacy
   * stage items kept every key in one set); empty otherwise.
   */
  outstanding: string[];
  /** Every batch of the stage has its intent recorded. */
  planned: boolean;
  /** The token last completed for this stage (a completed token is not completed again). */
  completedToken: string | null;
}

export const UNOPENED_STAGE: StageState = {
  token: null,
  openBatches: [],
  outstanding: [],
  planned: false,
  completedToken: null,
};

/** Every instance the stage waits for has reported. */
export function isStageAllIn(state: StageState): boolean {
  return state.openBatches.length === 0 && state.outstanding.length === 0;
}

/** The token to complete: the stage is all in and its current token was not completed yet; else null. */
export function tokenToComplete(state: StageState): string | null {
  return isStageAllIn(state) && state.token !== null && state.completedToken !== state.token
    ? state.token
    : null;
}

/** What a batch runs, the same on each of its nodes (one task, one command). */
export interface BatchTask {
  /** Whether a failure of its command fails the node (the task's `fail_on_error`). */
  failOnError: boolean;
  /** Fingerprint of the task's inputs in this run (null for provisioning). */
  fingerprint: string | null;
}

export interface CommandIntent {
  deployTaskId: number;
  stage: Stage;
  batch: number;
  comment: string;
  commandId: string | null;
  /** instance id -> history row coordinates */
  targets: Record<string, { taskName: string; nodeId: number }>;
  createdAt: string;
  /**
   * What the batch runs, and the stage task whose progress its rows count in; null in an intent recorded
   * before batches were tracked (legacy: its instances are in the stage item's `outstanding` set).
   */
  tracked: { task: BatchTask; stageTaskId: number | null } | null;
}

/** A batch's shard after one of its instances was closed: how many are still open, which ended ready. */
export interface BatchShard {
  /** Node ids of the batch whose result is not recorded yet. */
  open: number[];
  /** Node ids of the batch whose row ended ready with a fingerprint: their last runs are recorded at its end. */
  ready: number[];
  /** When a result last closed an instance of the batch (ISO); null before the first. */
  closedAt: string | null;
}

/** A batch's rows count in its tasks' progress every PROGRESS_STEP results, and the rest when it ends. */
export const PROGRESS_STEP = 25;

/** The rows a close adds to the progress while its batch is still open: a step every PROGRESS_STEP. */
export function progressStepAt(closed: number, size: number): number {
  return closed < size && closed % PROGRESS_STEP === 0 ? PROGRESS_STEP : 0;
}

/** The rows the end of a batch of `size` adds to the progress: those the steps before it did not. */
export function progressAtEnd(size: number): number {
  return size - Math.floor((size - 1) / PROGRESS_STEP) * PROGRESS_STEP;
}

export interface Failures {
  /** node id -> why nothing more runs on it */
  nodes: Map<number, string>;
  /** instance key -> why it did not succeed (failed, or blocked by a failed requirement) */
  instances: Map<string, string>;
}

const COMMENT = /^fuel:(\d+):(provision|layer-\d+):(\d+)$/;

/** The comment of a batch's command: it names the run, stage and batch, so a result finds its intent. */
export function commandComment(deployTaskId: number, stage: Stage, batch: number): string {
  return `fuel:${deployTaskId}:${stage}:${batch}`;
}

export function parseComment(comment: string): { deployTaskId: number; stage: Stage; batch: number } | null {
  const match = COMMENT.exec(comment);
  if (!match) return null;
  return { deployTaskId: Number(match[1]), stage: String(match[2]) as Stage, batch: Number(match[3]) };
}
