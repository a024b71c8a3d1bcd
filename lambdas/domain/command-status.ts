/**
 * The statuses of an SSM Run Command invocation (one command on one node), as AWS reports them in
 * GetCommandInvocation, ListCommandInvocations and the EventBridge status-change events, with the
 * predicates the engine decides by. `DeliveryTimedOut` and `ExecutionTimedOut` are status details that
 * some paths report in place of `TimedOut`.
 */

/** The statuses of a command that ended without success. */
const FAILED = [
  'Failed',
  'TimedOut',
  'Cancelled',
  'Undeliverable',
  'Terminated',
  'DeliveryTimedOut',
  'ExecutionTimedOut',
  'InvalidPlatform',
  'AccessDenied',
] as const;

export const COMMAND_STATUSES = [
  'Pending',
  'InProgress',
  'Delayed',
  'Cancelling',
  'Success',
  ...FAILED,
] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

export function isCommandStatus(value: unknown): value is CommandStatus {
  return typeof value === 'string' && (COMMAND_STATUSES as readonly string[]).includes(value);
}

/** The command ran to its end on the node and succeeded. */
export function isCommandSucceeded(status: CommandStatus): boolean {
  return status === 'Success';
}

/** The command ended without success: it failed, timed out, was cancelled or never reached the node. */
export function isCommandFailed(status: CommandStatus): boolean {
  return (FAILED as readonly CommandStatus[]).includes(status);
}

/** The command has ended on the node, one way or another; no further status will come. */
export function isCommandFinished(status: CommandStatus): boolean {
  return isCommandSucceeded(status) || isCommandFailed(status);
}

/** The command has not reached its node yet (the node is unreachable, or the send was a moment ago). */
export function isCommandNotStarted(status: CommandStatus): boolean {
  return status === 'Pending' || status === 'Delayed';
}

/** A cancellation ended (or is ending) the command. */
export function isCommandCancelled(status: CommandStatus): boolean {
  return status === 'Cancelled' || status === 'Cancelling' || status === 'Terminated';
}
