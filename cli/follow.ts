/**
 * `--wait`: follows a task until it ends, with a progress bar and the statuses of the environment's
 * nodes; redrawn in place on a terminal, printed as lines of changes otherwise.
 */
import type { NodeJson, TaskJson } from '../lambdas/api/wire.js';
import { query } from './api.js';
import type { Context, Io } from './command.js';
import { table } from './output.js';
import { safeJson, sanitize, sanitizeLine } from './sanitize.js';

const POLL_MS = 500;
/** Polls that may fail in a row (a restarting API, a network blip) before --wait gives up. */
const MAX_POLL_FAILURES = 5;
/** `--wait` on a deployment that a stop ended: not done, not failed. */
const EXIT_STOPPED = 3;
/** Ctrl-C during --wait: 128 + SIGINT, as a shell reports it. */
const EXIT_INTERRUPTED = 130;
/** At most this many node lines are redrawn, so the view fits a terminal. */
const LIVE_NODES = 20;
const FOLLOW_NODE_COLUMNS = ['id', 'name', 'status', 'error_type', 'roles', 'progress'];

interface Frame {
  task: TaskJson;
  nodes: NodeJson[];
}

interface View {
  update(frame: Frame): void;
  end(frame: Frame): void;
}

function bar(progress: number): string {
  const filled = Math.max(0, Math.min(20, Math.round(progress / 5)));
  return `[${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${String(progress).padStart(3)}%`;
}

/** `deploy 7 [##########..........]  50% running  nodes: 1 deploying, 1 ready` */
function summary({ task, nodes }: Frame): string {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.status, (counts.get(n.status) ?? 0) + 1);
  const states = [...counts].map(([status, count]) => `${count} ${status}`).join(', ');
  return sanitizeLine(`${task.name} ${task.id} ${bar(task.progress)} ${task.status}  nodes: ${states}`);
}

/** A terminal: the summary and the nodes' table (the first LIVE_NODES nodes), redrawn in place. */
function liveView(io: Io): View {
  let height = 0;
  const draw = (frame: Frame) => {
    const shown = frame.nodes.slice(0, LIVE_NODES);
    const more = frame.nodes.length - shown.length;
    const lines = [
      summary(frame),
      ...table(shown, FOLLOW_NODE_COLUMNS).split('\n'),
      ...(more > 0 ? [`... and ${more} more nodes`] : []),
    ];
    const up = height > 0 ? `\u001b[${height}A\r` : '';
    io.write(`${up}${lines.map((l) => `${l}\u001b[K\n`).join('')}\u001b[J`);
    height = lines.length;
  };
  return {
    update: draw,
    end(frame) {
      draw(frame);
      io.out(sanitize(frame.task.message ?? ''));
    },
  };
}

/** A log: the summary when it changes and each node's change of status, then the final table. */
function logView(io: Io): View {
  let last = '';
  const statuses = new Map<number, string>();
  const update = (frame: Frame) => {
    const line = summary(frame);
    if (line !== last) io.out(line);
    last = line;
    for (const n of frame.nodes) {
      const before = statuses.get(n.id);
      if (before !== undefined && before !== n.status)
        io.out(sanitizeLine(`  ${n.name} (${n.id}): ${before} -> ${n.status}`));
      statuses.set(n.id, n.status);
    }
  };
  return {
    update,
    end(frame) {
      update(frame);
      io.out(sanitize(frame.task.message ?? ''));
      io.out(table(frame.nodes, FOLLOW_NODE_COLUMNS));
    },
  };
}

/** --json: nothing while it runs, the final task at the end. */
function jsonView(io: Io): View {
  return {
    update() {},
    end: (frame) => io.out(safeJson(frame.task)),
  };
}

/** The exit code of a followed task: 3 a deployment ended by a graceful stop, else 0 when `ready`, 1 `error`. */
function exitCode(task: TaskJson): number {
  if (task.result.cluster_status === 'stopped') return EXIT_STOPPED;
  return task.status === 'error' ? 1 : 0;
}

/** Follows the task until it ends (see exitCode); a few failed polls in a row are retried. */
export async function follow(ctx: Context, taskId: number): Promise<number> {
  const view = ctx.json ? jsonView(ctx.io) : ctx.io.isTTY ? liveView(ctx.io) : logView(ctx.io);
  const poll = async (): Promise<Frame> => {
    const task = await ctx.api.call<TaskJson>('GET', `/transactions/${taskId}/`);
    const nodes = await ctx.api.call<NodeJson[]>('GET', `/nodes/${query({ cluster_id: task.cluster })}`);
    return { task, nodes };
  };
  // Ctrl-C ends the following, not the task: say so, and how to look at it again or stop it
  let clusterId: number | null = null;
  const interrupted = (): void => {
    ctx.io.err(interruptedMessage(taskId, clusterId));
    process.exit(EXIT_INTERRUPTED);
  };
  process.once('SIGINT', interrupted);
  try {
    for (let failures = 0; ; ) {
      try {
        const frame = await poll();
        failures = 0;
        clusterId = frame.task.cluster;
        if (frame.task.status === 'ready' || frame.task.status === 'error') {
          view.end(frame);
          return exitCode(frame.task);
        }
        view.update(frame);
      } catch (err) {
        if (++failures >= MAX_POLL_FAILURES) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    process.off('SIGINT', interrupted);
  }
}

/** What Ctrl-C during --wait prints: the task goes on without the CLI. */
function interruptedMessage(taskId: number, clusterId: number | null): string {
  const stop = clusterId === null ? '' : `; to stop it: fuel-sls env stop-deployment ${clusterId}`;
  return `\nStopped following task ${taskId}; the task goes on in the service. To look at it: fuel-sls task show ${taskId}${stop}`;
}
