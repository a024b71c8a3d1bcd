import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalFunction, LocalStepFunctions } from '../../local/sfn/step-functions.js';

const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../fixtures/sfn/${name}`, import.meta.url)), 'utf8');

const fnArn = (name: string): string => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

/** Records the payloads a function receives and lets a test wait for the n-th one. */
class Calls {
  readonly payloads: unknown[] = [];
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];

  record(payload: unknown): void {
    this.payloads.push(payload);
    for (const waiter of [...this.waiters]) {
      if (this.payloads.length >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  async nth(index: number, timeoutMs = 5000): Promise<unknown> {
    if (this.payloads.length <= index) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`call ${index} did not happen`)), timeoutMs);
        this.waiters.push({
          count: index + 1,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    }
    return this.payloads[index];
  }
}

function tokenOf(payload: unknown): string {
  if (typeof payload === 'object' && payload !== null && 'callback' in payload) {
    const callback = payload.callback;
    if (typeof callback === 'object' && callback !== null && 'token' in callback) {
      const token = callback.token;
      if (typeof token === 'string') return token;
    }
  }
  throw new Error(`no token in ${JSON.stringify(payload)}`);
}

function makeClient(endpoint: string): SFNClient {
  return new SFNClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

async function settled(client: SFNClient, executionArn: string): Promise<DescribeExecutionCommandOutput> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') return described;
    if (Date.now() > deadline) throw new Error(`${executionArn} still running`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function history(client: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

const parse = (text: string | undefined): unknown => JSON.parse(text ?? 'null');

async function expectApiError(promise: Promise<unknown>, name: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name, $metadata: { httpStatusCode: 400 } });
}

describe('local Step Functions: Lambda tasks', () => {
  const echo = new Calls();
  let server: LocalStepFunctions;
  let client: SFNClient;

  beforeAll(async () => {
    const functions: Record<string, LocalFunction> = {
      [fnArn('echo')]: async (payload) => {
        echo.record(payload);
        return { received: payload };
      },
    };
    server = new LocalStepFunctions({
      definition: fixture('lambda.asl.json'),
      substitutions: { EchoFunctionArn: fnArn('echo'), TargetName: 'controller-1' },
      functions,
    });
    client = makeClient(await server.listen());
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
  });

  it('runs a direct Lambda ARN task and wraps lambda:invoke results in {Payload, StatusCode}', async () => {
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: server.stateMachineArn,
        name: 'lambda-1',
        input: JSON.stringify({ value: 7 }),
      }),
    );
    expect(started.executionArn).toBe(
      'arn:aws:states:us-east-1:000000000000:execution:fuel-deployment:lambda-1',
    );
    expect(started.startDate).toBeInstanceOf(Date);
    expect(Math.abs((started.startDate?.getTime() ?? 0) - Date.now())).toBeLessThan(5000);

    const described = await settled(client, started.executionArn ?? '');
    expect(described.status).toBe('SUCCEEDED');
    expect(described.stopDate).toBeInstanceOf(Date);
    expect(parse(described.input)).toEqual({ value: 7 });
    const substituted = {
      config: { target: 'controller-1', functions: [{ arn: fnArn('echo') }], value: 7 },
    };
    expect(echo.payloads).toEqual([substituted, { value: 7 }]);
    expect(parse(described.output)).toEqual({
      value: 7,
      direct: { received: substituted },
      invoked: { Payload: { received: { value: 7 } }, StatusCode: 200 },
    });

    const events = await history(client, started.executionArn ?? '');
    expect(events.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => index + 1));
    expect(events[1]?.stateEnteredEventDetails).toMatchObject({ name: 'Call directly' });
    expect(parse(events[1]?.stateEnteredEventDetails?.input)).toEqual({ value: 7 });
    expect(events[5]?.stateExitedEventDetails?.name).toBe('Call directly');
    expect(events[7]?.taskScheduledEventDetails).toMatchObject({
      resourceType: 'lambda',
      resource: 'invoke',
    });
    expect(events[0]?.timestamp).toBeInstanceOf(Date);
  });

  it('refuses a duplicate execution name, an unknown state machine and an unknown execution', async () => {
    const input = { stateMachineArn: server.stateMachineArn, name: 'twice', input: '{"value":1}' };
    await client.send(new StartExecutionCommand(input));
    await expectApiError(client.send(new StartExecutionCommand(input)), 'ExecutionAlreadyExists');
    await expectApiError(
      client.send(
        new StartExecutionCommand({
          stateMachineArn: `${server.stateMachineArn}-other`,
          input: '{"value":1}',
        }),
      ),
      'StateMachineDoesNotExist',
    );
    await expectApiError(
      client.send(new StartExecutionCommand({ stateMachineArn: server.stateMachineArn, input: 'not json' })),
      'InvalidExecutionInput',
    );
    await expectApiError(
      client.send(new DescribeExecutionCommand({ executionArn: `${server.stateMachineArn}:nope` })),
      'ExecutionDoesNotExist',
    );
  });

  it('names executions with a uuid by default and lists them newest first, filtered by status', async () => {
    const started = await client.send(
      new StartExecutionCommand({ stateMachineArn: server.stateMachineArn, input: '{"value":2}' }),
    );
    expect(started.executionArn).toMatch(/:execution:fuel-deployment:[0-9a-f-]{36}$/);
    await settled(client, started.executionArn ?? '');
    const listed = await client.send(
      new ListExecutionsCommand({ stateMachineArn: server.stateMachineArn, statusFilter: 'SUCCEEDED' }),
    );
    expect(listed.executions?.[0]?.executionArn).toBe(started.executionArn);
    expect(listed.executions?.every((execution) => execution.status === 'SUCCEEDED')).toBe(true);
    expect(listed.executions?.map((execution) => execution.name)).toContain('lambda-1');
  });

  it('answers operations it does not serve with UnknownOperationException', async () => {
    const endpoint = new LocalStepFunctions({
      definition: fixture('lambda.asl.json'),
      substitutions: { EchoFunctionArn: fnArn('echo'), TargetName: 'x' },
      functions: {},
    });
    const url = await endpoint.listen();
    try {
      const response = await fetch(`${url}/`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'AWSStepFunctions.CreateActivity',
        },
        body: '{}',
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ __type: 'UnknownOperationException' });
    } finally {
      await endpoint.close();
    }
  });

  it('refuses a definition whose placeholders have no substitution', () => {
    expect(
      () =>
        new LocalStepFunctions({ definition: fixture('lambda.asl.json'), substitutions: {}, functions: {} }),
    ).toThrow(/EchoFunctionArn/);
  });
});

describe('local Step Functions: waitForTaskToken', () => {
  const notify = new Calls();
  let server: LocalStepFunctions;
  let client: SFNClient;

  const start = async (name: string, input: Record<string, unknown>): Promise<string> => {
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: server.stateMachineArn,
        name,
        input: JSON.stringify(input),
      }),
    );
    return started.executionArn ?? '';
  };

  beforeAll(async () => {
    server = new LocalStepFunctions({
      definition: fixture('callback.asl.json'),
      substitutions: { NotifyFunctionArn: fnArn('notify') },
      functions: {
        [fnArn('notify')]: async (payload) => {
          notify.record(payload);
          if (
            typeof payload === 'object' &&
            payload !== null &&
            'label' in payload &&
            payload.label === 'explode'
          ) {
            const error = new Error('the dispatcher could not send the commands');
            error.name = 'LayerFailed';
            throw error;
          }
          return { accepted: true };
        },
      },
    });
    client = makeClient(await server.listen());
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
  });

  it('puts a fresh token where the definition reads $$.Task.Token and waits for SendTaskSuccess', async () => {
    const before = notify.payloads.length;
    const arn = await start('callback-ok', { label: 'layer-0', timeoutSeconds: 60 });
    const payload = await notify.nth(before);
    const token = tokenOf(payload);
    expect(token.length).toBeGreaterThanOrEqual(64);
    expect(payload).toMatchObject({ label: 'layer-0', executionId: arn, executionName: 'callback-ok' });

    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await client.send(new DescribeExecutionCommand({ executionArn: arn }))).status).toBe('RUNNING');
    expect(server.running()).toBeGreaterThanOrEqual(1);
    await client.send(new SendTaskHeartbeatCommand({ taskToken: token }));

    await client.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ nodes: 3 }) }));
    const described = await settled(client, arn);
    expect(described.status).toBe('SUCCEEDED');
    expect(parse(described.output)).toEqual({ label: 'layer-0', timeoutSeconds: 60, result: { nodes: 3 } });

    await expectApiError(
      client.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
      'TaskTimedOut',
    );
    await expectApiError(client.send(new SendTaskHeartbeatCommand({ taskToken: token })), 'TaskTimedOut');
    await expectApiError(
      client.send(new SendTaskSuccessCommand({ taskToken: 'no-such-token', output: '{}' })),
      'InvalidToken',
    );

    const types = (await history(client, arn)).map((event) => event.type);
    expect(types).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskSucceeded',
      'TaskStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
  });

  it('fails the state with the error given to SendTaskFailure, which a Catch can match by name', async () => {
    const before = notify.payloads.length;
    const arn = await start('callback-failed', { label: 'layer-1', timeoutSeconds: 60 });
    const token = tokenOf(await notify.nth(before));
    await client.send(
      new SendTaskFailureCommand({ taskToken: token, error: 'LayerFailed', cause: 'node-2 exited with 1' }),
    );
    const described = await settled(client, arn);
    expect(described.status).toBe('SUCCEEDED');
    expect(parse(described.output)).toMatchObject({
      failure: { Error: 'LayerFailed', Cause: 'node-2 exited with 1' },
    });
    await expectApiError(
      client.send(new SendTaskFailureCommand({ taskToken: token, error: 'LayerFailed' })),
      'TaskTimedOut',
    );
  });

  it('fails the state with the error the function throws, name preserved', async () => {
    const arn = await start('callback-throws', { label: 'explode', timeoutSeconds: 60 });
    const described = await settled(client, arn);
    expect(described.status).toBe('SUCCEEDED');
    const output = parse(described.output);
    expect(output).toMatchObject({ failure: { Error: 'LayerFailed' } });
    expect(JSON.stringify(output)).toContain('the dispatcher could not send the commands');
  });

  it('times the task out after TimeoutSecondsPath seconds; the token dies with it', async () => {
    const before = notify.payloads.length;
    const arn = await start('callback-timeout', { label: 'slow', timeoutSeconds: 1 });
    const token = tokenOf(await notify.nth(before));
    const described = await settled(client, arn);
    expect(described.status).toBe('SUCCEEDED');
    expect(parse(described.output)).toMatchObject({ timedOut: { Error: 'States.Timeout' } });
    expect(
      (described.stopDate?.getTime() ?? 0) - (described.startDate?.getTime() ?? 0),
    ).toBeGreaterThanOrEqual(900);
    await expectApiError(
      client.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
      'TaskTimedOut',
    );
    const types = (await history(client, arn)).map((event) => event.type);
    expect(types).toContain('TaskTimedOut');
    expect(types).not.toContain('TaskSucceeded');
  });

  it('stops an execution: ABORTED, and its pending token is dead', async () => {
    const before = notify.payloads.length;
    const arn = await start('callback-stopped', { label: 'layer-2', timeoutSeconds: 60 });
    const token = tokenOf(await notify.nth(before));
    const running = server.running();
    const stopped = await client.send(
      new StopExecutionCommand({ executionArn: arn, error: 'Operator', cause: 'Stop deployment' }),
    );
    expect(stopped.stopDate).toBeInstanceOf(Date);
    const described = await client.send(new DescribeExecutionCommand({ executionArn: arn }));
    expect(described).toMatchObject({ status: 'ABORTED', error: 'Operator', cause: 'Stop deployment' });
    expect(server.running()).toBe(running - 1);
    await expectApiError(
      client.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
      'TaskTimedOut',
    );
    const events = await history(client, arn);
    expect(events.at(-1)).toMatchObject({
      type: 'ExecutionAborted',
      executionAbortedEventDetails: { error: 'Operator', cause: 'Stop deployment' },
    });
    expect(notify.payloads.length).toBe(before + 1);
  });

  it('keeps concurrent executions apart', async () => {
    const before = notify.payloads.length;
    const first = await start('concurrent-a', { label: 'a', timeoutSeconds: 60 });
    const second = await start('concurrent-b', { label: 'b', timeoutSeconds: 60 });
    await notify.nth(before + 1);
    const byLabel = new Map(
      notify.payloads
        .slice(before)
        .map((payload) => [(payload as { label: string }).label, tokenOf(payload)]),
    );
    await client.send(new SendTaskSuccessCommand({ taskToken: byLabel.get('b') ?? '', output: '"second"' }));
    expect((await settled(client, second)).output).toContain('"result":"second"');
    expect((await client.send(new DescribeExecutionCommand({ executionArn: first }))).status).toBe('RUNNING');
    await client.send(new SendTaskSuccessCommand({ taskToken: byLabel.get('a') ?? '', output: '"first"' }));
    expect((await settled(client, first)).output).toContain('"result":"first"');
  });
});

describe('local Step Functions: inline Map', () => {
  const items = new Calls();
  let server: LocalStepFunctions;
  let client: SFNClient;

  beforeAll(async () => {
    server = new LocalStepFunctions({
      definition: fixture('map.asl.json'),
      substitutions: { ItemFunctionArn: fnArn('item') },
      functions: {
        [fnArn('item')]: async (payload) => {
          items.record(payload);
          await new Promise((resolve) => setTimeout(resolve, 5));
          return 'ok';
        },
      },
    });
    client = makeClient(await server.listen());
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
  });

  const run = async (name: string, list: Array<{ n: number; stop: boolean }>): Promise<string> => {
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: server.stateMachineArn,
        name,
        input: JSON.stringify({ items: list }),
      }),
    );
    const arn = started.executionArn ?? '';
    await settled(client, arn);
    return arn;
  };

  it('leaves the Map through a caught Fail state; no later item runs', async () => {
    const before = items.payloads.length;
    const list = [0, 1, 2, 3, 4].map((n) => ({ n, stop: n === 1 }));
    const arn = await run('map-stopped', list);
    const described = await client.send(new DescribeExecutionCommand({ executionArn: arn }));
    expect(described.status).toBe('SUCCEEDED');
    expect(parse(described.output)).toMatchObject({
      stopped: { Error: 'Stopped', Cause: 'The item asked to stop' },
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(items.payloads.slice(before)).toEqual([list[0], list[1]]);
    const types = (await history(client, arn)).map((event) => event.type);
    expect(types.filter((type) => type === 'MapIterationStarted')).toHaveLength(2);
    expect(types).toContain('FailStateEntered');
    expect(types).toContain('MapIterationFailed');
    expect(types).toContain('MapStateFailed');
    expect(types.slice(-3)).toEqual(['PassStateEntered', 'PassStateExited', 'ExecutionSucceeded']);
  });

  it('counts a constant number of events per item, and pages the history', async () => {
    const list = (count: number) => Array.from({ length: count }, (_, n) => ({ n, stop: false }));
    const one = await history(client, await run('map-1', list(1)));
    const three = await history(client, await run('map-3', list(3)));
    const thirty = await history(client, await run('map-30', list(30)));
    const perItem = (three.length - one.length) / 2;
    expect(perItem).toBe(11);
    expect(thirty.length - three.length).toBe(27 * perItem);
    const count = (events: HistoryEvent[], type: string) =>
      events.filter((event) => event.type === type).length;
    expect(count(thirty, 'MapIterationStarted')).toBe(30);
    expect(count(thirty, 'MapIterationSucceeded')).toBe(30);
    expect(count(thirty, 'LambdaFunctionSucceeded')).toBe(30);
    expect(thirty[0]?.type).toBe('ExecutionStarted');
    expect(thirty.slice(1, 3).map((event) => event.type)).toEqual(['MapStateEntered', 'MapStateStarted']);
    expect(thirty.at(-1)?.type).toBe('ExecutionSucceeded');

    const executionArn = `${server.stateMachineArn.replace(':stateMachine:', ':execution:')}:map-30`;
    const first = await client.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 100 }));
    expect(first.events).toHaveLength(100);
    expect(first.nextToken).toBeTypeOf('string');
    const second = await client.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 100, nextToken: first.nextToken }),
    );
    expect(second.events?.[0]?.id).toBe(101);
    const reversed = await client.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true }));
    expect(reversed.events?.[0]?.id).toBe(thirty.length);
    expect(reversed.events?.[0]?.type).toBe('ExecutionSucceeded');
    const lean = await client.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1, includeExecutionData: false }),
    );
    expect(lean.events?.[0]?.executionStartedEventDetails?.input).toBeUndefined();
  });
});

describe('local Step Functions: the deployment state machine', () => {
  const definition = readFileSync(
    fileURLToPath(new URL('../../statemachines/deployment.asl.json', import.meta.url)),
    'utf8',
  );
  const plan = {
    provision: { nodeCount: 0, timeoutSeconds: 60 },
    layers: [
      { taskId: 1, stage: 'layer-0', timeoutSeconds: 60 },
      { taskId: 1, stage: 'layer-1', timeoutSeconds: 60 },
    ],
  };

  /** The real machine with trivial functions; `stopAt` makes the stop flag read as set for that stage. */
  async function deployment(options: { stopAt?: string; report: boolean }) {
    const dispatched: Array<{ stage: string; taskId: number; token: string }> = [];
    const checked: unknown[] = [];
    const finished: unknown[] = [];
    const holder: { client?: SFNClient } = {};
    const server = new LocalStepFunctions({
      definition,
      substitutions: {
        PlanFunctionArn: fnArn('fuel-plan'),
        CheckStopFunctionArn: fnArn('fuel-check-stop'),
        DispatchFunctionArn: fnArn('fuel-dispatch'),
        FinishFunctionArn: fnArn('fuel-finish'),
      },
      functions: {
        [fnArn('fuel-plan')]: async () => plan,
        [fnArn('fuel-check-stop')]: async (payload) => {
          checked.push(payload);
          return { stopRequested: (payload as { stage: string }).stage === options.stopAt };
        },
        [fnArn('fuel-dispatch')]: async (payload) => {
          const request = payload as { stage: string; taskId: number; token: string };
          dispatched.push(request);
          if (options.report) {
            setTimeout(() => {
              holder.client
                ?.send(new SendTaskSuccessCommand({ taskToken: request.token, output: '{"reported":true}' }))
                .catch(() => undefined);
            }, 10);
          }
          return { sent: true };
        },
        [fnArn('fuel-finish')]: async (payload) => {
          finished.push(payload);
          return {};
        },
      },
    });
    const client = makeClient(await server.listen());
    holder.client = client;
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: server.stateMachineArn,
        name: 'b7f3c3a4-0d5e-4f55-9d7e-2f0f4f1d2a11',
        input: JSON.stringify({ taskId: 1, failure: null }),
      }),
    );
    const close = async () => {
      client.destroy();
      await server.close();
    };
    return { server, client, arn: started.executionArn ?? '', dispatched, checked, finished, close };
  }

  it('runs statemachines/deployment.asl.json end to end with in-process functions', async () => {
    const run = await deployment({ report: true });
    try {
      const described = await settled(run.client, run.arn);
      expect(described.status).toBe('SUCCEEDED');
      expect(run.dispatched.map((payload) => payload.stage)).toEqual(['layer-0', 'layer-1']);
      expect(run.dispatched[0]).toMatchObject({ taskId: 1 });
      expect(run.finished).toEqual([{ taskId: 1, failure: null }]);
      const types = (await history(run.client, run.arn)).map((event) => event.type);
      expect(types.filter((type) => type === 'TaskSubmitted')).toHaveLength(2);
    } finally {
      await run.close();
    }
  });

  it('leaves the layers through DeploymentStopped when the stop flag is set, and finishes', async () => {
    const run = await deployment({ report: true, stopAt: 'layer-1' });
    try {
      const described = await settled(run.client, run.arn);
      expect(described.status).toBe('SUCCEEDED');
      expect(run.dispatched.map((payload) => payload.stage)).toEqual(['layer-0']);
      expect(run.finished).toEqual([{ taskId: 1, failure: null }]);
    } finally {
      await run.close();
    }
  });

  it('starts no later layer after StopExecution while a layer waits for its report', async () => {
    const run = await deployment({ report: false });
    try {
      const deadline = Date.now() + 5000;
      while (run.dispatched.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await run.client.send(new StopExecutionCommand({ executionArn: run.arn }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await run.client.send(new DescribeExecutionCommand({ executionArn: run.arn }))).status).toBe(
        'ABORTED',
      );
      expect(run.server.running()).toBe(0);
      expect(run.dispatched.map((payload) => payload.stage)).toEqual(['layer-0']);
      expect(run.checked).toHaveLength(2);
      expect(run.finished).toEqual([]);
    } finally {
      await run.close();
    }
  });
});
