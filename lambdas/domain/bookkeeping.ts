/**
 * The engine's bookkeeping of one run, besides its history rows:
 * - the state of each stage: the callback token the state machine waits on and the instances outstanding;
 * - a command intent per SendCommand batch, recorded before the command is sent;
 * - failure markers of nodes that failed and of task instances that failed or were blocked.
 */
import type { Stage } from './stage.js';

export interface StageState {
  token: string | null;
  /** Instance keys (`task@node`) whose results have not been recorded yet. */
  outstanding: string[];
  /** Every batch of the stage has its intent recorded. */
  planned: boolean;
  /** The token last completed for this stage (a completed token is not completed again). */
  completedToken: string | null;
}

export const UNOPENED_STAGE: StageState = {
  token: null,
  outstanding: [],
  planned: false,
  completedToken: null,
};

export interface CommandIntent {
  deployTaskId: number;
  stage: Stage;
  batch: number;
  comment: string;
  commandId: string | null;
  /** instance id -> history row coordinates */
  targets: Record<string, { taskName: string; nodeId: number }>;
  createdAt: string;
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
