/**
 * Tasks (Nailgun's transactions) as the API shows them, and `DELETE tasks/{id}`: a finished task (with the
 * stage tasks of a run) is hidden; its history stays for the engine's records. A running task is deleted
 * only with `force`, which forces the stop of the run it belongs to; the engine still settles everything.
 */
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { forcedDeleteReason } from '../../domain/messages.js';
import { allPages, type Page, type PageRequest } from '../../domain/page.js';
import { isTaskFinished, type TaskName, type TaskStatus } from '../../domain/status.js';
import { isForced, isStopping } from '../../domain/stop.js';
import type { DeploymentRun, Task } from '../../domain/task.js';
import { type Context, nowIso } from '../ports.js';
import { escalate } from '../stop/escalation.js';
import { requestFollowUp } from '../stop/follow-up.js';
import { stopDeployment } from '../stop/request.js';

export interface TaskFilter {
  clusterId?: number;
  statuses?: TaskStatus[];
  names?: TaskName[];
}

export async function getTask(ctx: Context, id: number): Promise<Task> {
  const found = await ctx.repos.tasks.get(id);
  if (!found || found.deletedAt) throw new NotFoundError(`Task ${id} not found`);
  return found;
}

/** Whether the API shows a task in a list with this filter (a deleted task is never shown). */
const shown =
  (filter: TaskFilter) =>
  (t: Task): boolean =>
    !t.deletedAt &&
    (filter.clusterId === undefined || t.clusterId === filter.clusterId) &&
    (filter.statuses === undefined || filter.statuses.includes(t.status)) &&
    (filter.names === undefined || filter.names.includes(t.name));

/** One page of the tasks the filter shows, by id; a cluster's without reading other clusters' tasks. */
export function listTasksPage(ctx: Context, filter: TaskFilter, request: PageRequest): Promise<Page<Task>> {
  return ctx.repos.tasks.page({ clusterId: filter.clusterId }, request, shown(filter));
}

/** Every task the filter shows, by id, read page by page. */
export function listTasks(ctx: Context, filter: TaskFilter): Promise<Task[]> {
  return allPages((request) => listTasksPage(ctx, filter, request));
}

/** The run a task belongs to: itself, its parent, or the run its stop stops. */
function runIdOf(task: Task): number {
  if (task.kind === 'run') return task.id;
  if (task.kind === 'stop') return task.deployTaskId;
  if (task.kind === 'stage') return task.parentId;
  return Number.NaN;
}

export async function deleteTask(
  ctx: Context,
  id: number,
  input: { force: boolean; requestedBy: string },
): Promise<void> {
  const t = await getTask(ctx, id);
  if (!isTaskFinished(t.status)) {
    if (!input.force) {
      throw new ConflictError(
        `Task ${id} (${t.name}) is running: stop the deployment first, or delete with ?force=1 ` +
          'to force the stop (running commands are cancelled)',
      );
    }
    const runId = runIdOf(t);
    const run = Number.isNaN(runId) ? null : await ctx.repos.tasks.getRun(runId);
    if (run && !isTaskFinished(run.status)) await forceStopOf(ctx, run, id, input.requestedBy);
  }
  const at = nowIso(ctx);
  const ids = [t.id, ...(t.kind === 'run' ? [t.children.provision, t.children.deployment] : [])];
  for (const each of ids) if (each !== null) await ctx.repos.tasks.update(each, { deletedAt: at });
}

/** Forces the stop of exactly `run` (never of a run started after it ended). */
async function forceStopOf(ctx: Context, run: DeploymentRun, deletedTaskId: number, requestedBy: string) {
  if (isStopping(run.stop)) {
    if (!isForced(run.stop) && (await escalate(ctx, run.id, 'forced_delete')))
      await requestFollowUp(ctx, run.id);
    return;
  }
  await stopDeployment(ctx, run.clusterId, {
    requestedBy,
    message: forcedDeleteReason(deletedTaskId),
    force: true,
    cause: 'forced_delete',
    deployTaskId: run.id,
  }).catch(async (err: unknown) => {
    // the run ended meanwhile: nothing left to force
    if (err instanceof ValidationError) return;
    // a stop was launched meanwhile: force that one
    if (err instanceof ConflictError) {
      if (await escalate(ctx, run.id, 'forced_delete')) await requestFollowUp(ctx, run.id);
      return;
    }
    throw err;
  });
}
