/**
 * Each part of FUEL_CHAOS as the runtime uses it, at a rate of 1 (or 0) so that what it does is certain:
 * events dropped or duplicated, requests throttled (the SDK's retries absorb a few, not all), an ended
 * invocation shown stale for a while, and an invocation killed at one of its AWS calls. Real endpoints,
 * unchanged SDK clients.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstanceInformationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, describe, expect, it } from 'vitest';
import { Chaos, type ChaosRates, DEFAULT_CHAOS_RATES } from '../../local/chaos.js';
import { createDelivery } from '../../local/event-delivery.js';
import { FunctionTimedOut, killable, killMiddleware } from '../../local/lambda/killed.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalDynamoDb } from '../../local/local-dynamodb.js';
import { LocalFleet, type SsmDocument } from '../../local/ssm/fleet.js';
import { fleetCommands, fleetNodeId, RUN_TASK, sleep } from '../helpers/fleet-client.js';

const only = (rates: Partial<ChaosRates>): Chaos =>
  new Chaos(7, {
    ...Object.fromEntries(Object.keys(DEFAULT_CHAOS_RATES).map((k) => [k, 0])),
    ...rates,
  } as ChaosRates);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('events', () => {
  it('are dropped, or delivered twice, at the rates asked for', async () => {
    for (const [rates, calls] of [
      [{ eventDropped: 1 }, 0],
      [{ eventDuplicated: 1 }, 2],
      [{}, 1],
    ] as const) {
      let handled = 0;
      const delivery = createDelivery({ attempts: 1, backoffMs: 1, chaos: only(rates) });
      delivery.deliver('command-status', async () => {
        handled++;
      });
      await delivery.drained();
      expect(handled, JSON.stringify(rates)).toBe(calls);
    }
  });

  it('come late, out of the order they were sent in', async () => {
    const chaos = only({ eventDelayMaxMs: 300 });
    const delivery = createDelivery({ attempts: 1, backoffMs: 1, chaos });
    const seen: number[] = [];
    for (let i = 0; i < 20; i++)
      delivery.deliver('command-status', async () => {
        seen.push(i);
      });
    await delivery.drained();
    expect([...seen].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(seen).not.toEqual([...Array(20).keys()]);
  });
});

describe('the SSM endpoint', () => {
  const document = JSON.parse(
    readFileSync(new URL('../../infra/documents/run-task.json', import.meta.url), 'utf8'),
  ) as SsmDocument;

  async function fleetWith(chaos: Chaos, maxAttempts = 1) {
    const baseDir = mkdtempSync(join(tmpdir(), 'fuel-chaos-'));
    const fleet = new LocalFleet({ baseDir, nodeCount: 1, documents: { [RUN_TASK]: document }, chaos });
    const url = await fleet.listen();
    cleanups.push(async () => {
      await fleet.close();
      rmSync(baseDir, { recursive: true, force: true });
    });
    return new SSMClient({
      endpoint: url,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts,
    });
  }

  it('throttles requests: with every request throttled, the SDK gives up with ThrottlingException', async () => {
    const ssm = await fleetWith(only({ throttled: 1 }), 3);
    await expect(ssm.send(new DescribeInstanceInformationCommand({}))).rejects.toMatchObject({
      name: 'ThrottlingException',
      $metadata: { attempts: 3 },
    });
  });

  it('shows an ended invocation with its previous status for a while, then as it ended', async () => {
    const ssm = await fleetWith(only({ invocationStale: 1, invocationStaleMaxMs: 1500 }));
    const { sendTask, getInvocation } = fleetCommands(() => ssm);
    const commandId = await sendTask([fleetNodeId(1)], { command: ['echo done'], timeout: ['30'] });
    let stale = 0;
    let final = '';
    for (let i = 0; i < 200 && final === ''; i++) {
      const out = await getInvocation(commandId, fleetNodeId(1));
      if (out.Status === 'Success') final = out.StandardOutputContent ?? '';
      else stale++;
      await sleep(20);
    }
    expect(final).toBe('done\n');
    expect(stale).toBeGreaterThan(0);
  });
});

describe('a function killed at its timeout', () => {
  it('stops at one of its AWS calls and fails as Sandbox.Timedout; the others run untouched', async () => {
    const dynamo = await startLocalDynamoDb();
    cleanups.push(() => dynamo.close());
    dynamo.client.middlewareStack.use(killMiddleware());
    let made = 0;
    const handler = async () => {
      for (let i = 0; i < 10; i++) {
        await dynamo.client.send(
          new GetItemCommand({ TableName: dynamo.tableName, Key: { pk: { S: 'x' }, sk: { S: 'y' } } }),
        );
        made++;
      }
      return 'done';
    };
    const killed = killable(only({ killed: 1 }), 'dispatch', handler);
    const error = await killed(undefined).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(FunctionTimedOut);
    expect((error as Error).name).toBe('Sandbox.Timedout');
    expect(made).toBeLessThanOrEqual(6);
    // an invocation not chosen runs to its end, even beside a killed one
    made = 0;
    expect(await killable(only({ killed: 0 }), 'dispatch', handler)(undefined)).toBe('done');
    expect(made).toBe(10);
  });
});
