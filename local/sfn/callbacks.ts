/**
 * The task tokens of `.waitForTaskToken` states: every entry into such a state gets a fresh token; the
 * state waits for SendTaskSuccess / SendTaskFailure, its TimeoutSeconds(Path), or the end of its
 * execution. A token that has been used, timed out or outlived its execution answers TaskTimedOut.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsJsonError } from '../aws-json/errors.js';
import { ExecutionEndedError, stateError } from './errors.js';
import type { Json } from './json.js';

/** Stand-in for `$$.Task.Token` in the context object; replaced by a fresh token on every state entry. */
export const TOKEN_PLACEHOLDER = `__local-sfn-task-token-${randomUUID()}__`;

interface PendingTask {
  executionArn: string;
  resolve: (output: Json) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

export class TaskTokens {
  private readonly live = new Map<string, PendingTask>();
  private readonly used = new Set<string>();

  /** A new token for a state of `executionArn`; `result` settles with the task's result. */
  issue(executionArn: string, timeoutSeconds: number | undefined): { token: string; result: Promise<Json> } {
    const token = randomBytes(96).toString('base64url');
    let resolve: (output: Json) => void = () => undefined;
    let reject: (error: Error) => void = () => undefined;
    const result = new Promise<Json>((onResult, onError) => {
      resolve = onResult;
      reject = onError;
    });
    const task: PendingTask = { executionArn, resolve, reject };
    if (timeoutSeconds !== undefined) {
      task.timer = setTimeout(() => {
        this.retire(token);
        reject(stateError('States.Timeout', `No task result within ${timeoutSeconds} s`));
      }, timeoutSeconds * 1000);
    }
    this.live.set(token, task);
    return { token, result };
  }

  isLive(token: string): boolean {
    return this.live.has(token);
  }

  /** Checks that a token a client sent still waits for its result (TaskTimedOut, InvalidToken if not). */
  check(token: string): void {
    if (this.live.has(token)) return;
    if (this.used.has(token)) {
      throw new AwsJsonError('TaskTimedOut', 'Task Timed Out: Provided task does not exist anymore');
    }
    throw new AwsJsonError('InvalidToken', 'Invalid Token: the task token is not known');
  }

  succeed(token: string, output: Json): void {
    const task = this.retire(token);
    task?.resolve(output);
  }

  fail(token: string, error: Error): void {
    const task = this.retire(token);
    task?.reject(error);
  }

  /** Ends every task of an execution that is over. */
  endExecution(executionArn: string, reason: string): void {
    for (const [token, task] of this.live) {
      if (task.executionArn !== executionArn) continue;
      this.retire(token);
      task.reject(new ExecutionEndedError(reason));
    }
  }

  /** Retires a token: later calls with it answer TaskTimedOut. */
  private retire(token: string): PendingTask | undefined {
    const task = this.live.get(token);
    if (task?.timer) clearTimeout(task.timer);
    this.live.delete(token);
    this.used.add(token);
    return task;
  }
}
