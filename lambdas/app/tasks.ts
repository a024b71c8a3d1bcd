/** Task records (Nailgun's transactions) as the service and the engine create them. */
import { randomUUID } from 'node:crypto';
import type { Task } from '../domain/model.js';

export function newTask(
  fields: Pick<Task, 'id' | 'name' | 'clusterId' | 'parentId' | 'status'> & Partial<Task>,
  at: string,
): Task {
  return {
    uuid: randomUUID(),
    progress: 0,
    message: null,
    result: {},
    timeStart: at,
    timeEnd: null,
    graphType: 'default',
    dryRun: false,
    executionArn: null,
    done: 0,
    total: 0,
    provisionTaskId: null,
    deploymentTaskId: null,
    stopRequestedAt: null,
    stop: null,
    dispatchLeaseUntil: null,
    finishingAt: null,
    nodesBefore: null,
    plan: null,
    mode: null,
    deletedAt: null,
    ...fields,
  };
}

/** The `stop_deployment` task of a user's stop of `deploy` (whose stop request is recorded). */
export function stopTaskRecord(deploy: Task, stopTaskId: number, at: string): Task {
  const task = newTask(
    {
      id: stopTaskId,
      name: 'stop_deployment',
      clusterId: deploy.clusterId,
      parentId: null,
      status: 'running',
    },
    at,
  );
  task.message = 'Stopping the deployment: running tasks finish, no new task starts';
  task.result = {
    deploy_task_id: deploy.id,
    requested_by: deploy.stop?.requestedBy ?? null,
    reason: deploy.stop?.message ?? null,
  };
  task.executionArn = deploy.executionArn;
  return task;
}
