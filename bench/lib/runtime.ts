/** The embedded runtime as the bench uses it: started in-process, its execution histories, its fleet's log. */
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import type { Task } from '../../lambdas/domain/task.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/local-dynamodb.js';
import { type Runtime, type RuntimeOptions, startRuntime } from '../../local/runtime.js';
import type { FleetCommandRecord } from '../../local/ssm/fleet.js';
import { Api, until } from './api.js';

export interface BenchRuntime {
  runtime: Runtime;
  api: Api;
  stop(): Promise<void>;
}

export async function benchRuntime(options: RuntimeOptions): Promise<BenchRuntime> {
  const runtime = await startRuntime({ port: 0, demo: false, authToken: 'bench', ...options });
  return {
    runtime,
    api: new Api(runtime.url, runtime.token),
    stop: () => runtime.stop(),
  };
}

/** Every event of an execution's history (GetExecutionHistory, paged). */
export async function executionHistory(runtime: Runtime, executionArn: string): Promise<HistoryEvent[]> {
  const sfn = new SFNClient({
    endpoint: runtime.endpoints.sfn,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  try {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }),
      );
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return events;
  } finally {
    sfn.destroy();
  }
}

/** The commands of one deployment in the fleet's log: their comment is `fuel:<run id>:<stage>:<batch>`. */
export function commandsOf(runtime: Runtime, runId: number): FleetCommandRecord[] {
  return runtime.fleet.commandLog().filter((c) => c.comment.startsWith(`fuel:${runId}:`));
}

/** The stage (`layer-3`, `provision`) a command's comment names. */
export function stageOfComment(comment: string): string {
  return comment.split(':')[2] ?? '';
}

/**
 * Waits, reading the task repository directly (the bench's own reads are not the product's requests), until
 * the task has ended; returns it.
 */
export function ended(runtime: Runtime, taskId: number, timeoutMs: number, everyMs = 100): Promise<Task> {
  return until(
    `task ${taskId} to end`,
    async () => {
      const task = await runtime.repos.tasks.get(taskId);
      return task !== null && (task.status === 'ready' || task.status === 'error') && task;
    },
    timeoutMs,
    everyMs,
  );
}
