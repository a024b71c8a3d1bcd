import { stagePrefix, txPk } from './history-codec.js';
import type { Item, Key } from './item.js';

/**
 * Engine bookkeeping of one deployment, under the deploy task's partition:
 * - a stage item per provisioning / layer: the callback token and the set of outstanding instances;
 * - an intent item per SendCommand batch, written before the command is sent;
 * - failure markers for failed nodes and for task instances that failed or were blocked.
 */
export interface StageState {
  token: string | null;
  outstanding: string[];
  /** Every batch of the stage has its intent recorded. */
  planned: boolean;
  /** The token last completed for this stage (a completed token is not completed again). */
  completedToken: string | null;
}

export interface CommandIntent {
  deployTaskId: number;
  stage: string;
  batch: number;
  comment: string;
  commandId: string | null;
  /** instance id -> history row coordinates */
  targets: Record<string, { taskName: string; nodeId: number }>;
  createdAt: string;
}

export const stageCodec = {
  key: (deployTaskId: number, stage: string): Key => ({
    pk: txPk(deployTaskId),
    sk: `STAGE#${stagePrefix(stage).slice('ROW#'.length)}`,
  }),
  fromItem: (item: Item): StageState => ({
    token: typeof item.token === 'string' ? item.token : null,
    outstanding: item.outstanding instanceof Set ? [...(item.outstanding as Set<string>)] : [],
    planned: item.planned === true,
    completedToken: typeof item.completedToken === 'string' ? item.completedToken : null,
  }),
};

export const intentCodec = {
  key: (deployTaskId: number, stage: string, batch: number): Key => ({
    pk: txPk(deployTaskId),
    sk: `CMD#${stagePrefix(stage).slice('ROW#'.length)}${String(batch).padStart(5, '0')}`,
  }),
  toItem: (intent: CommandIntent): Item => ({
    ...intentCodec.key(intent.deployTaskId, intent.stage, intent.batch),
    entity: 'intent',
    ...intent,
  }),
  fromItem: (item: Item): CommandIntent => {
    const { pk: _pk, sk: _sk, entity: _e, ...rest } = item;
    return rest as unknown as CommandIntent;
  },
};

export const FAILURE_PREFIX = 'BAD#';

export const failureCodec = {
  nodeKey: (deployTaskId: number, nodeId: number): Key => ({
    pk: txPk(deployTaskId),
    sk: `${FAILURE_PREFIX}N#${nodeId}`,
  }),
  instanceKey: (deployTaskId: number, key: string): Key => ({
    pk: txPk(deployTaskId),
    sk: `${FAILURE_PREFIX}T#${key}`,
  }),
};
