/** EventBridge "EC2 Command Invocation Status-change Notification" from aws.ssm: a node's result. */
import { recordResult } from '../app/engine/record-result.js';
import type { Context } from '../app/ports.js';
import { contextFromEnv } from './env.js';
import { once } from './payload.js';

export interface CommandStatusEvent {
  detail: { 'command-id': string; 'instance-id': string; status: string; 'document-name'?: string };
}

export function commandStatusHandler(context: () => Context) {
  const ctx = once(context);
  return async (event: CommandStatusEvent) => {
    const detail = event.detail;
    await recordResult(ctx(), {
      commandId: detail['command-id'],
      instanceId: detail['instance-id'],
      status: detail.status,
    });
  };
}

export const handler = commandStatusHandler(contextFromEnv);
