/**
 * Typed errors of the service: the HTTP layer maps each kind to one status code. The repositories raise
 * `WriteConflictError` when a conditional write lost (the stored state was not what the write expected);
 * being a `ConflictError`, a lost race that no use case handles answers 409, never 500.
 */
export interface ProblemDetail {
  field: string;
  message: string;
}

export class ServiceError extends Error {
  constructor(
    message: string,
    readonly errors: ProblemDetail[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 400: the request is well-formed but its content is not acceptable. */
export class ValidationError extends ServiceError {}
/** 404 */
export class NotFoundError extends ServiceError {}
/** 403: the action is not allowed in the current state (Nailgun's answer to a settings change on a locked cluster). */
export class ForbiddenError extends ServiceError {}
/** 409: the action conflicts with the current state (a lock, a running deployment, a stop already launched). */
export class ConflictError extends ServiceError {}
/** 413: the content is too large to keep. */
export class TooLargeError extends ServiceError {}
/** 401 */
export class UnauthorizedError extends ServiceError {}

/** 409: a conditional write lost a race; nothing was written by it. */
export class WriteConflictError extends ConflictError {
  constructor(message = 'The item changed at the same time; nothing was written: try again') {
    super(message);
  }
}
