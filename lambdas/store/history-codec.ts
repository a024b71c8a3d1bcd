import { type HistoryRow, PROVISION_STAGE } from '../domain/model.js';
import { type Item, type Key, pad, withoutKeys } from './item.js';

/**
 * History rows: one item per (deployment, task, node), under the deploy task's partition.
 * The stage is part of the sort key so that one Query returns one layer, or the provisioning rows.
 */
export function txPk(deployTaskId: number): string {
  return `TX#${pad(deployTaskId)}`;
}

export function stagePrefix(stage: string): string {
  if (stage === PROVISION_STAGE) return 'ROW#P#';
  const layer = Number(stage.slice('layer-'.length));
  return `ROW#L${pad(layer, 6)}#`;
}

export const ALL_ROWS_PREFIX = 'ROW#';
export const LAYER_ROWS_PREFIX = 'ROW#L';
export const PROVISION_ROWS_PREFIX = 'ROW#P#';

export const historyCodec = {
  key: (deployTaskId: number, stage: string, taskName: string, nodeId: number): Key => ({
    pk: txPk(deployTaskId),
    sk: `${stagePrefix(stage)}${taskName}#${pad(nodeId)}`,
  }),
  toItem: (row: HistoryRow): Item => ({
    ...historyCodec.key(row.deployTaskId, row.stage, row.taskName, row.nodeId),
    entity: 'history',
    ...row,
  }),
  fromItem: (item: Item): HistoryRow => withoutKeys<HistoryRow>(item),
};
