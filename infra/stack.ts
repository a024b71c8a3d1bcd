import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ArnFormat,
  aws_apigatewayv2 as apigw,
  aws_apigatewayv2_authorizers as apigwAuthorizers,
  aws_apigatewayv2_integrations as apigwIntegrations,
  CfnOutput,
  CfnParameter,
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
  aws_sqs as sqs,
  aws_ssm as ssm,
  Tags,
  aws_events_targets as targets,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ROLE_TAG } from '../lambdas/adapters/ssm-commands.js';
import { stopRouteKeys } from '../lambdas/api/stop-routes.js';

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

interface FunctionSpec {
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
}

const FUNCTION_SPECS: Record<FunctionName, FunctionSpec> = {
  api: {
    entry: 'lambdas/handlers/api.ts',
    description: 'Nailgun HTTP API',
    memorySize: 512,
    timeout: Duration.seconds(29),
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
  api: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'],
  stop: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem'],
  plan: ['GetItem', 'Query', 'UpdateItem', 'BatchWriteItem'],
  // UpdateItem: a task item of an earlier version is rewritten when read (lambdas/store/legacy.ts)
  checkStop: ['GetItem', 'UpdateItem'],
  dispatch: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem'],
  // PutItem: the stop task of a stop that had not written it yet
  finish: ['GetItem', 'Query', 'PutItem', 'UpdateItem'],
  // BatchWriteItem: a node provisioned again forgets what ran on it before
  commandStatus: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'BatchWriteItem'],
  executionEnded: ['GetItem', 'Query', 'PutItem', 'UpdateItem'],
  watchdog: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'BatchWriteItem'],
  discoverNodes: ['GetItem', 'Query', 'PutItem', 'UpdateItem'],
};

/** Concurrency kept for the stop function alone: a stop gets through when the API function is saturated. */
const STOP_RESERVED_CONCURRENCY = 5;

/** The HTTP API's Lambda authorizer: no table, only the token secret. */
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
 * the token.
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
      description:
        'Token that every API request carries in the X-Auth-Token header; it also signs issued tokens',
      generateSecretString: { passwordLength: 40, excludePunctuation: true },
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
    this.functions = {
      api: build('api', {
        ...orchestration,
        AUTH_TOKEN_SECRET_ARN: authToken.secretArn,
        ADMIN_PASSWORD_SECRET_ARN: adminPassword.secretArn,
        STOP_FUNCTION_NAME: stopFunctionName,
      }),
      stop: build(
        'stop',
        { AUTH_TOKEN_SECRET_ARN: authToken.secretArn, STOP_FUNCTION_NAME: stopFunctionName },
        { functionName: stopFunctionName, reservedConcurrentExecutions: STOP_RESERVED_CONCURRENCY },
      ),
      plan: build('plan'),
      checkStop: build('checkStop'),
      dispatch: build('dispatch', orchestration),
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

    // API: starts deployments; reads the auth token and the admin password.
    fns.api.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachineArn] }),
    );
    fns.api.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [authToken.secretArn, adminPassword.secretArn],
      }),
    );

    // Authorizer: reads the auth token, nothing else.
    this.authorizerFunction = this.nodeFunction('AuthorizerFunction', AUTHORIZER_SPEC, {
      AUTH_TOKEN_SECRET_ARN: authToken.secretArn,
      NODE_OPTIONS: '--enable-source-maps',
    });
    this.authorizerFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [authToken.secretArn],
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

    // Stop: the token secret, its own follow-up (an asynchronous invocation of itself), and what the
    // follow-up asks of SSM: which invocations were delivered, and cancelling them.
    fns.stop.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [authToken.secretArn],
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
      description: 'SSM command invocation status changes of the RunTask document',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['EC2 Command Invocation Status-change Notification'],
        detail: { 'document-name': [this.documentName] },
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

    new events.Rule(this, 'WatchdogSchedule', {
      description: 'Escalates deployment stops past their timeout',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(fns.watchdog, { retryAttempts: 0 })],
    });

    new events.Rule(this, 'DiscoverNodesSchedule', {
      description: 'Discovers SSM managed instances as Fuel nodes',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      // A missed run is covered by the next one a minute later.
      targets: [new targets.LambdaFunction(fns.discoverNodes, { retryAttempts: 0 })],
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
    for (const fn of [fns.plan, fns.checkStop, fns.dispatch, fns.finish]) fn.grantInvoke(stateMachine);

    const httpApi = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `${this.stackName}-api`,
      description: 'Fuel (Nailgun) API, Keystone token endpoint and web UI',
      createDefaultStage: false,
    });
    const stage = httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { burstLimit: 100, rateLimit: 50 },
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
      httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        authorizer: route.public ? none : authorizer,
      });
    }
    // "Stop deployment" and task deletion go to the stop function (the API function serves them too, for
    // a request API Gateway does not match to these routes).
    for (const route of stopRouteKeys()) {
      httpApi.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: stopIntegration,
        authorizer,
      });
    }

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
      },
      ...extra,
    });
  }
}
