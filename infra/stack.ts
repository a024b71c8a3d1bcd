import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ArnFormat,
  aws_apigatewayv2 as apigw,
  aws_apigatewayv2_authorizers as apigwAuthorizers,
  aws_apigatewayv2_integrations as apigwIntegrations,
  aws_apigateway as apigwRest,
  CfnOutput,
  CfnParameter,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cloudwatchActions,
  Duration,
  aws_dynamodb as dynamodb,
  aws_events as events,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_lambda_destinations as lambdaDestinations,
  aws_logs as logs,
  aws_lambda_nodejs as nodejs,
  RemovalPolicy,
  Stack,
  type StackProps,
  aws_secretsmanager as secretsmanager,
  aws_stepfunctions as sfn,
  aws_sns as sns,
  aws_sqs as sqs,
  aws_ssm as ssm,
  Tags,
  aws_events_targets as targets,
  Validations,
} from 'aws-cdk-lib';
import type { Construct, IConstruct } from 'constructs';
import { ROLE_TAG } from '../lambdas/adapters/ssm-commands.js';
import { stopRouteKeys } from '../lambdas/api/stop-routes.js';
import { COMMAND_STATUSES, isCommandFinished } from '../lambdas/domain/command-status.js';

/** Absolute path of a file in the repository, given relative to the repository root. */
const fromRepoRoot = (relative: string): string => fileURLToPath(new URL(`../${relative}`, import.meta.url));

const REPO_ROOT = fromRepoRoot('');

/** The Lambda handlers of the product, keyed by their role. */
type FunctionName =
  | 'api'
  | 'plan'
  | 'checkStop'
  | 'dispatch'
  | 'finish'
  | 'commandStatus'
  | 'executionEnded'
  | 'watchdog'
  | 'discoverNodes'
  | 'stop';

/**
 * Copies the web UI's build into a function's deployment package (`web/` beside `index.mjs`); the build
 * (`npm run build:web`) runs before `cdk synth` and `cdk deploy` (package.json `synth`, README).
 */
const WEB_UI_INTO_BUNDLE: nodejs.ICommandHooks = {
  beforeBundling: (inputDir: string): string[] => [
    `test -f "${inputDir}/web/dist/index.html" || { echo "web/dist is missing: run npm run build:web first" >&2; exit 1; }`,
  ],
  beforeInstall: (): string[] => [],
  afterBundling: (inputDir: string, outputDir: string): string[] => [
    `cp -R "${inputDir}/web/dist" "${outputDir}/web"`,
  ],
};

interface FunctionSpec {
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** The web UI's build (web/dist) goes into the deployment package as `web/`, beside the bundle. */
  readonly servesWebUi?: true;
}

const FUNCTION_SPECS: Record<FunctionName, FunctionSpec> = {
  api: {
    entry: 'lambdas/handlers/api.ts',
    description: 'Nailgun HTTP API and the web UI',
    memorySize: 512,
    timeout: Duration.seconds(29),
    servesWebUi: true,
  },
  plan: {
    entry: 'lambdas/handlers/plan.ts',
    description: 'Deployment step: expands the task graph into layers',
    memorySize: 512,
    timeout: Duration.minutes(5),
  },
  executionEnded: {
    entry: 'lambdas/handlers/execution-ended.ts',
    description: 'Settles a deployment whose execution failed, timed out or was aborted before it finished',
    memorySize: 512,
    timeout: Duration.minutes(5),
  },
  watchdog: {
    entry: 'lambdas/handlers/watchdog.ts',
    description:
      'Escalates stops past their timeout; gives up on cancelled commands whose nodes never answer',
    memorySize: 256,
    timeout: Duration.minutes(1),
  },
  checkStop: {
    entry: 'lambdas/handlers/check-stop.ts',
    description: 'Deployment step: reads the stop flag before a layer is dispatched',
    memorySize: 256,
    timeout: Duration.minutes(1),
  },
  dispatch: {
    entry: 'lambdas/handlers/dispatch.ts',
    description: 'Deployment step: sends the commands of a layer to the nodes through SSM Run Command',
    memorySize: 512,
    timeout: Duration.minutes(5),
  },
  finish: {
    entry: 'lambdas/handlers/finish.ts',
    description: 'Deployment step: settles node, cluster and task statuses',
    memorySize: 512,
    timeout: Duration.minutes(5),
  },
  commandStatus: {
    entry: 'lambdas/handlers/command-status.ts',
    description: 'Records SSM command invocation status changes and resumes the waiting layer',
    memorySize: 256,
    timeout: Duration.minutes(1),
  },
  discoverNodes: {
    entry: 'lambdas/handlers/discover-nodes.ts',
    description: 'Registers SSM managed instances as discovered nodes',
    memorySize: 256,
    timeout: Duration.minutes(1),
  },
  stop: {
    entry: 'lambdas/handlers/stop.ts',
    description:
      'Stop deployment and task deletion (own role and reserved concurrency); the stop follow-up after the reply',
    memorySize: 256,
    timeout: Duration.minutes(1),
  },
};

/**
 * The DynamoDB actions each function's code calls on the table (lambdas/store/table.ts: `get` GetItem,
 * `getMany` BatchGetItem, `query` Query, `put` PutItem, `putMany` / `deleteMany` BatchWriteItem, the updates
 * and `nextId` UpdateItem, `delete` DeleteItem). test/iam/calls-allowed.test.ts checks them against the calls
 * every function makes while the tests run, and says which rarer paths those tests do not take.
 */
const TABLE_ACTIONS: Record<FunctionName, readonly string[]> = {
  // BatchGetItem: an environment's tasks, through its pointers to them (lambdas/store/tasks.ts `page`)
  api: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'],
  stop: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem'],
  // BatchGetItem: the cluster's last finished run, through its pointers (its measured durations); PutItem: the
  // mark of the one-time index of tasks by cluster, when the plan step is the first to page them
  plan: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'BatchWriteItem'],
  // UpdateItem: a task item of an earlier version is rewritten when read (lambdas/store/legacy.ts)
  checkStop: ['GetItem', 'UpdateItem'],
  // BatchWriteItem: a node about to be provisioned again forgets what ran on it before
  dispatch: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'BatchWriteItem'],
  // PutItem: the stop task of a stop that had not written it yet; BatchWriteItem: the last runs of batches
  // that never ended (lambdas/app/engine/last-runs.ts)
  finish: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'BatchWriteItem'],
  // BatchWriteItem: the last runs of a batch's ready rows, when its last result ends it
  commandStatus: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'BatchWriteItem'],
  executionEnded: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'BatchWriteItem'],
  watchdog: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'BatchWriteItem'],
  discoverNodes: ['GetItem', 'Query', 'PutItem', 'UpdateItem'],
};

/** Concurrency kept for the stop function alone: a stop gets through when the API function is saturated. */
const STOP_RESERVED_CONCURRENCY = 5;

/**
 * The invocation statuses after which no further status comes (lambdas/domain/command-status.ts): the only
 * ones the command-status function records a result on, so the only ones EventBridge sends it. SSM reports
 * Pending, InProgress, Delayed and Cancelling on the way; Success, Failed, TimedOut, Cancelled at the end,
 * and Undeliverable, Terminated, InvalidPlatform, AccessDenied (and the details DeliveryTimedOut,
 * ExecutionTimedOut) for a command that never ran to its end.
 */
export const FINAL_COMMAND_STATUSES: readonly string[] = COMMAND_STATUSES.filter(isCommandFinished);

/**
 * The access log of the HTTP API's default stage, one JSON object per request. `user` is the user the
 * authorizer found (its context), `authorizerError` why it refused or failed.
 */
const ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  httpMethod: '$context.httpMethod',
  path: '$context.path',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  user: '$context.authorizer.user',
  authorizerError: '$context.authorizer.error',
  error: '$context.error.message',
};

/** A cdk-nag rule (or one finding of it) that does not apply here, and why: test/unit/cdk-nag.test.ts. */
function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** The HTTP API's Lambda authorizer: no table, only the token secret and the signing key. */
const AUTHORIZER_SPEC: FunctionSpec = {
  entry: 'lambdas/handlers/authorizer.ts',
  description: 'HTTP API authorizer: checks the X-Auth-Token (static or issued token)',
  memorySize: 256,
  timeout: Duration.seconds(10),
};

/**
 * The HTTP API's routes, all to the API function. Every one requires the X-Auth-Token (checked by the
 * authorizer, then again by the API function) except the public ones: the version, the Keystone-compatible
 * login and the web UI page. A method-specific route wins over ANY on the same path, and an exact path over
 * `{proxy+}`. A route path cannot end in "/": `/api/version/` is left to `/api/{proxy+}`, which needs
 * the token. The web UI's page and its built files (`/assets/`) are public: they hold no data.
 */
const ROUTES: ReadonlyArray<{ path: string; method: apigw.HttpMethod; public?: true }> = [
  { path: '/api/{proxy+}', method: apigw.HttpMethod.ANY },
  { path: '/api', method: apigw.HttpMethod.ANY },
  { path: '/keystone/{proxy+}', method: apigw.HttpMethod.ANY },
  { path: '/api/version', method: apigw.HttpMethod.GET, public: true },
  { path: '/api/v1/version', method: apigw.HttpMethod.GET, public: true },
  { path: '/keystone/v2.0/tokens', method: apigw.HttpMethod.POST, public: true },
  { path: '/', method: apigw.HttpMethod.GET, public: true },
  { path: '/index.html', method: apigw.HttpMethod.GET, public: true },
  { path: '/assets/{proxy+}', method: apigw.HttpMethod.GET, public: true },
];

/**
 * The AWS side of the Fuel deployment service: HTTP API, DynamoDB state, the deployment state
 * machine, SSM Run Command document, node discovery and command status callbacks.
 */
export class FuelDeploymentStack extends Stack {
  readonly table: dynamodb.Table;
  readonly functions: Record<FunctionName, nodejs.NodejsFunction>;
  readonly authorizerFunction: nodejs.NodejsFunction;
  readonly stateMachineName: string;
  readonly stateMachineArn: string;
  readonly documentName: string;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    Tags.of(this).add('Project', 'fuel-sls');

    // Fixed names: the Lambdas learn the state machine ARN and the document name without a
    // reference to the resources, which keeps the template free of dependency cycles.
    this.stateMachineName = `${this.stackName}-deployment`;
    this.stateMachineArn = this.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: this.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const executionsArn = this.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.documentName = `${this.stackName}-RunTask`;
    const documentArn = this.formatArn({
      service: 'ssm',
      resource: 'document',
      resourceName: this.documentName,
    });

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const authToken = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'Token that every API request carries in the X-Auth-Token header (or an issued token)',
      generateSecretString: { passwordLength: 40, excludePunctuation: true },
    });
    const signingKey = new secretsmanager.Secret(this, 'TokenSigningKey', {
      description:
        'Key that signs and verifies the tokens the Keystone-compatible login issues (apart from the static token)',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    const adminPassword = new secretsmanager.Secret(this, 'AdminPassword', {
      description: 'Password of the admin user of the Keystone-compatible login (POST /keystone/v2.0/tokens)',
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });

    const document = new ssm.CfnDocument(this, 'RunTaskDocument', {
      name: this.documentName,
      documentType: 'Command',
      documentFormat: 'JSON',
      updateMethod: 'NewVersion',
      content: JSON.parse(readFileSync(fromRepoRoot('infra/documents/run-task.json'), 'utf8')),
    });

    const functionIds: Record<FunctionName, string> = {
      api: 'ApiFunction',
      plan: 'PlanFunction',
      checkStop: 'CheckStopFunction',
      dispatch: 'DispatchFunction',
      finish: 'FinishFunction',
      commandStatus: 'CommandStatusFunction',
      executionEnded: 'ExecutionEndedFunction',
      watchdog: 'WatchdogFunction',
      discoverNodes: 'DiscoverNodesFunction',
      stop: 'StopFunction',
    };
    // A fixed name: a stop invokes its own function for the follow-up without a dependency cycle.
    const stopFunctionName = `${this.stackName}-stop`;
    const stopFunctionArn = this.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: stopFunctionName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // Fuel's master node: where the graph's `master` tasks run (an SSM managed instance), and its address
    const masterInstanceId = new CfnParameter(this, 'MasterInstanceId', {
      type: 'String',
      default: '',
      allowedPattern: '^(|mi-[0-9a-f]{17}|i-[0-9a-f]{8,17})$',
      description:
        "The master node's SSM managed instance id, for the tasks of Fuel's master role (empty: none)",
    });
    const masterIp = new CfnParameter(this, 'MasterIp', {
      type: 'String',
      default: '10.20.0.2',
      description: "The master node's address, {MASTER_IP} in task parameters",
    });
    const build = (
      name: FunctionName,
      environment: Record<string, string> = {},
      extra: Partial<nodejs.NodejsFunctionProps> = {},
    ): nodejs.NodejsFunction =>
      this.nodeFunction(
        functionIds[name],
        FUNCTION_SPECS[name],
        {
          TABLE_NAME: this.table.tableName,
          NODE_OPTIONS: '--enable-source-maps',
          FUEL_MASTER_INSTANCE_ID: masterInstanceId.valueAsString,
          FUEL_MASTER_IP: masterIp.valueAsString,
          ...environment,
        },
        extra,
      );

    const orchestration = { STATE_MACHINE_ARN: this.stateMachineArn, SSM_DOCUMENT_NAME: this.documentName };
    // SSM's own default name for a document's command output; fixed, so that the nodes' policy can name it
    const commandLogGroupName = `/aws/ssm/${this.documentName}`;
    const commandLogGroup = new logs.LogGroup(this, 'CommandOutputLogs', {
      logGroupName: commandLogGroupName,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.functions = {
      api: build('api', {
        ...orchestration,
        AUTH_TOKEN_SECRET_ARN: authToken.secretArn,
        TOKEN_SIGNING_KEY_SECRET_ARN: signingKey.secretArn,
        ADMIN_PASSWORD_SECRET_ARN: adminPassword.secretArn,
        STOP_FUNCTION_NAME: stopFunctionName,
      }),
      stop: build(
        'stop',
        {
          AUTH_TOKEN_SECRET_ARN: authToken.secretArn,
          TOKEN_SIGNING_KEY_SECRET_ARN: signingKey.secretArn,
          STOP_FUNCTION_NAME: stopFunctionName,
        },
        { functionName: stopFunctionName, reservedConcurrentExecutions: STOP_RESERVED_CONCURRENCY },
      ),
      plan: build('plan'),
      checkStop: build('checkStop'),
      // the commands' whole output goes to CloudWatch Logs (written by the nodes' SSM Agent)
      dispatch: build('dispatch', { ...orchestration, COMMAND_LOG_GROUP: commandLogGroupName }),
      finish: build('finish'),
      commandStatus: build('commandStatus', orchestration),
      executionEnded: build('executionEnded', orchestration),
      watchdog: build('watchdog', orchestration),
      discoverNodes: build('discoverNodes'),
    };
    const fns = this.functions;
    // Each function may call on the table only the DynamoDB actions its code calls (no Scan, no streams).
    for (const [name, fn] of Object.entries(fns) as Array<[FunctionName, nodejs.NodejsFunction]>) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: TABLE_ACTIONS[name].map((action) => `dynamodb:${action}`),
          resources: [this.table.tableArn],
        }),
      );
    }

    // API: starts deployments; reads the auth token, the signing key (it issues tokens) and the admin password.
    fns.api.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachineArn] }),
    );
    fns.api.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [authToken.secretArn, signingKey.secretArn, adminPassword.secretArn],
      }),
    );

    // Authorizer: reads the auth token and the signing key, nothing else.
    this.authorizerFunction = this.nodeFunction('AuthorizerFunction', AUTHORIZER_SPEC, {
      AUTH_TOKEN_SECRET_ARN: authToken.secretArn,
      TOKEN_SIGNING_KEY_SECRET_ARN: signingKey.secretArn,
      NODE_OPTIONS: '--enable-source-maps',
    });
    this.authorizerFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [authToken.secretArn, signingKey.secretArn],
      }),
    );

    // Dispatch: runs only the project's document, and only on the project's nodes of this account and
    // region: EC2 instances and managed instances tagged fuel-sls:role = node (or master, Fuel's master node).
    fns.dispatch.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [documentArn] }),
    );
    fns.dispatch.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:SendCommand'],
        resources: [
          this.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' }),
          this.formatArn({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }),
        ],
        conditions: { StringEquals: { [`ssm:resourceTag/${ROLE_TAG}`]: ['node', 'master'] } },
      }),
    );
    // A retried dispatch looks for the command its earlier attempt sent. ListCommands, ListCommandInvocations,
    // GetCommandInvocation, CancelCommand and DescribeInstanceInformation have no resource types (the service
    // authorization reference for Systems Manager), so they are granted on "*" wherever they are granted.
    fns.dispatch.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ssm:ListCommands'], resources: ['*'] }),
    );
    // The code completes tasks (SendTaskSuccess) and never fails one.
    const taskCallbacks = new iam.PolicyStatement({
      actions: ['states:SendTaskSuccess'],
      resources: [this.stateMachineArn],
    });
    fns.dispatch.addToRolePolicy(taskCallbacks);

    // Watchdog: cancels the running commands of a stop past its timeout (and follows up a stop whose
    // follow-up never ran), records results whose events were lost (it lists a command's invocations and
    // reads the finished ones), resumes layers it gives up on or completes.
    fns.watchdog.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:ListCommandInvocations', 'ssm:GetCommandInvocation', 'ssm:CancelCommand'],
        resources: ['*'],
      }),
    );
    fns.watchdog.addToRolePolicy(taskCallbacks);
    // Finish (and execution-ended, which finishes): after an orchestration failure, the commands still
    // running are cancelled and waited for before the cluster is unlocked.
    for (const fn of [fns.finish, fns.executionEnded]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['ssm:ListCommandInvocations', 'ssm:CancelCommand'],
          resources: ['*'],
        }),
      );
    }
    // ...and settles a deployment whose execution never started, or ended without finishing it.
    fns.watchdog.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executionsArn] }),
    );
    // A stop request that reaches the API function hands its follow-up to the stop function too.
    const invokeStop = new iam.PolicyStatement({
      actions: ['lambda:InvokeFunction'],
      resources: [stopFunctionArn],
    });
    fns.api.addToRolePolicy(invokeStop);

    // Stop: the token secret and the signing key (it checks X-Auth-Token), its own follow-up (an asynchronous
    // invocation of itself), and what the follow-up asks of SSM: which invocations were delivered, and
    // cancelling them.
    fns.stop.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [authToken.secretArn, signingKey.secretArn],
      }),
    );
    fns.stop.addToRolePolicy(invokeStop);
    fns.stop.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:ListCommandInvocations', 'ssm:CancelCommand'],
        resources: ['*'],
      }),
    );

    // Command status: reads the invocation that changed and resumes the waiting layer.
    fns.commandStatus.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ssm:GetCommandInvocation'], resources: ['*'] }),
    );
    fns.commandStatus.addToRolePolicy(taskCallbacks);

    // Node discovery: lists SSM managed instances (no resource-level permissions).
    fns.discoverNodes.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ssm:DescribeInstanceInformation'], resources: ['*'] }),
    );

    const commandStatusDlq = new sqs.Queue(this, 'CommandStatusDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    new events.Rule(this, 'CommandStatusRule', {
      description: 'Final statuses of SSM command invocations of the RunTask document',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['EC2 Command Invocation Status-change Notification'],
        // one event per node and command at its end, none on the way (Pending, InProgress, ...)
        detail: { 'document-name': [this.documentName], status: [...FINAL_COMMAND_STATUSES] },
      },
      targets: [
        new targets.LambdaFunction(fns.commandStatus, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
          deadLetterQueue: commandStatusDlq,
        }),
      ],
    });

    // Errors inside the function: Lambda's own asynchronous retries, then the same dead-letter queue.
    fns.commandStatus.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(2),
      onFailure: new lambdaDestinations.SqsDestination(commandStatusDlq),
    });

    // An execution that failed, timed out or was aborted is finished from here: no task stays running.
    new events.Rule(this, 'ExecutionEndedRule', {
      description: 'Deployment executions that ended without finishing',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [this.stateMachineArn] },
      },
      targets: [
        new targets.LambdaFunction(fns.executionEnded, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
          deadLetterQueue: commandStatusDlq,
        }),
      ],
    });
    // The stop's follow-up: retried twice by Lambda, then kept in the dead-letter queue (the watchdog
    // follows up a stop whose follow-up never ran).
    fns.stop.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new lambdaDestinations.SqsDestination(commandStatusDlq),
    });
    fns.executionEnded.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(2),
      onFailure: new lambdaDestinations.SqsDestination(commandStatusDlq),
    });

    // A missed run is covered by the next one a minute later; a run EventBridge could not start at all
    // (throttled, no permission) is kept in the dead-letter queue, whose alarm says so.
    new events.Rule(this, 'WatchdogSchedule', {
      description: 'Escalates deployment stops past their timeout',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(fns.watchdog, { retryAttempts: 0, deadLetterQueue: commandStatusDlq }),
      ],
    });

    new events.Rule(this, 'DiscoverNodesSchedule', {
      description: 'Discovers SSM managed instances as Fuel nodes',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(fns.discoverNodes, {
          retryAttempts: 0,
          deadLetterQueue: commandStatusDlq,
        }),
      ],
    });

    const stateMachine = new sfn.StateMachine(this, 'DeploymentStateMachine', {
      stateMachineName: this.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      // Inline in the template (not an S3 asset) so template diffs show definition changes.
      definitionBody: sfn.DefinitionBody.fromString(
        readFileSync(fromRepoRoot('statemachines/deployment.asl.json'), 'utf8'),
      ),
      definitionSubstitutions: {
        PlanFunctionArn: fns.plan.functionArn,
        CheckStopFunctionArn: fns.checkStop.functionArn,
        DispatchFunctionArn: fns.dispatch.functionArn,
        FinishFunctionArn: fns.finish.functionArn,
      },
      logs: {
        destination: new logs.LogGroup(this, 'DeploymentStateMachineLogs', {
          logGroupName: `/aws/vendedlogs/states/${this.stateMachineName}`,
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
      tracingEnabled: true,
    });
    // The four step functions, by the unqualified ARNs the definition names (no versions or aliases).
    stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [fns.plan, fns.checkStop, fns.dispatch, fns.finish].map((fn) => fn.functionArn),
      }),
    );

    const httpApi = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `${this.stackName}-api`,
      description: 'Fuel (Nailgun) API, Keystone token endpoint and web UI',
      createDefaultStage: false,
    });
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stage = httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { burstLimit: 100, rateLimit: 50 },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: apigwRest.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FORMAT)),
      },
    });
    const integration = new apigwIntegrations.HttpLambdaIntegration('ApiIntegration', fns.api);
    const stopIntegration = new apigwIntegrations.HttpLambdaIntegration('StopIntegration', fns.stop);
    // Without the header API Gateway answers 401 and does not call the authorizer; a refused token gets 403.
    // No result cache: issued tokens expire, and a cached decision would outlive them.
    const authorizer = new apigwAuthorizers.HttpLambdaAuthorizer('TokenAuthorizer', this.authorizerFunction, {
      authorizerName: 'x-auth-token',
      responseTypes: [apigwAuthorizers.HttpLambdaResponseType.SIMPLE],
      identitySource: ['$request.header.X-Auth-Token'],
      resultsCacheTtl: Duration.seconds(0),
    });
    const none = new apigw.HttpNoneAuthorizer();
    for (const route of ROUTES) {
      const added = httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        authorizer: route.public ? none : authorizer,
      });
      if (route.public) {
        for (const each of added) {
          acknowledge(
            each,
            'AwsSolutions-APIG4',
            `${route.method} ${route.path} is public by design, as in Fuel: python-fuelclient reads the version ` +
              '(auth_required) before it logs in, the Keystone-compatible login is how it gets a token, and ' +
              "the UI page holds no data (its calls to /api need the token). Every other route has the API's " +
              'Lambda authorizer on X-Auth-Token (the Fuel-compatible token, not Cognito or IAM).',
          );
        }
      }
    }
    // "Stop deployment" and task deletion go to the stop function (the API function serves them too, for
    // a request API Gateway does not match to these routes). A route path cannot end in "/", and a route
    // without it does not match a request with it (python-fuelclient's `PUT .../stop_deployment/`): the
    // `{proxy+}` variant is there for that request (docs/aws.md, "Trailing slashes").
    for (const route of stopRouteKeys()) {
      for (const path of [route.path, `${route.path}/{proxy+}`]) {
        httpApi.addRoutes({
          path,
          methods: [apigw.HttpMethod[route.method]],
          integration: stopIntegration,
          authorizer,
        });
      }
    }

    const alarmTopic = this.alarms(commandStatusDlq, stateMachine);
    this.acknowledgeNagRules({
      secrets: { authToken, signingKey, adminPassword },
      deadLetterQueue: commandStatusDlq,
      stateMachine,
    });

    new CfnOutput(this, 'ApiUrl', { value: stage.url, description: 'Base URL of the API and the web UI' });
    new CfnOutput(this, 'StateMachineArn', {
      value: stateMachine.stateMachineArn,
      description: 'Deployment state machine; execution names are task uuids',
    });
    new CfnOutput(this, 'TableName', {
      value: this.table.tableName,
      description: 'DynamoDB table with all state',
    });
    new CfnOutput(this, 'AuthTokenSecretArn', {
      value: authToken.secretArn,
      description: 'Secret holding the X-Auth-Token value',
    });
    new CfnOutput(this, 'AdminPasswordSecretArn', {
      value: adminPassword.secretArn,
      description: 'Secret holding the password of the Keystone-compatible login (user admin)',
    });
    new CfnOutput(this, 'DocumentName', {
      value: document.ref,
      description: 'SSM Command document that runs one deployment task on a node',
    });
    new CfnOutput(this, 'TokenSigningKeySecretArn', {
      value: signingKey.secretArn,
      description: 'Secret holding the key that signs issued tokens',
    });
    new CfnOutput(this, 'CommandLogGroupName', {
      value: commandLogGroup.logGroupName,
      description:
        "Log group of the commands' output, written by the nodes (their instance profile needs logs:CreateLogStream and logs:PutLogEvents on it)",
    });
    new CfnOutput(this, 'ApiAccessLogGroupName', {
      value: accessLogs.logGroupName,
      description: "Log group of the HTTP API's access log (one JSON object per request)",
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: alarmTopic.topicArn,
      description:
        'SNS topic of the alarms (dead-letter queue, function errors, failed executions): subscribe to it',
    });
  }

  /**
   * The cdk-nag findings (AwsSolutions and Serverless packs, test/unit/cdk-nag.test.ts) that are not fixed,
   * each acknowledged where it arises with the reason it does not apply. The public routes' APIG4 is
   * acknowledged where the routes are added.
   */
  private acknowledgeNagRules(of: {
    secrets: Record<'authToken' | 'signingKey' | 'adminPassword', secretsmanager.Secret>;
    deadLetterQueue: sqs.Queue;
    stateMachine: sfn.StateMachine;
  }): void {
    const xray =
      'xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing, granted by CDK) have no resource types';
    const noResourceTypes = (actions: string) =>
      `${xray}; so have ${actions} (Service Authorization Reference for Systems Manager), granted on "*" only ` +
      'to the functions whose code calls them (test/iam/calls-allowed.test.ts)';
    const wildcard: Record<FunctionName | 'authorizer', string> = {
      api: xray,
      authorizer: xray,
      plan: xray,
      checkStop: xray,
      dispatch: noResourceTypes('ssm:ListCommands'),
      finish: noResourceTypes('ssm:ListCommandInvocations and ssm:CancelCommand'),
      executionEnded: noResourceTypes('ssm:ListCommandInvocations and ssm:CancelCommand'),
      stop: noResourceTypes('ssm:ListCommandInvocations and ssm:CancelCommand'),
      watchdog: noResourceTypes('ssm:ListCommandInvocations, ssm:GetCommandInvocation and ssm:CancelCommand'),
      commandStatus: noResourceTypes('ssm:GetCommandInvocation'),
      discoverNodes: noResourceTypes('ssm:DescribeInstanceInformation'),
    };
    const synchronous = (caller: string) =>
      `Invoked synchronously by ${caller}: a failure is answered to the caller, there is no event to keep`;
    const deadLetter: Record<FunctionName | 'authorizer', string> = {
      api: synchronous('API Gateway (an error is the HTTP answer)'),
      authorizer: synchronous('API Gateway (an error is a 500, the request is refused)'),
      plan: synchronous(
        'the state machine (its Retry and Catch; execution-ended settles a failed execution)',
      ),
      checkStop: synchronous('the state machine (its Retry and Catch)'),
      dispatch: synchronous('the state machine (its Retry and Catch)'),
      finish: synchronous('the state machine (its Retry and Catch)'),
      stop:
        'Its asynchronous invocations (the follow-up) go after their retries to the dead-letter queue through an ' +
        'on-failure destination (EventInvokeConfig, which records the error with the event); a ' +
        'DeadLetterConfig, the older mechanism with the event only, would add nothing. Its HTTP requests are ' +
        'synchronous.',
      commandStatus:
        'Asynchronous invocations go after their retries to the dead-letter queue through an on-failure ' +
        'destination (EventInvokeConfig, which records the error with the event); a DeadLetterConfig, the ' +
        'older mechanism with the event only, would add nothing',
      executionEnded:
        'Asynchronous invocations go after their retries to the dead-letter queue through an on-failure ' +
        'destination (EventInvokeConfig, which records the error with the event); a DeadLetterConfig, the ' +
        'older mechanism with the event only, would add nothing',
      watchdog:
        'Run every minute by a schedule: a failed run is redone by the next one, and its errors raise the ' +
        "function's Errors alarm; a run EventBridge could not start goes to the dead-letter queue (the rule's DLQ)",
      discoverNodes:
        'Run every minute by a schedule: a failed run is redone by the next one, and its errors raise the ' +
        "function's Errors alarm; a run EventBridge could not start goes to the dead-letter queue (the rule's DLQ)",
    };
    const functions: Array<[FunctionName | 'authorizer', nodejs.NodejsFunction]> = [
      ...(Object.entries(this.functions) as Array<[FunctionName, nodejs.NodejsFunction]>),
      ['authorizer', this.authorizerFunction],
    ];
    const runtime =
      "The runtime is NODEJS_22_X by the product's design: a supported Lambda runtime, which the bundles target (node22)";
    for (const [name, fn] of functions) {
      acknowledge(
        fn,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        "AWS's maintained policy for Lambda's own writing of the function's log (logs:CreateLogGroup, " +
          'logs:CreateLogStream, logs:PutLogEvents on "*", wider than the log group the stack gives the ' +
          'function, with its retention); the one managed policy test/iam/calls-allowed.test.ts allows',
      );
      acknowledge(fn, 'AwsSolutions-IAM5[Resource::*]', wildcard[name]);
      acknowledge(fn, 'AwsSolutions-L1', runtime);
      acknowledge(fn, 'Serverless-LambdaLatestVersion', runtime);
      acknowledge(fn, 'Serverless-LambdaDLQ', deadLetter[name]);
    }
    const instancesReason =
      "SendCommand on the nodes: they are the operator's EC2 and managed instances, not resources of this " +
      'stack, so their ids are not known at deploy time; the statement is limited to this account and region ' +
      'and, by its condition on ssm:resourceTag/fuel-sls:role (node or master), to the tagged nodes';
    for (const type of [
      'ec2:<AWS::Region>:<AWS::AccountId>:instance',
      'ssm:<AWS::Region>:<AWS::AccountId>:managed-instance',
    ])
      acknowledge(
        this.functions.dispatch,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:${type}/*]`,
        instancesReason,
      );
    acknowledge(
      this.functions.watchdog,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${this.stateMachineName}:*]`,
      "DescribeExecution on this state machine's executions only: their names are task uuids, made at run time",
    );
    acknowledge(
      of.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      "Granted by CDK for the state machine's logging and tracing: the CloudWatch Logs log-delivery actions " +
        '(logs:CreateLogDelivery ... logs:DescribeLogGroups) and X-Ray (xray:PutTraceSegments, ' +
        'xray:PutTelemetryRecords, xray:GetSamplingRules, xray:GetSamplingTargets) have no resource types',
    );
    const rotation = (what: string) =>
      `${what} No rotation function: a new value is set with aws secretsmanager put-secret-value and used by ` +
      'the functions within five minutes (docs/aws.md, "Authentication").';
    acknowledge(
      of.secrets.authToken,
      'AwsSolutions-SMG4',
      rotation(
        "The static X-Auth-Token is the operator's credential, kept by the CLI and the UI: rotating it is the " +
          "operator's decision, which an automatic rotation would make behind every client's back.",
      ),
    );
    acknowledge(
      of.secrets.adminPassword,
      'AwsSolutions-SMG4',
      rotation("The login's admin password is the operator's, typed into python-fuelclient's settings."),
    );
    acknowledge(
      of.secrets.signingKey,
      'AwsSolutions-SMG4',
      rotation(
        'The signing key never leaves the functions, and the tokens it signs expire after an hour; a new key ' +
          'ends every issued token at once (python-fuelclient logs in again).',
      ),
    );
    const isDeadLetterQueue =
      'This queue is the dead-letter queue itself: EventBridge targets (DeadLetterConfig) and Lambda on-failure ' +
      'destinations send what they gave up on to it; nothing consumes from it, so there is nothing to redrive, ' +
      'and its alarm reports any message in it';
    acknowledge(of.deadLetterQueue, 'AwsSolutions-SQS3', isDeadLetterQueue);
    acknowledge(of.deadLetterQueue, 'Serverless-SQSRedrivePolicy', isDeadLetterQueue);
  }

  /**
   * The alarms, all to one SNS topic: a message in the dead-letter queue (a result, a settlement or a
   * scheduled run given up on), errors of a function, and deployment executions that failed, timed out or
   * were aborted.
   */
  private alarms(deadLetterQueue: sqs.Queue, stateMachine: sfn.StateMachine): sns.Topic {
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `${this.stackName} alarms`,
      enforceSSL: true,
    });
    const action = new cloudwatchActions.SnsAction(topic);
    const period = Duration.minutes(5);
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string, evaluationPeriods = 1) => {
      const created = new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      return created;
    };

    alarm(
      'DeadLetterQueueAlarm',
      deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      'Messages in the dead-letter queue: a node result, a settlement, a stop follow-up or a scheduled run was given up on after its retries (docs/aws.md, "Alarms")',
    );

    const functions: Array<[string, lambda.IFunction]> = [
      ...Object.entries(this.functions),
      ['authorizer', this.authorizerFunction],
    ];
    for (const [name, fn] of functions) {
      // a result not visible yet fails its invocation on purpose, to be delivered again (record-result.ts):
      // only errors for three periods in a row say that something is wrong
      const evaluationPeriods = name === 'commandStatus' ? 3 : 1;
      alarm(
        `${name.charAt(0).toUpperCase()}${name.slice(1)}ErrorsAlarm`,
        fn.metricErrors({ period, statistic: 'Sum' }),
        `Errors of the ${name} function`,
        evaluationPeriods,
      );
    }

    const executions: Array<[string, cloudwatch.Metric, string]> = [
      ['ExecutionsFailedAlarm', stateMachine.metricFailed({ period, statistic: 'Sum' }), 'failed'],
      ['ExecutionsTimedOutAlarm', stateMachine.metricTimedOut({ period, statistic: 'Sum' }), 'timed out'],
      ['ExecutionsAbortedAlarm', stateMachine.metricAborted({ period, statistic: 'Sum' }), 'were aborted'],
    ];
    for (const [id, metric, what] of executions) {
      alarm(id, metric, `Deployment executions that ${what} (the execution-ended function settles them)`);
    }
    return topic;
  }

  private nodeFunction(
    id: string,
    spec: FunctionSpec,
    environment: Record<string, string>,
    extra: Partial<nodejs.NodejsFunctionProps> = {},
  ): nodejs.NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    return new nodejs.NodejsFunction(this, id, {
      entry: fromRepoRoot(spec.entry),
      handler: 'handler',
      description: spec.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memorySize,
      timeout: spec.timeout,
      environment,
      logGroup,
      // Lambda's own segments in the deployment's X-Ray trace (the state machine traces too)
      tracing: lambda.Tracing.ACTIVE,
      projectRoot: REPO_ROOT,
      depsLockFilePath: fromRepoRoot('package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        minify: true,
        sourceMap: true,
        target: 'node22',
        externalModules: ['@aws-sdk/*'],
        format: nodejs.OutputFormat.ESM,
        mainFields: ['module', 'main'],
        // Bundled CommonJS dependencies may still call require() for Node built-ins.
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        ...(spec.servesWebUi ? { commandHooks: WEB_UI_INTO_BUNDLE } : {}),
      },
      ...extra,
    });
  }
}
