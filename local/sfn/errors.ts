/**
 * The errors states fail with in the local Step Functions endpoint: named errors that Retry and Catch
 * match, and the two that neither retries nor catches (the execution ended; States.Runtime).
 */

/** An error a Task state fails with; Retry/Catch match it by `name`. */
export function stateError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** An error that neither Retry nor Catch matches: it ends the execution. */
class UncatchableError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Ends a pending task because its execution ended, so the engine does not run anything else for an
 * execution that is over.
 */
export class ExecutionEndedError extends UncatchableError {
  constructor(message: string) {
    super('States.ExecutionEnded', message);
  }
}

/** A malformed reference found at run time (as AWS: States.Runtime, neither retried nor caught). */
export class RuntimeFailure extends UncatchableError {
  constructor(message: string) {
    super('States.Runtime', message);
  }
}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
