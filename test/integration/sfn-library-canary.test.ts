/**
 * Canary for the undocumented behaviour of aws-local-stepfunctions that the local Step Functions
 * endpoint's Map fail-fast (guardNestedRuns in local/sfn/engine.ts) leans on, checked against the
 * installed library: nested Map runs go through `StateMachine.prototype.run`, carry the private
 * `_rootAbortSignal` run option (top-level runs do not), share one iterator machine per Map entry, and
 * return `{ abort, eventLogs, result }`. Then the fail-fast itself: an inline Map whose iteration fails
 * with a named error that the Map catches stops at once, and no later iteration runs.
 */
import { readFileSync } from 'node:fs';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { ExecutionAbortedError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_SIGNAL_OPTION, rootSignal } from '../../local/sfn/engine.js';
import { LocalStepFunctions } from '../../local/sfn/step-functions.js';

const library = JSON.parse(
  readFileSync(new URL('../../node_modules/aws-local-stepfunctions/package.json', import.meta.url), 'utf8'),
) as { version: string };
const changed = (what: string): string =>
  `aws-local-stepfunctions ${library.version} changed: ${what}. The Map fail-fast of the local Step ` +
  'Functions endpoint (guardNestedRuns in local/sfn/engine.ts) relies on it: adapt it before upgrading.';

const ITEM_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:item';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface RunCall {
  machine: StateMachine;
  options: unknown;
  signal: AbortSignal | undefined;
  returned: string[];
}

/** Records every call of `StateMachine.prototype.run` while `body` runs. */
async function recordRuns(body: (calls: RunCall[]) => Promise<void>): Promise<void> {
  const proto = StateMachine.prototype;
  const current = proto.run;
  const calls: RunCall[] = [];
  proto.run = function run(this: StateMachine, input, options) {
    const execution = current.call(this, input, options);
    calls.push({
      machine: this,
      options,
      signal: rootSignal(options),
      returned: Object.keys(execution).sort(),
    });
    return execution;
  };
  try {
    await body(calls);
  } finally {
    proto.run = current;
  }
}

/** A Map over `$.items`, entered twice: once with `round` 1, then again with `round` 2. */
const twiceEnteredMap = {
  StartAt: 'Items',
  States: {
    Items: {
      Type: 'Map',
      ItemsPath: '$.items',
      MaxConcurrency: 1,
      ResultPath: '$.results',
      Iterator: { StartAt: 'Item', States: { Item: { Type: 'Task', Resource: ITEM_ARN, End: true } } },
      Next: 'Again?',
    },
    'Again?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.round', NumericEquals: 1, Next: 'Bump' }],
      Default: 'Done',
    },
    Bump: { Type: 'Pass', Result: 2, ResultPath: '$.round', Next: 'Items' },
    Done: { Type: 'Succeed' },
  },
} as unknown as StateMachineDefinition;

describe('aws-local-stepfunctions internals the Map fail-fast relies on', () => {
  it('keeps run as a replaceable method of StateMachine.prototype', () => {
    const descriptor = Object.getOwnPropertyDescriptor(StateMachine.prototype, 'run');
    expect(typeof descriptor?.value, changed('StateMachine.prototype.run is no longer a method')).toBe(
      'function',
    );
    expect(descriptor?.writable, changed('StateMachine.prototype.run can no longer be replaced')).toBe(true);
  });

  it('runs Map iterations through prototype.run with the private _rootAbortSignal, one machine per entry', async () => {
    await recordRuns(async (calls) => {
      const machine = new StateMachine(twiceEnteredMap);
      const execution = machine.run(
        { round: 1, items: [1, 2] },
        { overrides: { taskResourceLocalHandlers: { Item: async (input) => input } } },
      );
      await execution.result;

      const [top, ...nested] = calls;
      expect(top?.machine, changed('the top-level run no longer comes first')).toBe(machine);
      expect(top?.signal, changed(`a top-level run now carries ${ROOT_SIGNAL_OPTION}`)).toBeUndefined();
      expect(
        nested.length,
        changed('Map iterations no longer run through StateMachine.prototype.run (one call per item)'),
      ).toBe(4);
      for (const call of nested) {
        expect(
          call.signal,
          changed(`the options of a nested Map run no longer carry ${ROOT_SIGNAL_OPTION} as an AbortSignal`),
        ).toBeInstanceOf(AbortSignal);
        expect(call.machine, changed('a Map iteration no longer runs on a StateMachine')).toBeInstanceOf(
          StateMachine,
        );
        expect(call.machine, changed('a Map iteration runs on the top-level machine')).not.toBe(machine);
      }
      for (const call of calls) {
        expect(call.returned, changed('run() no longer returns { abort, eventLogs, result }')).toEqual([
          'abort',
          'eventLogs',
          'result',
        ]);
      }
      const [first, second, third, fourth] = nested.map((call) => call.machine);
      expect(second, changed('the iterations of one Map entry no longer share one iterator machine')).toBe(
        first,
      );
      expect(fourth, changed('the iterations of one Map entry no longer share one iterator machine')).toBe(
        third,
      );
      expect(third, changed('a Map entered again reuses the iterator machine of its earlier entry')).not.toBe(
        first,
      );
    });
  });

  it('aborts the _rootAbortSignal of nested runs when the execution is stopped', async () => {
    await recordRuns(async (calls) => {
      let release: () => void = () => undefined;
      let started = false;
      const machine = new StateMachine(twiceEnteredMap);
      const execution = machine.run(
        { round: 2, items: [1] },
        {
          overrides: {
            taskResourceLocalHandlers: {
              Item: (input) => {
                started = true;
                return new Promise((resolve) => {
                  release = () => resolve(input);
                });
              },
            },
          },
        },
      );
      const outcome = execution.result.then(
        () => 'succeeded',
        (error: unknown) => error,
      );
      for (let waited = 0; !started && waited < 2000; waited += 10) await sleep(10);
      expect(started, 'the Map iteration did not start').toBe(true);
      const signal = calls[1]?.signal;
      expect(signal, changed(`a nested Map run has no ${ROOT_SIGNAL_OPTION}`)).toBeInstanceOf(AbortSignal);
      expect(signal?.aborted, changed(`${ROOT_SIGNAL_OPTION} is aborted while the execution runs`)).toBe(
        false,
      );
      execution.abort();
      expect(
        signal?.aborted,
        changed(`stopping the execution no longer aborts the ${ROOT_SIGNAL_OPTION} of its nested runs`),
      ).toBe(true);
      expect(await outcome).toBeInstanceOf(ExecutionAbortedError);
      release();
    });
  });
});

/** Items run one by one (or two at a time); item `fail` fails with Item.Failed, which the Map catches. */
const failFastMap = (maxConcurrency: number): string =>
  JSON.stringify({
    StartAt: 'Items',
    States: {
      Items: {
        Type: 'Map',
        ItemsPath: '$.items',
        MaxConcurrency: maxConcurrency,
        ResultPath: '$.results',
        Iterator: {
          StartAt: 'Item',
          States: { Item: { Type: 'Task', Resource: ITEM_ARN, End: true } },
        },
        Catch: [{ ErrorEquals: ['Item.Failed'], ResultPath: '$.caught', Next: 'Caught' }],
        Next: 'Done',
      },
      Caught: { Type: 'Pass', End: true },
      Done: { Type: 'Pass', End: true },
    },
  });

interface Item {
  n: number;
  fail?: boolean;
  hold?: boolean;
}

describe('the local endpoint: an inline Map stops at the first failed iteration', () => {
  const ran: number[] = [];
  const held: Array<() => void> = [];
  const servers: LocalStepFunctions[] = [];
  const clients = new Map<number, { server: LocalStepFunctions; client: SFNClient }>();

  const item = async (payload: unknown): Promise<unknown> => {
    const { n, fail, hold } = payload as Item;
    ran.push(n);
    if (hold) await new Promise<void>((resolve) => held.push(resolve));
    if (fail) {
      const error = new Error(`item ${n} failed`);
      error.name = 'Item.Failed';
      throw error;
    }
    return { n };
  };

  beforeAll(async () => {
    for (const concurrency of [1, 2]) {
      const server = new LocalStepFunctions({
        definition: failFastMap(concurrency),
        substitutions: {},
        functions: { [ITEM_ARN]: item },
      });
      servers.push(server);
      const client = new SFNClient({
        endpoint: await server.listen(),
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 1,
      });
      clients.set(concurrency, { server, client });
    }
  });
  afterAll(async () => {
    for (const release of held) release();
    for (const { client } of clients.values()) client.destroy();
    for (const server of servers) await server.close();
  });

  const run = async (concurrency: number, name: string, items: Item[]) => {
    const target = clients.get(concurrency);
    if (!target) throw new Error(`no endpoint for MaxConcurrency ${concurrency}`);
    const { server, client } = target;
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: server.stateMachineArn,
        name,
        input: JSON.stringify({ items }),
      }),
    );
    const executionArn = started.executionArn ?? '';
    const deadline = Date.now() + 5000;
    let described: DescribeExecutionCommandOutput;
    for (;;) {
      described = await client.send(new DescribeExecutionCommand({ executionArn }));
      if (described.status !== 'RUNNING' || Date.now() > deadline) break;
      await sleep(10);
    }
    const history = await client.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    const types = (history.events ?? []).map((event) => event.type);
    return { described, types };
  };

  it('one at a time: the failed item is the last that runs; the Catch leads on', async () => {
    ran.length = 0;
    const { described, types } = await run(1, 'one-at-a-time', [
      { n: 0 },
      { n: 1, fail: true },
      { n: 2 },
      { n: 3 },
    ]);
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output ?? 'null')).toMatchObject({ caught: { Error: 'Item.Failed' } });
    await sleep(200);
    expect(ran, 'an iteration ran after the failed one: the Map fail-fast no longer works').toEqual([0, 1]);
    expect(types.filter((type) => type === 'MapIterationStarted')).toHaveLength(2);
    expect(types).toContain('MapStateFailed');
    expect(types.at(-1)).toBe('ExecutionSucceeded');
  });

  it('two at a time: leaves without waiting for the running item, and starts no queued one', async () => {
    ran.length = 0;
    const { described } = await run(2, 'two-at-a-time', [
      { n: 0, hold: true },
      { n: 1, fail: true },
      { n: 2 },
      { n: 3 },
    ]);
    expect(described.status, 'the Map waited for the running iteration to end').toBe('SUCCEEDED');
    expect(ran, 'a queued iteration started after the failed one: the Map fail-fast no longer works').toEqual(
      [0, 1],
    );
    for (const release of held.splice(0)) release();
    await sleep(200);
    expect(ran, 'a queued iteration started after the failed one: the Map fail-fast no longer works').toEqual(
      [0, 1],
    );
  });
});
