import type { Task } from '../domain/model.js';
import { type Item, type Key, pad, withoutKeys } from './item.js';

/** Tasks (Nailgun's transactions) live in one partition, ordered by id. */
export const TASK_PK = 'TASK';

export const taskCodec = {
  key: (id: number): Key => ({ pk: TASK_PK, sk: `T#${pad(id)}` }),
  toItem: (task: Task): Item => ({ ...taskCodec.key(task.id), entity: 'task', ...task }),
  fromItem: (item: Item): Task => withoutKeys<Task>(item),
};
