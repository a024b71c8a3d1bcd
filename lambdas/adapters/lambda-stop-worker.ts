import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { StopJob, StopWorker } from '../app/ports.js';

/**
 * The stop's follow-up as an asynchronous invocation (`InvocationType: Event`) of the stop function: Lambda
 * queues it, answers at once, and retries it twice on failure before its dead-letter queue.
 */
export class LambdaStopWorker implements StopWorker {
  constructor(
    private readonly functionName: string,
    private readonly client: LambdaClient = new LambdaClient({}),
  ) {}

  async request(job: StopJob): Promise<void> {
    const out = await this.client.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify({ stopFollowUp: job })),
      }),
    );
    if (out.StatusCode !== 202) throw new Error(`Invoke of ${this.functionName} answered ${out.StatusCode}`);
  }
}
