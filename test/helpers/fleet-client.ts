/**
 * What the local fleet's tests share: SSM Run Command against the fleet's endpoint (send a command of the
 * task document, wait for its invocation to finish) and a bounded wait.
 */
import {
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';

/** A client of the fleet's SSM endpoint that does not retry (a test sees each answer as it is). */
export function fleetClient(endpoint: string): SSMClient {
  return new SSMClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

/** The name the fleet's tests give the task document. */
export const RUN_TASK = 'fuel-run-task';

/** The fleet's instance id of node `index` (`mi-` + 17 hex digits). */
export const fleetNodeId = (index: number): string => `mi-${index.toString(16).padStart(17, '0')}`;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads until `done` holds, at most `timeoutMs`. */
export async function waitFor<T>(
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  timeoutMs = 4000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`Condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await sleep(everyMs);
  }
}

const TERMINAL = ['Success', 'Failed', 'TimedOut', 'Cancelled'];

/** Run Command on the fleet through `client()` (read when called: the tests create the client in beforeAll). */
export function fleetCommands(client: () => SSMClient) {
  const getInvocation = (commandId: string, instanceId: string): Promise<GetCommandInvocationCommandOutput> =>
    client().send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
  return {
    getInvocation,
    /** The invocation once it has ended (Success, Failed, TimedOut or Cancelled). */
    finished: (commandId: string, instanceId: string, timeoutMs = 4000) =>
      waitFor(
        () => getInvocation(commandId, instanceId),
        (out) => TERMINAL.includes(out.Status ?? ''),
        timeoutMs,
      ),
    /** Sends a command of the task document; answers its command id. */
    async sendTask(
      instanceIds: string[],
      parameters: Record<string, string[]>,
      comment = '',
    ): Promise<string> {
      const out = await client().send(
        new SendCommandCommand({
          DocumentName: RUN_TASK,
          InstanceIds: instanceIds,
          Parameters: parameters,
          Comment: comment,
        }),
      );
      const commandId = out.Command?.CommandId;
      if (commandId === undefined) throw new Error('SendCommand returned no CommandId');
      return commandId;
    },
  };
}
