/**
 * SSM Run Command on paper, for nodes the local fleet does not simulate (1,000 of them): commands sent to
 * paper instances are kept, never run, and read back as succeeded; everything else goes to the real port.
 * Given to the runtime as a decorator of its SSM port (RuntimeOptions.decorate.commands), so that the
 * product's own dispatch and result steps run against DynamoDB as they do with real nodes.
 */
import type { InvocationStatus, NodeCommands, SendCommandInput } from '../../lambdas/app/ports.js';
import type { InvocationResult } from '../../lambdas/domain/command-result.js';

export const PAPER_PREFIX = 'mi-paper';

export function paperInstanceId(index: number): string {
  return `${PAPER_PREFIX}${String(index).padStart(9, '0')}`;
}

const isPaper = (instanceId: string) => instanceId.startsWith(PAPER_PREFIX);

export interface PaperCommand {
  commandId: string;
  input: SendCommandInput;
  at: string;
}

export class PaperFleet {
  readonly sent: PaperCommand[] = [];
  private readonly byId = new Map<string, PaperCommand>();
  private seq = 0;

  decorate = (real: NodeCommands): NodeCommands => ({
    send: async (input) => {
      if (!input.instanceIds.every(isPaper)) return real.send(input);
      const command = { commandId: `paper-${++this.seq}`, input, at: new Date().toISOString() };
      this.sent.push(command);
      this.byId.set(command.commandId, command);
      return command.commandId;
    },
    findByComment: async (comment, since) => {
      const found = this.sent.find((c) => c.input.comment === comment && Date.parse(c.at) >= since.getTime());
      return found ? found.commandId : real.findByComment(comment, since);
    },
    invocation: async (commandId, instanceId) => {
      const command = this.byId.get(commandId);
      return command ? succeeded(command, instanceId) : real.invocation(commandId, instanceId);
    },
    invocations: async (commandId): Promise<InvocationStatus[]> => {
      const command = this.byId.get(commandId);
      if (!command) return real.invocations(commandId);
      return command.input.instanceIds.map((instanceId) => ({ instanceId, status: 'Success' }));
    },
    cancel: async (commandId, instanceIds) => {
      if (!this.byId.has(commandId)) await real.cancel(commandId, instanceIds);
    },
    instances: () => real.instances(),
  });
}

function succeeded(command: PaperCommand, instanceId: string): InvocationResult {
  return {
    commandId: command.commandId,
    instanceId,
    comment: command.input.comment,
    status: 'Success',
    statusDetails: 'Success',
    responseCode: 0,
    startedAt: command.at,
    endedAt: new Date().toISOString(),
    stdoutTail: '',
    stderrTail: '',
  };
}
