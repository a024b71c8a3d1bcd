/**
 * The embedded runtime: the same Lambda handlers and the same state machine file as on AWS,
 * against local endpoints that speak the AWS protocols — dynalite for DynamoDB, a local Step Functions
 * endpoint, a local SSM fleet of simulated nodes that run real shell processes, and an HTTP server
 * standing in for API Gateway.
 */
import './polyfills.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { authenticate } from '../lambdas/api/auth.js';
import { errorResponse, HttpError, type HttpResponse, json } from '../lambdas/api/http.js';
import { isStopRequest } from '../lambdas/api/stop-routes.js';
import type { Context, Repositories } from '../lambdas/app/ports.js';
import { createService, type Service } from '../lambdas/app/service.js';
import { apiHandler } from '../lambdas/handlers/api.js';
import { checkStopHandler } from '../lambdas/handlers/check-stop.js';
import { commandStatusHandler } from '../lambdas/handlers/command-status.js';
import { compose, type Infrastructure, type PortDecorators } from '../lambdas/handlers/compose.js';
import { discoverNodesHandler } from '../lambdas/handlers/discover-nodes.js';
import { dispatchHandler } from '../lambdas/handlers/dispatch.js';
import { executionEndedHandler } from '../lambdas/handlers/execution-ended.js';
import { finishHandler } from '../lambdas/handlers/finish.js';
import { planHandler } from '../lambdas/handlers/plan.js';
import { stopHandler } from '../lambdas/handlers/stop.js';
import { watchdogHandler } from '../lambdas/handlers/watchdog.js';
import { actingAs, actingFunction, FUNCTION_NAMES, type FunctionName, recordAwsCalls } from './aws-calls.js';
import type { Chaos } from './chaos.js';
import { reportDemoEnd, seedDemo } from './demo.js';
import { commandStatusEvent, createDelivery, type Delivery } from './event-delivery.js';
import { readBody } from './http-body.js';
import { LocalLambda } from './lambda/functions.js';
import { killable, killMiddleware } from './lambda/killed.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalDynamoDb } from './local-dynamodb.js';
import { LocalStepFunctions } from './sfn/step-functions.js';
import { type CommandStatusEvent, LocalFleet, type SsmDocument } from './ssm/fleet.js';
import { MASTER_IP } from './ssm/nodes.js';

export const DOCUMENT_NAME = 'FuelRunTask';
export const STOP_FUNCTION_NAME = 'fuel-stop';
const REGION = LOCAL_REGION;
const ACCOUNT = '000000000000';
const credentials = LOCAL_CREDENTIALS;
const root = fileURLToPath(new URL('..', import.meta.url));
/** The web UI's build (`npm run build:web`; npm start and npm test run it first). */
const WEB_DIR = join(root, 'web', 'dist');

export interface RuntimeOptions {
  port?: number;
  host?: string;
  authToken?: string;
  /**
   * The key that signs issued tokens (never the static token). Default: a random one, kept in `dataDir`
   * (so issued tokens outlive a restart on the same data), else new at every start.
   */
  signingKey?: string;
  /** The Keystone-compatible login's credentials (default admin / admin). */
  adminUser?: string;
  adminPassword?: string;
  nodeCount?: number;
  demo?: boolean;
  /** Keep DynamoDB data in this folder instead of memory. */
  dataDir?: string;
  /** Folder for the simulated nodes' working folders (default: a new temporary folder). */
  nodesDir?: string;
  /** Run node commands on this host when the nodes cannot be isolated from it (FUEL_UNISOLATED_NODES=1). */
  unisolatedNodes?: boolean;
  /** Seconds the nodes' stand-ins (puppet apply, rsync from the master, ...) take (FUEL_STANDIN_SECONDS). */
  standInSeconds?: number;
  /** Makes the local endpoints behave as AWS may (local/chaos.ts; `npm start` reads FUEL_CHAOS). */
  chaos?: Chaos;
  /** Decorators around the real adapters of the ports (to record calls, or to make them fail as AWS can). */
  decorate?: PortDecorators;
  log?: (line: string) => void;
}

export interface Runtime {
  url: string;
  token: string;
  fleet: LocalFleet;
  /** The context every handler of this runtime runs with: its repositories, SSM, Step Functions, clock, log. */
  context: Context;
  repos: Repositories;
  service: Service;
  endpoints: { dynamodb: string; sfn: string; ssm: string; lambda: string };
  /** The local Lambda endpoint: the stop function's asynchronous invocations, and its dead letters. */
  lambda: LocalLambda;
  /** Registers the fleet's nodes as discovered nodes (also runs every few seconds). */
  discover(): Promise<void>;
  stop(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve(`http://${host}:${bound}`);
    });
  });
}

/** An API Gateway HTTP API (payload format 2.0) event for a Node request, as the Lambda integration sends it. */
export function toApiGatewayEvent(req: IncomingMessage, body: string): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://local');
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const method = req.method ?? 'GET';
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length > 0 ? query : undefined,
    body: body === '' ? undefined : body,
    isBase64Encoded: false,
    requestContext: {
      accountId: ACCOUNT,
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomBytes(8).toString('hex'),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
  };
}

type Log = (line: string) => void;

/** What the local endpoints need of the runtime: each function's context, the event delivery, the log. */
interface Wiring {
  context: (fn: FunctionName) => Context;
  delivery: Delivery;
  log: Log;
  host: string;
}

/** The simulated nodes behind a local SSM endpoint; their status changes reach the command-status handler. */
async function startFleet(
  w: Wiring,
  baseDir: string,
  nodes: Pick<RuntimeOptions, 'nodeCount' | 'unisolatedNodes' | 'standInSeconds' | 'chaos'>,
): Promise<{ fleet: LocalFleet; url: string }> {
  const onCommandStatus = killable(
    nodes.chaos,
    'command-status',
    commandStatusHandler(() => w.context('commandStatus')),
  );
  const document = JSON.parse(
    readFileSync(join(root, 'infra/documents/run-task.json'), 'utf8'),
  ) as SsmDocument;
  const fleet = new LocalFleet({
    baseDir,
    nodeCount: nodes.nodeCount ?? 6,
    allowUnisolated: nodes.unisolatedNodes ?? false,
    standInSeconds: nodes.standInSeconds,
    chaos: nodes.chaos,
    documents: { [DOCUMENT_NAME]: document },
    onStatusChange: (event: CommandStatusEvent) =>
      w.delivery.deliver('command-status', () => onCommandStatus(commandStatusEvent(event))),
  });
  return { fleet, url: await fleet.listen(0, w.host) };
}

/** The state machine file run by a local Step Functions endpoint that invokes the step handlers in-process. */
async function startStepFunctions(
  w: Wiring,
  chaos: Chaos | undefined,
): Promise<{ sfn: LocalStepFunctions; url: string }> {
  const onExecutionEnded = killable(
    chaos,
    'execution-ended',
    executionEndedHandler(() => w.context('executionEnded')),
  );
  const arn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:fuel-${name}`;
  const sfn = new LocalStepFunctions({
    definition: readFileSync(join(root, 'statemachines/deployment.asl.json'), 'utf8'),
    substitutions: {
      PlanFunctionArn: arn('plan'),
      CheckStopFunctionArn: arn('check-stop'),
      DispatchFunctionArn: arn('dispatch'),
      FinishFunctionArn: arn('finish'),
    },
    functions: {
      [arn('plan')]: killable(
        chaos,
        'plan',
        planHandler(() => w.context('plan')),
      ),
      [arn('check-stop')]: killable(
        chaos,
        'check-stop',
        checkStopHandler(() => w.context('checkStop')),
      ),
      [arn('dispatch')]: killable(
        chaos,
        'dispatch',
        dispatchHandler(() => w.context('dispatch')),
      ),
      [arn('finish')]: killable(
        chaos,
        'finish',
        finishHandler(() => w.context('finish')),
      ),
    },
    chaos,
    log: w.log,
    onExecutionEnd: (detail) => w.delivery.deliver('execution-ended', () => onExecutionEnded({ detail })),
  });
  return { sfn, url: await sfn.listen(0, w.host) };
}

/**
 * Jobs run every few seconds (as EventBridge Scheduler runs the watchdog and discovery on AWS), and taken
 * down together: `stop()` ends the timers and waits for the runs still going, so none of them writes to a
 * database that is closing.
 */
class Schedules {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly log: Log) {}

  /** Runs `job` every `ms` until the returned function or `stop()` is called. */
  every(ms: number, what: string, job: () => Promise<unknown>): () => void {
    const timer = setInterval(() => {
      const run = job().then(
        () => undefined,
        (err) => this.log(`${what} failed: ${(err as Error).message}`),
      );
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
    }, ms);
    timer.unref();
    this.timers.add(timer);
    return () => {
      clearInterval(timer);
      this.timers.delete(timer);
    };
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
    await Promise.all([...this.running]);
  }
}

type LocalAnswer = { statusCode: number; headers: Record<string, string>; body: string };

/** Local-only routes: the fleet's command log and taking simulated nodes offline. */
function localRoutes(deps: {
  fleet: LocalFleet;
  token: string;
  signingKey: string;
  context: () => Context;
  discover: () => Promise<void>;
  log: Log;
}) {
  const answer = (out: HttpResponse): LocalAnswer => ({
    statusCode: out.status,
    headers: out.headers,
    body: out.body,
  });
  return async (req: IncomingMessage): Promise<LocalAnswer | null> => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (!url.pathname.startsWith('/_local/')) return null;
    try {
      const given = req.headers['x-auth-token'] as string | undefined;
      if (!authenticate(given, deps.token, deps.signingKey, 'admin', new Date()))
        throw new HttpError(401, 'Authentication required: send a valid X-Auth-Token header');
      if (req.method === 'GET' && url.pathname.replace(/\/$/, '') === '/_local/fleet/commands') {
        return answer(json(200, deps.fleet.commandLog()));
      }
      const m = /^\/_local\/nodes\/(\d+)\/(offline|online)\/?$/.exec(url.pathname);
      if (m && req.method === 'POST') {
        const node = await deps.context().repos.nodes.get(Number(m[1]));
        if (!node) throw new HttpError(404, `Node ${m[1]} not found`);
        deps.fleet.setOnline(node.instanceId, m[2] === 'online');
        await deps.discover();
        return answer(json(200, { id: node.id, online: m[2] === 'online' }));
      }
      throw new HttpError(404, `No such local resource: ${url.pathname}`);
    } catch (err) {
      return answer(errorResponse(err, (e) => deps.log(`local route failed: ${String(e)}`)));
    }
  };
}

type GatewayTarget = (event: APIGatewayProxyEventV2) => Promise<LocalAnswer>;

/**
 * The HTTP server in place of API Gateway: local routes first, then the stop function for its routes
 * (lambdas/api/stop-routes.ts), then the API function.
 */
function httpServer(
  functions: { api: GatewayTarget; stop: GatewayTarget },
  local: (req: IncomingMessage) => Promise<LocalAnswer | null>,
  log: Log,
): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        const body = await readBody(req);
        const target = isStopRequest(req.method ?? 'GET', new URL(req.url ?? '/', 'http://local').pathname)
          ? functions.stop
          : functions.api;
        const out = (await local(req)) ?? (await target(toApiGatewayEvent(req, body)));
        res.writeHead(out.statusCode ?? 200, (out.headers ?? {}) as Record<string, string>);
        res.end(out.body ?? '');
      } catch (err) {
        const out = errorResponse(err, (e) => log(`request failed: ${(e as Error).stack ?? String(e)}`));
        res.writeHead(out.status, out.headers);
        res.end(out.body);
      }
    })();
  });
}

/** The SDK clients of one context, on the local endpoints. */
interface LocalClients {
  dynamodb: DynamoDBClient;
  ssm: SSMClient;
  sfn: SFNClient;
  lambda: LambdaClient;
}

/** New clients on the local endpoints whose calls are recorded as `fn`'s (when FUEL_AWS_CALL_LOG is set). */
function localClients(
  endpoints: { dynamodb: string; sfn: string; ssm: string; lambda: string },
  fn: string | (() => string | undefined),
  dynamodb?: DynamoDBClient,
): LocalClients {
  const at = (endpoint: string) => ({ endpoint, region: REGION, credentials });
  return {
    dynamodb: recordAwsCalls(dynamodb ?? new DynamoDBClient(at(endpoints.dynamodb)), fn),
    ssm: recordAwsCalls(new SSMClient(at(endpoints.ssm)), fn),
    sfn: recordAwsCalls(new SFNClient(at(endpoints.sfn)), fn),
    lambda: recordAwsCalls(new LambdaClient(at(endpoints.lambda)), fn),
  };
}

function destroyClients(clients: LocalClients): void {
  for (const client of Object.values(clients)) client.destroy();
}

/**
 * Function `fn`'s repositories, which follow a method a test replaced on the runtime's own repositories
 * (`runtime.repos.tasks.finish = ...`, to hold or crash a step), as they did when every function shared
 * those objects: the replacement runs, as `fn` (its calls are recorded as `fn`'s), instead of `fn`'s method.
 */
function followingReplacements(fn: FunctionName, own: Repositories, shared: Repositories): Repositories {
  const follow = <R extends object>(mine: R, theirs: R): R => {
    const original = new Map(Object.entries(theirs));
    return new Proxy(mine, {
      get(target, property, receiver) {
        const replaced: unknown = typeof property === 'string' ? Reflect.get(theirs, property) : undefined;
        if (
          typeof property === 'string' &&
          Object.hasOwn(theirs, property) &&
          typeof replaced === 'function' &&
          replaced !== original.get(property)
        ) {
          return (...args: unknown[]) => actingAs(fn, () => replaced.apply(theirs, args));
        }
        return Reflect.get(target, property, receiver);
      },
    });
  };
  const theirs = shared as unknown as Record<string, object>;
  return Object.fromEntries(
    Object.entries(own).map(([name, mine]) => [name, follow(mine as object, theirs[name] ?? {})]),
  ) as unknown as Repositories;
}

/** A new random signing key, or the one kept in the data folder (written there once, readable by its owner only). */
function signingKeyOf(dataDir: string | undefined): string {
  if (dataDir === undefined) return randomBytes(32).toString('hex');
  const file = join(dataDir, 'token-signing-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString('hex');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

export async function startRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const token = options.authToken ?? randomBytes(20).toString('hex');
  const signingKey = options.signingKey ?? signingKeyOf(options.dataDir);
  if (signingKey === token) throw new Error('The signing key of issued tokens must not be the static token');
  const nodesDir = options.nodesDir ?? mkdtempSync(join(tmpdir(), 'fuel-nodes-'));
  const chaos = options.chaos;
  if (chaos) log(`chaos: seed ${chaos.seed} (docs/chaos.md)`);
  const dynamo = await startLocalDynamoDb({ host, dataDir: options.dataDir, chaos });

  // Each function has a context of its own, as on AWS (its own SDK clients, whose calls are recorded as its
  // own when FUEL_AWS_CALL_LOG is set), built by the composition root once the local endpoints listen.
  let built: Record<FunctionName, Context> | undefined;
  const contextOf = (fn: FunctionName): Context => {
    if (!built) throw new Error('handler invoked before the runtime started');
    return built[fn];
  };
  const delivery = createDelivery({
    attempts: 8,
    backoffMs: 100,
    onRetry: (what, attempt, err) => log(`${what} delivery failed (attempt ${attempt}): ${err.message}`),
    chaos,
  });
  const wiring: Wiring = { context: contextOf, delivery, log, host };
  const { fleet, url: ssmUrl } = await startFleet(wiring, nodesDir, options);
  const { sfn, url: sfnUrl } = await startStepFunctions(wiring, chaos);
  const principal = options.adminUser ?? 'admin';
  const onStop = stopHandler(() => ({
    context: contextOf('stop'),
    authToken: async () => token,
    signingKey: async () => signingKey,
    principal,
    log: (err) => log(`stop function error: ${(err as Error)?.stack ?? String(err)}`),
  }));
  // its asynchronous invocations (the stop's follow-up) may be killed; the stop requests it serves are not
  const lambda = new LocalLambda({
    functions: { [STOP_FUNCTION_NAME]: killable(chaos, 'stop follow-up', onStop) },
    log,
    chaos,
  });
  const lambdaUrl = await lambda.listen(0, host);
  const endpoints = { dynamodb: dynamo.url, sfn: sfnUrl, ssm: ssmUrl, lambda: lambdaUrl };
  const infrastructure = (clients: LocalClients): Infrastructure => ({
    table: { name: dynamo.tableName, client: clients.dynamodb },
    ssm: { documentName: DOCUMENT_NAME, client: clients.ssm },
    sfn: { stateMachineArn: sfn.stateMachineArn, client: clients.sfn },
    lambda: { stopFunctionName: STOP_FUNCTION_NAME, client: clients.lambda },
    log: (message, data) => log(`${message} ${data ? JSON.stringify(data) : ''}`),
    master: { instanceId: fleet.masterInstanceId, ip: MASTER_IP },
  });
  // The context of the tests and the local routes (runtime.context): its calls are not a function's, and
  // are not recorded, but for a test's replacement of one of its repository methods that a function calls.
  const testClients = localClients(endpoints, actingFunction, dynamo.client);
  const context = compose(infrastructure(testClients), options.decorate);
  const functionClients: LocalClients[] = [];
  const functionContext = (fn: FunctionName): Context => {
    const clients = localClients(endpoints, fn);
    functionClients.push(clients);
    // a function killed at its timeout stops at one of its AWS calls (local/lambda/killed.ts)
    if (chaos) for (const client of Object.values(clients)) client.middlewareStack.use(killMiddleware());
    return compose(infrastructure(clients), {
      ...options.decorate,
      repos: (real) => followingReplacements(fn, options.decorate?.repos?.(real) ?? real, context.repos),
    });
  };
  built = Object.fromEntries(FUNCTION_NAMES.map((fn) => [fn, functionContext(fn)])) as Record<
    FunctionName,
    Context
  >;
  const service = createService(context);

  const discoverHandler = discoverNodesHandler(() => contextOf('discoverNodes'));
  const discover = async () => {
    await discoverHandler();
  };
  await discover();
  const schedules = new Schedules(log);
  schedules.every(1000, 'watchdog', () =>
    killable(
      chaos,
      'watchdog',
      watchdogHandler(() => contextOf('watchdog')),
    )(undefined),
  );
  schedules.every(5000, 'discovery', discover);
  const api = apiHandler(() => ({
    context: contextOf('api'),
    authToken: async () => token,
    signingKey: async () => signingKey,
    admin: { user: principal, password: async () => options.adminPassword ?? 'admin' },
    webDir: WEB_DIR,
    log: (err) => log(`API error: ${(err as Error)?.stack ?? String(err)}`),
  }));
  const stopAtGateway: GatewayTarget = async (event) => (await onStop(event)) as LocalAnswer;
  const server = httpServer(
    { api: api as GatewayTarget, stop: stopAtGateway },
    localRoutes({ fleet, token, signingKey, context: () => context, discover, log }),
    log,
  );
  // an idle connection stays open longer than a client's pause between polls, even on a busy event loop
  // (Node's 5 s default closes sockets that clients reuse at that instant: "other side closed")
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  /** Everything started above, taken down; the nodes' folder removed unless the caller gave it. */
  const takeDown = async (): Promise<void> => {
    await schedules.stop();
    await new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections();
    await sfn.close();
    await lambda.close();
    await fleet.close();
    await delivery.drained();
    for (const clients of [testClients, ...functionClients]) destroyClients(clients);
    await dynamo.close();
    if (options.nodesDir === undefined) rmSync(nodesDir, { recursive: true, force: true });
  };
  let url: string;
  try {
    url = await listen(server, options.port ?? 8000, host);
  } catch (err) {
    // a port already in use leaves nothing behind: no endpoint listening, no nodes' folder
    await takeDown();
    throw err;
  }
  if (options.demo) {
    const demo = await seedDemo(service, log);
    let asking = false;
    const endWatch = schedules.every(2_000, 'demo report', async () => {
      if (asking) return;
      asking = true;
      try {
        if (await reportDemoEnd(service, demo, log)) endWatch();
      } finally {
        asking = false;
      }
    });
  }

  let stopped = false;
  return {
    url,
    token,
    fleet,
    context,
    repos: context.repos,
    service,
    endpoints,
    lambda,
    discover,
    async stop() {
      if (stopped) return;
      stopped = true;
      await takeDown();
      if (chaos) log(chaos.describe());
    },
  };
}
