import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FINAL_COMMAND_STATUSES, FuelDeploymentStack } from '../../infra/stack.js';
import { historyStatusOfInvocation } from '../../lambdas/domain/command-result.js';
import { COMMAND_STATUSES } from '../../lambdas/domain/command-status.js';

type Json = Record<string, unknown>;

const fromRoot = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

let template: Template;
let resources: Record<string, Json>;

const ofType = (type: string): Array<[string, Json]> =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type);

const propsOf = (resource: Json): Json => resource.Properties as Json;

const policyStatements = (): Json[] =>
  ofType('AWS::IAM::Policy').flatMap(
    ([, policy]) => (propsOf(policy).PolicyDocument as { Statement: Json[] }).Statement,
  );

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

/** Logical id of the Lambda function whose Code asset was bundled from the given construct id. */
const functionLogicalId = (constructId: string): string => {
  const match = ofType('AWS::Lambda::Function').find(([logicalId]) => logicalId.startsWith(constructId));
  if (!match) throw new Error(`no function ${constructId}`);
  return match[0];
};

const functionProps = (constructId: string): Json => {
  const resource = resources[functionLogicalId(constructId)];
  if (!resource) throw new Error(`no function ${constructId}`);
  return propsOf(resource);
};

const roleStatements = (constructId: string): Json[] => {
  const role = (functionProps(constructId).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return ofType('AWS::IAM::Policy')
    .filter(([, policy]) => JSON.stringify(propsOf(policy).Roles) === JSON.stringify([{ Ref: role }]))
    .flatMap(([, policy]) => (propsOf(policy).PolicyDocument as { Statement: Json[] }).Statement);
};

const statementWith = (statements: Json[], action: string): Json | undefined =>
  statements.find((s) => asList(s.Action).includes(action));

/** What Lambda's active tracing grants every function (CDK): X-Ray's two write actions, on "*". */
const TRACING_ACTIONS = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'];
const withoutTracing = (statements: Json[]): Json[] =>
  statements.filter((s) => !asList(s.Action).every((a) => TRACING_ACTIONS.includes(String(a))));

let app: App;

beforeAll(() => {
  app = new App();
  const stack = new FuelDeploymentStack(app, 'FuelDeployment', { stackName: 'FuelDeployment' });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Json>;
}, 120_000);

describe('DynamoDB table', () => {
  it('has pk/sk string keys, on-demand billing, PITR, SSE and is retained', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ]),
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      },
    });
  });
});

describe('Lambda functions', () => {
  const ids = [
    'ApiFunction',
    'PlanFunction',
    'CheckStopFunction',
    'DispatchFunction',
    'FinishFunction',
    'CommandStatusFunction',
    'ExecutionEndedFunction',
    'WatchdogFunction',
    'DiscoverNodesFunction',
    'StopFunction',
  ];

  it('are ten Node.js 22 arm64 functions with TABLE_NAME and 30-day log groups, and the authorizer', () => {
    template.resourceCountIs('AWS::Lambda::Function', 11);
    for (const id of ids) {
      const props = functionProps(id);
      expect(props.Runtime, id).toBe('nodejs22.x');
      expect(props.Architectures, id).toEqual(['arm64']);
      expect(props.Handler, id).toBe('index.handler');
      const env = (props.Environment as { Variables: Json }).Variables;
      expect(env.TABLE_NAME, id).toEqual({ Ref: expect.stringMatching(/^Table/) });
      // where the graph's master tasks run: the stack's parameters
      expect(env.FUEL_MASTER_INSTANCE_ID, id).toEqual({ Ref: 'MasterInstanceId' });
      expect(env.FUEL_MASTER_IP, id).toEqual({ Ref: 'MasterIp' });
      const logGroup = (props.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(propsOf(resources[logGroup] as Json).RetentionInDays, id).toBe(30);
    }
  });

  it('have the memory and timeouts of their role', () => {
    const expected: Record<string, [number, number]> = {
      ApiFunction: [512, 29],
      PlanFunction: [512, 300],
      DispatchFunction: [512, 300],
      FinishFunction: [512, 300],
      CheckStopFunction: [256, 60],
      CommandStatusFunction: [256, 60],
      ExecutionEndedFunction: [512, 300],
      WatchdogFunction: [256, 60],
      DiscoverNodesFunction: [256, 60],
      StopFunction: [256, 60],
    };
    for (const [id, [memory, timeout]] of Object.entries(expected)) {
      expect(functionProps(id).MemorySize, id).toBe(memory);
      expect(functionProps(id).Timeout, id).toBe(timeout);
    }
  });

  it('give the API the state machine, document, token secret, signing key and admin password secret', () => {
    const env = (functionProps('ApiFunction').Environment as { Variables: Json }).Variables;
    expect(JSON.stringify(env.STATE_MACHINE_ARN)).toContain(':stateMachine:FuelDeployment-deployment');
    expect(env.SSM_DOCUMENT_NAME).toBe('FuelDeployment-RunTask');
    expect(env.AUTH_TOKEN_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^AuthToken/) });
    expect(env.TOKEN_SIGNING_KEY_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^TokenSigningKey/) });
    expect(env.ADMIN_PASSWORD_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^AdminPassword/) });
  });

  it('trace actively (X-Ray), as the state machine does', () => {
    for (const [id, fn] of ofType('AWS::Lambda::Function')) {
      expect(propsOf(fn).TracingConfig, id).toEqual({ Mode: 'Active' });
    }
  });

  it('include the authorizer: Node.js 22 arm64, short timeout, the token secret and signing key, no table', () => {
    const props = functionProps('AuthorizerFunction');
    expect(props.Runtime).toBe('nodejs22.x');
    expect(props.Architectures).toEqual(['arm64']);
    expect(props.Handler).toBe('index.handler');
    expect(props.Timeout).toBeLessThanOrEqual(10);
    const env = (props.Environment as { Variables: Json }).Variables;
    expect(env.AUTH_TOKEN_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^AuthToken/) });
    expect(env.TOKEN_SIGNING_KEY_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^TokenSigningKey/) });
    expect(env.TABLE_NAME).toBeUndefined();
    expect(env.ADMIN_PASSWORD_SECRET_ARN).toBeUndefined();
    const logGroup = (props.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
    expect(propsOf(resources[logGroup] as Json).RetentionInDays).toBe(30);
  });

  it('give dispatch and command-status the document name and state machine ARN', () => {
    for (const id of ['DispatchFunction', 'CommandStatusFunction']) {
      const env = (functionProps(id).Environment as { Variables: Json }).Variables;
      expect(env.SSM_DOCUMENT_NAME, id).toBe('FuelDeployment-RunTask');
      expect(JSON.stringify(env.STATE_MACHINE_ARN), id).toContain(':stateMachine:FuelDeployment-deployment');
    }
  });

  it("give dispatch the log group of the commands' output, a month's retention; no other function", () => {
    const env = (functionProps('DispatchFunction').Environment as { Variables: Json }).Variables;
    expect(env.COMMAND_LOG_GROUP).toBe('/aws/ssm/FuelDeployment-RunTask');
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/ssm/FuelDeployment-RunTask',
      RetentionInDays: 30,
    });
    for (const [id, fn] of ofType('AWS::Lambda::Function')) {
      if (id === functionLogicalId('DispatchFunction')) continue;
      const variables = (propsOf(fn).Environment as { Variables?: Json } | undefined)?.Variables ?? {};
      expect(variables.COMMAND_LOG_GROUP, id).toBeUndefined();
    }
  });
});

describe('IAM', () => {
  it('never allows Action "*"', () => {
    const statements = policyStatements();
    expect(statements.length).toBeGreaterThan(0);
    for (const statement of statements) {
      for (const action of asList(statement.Action)) expect(action).not.toMatch(/^(\*|[a-z0-9-]+:\*)$/);
    }
  });

  it("lets dispatch send commands only with the project document, on the project's tagged nodes", () => {
    const statements = roleStatements('DispatchFunction');
    const sendCommand = statements.filter((s) => asList(s.Action).includes('ssm:SendCommand'));
    expect(sendCommand).toHaveLength(2);
    for (const statement of sendCommand) {
      expect(asList(statement.Action)).toEqual(['ssm:SendCommand']);
      expect(asList(statement.Resource)).not.toContain('*');
    }
    const [document, instances] = sendCommand.sort(
      (a, b) => asList(a.Resource).length - asList(b.Resource).length,
    );
    // the document: this one only, whatever the instance
    expect(asList(document?.Resource).map((r) => JSON.stringify(r))).toEqual([
      expect.stringContaining(':document/FuelDeployment-RunTask'),
    ]);
    expect(document?.Condition).toBeUndefined();
    // the instances: EC2 and managed instances of this account and region, tagged as the project's nodes
    const rendered = asList(instances?.Resource).map((r) => JSON.stringify(r));
    expect(rendered).toHaveLength(2);
    expect(rendered.some((r) => r.includes(':ec2:') && r.includes(':instance/*'))).toBe(true);
    expect(rendered.some((r) => r.includes(':ssm:') && r.includes(':managed-instance/*'))).toBe(true);
    expect(instances?.Condition).toEqual({
      StringEquals: { 'ssm:resourceTag/fuel-sls:role': ['node', 'master'] },
    });
    expect(JSON.stringify(statementWith(statements, 'states:SendTaskSuccess')?.Resource)).toContain(
      ':stateMachine:FuelDeployment-deployment',
    );
    // a retried dispatch lists commands; it neither reads nor cancels invocations
    expect(statementWith(statements, 'ssm:ListCommands')?.Resource).toBe('*');
    expect(statementWith(statements, 'ssm:CancelCommand')).toBeUndefined();
    expect(statementWith(statements, 'ssm:GetCommandInvocation')).toBeUndefined();
  });

  it('lets each function call on the table only the DynamoDB actions of its code, on the table only', () => {
    const expected: Record<string, string[]> = {
      ApiFunction: [
        'BatchGetItem',
        'BatchWriteItem',
        'DeleteItem',
        'GetItem',
        'PutItem',
        'Query',
        'UpdateItem',
      ],
      StopFunction: ['BatchGetItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
      PlanFunction: ['BatchGetItem', 'BatchWriteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
      CheckStopFunction: ['GetItem', 'UpdateItem'],
      DispatchFunction: ['BatchGetItem', 'BatchWriteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
      FinishFunction: ['BatchWriteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
      CommandStatusFunction: ['BatchWriteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
      ExecutionEndedFunction: ['BatchWriteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
      WatchdogFunction: ['BatchGetItem', 'BatchWriteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
      DiscoverNodesFunction: ['GetItem', 'PutItem', 'Query', 'UpdateItem'],
      AuthorizerFunction: [],
    };
    for (const [id, actions] of Object.entries(expected)) {
      const table = roleStatements(id).filter((s) =>
        asList(s.Action).some((a) => String(a).startsWith('dynamodb:')),
      );
      expect(
        table
          .flatMap((s) => asList(s.Action))
          .map((a) => String(a).replace(/^dynamodb:/, ''))
          .sort(),
        id,
      ).toEqual(actions);
      for (const statement of table) {
        expect(asList(statement.Resource), id).toEqual([
          { 'Fn::GetAtt': [expect.stringMatching(/^Table/), 'Arn'] },
        ]);
      }
    }
    // no Scan, no table description, no streams, for anyone
    const granted = policyStatements().flatMap((s) => asList(s.Action).map(String));
    for (const action of [
      'dynamodb:Scan',
      'dynamodb:DescribeTable',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
    ])
      expect(granted, action).not.toContain(action);
  });

  it('no other function may send commands', () => {
    const senders = ofType('AWS::IAM::Policy').filter(([, policy]) =>
      (propsOf(policy).PolicyDocument as { Statement: Json[] }).Statement.some((s) =>
        asList(s.Action).includes('ssm:SendCommand'),
      ),
    );
    expect(senders).toHaveLength(1);
  });

  it('lets the API start executions, and read only the token, signing key and admin password secrets', () => {
    const statements = roleStatements('ApiFunction');
    expect(JSON.stringify(statementWith(statements, 'states:StartExecution')?.Resource)).toContain(
      ':stateMachine:FuelDeployment-deployment',
    );
    // it neither describes nor stops executions
    expect(statementWith(statements, 'states:DescribeExecution')).toBeUndefined();
    expect(statementWith(statements, 'states:StopExecution')).toBeUndefined();
    const secretReads = statements.filter((s) => asList(s.Action).includes('secretsmanager:GetSecretValue'));
    expect(secretReads.flatMap((s) => asList(s.Resource))).toEqual([
      { Ref: expect.stringMatching(/^AuthToken/) },
      { Ref: expect.stringMatching(/^TokenSigningKey/) },
      { Ref: expect.stringMatching(/^AdminPassword/) },
    ]);
  });

  it('lets the authorizer read the token secret and the signing key, and nothing else (but tracing)', () => {
    const statements = withoutTracing(roleStatements('AuthorizerFunction'));
    expect(statements.flatMap((s) => asList(s.Action))).toEqual(['secretsmanager:GetSecretValue']);
    expect(statements.flatMap((s) => asList(s.Resource))).toEqual([
      { Ref: expect.stringMatching(/^AuthToken/) },
      { Ref: expect.stringMatching(/^TokenSigningKey/) },
    ]);
  });

  it('grants active tracing its two X-Ray actions, on "*" (they have no resource types), and no more', () => {
    for (const [id] of ofType('AWS::Lambda::Function')) {
      const tracing = roleStatements(id).filter((s) =>
        asList(s.Action).some((a) => String(a).startsWith('xray:')),
      );
      expect(tracing, id).toEqual([{ Effect: 'Allow', Action: TRACING_ACTIONS, Resource: '*' }]);
    }
  });

  it("lets API Gateway invoke the authorizer, for this API's authorizer only", () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [functionLogicalId('AuthorizerFunction'), 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: { 'Fn::Join': ['', Match.arrayWith(['/authorizers/'])] },
    });
  });

  it('gives the stop function its own name, reserved concurrency and a role with only what a stop needs', () => {
    const props = functionProps('StopFunction');
    expect(props.FunctionName).toBe('FuelDeployment-stop');
    expect(props.ReservedConcurrentExecutions).toBe(5);
    const env = (props.Environment as { Variables: Json }).Variables;
    expect(env.STOP_FUNCTION_NAME).toBe('FuelDeployment-stop');
    expect(env.AUTH_TOKEN_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^AuthToken/) });
    expect(env.TOKEN_SIGNING_KEY_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^TokenSigningKey/) });
    const statements = roleStatements('StopFunction');
    // besides the table, the dead-letter queue its failed follow-ups go to, and tracing
    const actions = withoutTracing(statements)
      .flatMap((s) => asList(s.Action))
      .filter((a) => !/^(dynamodb|sqs):/.test(String(a)));
    expect(JSON.stringify(statementWith(statements, 'sqs:SendMessage')?.Resource)).toContain(
      'DeadLetterQueue',
    );
    expect(actions.sort()).toEqual(
      [
        'lambda:InvokeFunction',
        'secretsmanager:GetSecretValue',
        'ssm:CancelCommand',
        'ssm:ListCommandInvocations',
      ].sort(),
    );
    expect(JSON.stringify(statementWith(statements, 'lambda:InvokeFunction')?.Resource)).toContain(
      ':function:FuelDeployment-stop',
    );
    expect(statementWith(statements, 'secretsmanager:GetSecretValue')?.Resource).toEqual([
      { Ref: expect.stringMatching(/^AuthToken/) },
      { Ref: expect.stringMatching(/^TokenSigningKey/) },
    ]);
    // its follow-up is retried twice by Lambda, then goes to the dead-letter queue
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionLogicalId('StopFunction') },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('lets the API hand a stop to the stop function, and cancel no command itself', () => {
    const statements = roleStatements('ApiFunction');
    expect(JSON.stringify(statementWith(statements, 'lambda:InvokeFunction')?.Resource)).toContain(
      ':function:FuelDeployment-stop',
    );
    expect(statementWith(statements, 'ssm:CancelCommand')).toBeUndefined();
    expect(statementWith(statements, 'ssm:GetCommandInvocation')).toBeUndefined();
  });

  it('lets node discovery describe instance information', () => {
    expect(
      statementWith(roleStatements('DiscoverNodesFunction'), 'ssm:DescribeInstanceInformation'),
    ).toBeDefined();
  });

  it('lets the engine complete tasks and fail none', () => {
    const granted = policyStatements().flatMap((s) => asList(s.Action).map(String));
    expect(granted).toContain('states:SendTaskSuccess');
    expect(granted).not.toContain('states:SendTaskFailure');
  });
});

describe('State machine', () => {
  it('is a named STANDARD state machine with the four step functions substituted', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    const [, machine] = ofType('AWS::StepFunctions::StateMachine')[0] ?? [];
    const props = propsOf(machine as Json);
    expect(props.StateMachineName).toBe('FuelDeployment-deployment');
    expect(props.StateMachineType).toBe('STANDARD');
    expect(props.TracingConfiguration).toEqual({ Enabled: true });
    const substitutions = props.DefinitionSubstitutions as Json;
    for (const [key, id] of [
      ['PlanFunctionArn', 'PlanFunction'],
      ['CheckStopFunctionArn', 'CheckStopFunction'],
      ['DispatchFunctionArn', 'DispatchFunction'],
      ['FinishFunctionArn', 'FinishFunction'],
    ] as const) {
      expect(substitutions[key], key).toEqual({ 'Fn::GetAtt': [functionLogicalId(id), 'Arn'] });
    }
    const definition = props.DefinitionString;
    expect(typeof definition).toBe('string');
    expect(JSON.parse(String(definition))).toEqual(
      JSON.parse(readFileSync(new URL('../../statemachines/deployment.asl.json', import.meta.url), 'utf8')),
    );
    for (const key of [
      'PlanFunctionArn',
      'CheckStopFunctionArn',
      'DispatchFunctionArn',
      'FinishFunctionArn',
    ]) {
      expect(definition).toContain(`\${${key}}`);
    }
  });

  it('logs ALL without execution data to a one-month log group', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }],
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/vendedlogs/states/FuelDeployment-deployment',
      RetentionInDays: 30,
    });
  });

  it('may invoke the four step functions', () => {
    const machine = ofType('AWS::StepFunctions::StateMachine')[0]?.[1] as Json;
    const role = (propsOf(machine).RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const invoked = ofType('AWS::IAM::Policy')
      .filter(([, policy]) => JSON.stringify(propsOf(policy).Roles) === JSON.stringify([{ Ref: role }]))
      .flatMap(([, policy]) => (propsOf(policy).PolicyDocument as { Statement: Json[] }).Statement)
      .filter((s) => asList(s.Action).includes('lambda:InvokeFunction'))
      .map((s) => JSON.stringify(s.Resource))
      .join();
    for (const id of ['PlanFunction', 'CheckStopFunction', 'DispatchFunction', 'FinishFunction']) {
      expect(invoked, id).toContain(functionLogicalId(id));
    }
    expect(invoked).not.toContain(functionLogicalId('ApiFunction'));
    // by the unqualified ARNs the definition names: no versions or aliases ("<arn>:*")
    expect(invoked).not.toContain(':*');
  });
});

describe('SSM document', () => {
  it('is a JSON Command document with a fixed name, updated by new version', () => {
    template.hasResourceProperties('AWS::SSM::Document', {
      Name: 'FuelDeployment-RunTask',
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      UpdateMethod: 'NewVersion',
      Content: Match.objectLike({
        schemaVersion: '2.2',
        mainSteps: [Match.objectLike({ action: 'aws:runShellScript' })],
      }),
    });
  });
});

describe('EventBridge', () => {
  const commandStatusRule = (): Json => {
    const found = ofType('AWS::Events::Rule').filter(([id]) => id.startsWith('CommandStatusRule'));
    expect(found).toHaveLength(1);
    return propsOf(found[0]?.[1] as Json);
  };

  it('routes final SSM command statuses of the document to command-status, with retries and a DLQ', () => {
    expect(commandStatusRule().EventPattern).toEqual({
      source: ['aws.ssm'],
      'detail-type': ['EC2 Command Invocation Status-change Notification'],
      detail: { 'document-name': ['FuelDeployment-RunTask'], status: [...FINAL_COMMAND_STATUSES] },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.ssm'] }),
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionLogicalId('CommandStatusFunction'), 'Arn'] },
          RetryPolicy: Match.objectLike({ MaximumRetryAttempts: Match.anyValue() }),
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CommandStatusDeadLetterQueue'), 'Arn'] },
          },
        }),
      ],
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    const queuePolicies = JSON.stringify(ofType('AWS::SQS::QueuePolicy'));
    expect(queuePolicies).toContain('aws:SecureTransport');
  });

  it('sends command-status exactly the statuses it records a result on: final ones, none on the way', () => {
    const pattern = commandStatusRule().EventPattern as { detail: { status: string[] } };
    const recorded = COMMAND_STATUSES.filter((status) => historyStatusOfInvocation(status) !== null);
    expect([...pattern.detail.status].sort()).toEqual([...recorded].sort());
    for (const final of ['Success', 'Failed', 'TimedOut', 'Cancelled', 'Undeliverable', 'Terminated'])
      expect(pattern.detail.status, final).toContain(final);
    for (const onTheWay of ['Pending', 'InProgress', 'Delayed', 'Cancelling'])
      expect(pattern.detail.status, onTheWay).not.toContain(onTheWay);
  });

  it('keeps a scheduled run EventBridge could not start in the dead-letter queue', () => {
    for (const [id, fn] of [
      ['WatchdogSchedule', 'WatchdogFunction'],
      ['DiscoverNodesSchedule', 'DiscoverNodesFunction'],
    ] as const) {
      const rule = ofType('AWS::Events::Rule').find(([logicalId]) => logicalId.startsWith(id))?.[1] as Json;
      expect(propsOf(rule).Targets, id).toEqual([
        expect.objectContaining({
          Arn: { 'Fn::GetAtt': [functionLogicalId(fn), 'Arn'] },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [expect.stringMatching(/^CommandStatusDeadLetterQueue/), 'Arn'] },
          },
        }),
      ]);
    }
  });

  it('runs node discovery every minute', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [functionLogicalId('DiscoverNodesFunction'), 'Arn'] } }),
      ],
    });
  });
});

describe('HTTP API', () => {
  const PROTECTED = ['ANY /api', 'ANY /api/{proxy+}', 'ANY /keystone/{proxy+}'];
  // "Stop deployment" and task deletion: the stop function's own routes, and their variants for a path
  // ending in "/" (python-fuelclient's PUT .../stop_deployment/; a route cannot end in "/")
  const STOP = ['/api', '/api/v1'].flatMap((prefix) =>
    [
      `PUT ${prefix}/clusters/{id}/stop_deployment`,
      `DELETE ${prefix}/tasks/{id}`,
      `DELETE ${prefix}/transactions/{id}`,
    ].flatMap((key) => [key, `${key}/{proxy+}`]),
  );
  const PUBLIC = [
    'GET /',
    'GET /api/v1/version',
    'GET /api/version',
    'GET /assets/{proxy+}',
    'GET /index.html',
    'POST /keystone/v2.0/tokens',
  ];
  const routes = (): Json[] => ofType('AWS::ApiGatewayV2::Route').map(([, route]) => propsOf(route));

  const integrationOf = (fn: string): string => {
    const found = ofType('AWS::ApiGatewayV2::Integration').find(
      ([, i]) =>
        JSON.stringify(propsOf(i).IntegrationUri) ===
        JSON.stringify({ 'Fn::GetAtt': [functionLogicalId(fn), 'Arn'] }),
    );
    if (!found) throw new Error(`no integration of ${fn}`);
    expect(propsOf(found[1])).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    return found[0];
  };
  const target = (integration: string) => ({ 'Fn::Join': ['', ['integrations/', { Ref: integration }]] });

  it('has the Nailgun, Keystone and UI routes to the API function, the stop routes to the stop function', () => {
    const routeKeys = routes().map((route) => route.RouteKey);
    expect(routeKeys.sort()).toEqual([...PROTECTED, ...PUBLIC, ...STOP].sort());
    template.resourceCountIs('AWS::ApiGatewayV2::Integration', 2);
    const api = integrationOf('ApiFunction');
    const stop = integrationOf('StopFunction');
    for (const route of routes()) {
      const key = String(route.RouteKey);
      expect(route.Target, key).toEqual(target(STOP.includes(key) ? stop : api));
    }
  });

  it('has one Lambda REQUEST authorizer on X-Auth-Token, simple responses, no result cache', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['$request.header.X-Auth-Token'],
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      AuthorizerResultTtlInSeconds: 0,
      AuthorizerUri: {
        'Fn::Join': [
          '',
          Match.arrayWith([{ 'Fn::GetAtt': [functionLogicalId('AuthorizerFunction'), 'Arn'] }]),
        ],
      },
    });
  });

  it("puts the web UI's build beside the API function's bundle, which serves it", () => {
    const code = functionProps('ApiFunction').Code as { S3Key: string };
    const dir = join(app.outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
    expect(existsSync(join(dir, 'index.mjs'))).toBe(true);
    const index = readFileSync(join(dir, 'web', 'index.html'), 'utf8');
    expect(index).toBe(readFileSync(fromRoot('web/dist/index.html'), 'utf8'));
    for (const [, file] of index.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)) {
      expect(existsSync(join(dir, 'web', file ?? '')), file).toBe(true);
    }
    // the other functions' packages carry no UI
    const plan = functionProps('PlanFunction').Code as { S3Key: string };
    expect(existsSync(join(app.outdir, `asset.${plan.S3Key.replace(/\.zip$/, '')}`, 'web'))).toBe(false);
  });

  it('requires the authorizer on every route but the version, the Keystone login and the UI page', () => {
    const authorizerId = ofType('AWS::ApiGatewayV2::Authorizer')[0]?.[0];
    for (const route of routes()) {
      const key = String(route.RouteKey);
      if (PUBLIC.includes(key)) {
        expect(route.AuthorizationType, key).toBe('NONE');
        expect(route.AuthorizerId, key).toBeUndefined();
      } else {
        expect(route.AuthorizationType, key).toBe('CUSTOM');
        expect(route.AuthorizerId, key).toEqual({ Ref: authorizerId });
      }
    }
    expect(routes().filter((route) => route.AuthorizationType === 'CUSTOM')).toHaveLength(
      PROTECTED.length + STOP.length,
    );
  });

  it('logs every request of the default stage as JSON to a log group with a month of retention', () => {
    const [, stage] = ofType('AWS::ApiGatewayV2::Stage')[0] ?? [];
    const settings = propsOf(stage as Json).AccessLogSettings as { DestinationArn: unknown; Format: string };
    expect(settings.DestinationArn).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^ApiAccessLogs/), 'Arn'],
    });
    const group = (settings.DestinationArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(propsOf(resources[group] as Json).RetentionInDays).toBe(30);
    const format = JSON.parse(settings.Format) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      httpMethod: '$context.httpMethod',
      path: '$context.path',
      routeKey: '$context.routeKey',
      status: '$context.status',
      responseLatency: '$context.responseLatency',
      integrationLatency: '$context.integrationLatency',
      user: '$context.authorizer.user',
      authorizerError: '$context.authorizer.error',
    });
    // the token is a header: no header is logged
    expect(settings.Format).not.toMatch(/header|X-Auth-Token/i);
  });

  it('throttles the default stage and has no CORS', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 },
    });
    const [, api] = ofType('AWS::ApiGatewayV2::Api')[0] ?? [];
    expect(propsOf(api as Json).ProtocolType).toBe('HTTP');
    expect(propsOf(api as Json).CorsConfiguration).toBeUndefined();
  });
});

describe('Secrets, tags and outputs', () => {
  const secretProps = (prefix: string): Json => {
    const found = ofType('AWS::SecretsManager::Secret').filter(([id]) => id.startsWith(prefix));
    expect(found, prefix).toHaveLength(1);
    return propsOf(found[0]?.[1] as Json);
  };

  it('are three generated secrets: the token, the signing key of issued tokens and the admin password', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 3);
  });

  it('generates a 64 character signing key without punctuation, apart from the token', () => {
    expect(secretProps('TokenSigningKey').GenerateSecretString).toEqual({
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
  });

  it('generates a 40 character token without punctuation', () => {
    expect(secretProps('AuthToken').GenerateSecretString).toEqual({
      PasswordLength: 40,
      ExcludePunctuation: true,
    });
  });

  it('generates the admin password of the Keystone-compatible login, without punctuation', () => {
    const generate = secretProps('AdminPassword').GenerateSecretString as Json;
    expect(generate.ExcludePunctuation).toBe(true);
    expect(generate.PasswordLength).toBeGreaterThanOrEqual(20);
    expect(generate.SecretStringTemplate).toBeUndefined();
  });

  it('tags resources with Project=fuel-sls', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      Tags: Match.arrayWith([{ Key: 'Project', Value: 'fuel-sls' }]),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Tags: Match.arrayWith([{ Key: 'Project', Value: 'fuel-sls' }]),
    });
  });

  it('outputs the API URL, state machine, table, secret ARNs, document name, log groups and alarm topic', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'AdminPasswordSecretArn',
        'AlarmTopicArn',
        'ApiAccessLogGroupName',
        'ApiUrl',
        'AuthTokenSecretArn',
        'CommandLogGroupName',
        'DocumentName',
        'StateMachineArn',
        'TableName',
        'TokenSigningKeySecretArn',
      ].sort(),
    );
    expect(outputs.TokenSigningKeySecretArn?.Value).toEqual({
      Ref: expect.stringMatching(/^TokenSigningKey/),
    });
    expect(outputs.AlarmTopicArn?.Value).toEqual({ Ref: expect.stringMatching(/^AlarmTopic/) });
    expect(outputs.CommandLogGroupName?.Value).toEqual({ Ref: expect.stringMatching(/^CommandOutputLogs/) });
    expect(outputs.AuthTokenSecretArn?.Value).toEqual({ Ref: expect.stringMatching(/^AuthToken/) });
    expect(outputs.AdminPasswordSecretArn?.Value).toEqual({ Ref: expect.stringMatching(/^AdminPassword/) });
    expect(JSON.stringify(outputs)).not.toContain('SecretString');
    expect(JSON.stringify(outputs.ApiUrl?.Value)).toContain('execute-api');
  });
});

describe('a deployment that ends without finishing', () => {
  it('is settled by a function on failed, timed-out and aborted executions of the state machine', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: [Match.objectLike({ 'Fn::Join': Match.anyValue() })],
        },
      },
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [functionLogicalId('ExecutionEndedFunction'), 'Arn'] } }),
      ],
    });
  });

  it('sends results the status functions could not record, after their retries, to the dead-letter queue', () => {
    for (const id of ['CommandStatusFunction', 'ExecutionEndedFunction']) {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionLogicalId(id) },
        MaximumRetryAttempts: 2,
        DestinationConfig: {
          OnFailure: {
            Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CommandStatusDeadLetterQueue'), 'Arn'] },
          },
        },
      });
    }
  });
});

describe('Alarms', () => {
  const alarms = (): Json[] => ofType('AWS::CloudWatch::Alarm').map(([, alarm]) => propsOf(alarm));
  const topic = () => {
    const topics = ofType('AWS::SNS::Topic');
    expect(topics).toHaveLength(1);
    return topics[0]?.[0];
  };
  const dimension = (alarm: Json, name: string): unknown =>
    (alarm.Dimensions as Array<{ Name: string; Value: unknown }> | undefined)?.find((d) => d.Name === name)
      ?.Value;

  it('go to one SNS topic that takes TLS only, and each fires above zero', () => {
    const topicId = topic();
    expect(JSON.stringify(ofType('AWS::SNS::TopicPolicy'))).toContain('aws:SecureTransport');
    expect(alarms().length).toBeGreaterThan(0);
    for (const alarm of alarms()) {
      expect(alarm.AlarmActions, String(alarm.MetricName)).toEqual([{ Ref: topicId }]);
      expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
      expect(alarm.Threshold).toBe(0);
      expect(alarm.TreatMissingData).toBe('notBreaching');
      expect(alarm.AlarmDescription).toBeTruthy();
    }
  });

  it('watch the dead-letter queue for any visible message', () => {
    const found = alarms().filter(
      (a) => a.Namespace === 'AWS/SQS' && a.MetricName === 'ApproximateNumberOfMessagesVisible',
    );
    expect(found).toHaveLength(1);
    expect(dimension(found[0] as Json, 'QueueName')).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^CommandStatusDeadLetterQueue/), 'QueueName'],
    });
  });

  it('watch the errors of every function, the authorizer too', () => {
    const watched = alarms()
      .filter((a) => a.Namespace === 'AWS/Lambda' && a.MetricName === 'Errors')
      .map((a) => (dimension(a, 'FunctionName') as { Ref: string }).Ref)
      .sort();
    expect(watched).toEqual(
      ofType('AWS::Lambda::Function')
        .map(([id]) => id)
        .sort(),
    );
    for (const alarm of alarms().filter((a) => a.MetricName === 'Errors')) {
      expect(alarm.Statistic).toBe('Sum');
      const fn = (dimension(alarm, 'FunctionName') as { Ref: string }).Ref;
      // command-status fails an invocation on purpose while a result is not visible yet (it is redelivered)
      expect(alarm.EvaluationPeriods, fn).toBe(fn === functionLogicalId('CommandStatusFunction') ? 3 : 1);
    }
  });

  it('watch failed, timed-out and aborted executions of the deployment state machine', () => {
    const machine = ofType('AWS::StepFunctions::StateMachine')[0]?.[0];
    const watched = alarms()
      .filter((a) => a.Namespace === 'AWS/States')
      .map((a) => {
        expect(dimension(a, 'StateMachineArn')).toEqual({ Ref: machine });
        return a.MetricName;
      })
      .sort();
    expect(watched).toEqual(['ExecutionsAborted', 'ExecutionsFailed', 'ExecutionsTimedOut']);
  });
});
