/** Typed errors of the service; the HTTP layer maps each to one status code. */
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
/** 409: the action conflicts with the current state (a lock, a running deployment). */
export class ConflictError extends ServiceError {}
/** 413: the content is too large to keep. */
export class TooLargeError extends ServiceError {}
/** 401 */
export class UnauthorizedError extends ServiceError {}

/** A conditional write lost: the state was not what the write expected. Raised by the store. */
export class ConditionFailedError extends Error {
  constructor(message = 'The stored item did not match the write condition') {
    super(message);
    this.name = 'ConditionFailedError';
  }
}
