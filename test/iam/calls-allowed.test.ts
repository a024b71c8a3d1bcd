/**
 * Every AWS call is allowed, and nothing more: the calls each Lambda function made while the other tests ran
 * (recorded by the embedded runtime, local/aws-calls.ts, in FUEL_AWS_CALL_LOG) against the IAM statements of
 * that function's role in the synthesized template. A call no statement allows fails, and so does an action
 * granted to a function that it never called, unless EXEMPT says why the tests cannot see it.
 *
 * This file belongs to the vitest project `iam`, which runs after every other test (vitest.config.ts); alone
 * (`npx vitest run test/iam`) it finds no calls and fails saying so.
 */
import { readFileSync } from 'node:fs';
import { App, type aws_iam as iam, type aws_lambda as lambda } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FuelDeploymentStack } from '../../infra/stack.js';
import { type AwsCall, CALL_LOG_VARIABLE, FUNCTION_NAMES, readCallLog } from '../../local/aws-calls.js';

/**
 * Grants the calls recorded here cannot show used, each with the reason. `never` ones are never seen in this
 * run (the call is not made by the code, or not made locally): one that is seen fails, the exemption is
 * then wrong. `rare` ones are calls on paths the integration and end-to-end suites do not take through
 * the embedded runtime (the engine harness tests named take them, with one context for every step): they
 * may be seen, or not.
 */
interface Exemption {
  functions: string[];
  actions: string[];
  kind: 'never' | 'rare';
  why: string;
}

const EXEMPT: Exemption[] = [
  {
    functions: ['stop', 'commandStatus', 'executionEnded'],
    actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
    kind: 'never',
    why:
      'Lambda itself, with the function role, sends an asynchronous invocation that failed its retries to ' +
      'the on-failure destination (the dead-letter queue); the code never calls SQS',
  },
  {
    functions: ['api', 'stop'],
    actions: ['secretsmanager:GetSecretValue'],
    kind: 'never',
    why:
      'read through lambdas/handlers/env.ts, which the local runtime replaces by handing the token, the ' +
      'signing key (and the admin password) to the handlers in-process; pinned by test/iam/secret-reads.test.ts',
  },
  {
    functions: [...FUNCTION_NAMES, 'authorizer'],
    actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
    kind: 'never',
    why:
      "Lambda itself sends the function's trace segments with the function role (active tracing, " +
      'infra/stack.ts); the code calls no X-Ray API',
  },
  {
    functions: ['authorizer'],
    actions: ['secretsmanager:GetSecretValue'],
    kind: 'never',
    why:
      'the authorizer is invoked by API Gateway only (locally the server checks the token itself); pinned ' +
      'by test/iam/secret-reads.test.ts',
  },
  {
    functions: ['api'],
    actions: ['lambda:InvokeFunction'],
    kind: 'never',
    why:
      'the API function hands a stop it serves to the stop function; API Gateway sends it the stop routes ' +
      'it does not match to the stop function (a path ending in "/"), the local server sends every stop ' +
      'route to the stop function (lambdas/api/stop-routes.ts isStopRequest)',
  },
  {
    functions: ['dispatch'],
    actions: ['ssm:ListCommands'],
    kind: 'rare',
    why:
      'a dispatch retried after it sent looks for the command by its comment (findByComment): ' +
      'test/integration/engine.test.ts',
  },
  {
    functions: ['finish'],
    actions: ['ssm:ListCommandInvocations', 'ssm:CancelCommand'],
    kind: 'rare',
    why:
      'Finish after an orchestration failure with commands still running (endCommandsStillRunning): ' +
      'test/integration/reconciliation.test.ts',
  },
  {
    functions: ['watchdog'],
    actions: ['ssm:ListCommandInvocations', 'ssm:GetCommandInvocation'],
    kind: 'rare',
    why:
      'results whose status events were lost (reconcileResults), a stop follow-up that never ran ' +
      '(followUpIfMissed), an execution that ended without finishing, when the watchdog sees it before the ' +
      'execution-ended function does (settleIfExecutionEnded): test/integration/reconciliation.test.ts, ' +
      'test/integration/stop-function.test.ts',
  },
  {
    functions: ['watchdog'],
    actions: ['dynamodb:BatchWriteItem'],
    kind: 'rare',
    why:
      'a result the watchdog records (reconcileResults) or gives up on (a forced stop) may end its batch, ' +
      'which records the last runs of its ready rows: test/integration/reconciliation.test.ts',
  },
  {
    functions: ['dispatch'],
    actions: ['dynamodb:BatchWriteItem'],
    kind: 'rare',
    why:
      'a node about to be provisioned again forgets the last runs it had (sendBatch, forgetLastRuns): ' +
      'test/integration/last-runs.test.ts',
  },
  {
    functions: ['finish', 'executionEnded'],
    actions: ['dynamodb:BatchWriteItem'],
    kind: 'rare',
    why:
      'Finish records the last runs of batches that never ended (recordLastRunsOfOpenBatches: a run ' +
      'ended with commands unanswered): test/integration/reconciliation.test.ts',
  },
  {
    functions: ['finish', 'executionEnded'],
    actions: ['dynamodb:PutItem'],
    kind: 'rare',
    why:
      'Finish writes the stop task of a stop that had not written it yet (endStopTask): a race of ' +
      'test/integration/stop-races.test.ts',
  },
  {
    functions: ['plan'],
    actions: ['dynamodb:PutItem'],
    kind: 'rare',
    why:
      'the mark that the tasks are indexed by cluster (lambdas/store/tasks.ts indexByCluster), written once ' +
      'by whichever function pages tasks by cluster first: test/integration/paged-lists.test.ts',
  },
  {
    functions: ['checkStop'],
    actions: ['dynamodb:UpdateItem'],
    kind: 'rare',
    why:
      'a task item of an earlier version is rewritten when read (lambdas/store/legacy.ts): ' +
      'test/integration/legacy-items.test.ts',
  },
];

/** The managed policy every function's role carries: Lambda writes the function's logs with it. */
const BASIC_EXECUTION_ROLE = ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';

type Json = Record<string, unknown>;

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  Condition?: unknown;
}

interface Grants {
  /** The role's logical id. */
  role: string;
  statements: Statement[];
  managedPolicies: unknown[];
}

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** An IAM action pattern (`ssm:*`, `dynamodb:Get*`) as a regular expression; IAM matches case-insensitively. */
const actionPattern = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    'i',
  );

const matches = (pattern: string, action: string): boolean => actionPattern(pattern).test(action);

function allowed(statements: Statement[], action: string): boolean {
  const hit = (s: Statement) => asList(s.Action).some((p) => matches(p, action));
  return (
    statements.some((s) => s.Effect === 'Allow' && hit(s)) &&
    !statements.some((s) => s.Effect === 'Deny' && hit(s))
  );
}

const exemptionOf = (fn: string, action: string): Exemption | undefined =>
  EXEMPT.find((e) => e.functions.includes(fn) && e.actions.some((a) => matches(a, action)));

let grants: Map<string, Grants>;
let calls: AwsCall[];
let logFile: string;

beforeAll(() => {
  // No asset bundling: the statements do not depend on the functions' code.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new FuelDeploymentStack(app, 'FuelDeployment', { stackName: 'FuelDeployment' });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string } & Json>;
  const functions: Array<[string, lambda.IFunction]> = [
    ...Object.entries(stack.functions),
    ['authorizer', stack.authorizerFunction],
  ];
  grants = new Map(
    functions.map(([name, fn]) => {
      const role = stack.getLogicalId(fn.role?.node.defaultChild as iam.CfnRole);
      const roleProps = (resources[role]?.Properties ?? {}) as Json;
      const statements = Object.values(resources)
        .filter((r) => r.Type === 'AWS::IAM::Policy')
        .map((r) => r.Properties as Json)
        .filter((p) =>
          asList(p.Roles as unknown[]).some((ref) => JSON.stringify(ref) === `{"Ref":"${role}"}`),
        )
        .flatMap((p) => (p.PolicyDocument as { Statement: Statement[] }).Statement);
      // inline policies of the role itself count too
      for (const inline of asList(
        roleProps.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>,
      ))
        statements.push(...inline.PolicyDocument.Statement);
      return [name, { role, statements, managedPolicies: asList(roleProps.ManagedPolicyArns as unknown[]) }];
    }),
  );

  logFile = process.env[CALL_LOG_VARIABLE] ?? '';
  calls = logFile ? readCallLog(readFileSync(logFile, 'utf8')) : [];
}, 120_000);

/** Every (function, action) that was granted or called, with what is wrong with it, as a table. */
function report(): { problems: string[]; table: string } {
  const rows: Array<[string, string, string, string, string]> = [];
  const problems: string[] = [];
  const called = new Map<string, Set<string>>();
  for (const { fn, action } of calls) {
    if (!called.has(fn)) called.set(fn, new Set());
    called.get(fn)?.add(action);
  }
  const names = [...new Set([...grants.keys(), ...called.keys()])].sort();
  for (const fn of names) {
    const statements = grants.get(fn)?.statements ?? [];
    const made = [...(called.get(fn) ?? [])];
    const granted = [
      ...new Set(statements.filter((s) => s.Effect === 'Allow').flatMap((s) => asList(s.Action))),
    ];
    for (const action of [...new Set([...granted, ...made])].sort()) {
      const isGranted = allowed(statements, action);
      const isCalled = made.some((m) => matches(action, m) || m === action);
      const exemption = exemptionOf(fn, action);
      let note = '';
      if (!grants.has(fn)) note = 'NOT A FUNCTION OF THE STACK';
      else if (!isGranted) note = 'CALLED BUT NOT ALLOWED';
      else if (!isCalled && !exemption) note = 'GRANTED BUT NEVER CALLED';
      else if (!isCalled && exemption) note = `exempt (${exemption.kind}, #${EXEMPT.indexOf(exemption) + 1})`;
      if (note !== '' && !note.startsWith('exempt')) problems.push(`${fn} ${action}: ${note}`);
      rows.push([fn, action, isGranted ? 'yes' : 'NO', isCalled ? 'yes' : 'no', note]);
    }
  }
  const header: [string, string, string, string, string] = ['function', 'action', 'granted?', 'called?', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const reasons = EXEMPT.map(
    (e, i) => `#${i + 1} ${e.functions.join(', ')}: ${e.actions.join(', ')}: ${e.why}`,
  );
  const table = [line(header), ...rows.map(line), '', 'exemptions:', ...reasons].join('\n');
  return { problems, table };
}

describe('IAM: every AWS call is allowed, and nothing more', () => {
  it('has the calls of this run to check', () => {
    expect(logFile, `${CALL_LOG_VARIABLE} is not set: run the tests through vitest.config.ts`).not.toBe('');
    expect(
      calls.length,
      `No AWS calls were recorded in ${logFile}. The iam project checks what the other tests record: run ` +
        'the whole suite (npx vitest run, or npm test), not test/iam alone.',
    ).toBeGreaterThan(0);
  });

  it("names in the runtime's functions the functions of the stack", () => {
    expect([...FUNCTION_NAMES].sort()).toEqual([...grants.keys()].filter((n) => n !== 'authorizer').sort());
  });

  it('allows every call a function made, and grants each function only what it calls', () => {
    expect(calls.length, 'no calls recorded (see above)').toBeGreaterThan(0);
    const { problems, table } = report();
    expect(problems, `\n${table}\n`).toEqual([]);
  });

  it('gives each exemption to a grant that exists, and none to a call it says is never made', () => {
    const stale: string[] = [];
    for (const exemption of EXEMPT) {
      for (const fn of exemption.functions) {
        for (const action of exemption.actions) {
          const statements = grants.get(fn)?.statements ?? [];
          if (!allowed(statements, action)) stale.push(`${fn} ${action}: exempt but not granted`);
          else if (exemption.kind === 'never' && calls.some((c) => c.fn === fn && matches(action, c.action)))
            stale.push(`${fn} ${action}: exempt as never called, but called: ${exemption.why}`);
        }
      }
    }
    expect(stale).toEqual([]);
  });

  it('uses no statement form this check cannot read, and no managed policy but Lambda basic execution', () => {
    for (const [fn, { statements, managedPolicies }] of grants) {
      for (const s of statements) expect(s.NotAction, `${fn}: NotAction`).toBeUndefined();
      expect(managedPolicies, fn).toHaveLength(1);
      expect(JSON.stringify(managedPolicies[0]), fn).toContain(BASIC_EXECUTION_ROLE);
    }
  });
});
