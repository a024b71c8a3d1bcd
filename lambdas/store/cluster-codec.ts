import type { Cluster } from '../domain/model.js';
import { type Item, type Key, pad, withoutKeys } from './item.js';

/** Clusters live in one partition: listing them is a single Query. */
export const CLUSTER_PK = 'CLUSTER';

export const clusterCodec = {
  key: (id: number): Key => ({ pk: CLUSTER_PK, sk: `C#${pad(id)}` }),
  toItem: (cluster: Cluster): Item => ({ ...clusterCodec.key(cluster.id), entity: 'cluster', ...cluster }),
  fromItem: (item: Item): Cluster => withoutKeys<Cluster>(item),
};
