import type { GraphTask } from '../domain/graph.js';
import type { Item, Key } from './item.js';

/** A cluster's deployment graph and its attributes: one item each, under the cluster's own partition. */
export type Attributes = Record<string, unknown>;

const clusterPk = (clusterId: number): string => `CLUSTER#${clusterId}`;

export const graphCodec = {
  key: (clusterId: number): Key => ({ pk: clusterPk(clusterId), sk: 'GRAPH' }),
  toItem: (clusterId: number, tasks: GraphTask[]): Item => ({
    ...graphCodec.key(clusterId),
    entity: 'graph',
    tasks,
  }),
  fromItem: (item: Item): GraphTask[] => (item.tasks ?? []) as GraphTask[],
};

export const attributesCodec = {
  key: (clusterId: number): Key => ({ pk: clusterPk(clusterId), sk: 'ATTRIBUTES' }),
  toItem: (clusterId: number, editable: Attributes): Item => ({
    ...attributesCodec.key(clusterId),
    entity: 'attributes',
    editable,
  }),
  fromItem: (item: Item): Attributes => (item.editable ?? {}) as Attributes,
};
