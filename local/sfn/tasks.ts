/**
 * The Task states of an execution, served in-process: a Lambda ARN or lambda:invoke calls the local
 * function (errors reported as AWS reports a function error), lambda:invoke.waitForTaskToken calls it
 * with a fresh task token and waits for the callback; any other resource fails with States.Runtime.
 */
import { isRecord } from '../aws-json/fields.js';
import type { TaskTokens } from './callbacks.js';
import { TOKEN_PLACEHOLDER } from './callbacks.js';
import type { TaskSpec } from './definition.js';
import type { TaskHandlers } from './engine.js';
import { errorMessage, errorName, RuntimeFailure, stateError } from './errors.js';
import { type Json, replaceDeep, toJson } from './json.js';

export type LocalFunction = (payload: unknown) => Promise<unknown>;

export class TaskRunner {
  constructor(
    private readonly tasks: Map<string, TaskSpec>,
    private readonly functions: Record<string, LocalFunction>,
    private readonly tokens: TaskTokens,
  ) {}

  /** The handlers of every Task state, for one execution. */
  handlers(executionArn: string): TaskHandlers {
    const handlers: Record<string, (input: Json) => Promise<Json>> = {};
    for (const [name, spec] of this.tasks) {
      switch (spec.kind) {
        case 'lambda':
          handlers[name] = (input) => this.invokeFunction(spec.resource, input);
          break;
        case 'invoke':
          handlers[name] = (input) => this.invokeTask(input);
          break;
        case 'callback':
          handlers[name] = (input) => this.callbackTask(executionArn, input);
          break;
        default:
          handlers[name] = async () => {
            throw new RuntimeFailure(`Resource not served locally: ${spec.resource}`);
          };
      }
    }
    return handlers;
  }

  private async invokeFunction(nameOrArn: string, payload: Json): Promise<Json> {
    const fn =
      this.functions[nameOrArn] ??
      Object.entries(this.functions).find(([arn]) => arn.endsWith(`:function:${nameOrArn}`))?.[1];
    if (!fn) {
      throw stateError('Lambda.ResourceNotFoundException', `Function not found: ${nameOrArn}`);
    }
    try {
      return toJson(await fn(payload));
    } catch (error) {
      // As AWS reports a function error: the error type is the error name, the cause the function's answer.
      const type = errorName(error);
      throw stateError(type, JSON.stringify({ errorType: type, errorMessage: errorMessage(error) }));
    }
  }

  /** lambda:invoke: the function's answer wrapped as `{ Payload, StatusCode }`. */
  private async invokeTask(input: Json): Promise<Json> {
    if (!isRecord(input) || typeof input.FunctionName !== 'string') {
      throw new RuntimeFailure('lambda:invoke needs Parameters.FunctionName');
    }
    const payload = await this.invokeFunction(input.FunctionName, (input.Payload ?? null) as Json);
    return { Payload: payload, StatusCode: 200 };
  }

  /** lambda:invoke.waitForTaskToken: `input` is `{ request, timeoutSeconds }` (see definition.ts). */
  private callbackTask(executionArn: string, input: Json): Promise<Json> {
    const request = isRecord(input) ? input.request : undefined;
    const timeoutSeconds = isRecord(input) ? input.timeoutSeconds : undefined;
    if (!isRecord(request) || typeof request.FunctionName !== 'string') {
      return Promise.reject(new RuntimeFailure('lambda:invoke needs Parameters.FunctionName'));
    }
    if (
      timeoutSeconds !== undefined &&
      (typeof timeoutSeconds !== 'number' || !Number.isInteger(timeoutSeconds) || timeoutSeconds < 1)
    ) {
      return Promise.reject(
        new RuntimeFailure(`TimeoutSecondsPath resolved to ${JSON.stringify(timeoutSeconds)}`),
      );
    }
    const { token, result } = this.tokens.issue(executionArn, timeoutSeconds);
    const payload = replaceDeep((request.Payload ?? null) as Json, TOKEN_PLACEHOLDER, token);
    this.invokeFunction(request.FunctionName, payload).catch((error: unknown) => {
      if (!this.tokens.isLive(token)) return;
      this.tokens.fail(token, error instanceof Error ? error : stateError('Error', String(error)));
    });
    return result;
  }
}
