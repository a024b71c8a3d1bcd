/**
 * The local Lambda endpoint, driven by an unchanged LambdaClient: an asynchronous invocation is answered 202
 * at once and run after; one that fails is retried twice, then kept as a dead letter; a synchronous one
 * answers the handler's result.
 */
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalLambda } from '../../local/lambda/functions.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/local-dynamodb.js';

let endpoint: LocalLambda | undefined;

afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
});

async function start(functions: ConstructorParameters<typeof LocalLambda>[0]['functions']) {
  endpoint = new LocalLambda({ functions, retryDelayMs: 20 });
  const url = await endpoint.listen();
  return new LambdaClient({ endpoint: url, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
}

const payload = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('the local Lambda endpoint', () => {
  it('answers an asynchronous invocation 202 before the handler has run, then runs it', async () => {
    const seen: unknown[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const client = await start({
      slow: async (event: unknown) => {
        await held;
        seen.push(event);
      },
    });
    const out = await client.send(
      new InvokeCommand({ FunctionName: 'slow', InvocationType: 'Event', Payload: payload({ n: 1 }) }),
    );
    expect(out.StatusCode).toBe(202);
    expect(seen).toEqual([]);
    release();
    await endpoint?.drained();
    expect(seen).toEqual([{ n: 1 }]);
  });

  it('retries a failing asynchronous invocation twice, then keeps it as a dead letter', async () => {
    let attempts = 0;
    const client = await start({
      failing: async () => {
        attempts++;
        throw new Error('boom');
      },
    });
    const arn = `arn:aws:lambda:${LOCAL_REGION}:000000000000:function:failing`;
    await client.send(
      new InvokeCommand({ FunctionName: arn, InvocationType: 'Event', Payload: payload({ x: 2 }) }),
    );
    await endpoint?.drained();
    expect(attempts).toBe(3);
    expect(endpoint?.deadLetters).toMatchObject([
      { functionName: 'failing', payload: { x: 2 }, error: 'Error: boom' },
    ]);
  });

  it('answers a synchronous invocation with the result, and an unknown function with ResourceNotFound', async () => {
    const client = await start({ echo: async (event: unknown) => ({ got: event }) });
    const out = await client.send(new InvokeCommand({ FunctionName: 'echo', Payload: payload({ y: 3 }) }));
    expect(out.StatusCode).toBe(200);
    expect(JSON.parse(new TextDecoder().decode(out.Payload))).toEqual({ got: { y: 3 } });
    await expect(
      client.send(new InvokeCommand({ FunctionName: 'nope', InvocationType: 'Event' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});
