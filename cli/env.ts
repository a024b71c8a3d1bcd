/** `env ...`: environments (Nailgun's clusters) and the actions on them. */
import type { ClusterJson, DeploymentPreviewJson, TaskJson } from '../lambdas/api/wire.js';
import { query } from './api.js';
import { type Command, type Context, command, UsageError } from './command.js';
import { follow } from './follow.js';
import {
  ACTION_COLUMNS,
  CLUSTER_COLUMNS,
  CLUSTER_FIELDS,
  printList,
  printObject,
  printRow,
  table,
} from './output.js';
import { safeJson } from './sanitize.js';

const ENV = { ENV: { kind: 'id', help: 'the environment id' } } as const;
export const WAIT = {
  kind: 'boolean',
  help: "follow the task (progress bar, nodes' statuses) until it ends; exit 1 if it ends in error, 3 if stopped",
} as const;

/** Prints the task an action started, or follows it with --wait. */
export async function started(ctx: Context, task: TaskJson, wait: boolean): Promise<number> {
  if (wait) return follow(ctx, task.id);
  printRow(ctx, task, ACTION_COLUMNS);
  return 0;
}

/**
 * A restart preview: one line of totals, then one row per task on each node (provisioning first, as the
 * `provision` row of the history), in layer order; with --json the API's JSON.
 */
function printPreview(ctx: Context, p: DeploymentPreviewJson): void {
  if (ctx.json) {
    ctx.io.out(safeJson(p));
    return;
  }
  const { run, skip, provision } = p.summary;
  ctx.io.out(
    `Deploy changes${p.resume ? ' --resume' : ''} on environment ${p.cluster} would provision ${provision} ` +
      `nodes, run ${run} tasks and skip ${skip}, in ${p.layers} layers. Nothing was deployed.`,
  );
  const rows = p.nodes.flatMap((n) => {
    const node = n.node_id ?? 'sync';
    const provisioning = n.provision
      ? [
          {
            node,
            name: n.name,
            layer: '-',
            task_name: 'provision',
            action: 'run',
            reason: n.provision_reason,
          },
        ]
      : [];
    return [...provisioning, ...n.tasks.map((t) => ({ node, name: n.name, ...t }))];
  });
  ctx.io.out(table(rows, ['node', 'name', 'layer', 'task_name', 'action', 'reason']));
}

export const envCommands: Command[] = [
  command({
    name: 'env list',
    summary: 'environments and their statuses',
    description: 'Lists the environments.',
    api: 'GET /api/v1/clusters/',
    example: 'env list',
    async run(_, ctx) {
      printList(ctx, await ctx.api.call<ClusterJson[]>('GET', '/clusters/'), CLUSTER_COLUMNS);
    },
  }),
  command({
    name: 'env create',
    summary: 'create an environment',
    description: 'Creates an environment in status `new`, and prints it.',
    api: 'POST /api/v1/clusters/ {"name", "release_id"}',
    args: { NAME: { kind: 'string', help: 'a name no other environment has' } },
    flags: { release: { kind: 'id', help: 'the release id (default 1)' } },
    example: 'env create mycloud --release 1',
    async run(v, ctx) {
      const body = { name: v.NAME, ...(v.release === undefined ? {} : { release_id: v.release }) };
      printObject(ctx, await ctx.api.call<ClusterJson>('POST', '/clusters/', body), CLUSTER_FIELDS);
    },
  }),
  command({
    name: 'env show',
    summary: 'one environment',
    description: 'Shows one environment.',
    api: 'GET /api/v1/clusters/ENV/',
    args: ENV,
    example: 'env show 1',
    async run(v, ctx) {
      printObject(ctx, await ctx.api.call<ClusterJson>('GET', `/clusters/${v.ENV}/`), CLUSTER_FIELDS);
    },
  }),
  command({
    name: 'env deploy',
    summary: 'deploy changes (--preview: what it would run, and why)',
    description:
      'Deploys changes: provisions the nodes that need it, then runs the deployment graph on every node ' +
      'of the environment; work already done on ready nodes is skipped (with --resume, on stopped nodes ' +
      'too: the deployment resumes where it was stopped). Prints the `deploy` task. With --preview it ' +
      'deploys nothing: it prints, per node, each task with its layer and whether it would run or be ' +
      'skipped, and why.',
    api: 'PUT /api/v1/clusters/ENV/changes/[?resume=1]; --preview: GET /api/v1/clusters/ENV/changes/preview/[?resume=1]',
    args: ENV,
    flags: {
      wait: WAIT,
      resume: {
        kind: 'boolean',
        help: 'also skip, on stopped nodes, the tasks already done there with the same inputs (?resume=1)',
      },
      preview: {
        kind: 'boolean',
        help: 'print what the deployment would run and skip on each node, and why; deploy nothing',
      },
    },
    example: 'env deploy 1 --resume --preview',
    async run(v, ctx) {
      const resume = query({ resume: v.resume ? 1 : undefined });
      if (v.preview) {
        if (v.wait) throw new UsageError('--preview deploys nothing: it cannot be followed with --wait');
        const preview = await ctx.api.call<DeploymentPreviewJson>(
          'GET',
          `/clusters/${v.ENV}/changes/preview/${resume}`,
        );
        printPreview(ctx, preview);
        return 0;
      }
      const task = await ctx.api.call<TaskJson>('PUT', `/clusters/${v.ENV}/changes/${resume}`, {});
      return started(ctx, task, v.wait);
    },
  }),
  command({
    name: 'env redeploy',
    summary: 'deploy, running every task again',
    description:
      'Deploys like `env deploy` but runs every task of the graph again, even on ready nodes. ' +
      'Prints the `deploy` task.',
    api: 'PUT /api/v1/clusters/ENV/changes/redeploy/',
    args: ENV,
    flags: { wait: WAIT },
    example: 'env redeploy 1 --wait',
    async run(v, ctx) {
      const task = await ctx.api.call<TaskJson>('PUT', `/clusters/${v.ENV}/changes/redeploy/`, {});
      return started(ctx, task, v.wait);
    },
  }),
  command({
    name: 'env stop-deployment',
    summary: 'stop the running deployment gracefully',
    description:
      'Stops the running deployment gracefully: no new task starts on any node, running tasks finish ' +
      'and are recorded, the environment ends `stopped`. Prints the `stop_deployment` task; --wait ' +
      'follows it until the deployment has stopped.',
    api: 'PUT /api/v1/clusters/ENV/stop_deployment/[?force=1] {"message"}',
    args: ENV,
    flags: {
      force: { kind: 'boolean', help: 'also cancel the commands running on the nodes (?force=1)' },
      message: { kind: 'string', value: 'TEXT', help: 'why, recorded with the stop' },
      wait: WAIT,
    },
    example: "env stop-deployment 1 --message 'wrong graph' --wait",
    async run(v, ctx) {
      const path = `/clusters/${v.ENV}/stop_deployment/${query({ force: v.force ? 1 : undefined })}`;
      const body = v.message === undefined ? {} : { message: v.message };
      return started(ctx, await ctx.api.call<TaskJson>('PUT', path, body), v.wait);
    },
  }),
  command({
    name: 'env reset',
    summary: 'back to new, nodes back to discover',
    description:
      'Resets the environment to `new`: its nodes go back to `discover` with their roles pending, so the ' +
      'next deployment provisions them and runs every task. Prints the `reset_environment` task.',
    api: 'PUT /api/v1/clusters/ENV/reset/',
    args: ENV,
    example: 'env reset 1',
    async run(v, ctx) {
      printRow(ctx, await ctx.api.call<TaskJson>('PUT', `/clusters/${v.ENV}/reset/`, {}), ACTION_COLUMNS);
    },
  }),
  command({
    name: 'env delete',
    summary: 'delete an environment (needs --yes)',
    description:
      'Deletes the environment; its nodes go back to the free pool in `discover`. Does nothing ' +
      'without --yes. Prints the `cluster_deletion` task.',
    api: 'DELETE /api/v1/clusters/ENV/',
    args: ENV,
    flags: { yes: { kind: 'boolean', help: 'confirm the deletion' } },
    example: 'env delete 1 --yes',
    async run(v, ctx) {
      if (!v.yes) {
        throw new UsageError(`env delete removes environment ${v.ENV} for good: add --yes to confirm`);
      }
      printRow(ctx, await ctx.api.call<TaskJson>('DELETE', `/clusters/${v.ENV}/`), ACTION_COLUMNS);
    },
  }),
];
