/**
 * The client error of a local AWS JSON endpoint: answered as HTTP 400 (unless told otherwise) with the
 * body `{"__type": type, "message": message}`, which the AWS SDK turns into an exception named `type`.
 */
export class AwsJsonError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** A request member is missing or malformed. */
export function validationError(message: string): AwsJsonError {
  return new AwsJsonError('ValidationException', message);
}
