import type { LastRun, Node } from '../domain/model.js';
import { type Item, type Key, pad, withoutKeys } from './item.js';

/** Nodes live in one partition; a second item maps an SSM instance id to its node id. */
export const NODE_PK = 'NODE';

export const nodeCodec = {
  key: (id: number): Key => ({ pk: NODE_PK, sk: `N#${pad(id)}` }),
  toItem: (node: Node): Item => ({ ...nodeCodec.key(node.id), entity: 'node', ...node }),
  fromItem: (item: Item): Node => withoutKeys<Node>(item),
  instanceKey: (instanceId: string): Key => ({ pk: 'INSTANCE', sk: instanceId }),
};

/** The last successful run of each task on a node: one partition per node, one item per task. */
export const lastRunCodec = {
  pk: (nodeId: number): string => `LASTRUN#${pad(nodeId)}`,
  key: (nodeId: number, taskName: string): Key => ({ pk: lastRunCodec.pk(nodeId), sk: taskName }),
  toItem: (run: LastRun): Item => ({
    ...lastRunCodec.key(run.nodeId, run.taskName),
    entity: 'lastrun',
    ...run,
  }),
  fromItem: (item: Item): LastRun => withoutKeys<LastRun>(item),
};
