/**
 * Lambda handlers as thin adapters: turn the event into an input, call the application, shape the result.
 * Each takes its dependencies from a function called once, so AWS (environment) and the local
 * runtime (explicit endpoints) run the very same handler code.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { UI_HTML } from '../../web/ui.js';
import type { HttpRequest } from '../api/http.js';
import { createRouter } from '../api/router.js';
import { nailgunRoutes } from '../api/routes.js';
import type { Engine, FinishInput, StageInput } from '../app/engine.js';
import type { Service } from '../app/service.js';

function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    if (value === undefined) value = make();
    return value;
  };
}

export interface ApiDeps {
  service: Service;
  authToken: () => Promise<string>;
  /** The Keystone-compatible login's admin user and password. */
  admin: { user: string; password: () => Promise<string> };
  log?: (err: unknown) => void;
}

export function toHttpRequest(event: APIGatewayProxyEventV2): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(event.headers ?? {})) headers[key.toLowerCase()] = value;
  const query: Record<string, string | undefined> = { ...(event.queryStringParameters ?? {}) };
  const body =
    event.body === undefined
      ? null
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  return { method: event.requestContext.http.method, path: event.rawPath, query, headers, body };
}

export function apiHandler(deps: () => ApiDeps) {
  const router = once(() => {
    const d = deps();
    const login = { user: d.admin.user, password: d.admin.password, signingKey: d.authToken };
    return createRouter(nailgunRoutes(d.service, login), {
      authToken: d.authToken,
      principal: d.admin.user,
      log: d.log,
      pages: { '/': UI_HTML, '/index.html': UI_HTML },
    });
  });
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const res = await router()(toHttpRequest(event));
    return { statusCode: res.status, headers: res.headers, body: res.body };
  };
}

function numberField(payload: unknown, field: string): number {
  const value = (payload as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new Error(`payload.${field} must be an integer`);
  return value;
}

function stringField(payload: unknown, field: string): string {
  const value = (payload as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string' || value === '')
    throw new Error(`payload.${field} must be a non-empty string`);
  return value;
}

export function planHandler(makeEngine: () => Engine) {
  const engine = once(makeEngine);
  return async (payload: unknown) => engine().plan({ taskId: numberField(payload, 'taskId') });
}

export function checkStopHandler(makeEngine: () => Engine) {
  const engine = once(makeEngine);
  return async (payload: unknown) => engine().checkStop({ taskId: numberField(payload, 'taskId') });
}

export function dispatchHandler(makeEngine: () => Engine) {
  const engine = once(makeEngine);
  return async (payload: unknown) => {
    const input: StageInput = {
      taskId: numberField(payload, 'taskId'),
      stage: stringField(payload, 'stage'),
      token: stringField(payload, 'token'),
    };
    return engine().dispatch(input);
  };
}

export function finishHandler(makeEngine: () => Engine) {
  const engine = once(makeEngine);
  return async (payload: unknown) => {
    const failure = (payload as Record<string, unknown> | null)?.failure;
    const input: FinishInput = {
      taskId: numberField(payload, 'taskId'),
      failure: typeof failure === 'object' && failure !== null ? (failure as FinishInput['failure']) : null,
    };
    return engine().finish(input);
  };
}

/** EventBridge "EC2 Command Invocation Status-change Notification" from aws.ssm. */
export interface CommandStatusEvent {
  detail: { 'command-id': string; 'instance-id': string; status: string; 'document-name'?: string };
}

export function commandStatusHandler(makeEngine: () => Engine) {
  const engine = once(makeEngine);
  return async (event: CommandStatusEvent) => {
    const detail = event.detail;
    await engine().onCommandStatus({
      commandId: detail['command-id'],
      instanceId: detail['instance-id'],
      status: detail.status,
    });
  };
}

/** EventBridge "Step Functions Execution Status Change" for the deployment state machine. */
export interface ExecutionStatusEvent {
  detail: {
    status: string;
    input?: string | null;
    error?: string | null;
    cause?: string | null;
    name?: string;
  };
}

const ENDED_WITHOUT_FINISH = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

/**
 * An execution that failed, timed out or was aborted never reached (or never completed) "Finish deployment":
 * finish it from here, so that no task stays running and the cluster is unlocked. Finish is idempotent.
 */
export function executionEndedHandler(makeEngine: () => Engine) {
  const engine = once(makeEngine);
  return async (event: ExecutionStatusEvent) => {
    const { status, input, error, cause } = event.detail;
    if (!ENDED_WITHOUT_FINISH.has(status)) return { finished: false };
    let taskId: unknown;
    try {
      taskId = (JSON.parse(input ?? 'null') as Record<string, unknown> | null)?.taskId;
    } catch {
      taskId = undefined;
    }
    if (typeof taskId !== 'number') return { finished: false };
    await engine().finish({
      taskId,
      failure: {
        Error: `Execution${status === 'TIMED_OUT' ? 'TimedOut' : status === 'ABORTED' ? 'Aborted' : 'Failed'}`,
        Cause: cause ?? error ?? `The execution ended ${status}`,
      },
    });
    return { finished: true };
  };
}

/** Scheduled: escalates stops past their deadline, gives up on commands whose nodes never answer. */
export function watchdogHandler(makeEngine: () => Engine) {
  const engine = once(makeEngine);
  return async () => engine().superviseStops();
}

export function discoverNodesHandler(makeService: () => Service) {
  const service = once(makeService);
  return async () => service().discoverNodes();
}
