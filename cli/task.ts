/** `task ...`: tasks (Nailgun's transactions) and what they ran on each node. */
import type { HistoryJson, TaskJson } from '../lambdas/api/wire.js';
import { query } from './api.js';
import { type Command, type Context, command, ENV_FLAG } from './command.js';
import { printList, printObject, TASK_COLUMNS, TASK_FIELDS } from './output.js';
import { sanitize } from './sanitize.js';

const TASK = { TASK: { kind: 'id', help: 'the task id' } } as const;
/** `--limit N`: only the first N entries (the list is read page by page either way). */
const LIMIT = {
  limit: { kind: 'id', value: 'N', help: 'show only the first N (the list is read page by page, up to N)' },
} as const;
const SUMMARY_WIDTH = 80;

/**
 * `exit 5: <the reason or the last line of stderr>`, at most one line of SUMMARY_WIDTH characters, without
 * control characters (a colouring escape sequence neither counts nor ends up on the terminal).
 */
function summary(custom: HistoryJson['custom']): string {
  const lastLine = (v: unknown) =>
    typeof v === 'string' ? (sanitize(v).trim().split('\n').pop() ?? '') : '';
  const code = typeof custom.exit_code === 'number' ? `exit ${custom.exit_code}` : '';
  const why = lastLine(custom.reason) || (custom.exit_code ? lastLine(custom.error_tail) : '');
  const text = [code, why].filter(Boolean).join(': ');
  return text.length > SUMMARY_WIDTH ? `${text.slice(0, SUMMARY_WIDTH - 3)}...` : text;
}

export const taskCommands: Command[] = [
  command({
    name: 'task list',
    summary: 'tasks, finished ones too, with filters',
    description:
      'Lists the tasks, running and finished, oldest first (--newest: newest first), reading them page by page.',
    api: 'GET /api/v1/transactions/?cluster_id=&statuses=&transaction_types=&order_by=&limit=&marker=',
    flags: {
      ...LIMIT,
      newest: { kind: 'boolean', help: 'newest first' },
      env: { ...ENV_FLAG, required: false, help: 'only the tasks of this environment' },
      statuses: { kind: 'list', value: 'S,S', help: 'only these statuses: pending, running, ready, error' },
      names: {
        kind: 'list',
        value: 'N,N',
        help: 'only these names: deploy, provision, deployment, stop_deployment, reset_environment, cluster_deletion',
      },
    },
    example: 'task list --env 1 --statuses ready,error --names deploy --newest --limit 5',
    async run(v, ctx) {
      const path = `/transactions/${query({
        cluster_id: v.env,
        statuses: v.statuses,
        transaction_types: v.names,
        order_by: v.newest ? '-id' : undefined,
      })}`;
      printList(ctx, await ctx.api.list<TaskJson>(path, v.limit), TASK_COLUMNS);
    },
  }),
  command({
    name: 'task show',
    summary: 'one task',
    description: 'Shows one task.',
    api: 'GET /api/v1/transactions/TASK/',
    args: TASK,
    example: 'task show 7',
    async run(v, ctx) {
      printObject(ctx, await ctx.api.call<TaskJson>('GET', `/transactions/${v.TASK}/`), TASK_FIELDS);
    },
  }),
  command({
    name: 'task delete',
    summary: 'delete a finished task (--force for a running one)',
    description:
      'Removes a finished task (with the children of a deployment) from the API. A running task needs ' +
      '--force, which forces the stop of its deployment: running commands are cancelled.',
    api: 'DELETE /api/v1/tasks/TASK/[?force=1]',
    args: TASK,
    flags: { force: { kind: 'boolean', help: 'delete a running task, forcing the stop of its deployment' } },
    example: 'task delete 7',
    async run(v, ctx) {
      await ctx.api.call<null>('DELETE', `/tasks/${v.TASK}/${v.force ? '?force=1' : ''}`);
      ctx.io.out(ctx.json ? 'null' : `Task ${v.TASK} deleted.`);
    },
  }),
  command({
    name: 'task history show',
    summary: 'what ran where, per task and node',
    description:
      'Shows the deployment history of a `deploy` task (or of its `provision` or `deployment` child), or of ' +
      'a top-level `provision` / `deployment` task of selected nodes: one ' +
      'row per graph task and node, with a summary of its result (exit code, reason or last line of stderr). ' +
      'Provisioning first, then the layers in order, read page by page.',
    api: 'GET /api/v1/transactions/TASK/deployment_history/?nodes=&statuses=&tasks_names=&limit=&marker=',
    args: TASK,
    flags: {
      ...LIMIT,
      nodes: { kind: 'ids', value: 'ID,ID', help: 'only these nodes' },
      statuses: {
        kind: 'list',
        value: 'S,S',
        help: 'only these statuses: pending, running, ready, error, skipped',
      },
      'tasks-names': { kind: 'list', value: 'T,T', help: 'only these graph tasks' },
    },
    example: 'task history show 7 --statuses error,skipped',
    async run(v, ctx) {
      const filters = query({ nodes: v.nodes, statuses: v.statuses, tasks_names: v['tasks-names'] });
      const rows = await ctx.api.list<HistoryJson>(
        `/transactions/${v.TASK}/deployment_history/${filters}`,
        v.limit,
      );
      if (rows.length === 0) await pointAtStoppedDeployment(ctx, v.TASK);
      printList(ctx, ctx.json ? rows : rows.map((r) => ({ ...r, summary: summary(r.custom) })), [
        'task_name',
        'node_id',
        'status',
        'time_start',
        'time_end',
        'summary',
      ]);
    },
  }),
];

/** A stop task has no history of its own: says so on stderr, and which deployment's history to read. */
async function pointAtStoppedDeployment(ctx: Context, taskId: number): Promise<void> {
  const task = await ctx.api.call<TaskJson>('GET', `/transactions/${taskId}/`);
  const deployTaskId = task.result.deploy_task_id;
  if (task.name !== 'stop_deployment' || typeof deployTaskId !== 'number') return;
  ctx.io.err(
    `Task ${taskId} is a stop_deployment task, which has no history of its own. ` +
      `The history of the deployment it stopped: fuel-sls task history show ${deployTaskId}`,
  );
}
