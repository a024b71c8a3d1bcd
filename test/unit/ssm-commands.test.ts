/**
 * The SendCommand request the dispatch sends, as SSM receives it: the local fleet accepts more than SSM
 * checks (it ignores CloudWatchOutputConfig), so the shape is pinned here, on a mocked client.
 */
import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it, vi } from 'vitest';
import { SsmNodeCommands } from '../../lambdas/adapters/ssm-commands.js';

const INPUT = {
  instanceIds: ['i-0123456789abcdef0', 'mi-0123456789abcdef0'],
  parameters: { task: ['netconfig'], command: ['puppet apply'] },
  comment: 'fuel-sls 7 deploy 2/1',
  deliveryTimeoutSeconds: 600,
};

function mockedClient() {
  const sent: unknown[] = [];
  const client = {
    send: vi.fn(async (command: unknown) => {
      sent.push(command);
      return { Command: { CommandId: 'c-1' } };
    }),
  } as unknown as SSMClient;
  return { client, sent };
}

describe('SsmNodeCommands.send', () => {
  it('sends the document to the nodes with output to the command log group', async () => {
    const { client, sent } = mockedClient();
    const commands = new SsmNodeCommands('FuelDeployment-RunTask', client, '/aws/ssm/FuelDeployment-RunTask');
    await expect(commands.send(INPUT)).resolves.toBe('c-1');
    expect(sent).toHaveLength(1);
    const command = sent[0] as SendCommandCommand;
    expect(command).toBeInstanceOf(SendCommandCommand);
    expect(command.input).toEqual({
      DocumentName: 'FuelDeployment-RunTask',
      InstanceIds: INPUT.instanceIds,
      Parameters: INPUT.parameters,
      Comment: INPUT.comment,
      TimeoutSeconds: 600,
      MaxConcurrency: '50',
      MaxErrors: '100%',
      CloudWatchOutputConfig: {
        CloudWatchOutputEnabled: true,
        CloudWatchLogGroupName: '/aws/ssm/FuelDeployment-RunTask',
      },
    });
  });

  it('sends no CloudWatchOutputConfig without a log group (the embedded runtime)', async () => {
    const { client, sent } = mockedClient();
    await new SsmNodeCommands('FuelRunTask', client, undefined).send(INPUT);
    expect((sent[0] as SendCommandCommand).input).not.toHaveProperty('CloudWatchOutputConfig');
  });

  it('takes the log group from COMMAND_LOG_GROUP, as the dispatch function gets it', async () => {
    const { client, sent } = mockedClient();
    vi.stubEnv('COMMAND_LOG_GROUP', '/aws/ssm/Other-RunTask');
    try {
      await new SsmNodeCommands('Other-RunTask', client).send(INPUT);
    } finally {
      vi.unstubAllEnvs();
    }
    expect((sent[0] as SendCommandCommand).input.CloudWatchOutputConfig).toEqual({
      CloudWatchOutputEnabled: true,
      CloudWatchLogGroupName: '/aws/ssm/Other-RunTask',
    });
  });

  it('fails when SSM returns no command id', async () => {
    const client = { send: vi.fn(async () => ({})) } as unknown as SSMClient;
    await expect(new SsmNodeCommands('FuelRunTask', client, undefined).send(INPUT)).rejects.toThrow(
      /no command id/,
    );
  });
});
