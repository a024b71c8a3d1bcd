import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SsmNodeCommands } from '../../lambdas/adapters/ssm-commands.js';
import { type CommandStatusEvent, LocalFleet, type SsmDocument } from '../../local/ssm/fleet.js';
import {
  fleetClient,
  fleetCommands,
  fleetNodeId,
  RUN_TASK,
  sleep,
  waitFor,
} from '../helpers/fleet-client.js';

const runTaskDocument = JSON.parse(
  readFileSync(new URL('../../infra/documents/run-task.json', import.meta.url), 'utf8'),
) as SsmDocument;

const documents: Record<string, SsmDocument> = {
  [RUN_TASK]: runTaskDocument,
  'echo-here': {
    schemaVersion: '2.2',
    mainSteps: [
      { action: 'aws:runShellScript', name: 'echo', inputs: { runCommand: ['echo hi > out.txt', 'pwd'] } },
    ],
  },
  'show-env': {
    schemaVersion: '2.2',
    parameters: { msg: { type: 'String', interpolationType: 'ENV_VAR' } },
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'show',
        inputs: {
          runCommand: ['printf "%s|%s|%s\\n" "$SSM_msg" "$FUEL_NODE_NAME" "$HOME"', 'echo "{{ msg }}"'],
        },
      },
    ],
  },
};

let baseDir: string;
let fleet: LocalFleet;
let ssm: SSMClient;
const events: CommandStatusEvent[] = [];

const nodeId = fleetNodeId;
const workDir = (index: number): string => join(baseDir, `node-${index}`);
const { getInvocation, finished, sendTask: runTask } = fleetCommands(() => ssm);

async function sendError(input: ConstructorParameters<typeof SendCommandCommand>[0]): Promise<unknown> {
  return ssm.send(new SendCommandCommand(input)).then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** True while the process exists and is not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** What a node's command writes for a process: its pid there and its PID namespace. */
const PID_AND_NAMESPACE = (pid: string) => `echo "${pid} $(readlink /proc/$$/ns/pid)"`;

/**
 * The host pid of a process a node's command wrote with PID_AND_NAMESPACE: the process of that PID
 * namespace with that pid in it (a node's pids are its own). Throws when there is none.
 */
function hostPid(written: string): number {
  const [pid, namespace] = written.trim().split(/\s+/);
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== namespace) continue;
      const nsPids = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (nsPids?.trim().split(/\s+/).at(-1) === pid) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`No process ${pid} in ${namespace}`);
}

/** Waits for a pid file a command writes, and answers the host pid it names. */
async function pidFrom(file: string): Promise<number> {
  await waitFor(
    async () => existsSync(file) && readFileSync(file, 'utf8').endsWith('\n'),
    (ready) => ready,
  );
  return hostPid(readFileSync(file, 'utf8'));
}

beforeAll(async () => {
  baseDir = mkdtempSync(join(tmpdir(), 'ssm-fleet-'));
  fleet = new LocalFleet({
    baseDir,
    nodeCount: 6,
    documents,
    onStatusChange: (event) => {
      events.push(event);
    },
  });
  const endpoint = await fleet.listen(0);
  ssm = fleetClient(endpoint);
});

afterAll(async () => {
  ssm?.destroy();
  await fleet?.close();
  if (baseDir !== undefined) rmSync(baseDir, { recursive: true, force: true });
});

describe('LocalFleet running commands', () => {
  it('runs a command on three nodes, each in its own folder, and reports it like SSM', async () => {
    const ids = [nodeId(1), nodeId(2), nodeId(3)];
    const sent = await ssm.send(
      new SendCommandCommand({ DocumentName: 'echo-here', InstanceIds: ids, Comment: 'three nodes' }),
    );
    const command = sent.Command;
    expect(command?.Status).toBe('Pending');
    expect(command?.TargetCount).toBe(3);
    expect(command?.InstanceIds).toEqual(ids);
    expect(command?.RequestedDateTime).toBeInstanceOf(Date);
    const commandId = command?.CommandId ?? '';
    expect(commandId).toMatch(/^[0-9a-f-]{36}$/);

    await fleet.idle();

    for (const [offset, instanceId] of ids.entries()) {
      const out = await getInvocation(commandId, instanceId);
      expect(out.Status).toBe('Success');
      expect(out.StatusDetails).toBe('Success');
      expect(out.ResponseCode).toBe(0);
      expect(out.Comment).toBe('three nodes');
      expect(out.StandardOutputContent).toBe(`${workDir(offset + 1)}\n`);
      expect(out.StandardErrorContent).toBe('');
      expect(typeof out.ExecutionStartDateTime).toBe('string');
      expect(Date.parse(out.ExecutionEndDateTime ?? '')).toBeGreaterThanOrEqual(
        Date.parse(out.ExecutionStartDateTime ?? ''),
      );
      expect(readFileSync(join(workDir(offset + 1), 'out.txt'), 'utf8')).toBe('hi\n');
    }
    expect(existsSync(join(workDir(4), 'out.txt'))).toBe(false);

    const listed = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
    expect(listed.Commands?.[0]).toMatchObject({ Status: 'Success', CompletedCount: 3, ErrorCount: 0 });

    for (const instanceId of ids) {
      const own = events.filter((event) => event.commandId === commandId && event.instanceId === instanceId);
      expect(own.map((event) => event.status)).toEqual(['Pending', 'InProgress', 'Success']);
      expect(own[0]?.documentName).toBe('echo-here');
      expect(own[0]?.requestedAt).toBeInstanceOf(Date);
    }

    const records = fleet.commandLog().filter((record) => record.commandId === commandId);
    expect(records.map((record) => record.nodeName).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    for (const record of records) {
      expect(record).toMatchObject({ status: 'Success', responseCode: 0, comment: 'three nodes' });
      const received = Date.parse(record.receivedAt);
      const started = Date.parse(record.startedAt ?? '');
      const ended = Date.parse(record.endedAt ?? '');
      expect(received).toBeLessThanOrEqual(started);
      expect(started).toBeLessThanOrEqual(ended);
    }
  });

  it('reports a failing command as Failed with its exit code and output', async () => {
    const commandId = await runTask([nodeId(1)], { command: ['echo partial; echo boom >&2; exit 7'] });
    const out = await finished(commandId, nodeId(1));
    expect(out).toMatchObject({
      Status: 'Failed',
      StatusDetails: 'Failed',
      ResponseCode: 7,
      StandardOutputContent: 'partial\n',
      StandardErrorContent: 'boom\n',
    });

    const listed = await ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId, Details: true }));
    const plugin = listed.CommandInvocations?.[0]?.CommandPlugins?.[0];
    expect(plugin).toMatchObject({ Name: 'runTask', Status: 'Failed', ResponseCode: 7 });
    expect(plugin?.Output).toContain('boom');
    const command = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
    expect(command.Commands?.[0]).toMatchObject({ Status: 'Failed', ErrorCount: 1, CompletedCount: 1 });
  });

  it('keeps the last 24,000 characters of standard output', async () => {
    const commandId = await runTask([nodeId(1)], { command: ['seq 1 10000'] });
    const out = await finished(commandId, nodeId(1));
    expect(out.Status).toBe('Success');
    expect(out.StandardOutputContent).toHaveLength(24_000);
    expect(out.StandardOutputContent?.endsWith('\n9999\n10000\n')).toBe(true);
  });

  it('retries a failed attempt as the run-task document says', async () => {
    const script = 'if [ -f retry.marker ]; then echo second; else touch retry.marker; exit 3; fi';
    const commandId = await runTask([nodeId(2)], { command: [script], retries: ['1'] });
    const out = await finished(commandId, nodeId(2));
    expect(out.Status).toBe('Success');
    expect(out.StandardOutputContent).toBe('second\n');
    expect(out.StandardErrorContent).toBe('attempt 1 failed with exit code 3, retrying\n');
  });

  it("pauses the task's interval between attempts", async () => {
    // each attempt notes when it started (ms); the first fails, the second succeeds
    const script =
      'date +%s%3N >> attempts.log; if [ "$(wc -l < attempts.log)" -lt 2 ]; then exit 5; fi; cat attempts.log';
    const commandId = await runTask([nodeId(4)], { command: [script], retries: ['1'], interval: ['1'] });
    const out = await finished(commandId, nodeId(4));
    expect(out.Status).toBe('Success');
    const [first, second] = String(out.StandardOutputContent).trim().split('\n').map(Number);
    expect(Number(second) - Number(first)).toBeGreaterThanOrEqual(1000);
  });

  it('kills a command that outlives the step timeout and reports TimedOut', async () => {
    const started = Date.now();
    const commandId = await runTask([nodeId(3)], {
      command: [`${PID_AND_NAMESPACE('$$')} > timeout.pid; sleep 30`],
      executionTimeout: ['1'],
    });
    const pid = await pidFrom(join(workDir(3), 'timeout.pid'));
    expect(isAlive(pid)).toBe(true);
    const out = await finished(commandId, nodeId(3));
    expect(out.Status).toBe('TimedOut');
    expect(out.StatusDetails).toBe('ExecutionTimedOut');
    expect(Date.now() - started).toBeLessThan(3500);
    expect(isAlive(pid)).toBe(false);
  });

  it('applies the per-attempt timeout of the run-task document', async () => {
    const commandId = await runTask([nodeId(3)], { command: ['sleep 5'], timeout: ['1'] });
    const out = await finished(commandId, nodeId(3));
    expect(out.Status).toBe('Failed');
    expect(out.ResponseCode).toBe(124);
  });

  it('passes ENV_VAR parameters through the environment, never through the script text', async () => {
    // Spliced into `bash -c "..."`, the outer shell would run $(touch pwned) and the quotes would break.
    const command = `echo '$(touch pwned)' "say \\"hi\\""`;
    const commandId = await runTask([nodeId(4)], { command: [command] });
    const out = await finished(commandId, nodeId(4));
    expect(out.Status).toBe('Success');
    expect(out.StandardOutputContent).toBe('$(touch pwned) say "hi"\n');
    expect(existsSync(join(workDir(4), 'pwned'))).toBe(false);

    const msg = `it's "$(touch pwned2)"`;
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'show-env',
        InstanceIds: [nodeId(4)],
        Parameters: { msg: [msg] },
      }),
    );
    const shown = await finished(sent.Command?.CommandId ?? '', nodeId(4));
    expect(shown.Status).toBe('Success');
    expect(shown.StandardOutputContent).toBe(`${msg}|node-4|${workDir(4)}\n${msg}\n`);
    expect(existsSync(join(workDir(4), 'pwned2'))).toBe(false);
  });

  it('cancels a running command: Cancelling, then Cancelled once its processes are gone', async () => {
    const commandId = await runTask([nodeId(5)], {
      command: [`sleep 30 & ${PID_AND_NAMESPACE('$!')} > sleep.pid; wait`],
    });
    const pid = await pidFrom(join(workDir(5), 'sleep.pid'));
    expect(isAlive(pid)).toBe(true);

    const started = Date.now();
    await ssm.send(new CancelCommandCommand({ CommandId: commandId }));
    const out = await finished(commandId, nodeId(5));
    expect(out.Status).toBe('Cancelled');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(isAlive(pid)).toBe(false);

    const statuses = events.filter((event) => event.commandId === commandId).map((event) => event.status);
    expect(statuses).toEqual(['Pending', 'InProgress', 'Cancelling', 'Cancelled']);
    const command = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
    expect(command.Commands?.[0]?.Status).toBe('Cancelled');
  });

  it('cancels a command still waiting for an offline node without ever running it', async () => {
    fleet.setOnline('node-6', false);
    try {
      const commandId = await runTask([nodeId(6)], { command: ['touch never-ran'] });
      await ssm.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [nodeId(6)] }));
      expect((await getInvocation(commandId, nodeId(6))).Status).toBe('Cancelled');
      fleet.setOnline('node-6', true);
      await sleep(200);
      expect(existsSync(join(workDir(6), 'never-ran'))).toBe(false);
      expect(fleet.commandLog().some((record) => record.commandId === commandId)).toBe(false);
    } finally {
      fleet.setOnline('node-6', true);
    }
  });
});

describe('LocalFleet offline nodes', () => {
  it('keeps a command Pending while the node is offline and runs it when the node is back', async () => {
    fleet.setOnline(nodeId(4), false);
    try {
      const commandId = await runTask([nodeId(4)], { command: ['echo delivered > delivered.txt'] });
      await sleep(300);
      const pending = await getInvocation(commandId, nodeId(4));
      expect(pending.Status).toBe('Pending');
      expect(pending.ResponseCode).toBe(-1);
      expect(pending.ExecutionStartDateTime).toBe('');
      expect(fleet.commandLog().some((record) => record.commandId === commandId)).toBe(false);
      expect(existsSync(join(workDir(4), 'delivered.txt'))).toBe(false);

      const backAt = Date.now();
      fleet.setOnline('node-4', true);
      const out = await finished(commandId, nodeId(4));
      expect(out.Status).toBe('Success');
      expect(readFileSync(join(workDir(4), 'delivered.txt'), 'utf8')).toBe('delivered\n');
      const record = fleet.commandLog().find((item) => item.commandId === commandId);
      expect(Date.parse(record?.receivedAt ?? '')).toBeGreaterThanOrEqual(backAt);
    } finally {
      fleet.setOnline('node-4', true);
    }
  });

  it('times a command out with DeliveryTimedOut when the node stays offline', async () => {
    fleet.setOnline('node-5', false);
    try {
      const out = await ssm.send(
        new SendCommandCommand({
          DocumentName: RUN_TASK,
          InstanceIds: [nodeId(5)],
          Parameters: { command: ['touch late.txt'] },
          TimeoutSeconds: 1,
        }),
      );
      const commandId = out.Command?.CommandId ?? '';
      expect(out.Command?.TimeoutSeconds).toBe(1);
      const timedOut = await finished(commandId, nodeId(5));
      expect(timedOut).toMatchObject({ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' });
      const command = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
      expect(command.Commands?.[0]).toMatchObject({
        DeliveryTimedOutCount: 1,
        ErrorCount: 0,
        CompletedCount: 1,
      });

      fleet.setOnline('node-5', true);
      await sleep(200);
      expect(existsSync(join(workDir(5), 'late.txt'))).toBe(false);
      expect((await getInvocation(commandId, nodeId(5))).Status).toBe('TimedOut');
    } finally {
      fleet.setOnline('node-5', true);
    }
  });

  it('holds the result of a command that ends while its node is offline until the node is back', async () => {
    const commandId = await runTask([nodeId(6)], { command: ['sleep 0.3; echo finished'] });
    await waitFor(
      () => getInvocation(commandId, nodeId(6)),
      (out) => out.Status === 'InProgress',
    );
    fleet.setOnline('node-6', false);
    try {
      await waitFor(
        async () => fleet.commandLog().find((record) => record.commandId === commandId)?.endedAt ?? null,
        (endedAt) => endedAt !== null,
      );
      const hidden = await getInvocation(commandId, nodeId(6));
      expect(hidden).toMatchObject({ Status: 'InProgress', ResponseCode: -1, ExecutionEndDateTime: '' });
      const listed = await ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId }));
      expect(listed.CommandInvocations?.[0]?.Status).toBe('InProgress');
      expect(events.filter((event) => event.commandId === commandId).map((event) => event.status)).toEqual([
        'Pending',
        'InProgress',
      ]);

      fleet.setOnline('node-6', true);
      const shown = await getInvocation(commandId, nodeId(6));
      expect(shown).toMatchObject({
        Status: 'Success',
        ResponseCode: 0,
        StandardOutputContent: 'finished\n',
      });
      await fleet.idle();
      expect(events.filter((event) => event.commandId === commandId).map((event) => event.status)).toEqual([
        'Pending',
        'InProgress',
        'Success',
      ]);
    } finally {
      fleet.setOnline('node-6', true);
    }
  });

  it('describes instances page by page with their ping status', async () => {
    fleet.setOnline('node-2', false);
    try {
      const first = await ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 5 }));
      expect(first.InstanceInformationList?.map((info) => info.InstanceId)).toEqual(
        [1, 2, 3, 4, 5].map(nodeId),
      );
      expect(first.NextToken).toBeDefined();
      const second = await ssm.send(
        new DescribeInstanceInformationCommand({ MaxResults: 5, NextToken: first.NextToken }),
      );
      expect(second.InstanceInformationList?.map((info) => info.InstanceId)).toEqual([nodeId(6)]);
      expect(second.NextToken).toBeUndefined();

      const [one, two] = first.InstanceInformationList ?? [];
      expect(one).toMatchObject({
        InstanceId: 'mi-00000000000000001',
        PingStatus: 'Online',
        ComputerName: 'node-1',
        IPAddress: '127.0.1.1',
        PlatformType: 'Linux',
        PlatformName: 'Ubuntu',
        PlatformVersion: '22.04',
        ResourceType: 'ManagedInstance',
      });
      expect(one?.LastPingDateTime).toBeInstanceOf(Date);
      expect(typeof one?.AgentVersion).toBe('string');
      expect(two).toMatchObject({ PingStatus: 'ConnectionLost', ComputerName: 'node-2' });
      expect(fleet.instances()[1]).toMatchObject({ name: 'node-2', online: false, workDir: workDir(2) });
    } finally {
      fleet.setOnline('node-2', true);
    }
  });
});

describe('LocalFleet discovery filters', () => {
  const listed = async (
    input: ConstructorParameters<typeof DescribeInstanceInformationCommand>[0],
  ): Promise<string[]> =>
    (
      (await ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 50, ...input })))
        .InstanceInformationList ?? []
    ).map((info) => info.ComputerName ?? '');
  const six = [1, 2, 3, 4, 5, 6].map((i) => `node-${i}`);

  it('filters by platform type, in either filter form, and with the role tag', async () => {
    expect(await listed({ Filters: [{ Key: 'PlatformTypes', Values: ['Linux'] }] })).toEqual(six);
    expect(await listed({ Filters: [{ Key: 'PlatformTypes', Values: ['Windows', 'MacOS'] }] })).toEqual([]);
    expect(
      await listed({ InstanceInformationFilterList: [{ key: 'PlatformTypes', valueSet: ['Linux'] }] }),
    ).toEqual(six);
    expect(
      await listed({
        Filters: [
          { Key: 'tag:fuel-sls:role', Values: ['node'] },
          { Key: 'PlatformTypes', Values: ['Linux'] },
        ],
      }),
    ).toEqual(six);
    expect(
      await listed({
        Filters: [
          { Key: 'tag:fuel-sls:role', Values: ['master'] },
          { Key: 'PlatformTypes', Values: ['Linux'] },
        ],
      }),
    ).toEqual(['master']);
  });

  it('refuses a platform type SSM does not know', async () => {
    await expect(
      ssm.send(
        new DescribeInstanceInformationCommand({ Filters: [{ Key: 'PlatformTypes', Values: ['Solaris'] }] }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidInstanceInformationFilterValue' });
  });

  it("lists, to discovery, the project's Linux nodes and not the master", async () => {
    const send = vi.spyOn(ssm, 'send');
    try {
      const instances = await new SsmNodeCommands(RUN_TASK, ssm).instances();
      expect(instances.map((i) => i.name)).toEqual(six);
      const [request] = send.mock.calls[0] ?? [];
      expect((request as DescribeInstanceInformationCommand).input.Filters).toEqual([
        { Key: 'tag:fuel-sls:role', Values: ['node'] },
        { Key: 'PlatformTypes', Values: ['Linux'] },
      ]);
    } finally {
      send.mockRestore();
    }
  });
});

describe('LocalFleet requests it refuses', () => {
  it('rejects more than 50 instance ids, unknown documents, nodes and parameters', async () => {
    const tooMany = Array.from({ length: 51 }, (_, index) => nodeId((index % 6) + 1));
    expect(
      await sendError({ DocumentName: RUN_TASK, InstanceIds: tooMany, Parameters: { command: ['true'] } }),
    ).toMatchObject({ name: 'ValidationException', message: expect.stringContaining('50') });
    expect(await sendError({ DocumentName: 'no-such-document', InstanceIds: [nodeId(1)] })).toMatchObject({
      name: 'InvalidDocument',
      $metadata: { httpStatusCode: 400 },
    });
    expect(
      await sendError({
        DocumentName: RUN_TASK,
        InstanceIds: [nodeId(99)],
        Parameters: { command: ['true'] },
      }),
    ).toMatchObject({ name: 'InvalidInstanceId' });
    expect(
      await sendError({
        DocumentName: RUN_TASK,
        InstanceIds: [nodeId(1)],
        Parameters: { command: ['true'], timeout: ['10; rm -rf /'] },
      }),
    ).toMatchObject({ name: 'InvalidParameters', message: expect.stringContaining('timeout') });
    expect(
      await sendError({
        DocumentName: RUN_TASK,
        InstanceIds: [nodeId(1)],
        Parameters: { command: ['true'], cmd: ['x'] },
      }),
    ).toMatchObject({ name: 'InvalidParameters' });
    expect(await sendError({ DocumentName: RUN_TASK, InstanceIds: [nodeId(1)] })).toMatchObject({
      name: 'InvalidParameters',
      message: expect.stringContaining('command'),
    });
  });

  it('answers unknown invocations and unsupported operations with SSM errors', async () => {
    await expect(getInvocation('00000000-0000-0000-0000-000000000000', nodeId(1))).rejects.toMatchObject({
      name: 'InvocationDoesNotExist',
    });
    const endpoint = await ssm.config.endpoint?.();
    const url = `${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}/`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.DeleteDocument' },
      body: JSON.stringify({ Name: RUN_TASK }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'InvalidAction' });
  });
});

describe('LocalFleet listing commands', () => {
  it('filters commands by document and time, newest first, page by page', async () => {
    await sleep(5);
    const since = new Date().toISOString();
    await sleep(5);
    const first = await runTask([nodeId(1)], { command: ['true'] }, 'deploy 7 task a');
    const second = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'echo-here',
        InstanceIds: [nodeId(2)],
        Comment: 'deploy 7 task b',
      }),
    );
    const secondId = second.Command?.CommandId ?? '';
    await finished(first, nodeId(1));
    await finished(secondId, nodeId(2));

    const recent = await ssm.send(
      new ListCommandsCommand({ Filters: [{ key: 'InvokedAfter', value: since }] }),
    );
    expect(recent.Commands?.map((command) => command.CommandId)).toEqual([secondId, first]);
    expect(recent.Commands?.map((command) => command.Comment)).toEqual([
      'deploy 7 task b',
      'deploy 7 task a',
    ]);

    const byDocument = await ssm.send(
      new ListCommandsCommand({
        Filters: [
          { key: 'InvokedAfter', value: since },
          { key: 'DocumentName', value: RUN_TASK },
        ],
      }),
    );
    expect(byDocument.Commands?.map((command) => command.CommandId)).toEqual([first]);

    const before = await ssm.send(
      new ListCommandsCommand({ Filters: [{ key: 'InvokedBefore', value: since }] }),
    );
    expect(before.Commands?.some((command) => command.CommandId === first)).toBe(false);

    const pageOne = await ssm.send(
      new ListCommandsCommand({ MaxResults: 1, Filters: [{ key: 'InvokedAfter', value: since }] }),
    );
    const pageTwo = await ssm.send(
      new ListCommandsCommand({
        MaxResults: 1,
        NextToken: pageOne.NextToken,
        Filters: [{ key: 'InvokedAfter', value: since }],
      }),
    );
    expect(pageOne.Commands?.map((command) => command.CommandId)).toEqual([secondId]);
    expect(pageTwo.Commands?.map((command) => command.CommandId)).toEqual([first]);
    expect(pageTwo.NextToken).toBeUndefined();

    const byComment = (await ssm.send(new ListCommandsCommand({}))).Commands?.find(
      (command) => command.Comment === 'deploy 7 task a',
    );
    expect(byComment).toMatchObject({ CommandId: first, Status: 'Success', InstanceIds: [nodeId(1)] });
  });
});

describe('LocalFleet lifecycle', () => {
  it('stops commands on close, killing those that ignore SIGTERM after the grace period', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssm-fleet-close-'));
    const doomed = new LocalFleet({ baseDir: dir, nodeCount: 2, documents });
    const client = new SSMClient({
      endpoint: await doomed.listen(),
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    try {
      const send = (instanceId: string, command: string) =>
        client.send(
          new SendCommandCommand({
            DocumentName: RUN_TASK,
            InstanceIds: [instanceId],
            Parameters: { command: [command] },
          }),
        );
      await send(nodeId(1), `sleep 30 & ${PID_AND_NAMESPACE('$!')} > sleep.pid; wait`);
      await send(nodeId(2), `trap "" TERM; sleep 30 & ${PID_AND_NAMESPACE('$!')} > sleep.pid; wait`);
      const pids = [
        await pidFrom(join(dir, 'node-1', 'sleep.pid')),
        await pidFrom(join(dir, 'node-2', 'sleep.pid')),
      ];
      expect(pids.map(isAlive)).toEqual([true, true]);

      const started = Date.now();
      await doomed.close();
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(1900);
      expect(took).toBeLessThan(4000);
      expect(pids.map(isAlive)).toEqual([false, false]);
      await doomed.idle();
    } finally {
      client.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps running commands when the listener throws', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssm-fleet-listener-'));
    const failing = new LocalFleet({
      baseDir: dir,
      nodeCount: 1,
      documents,
      onStatusChange: async () => {
        throw new Error('listener down');
      },
    });
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const client = new SSMClient({
      endpoint: await failing.listen(),
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    try {
      const sent = await client.send(
        new SendCommandCommand({ DocumentName: 'echo-here', InstanceIds: [nodeId(1)] }),
      );
      await failing.idle();
      const out = await client.send(
        new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: nodeId(1) }),
      );
      expect(out.Status).toBe('Success');
      expect(logged).toHaveBeenCalledTimes(3);
    } finally {
      logged.mockRestore();
      client.destroy();
      await failing.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
