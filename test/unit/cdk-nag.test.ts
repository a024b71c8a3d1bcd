/**
 * cdk-nag's AwsSolutions and Serverless packs on the stack as infra/app.ts builds it (which registers the
 * same packs, so `cdk synth` fails on a finding too). cdk-nag 3 reports through CDK's policy validation, not
 * annotations: each pack's `validateScope` returns the findings not acknowledged. Every acknowledgement
 * (`Validations.of(construct).acknowledge`, infra/stack.ts) names one rule, or one finding of it, on the
 * construct where it arises, with its reason; none is stack-wide, and none outlives its finding.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NagPack, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FuelDeploymentStack } from '../../infra/stack.js';

type Violation = {
  ruleName: string;
  severity: string;
  description: string;
  violatingResources: Array<{ constructPath: string }>;
};

const packs = () => [new AwsSolutionsChecks(), new ServerlessChecks()];

let stack: FuelDeploymentStack;

beforeAll(() => {
  // the packs read the construct tree; the functions' code is not bundled for them
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  stack = new FuelDeploymentStack(app, 'FuelDeployment', { stackName: 'FuelDeployment' });
}, 120_000);

function findings(): Violation[] {
  return packs().flatMap((pack) => pack.validateScope(stack).violations as Violation[]);
}

const listed = (violations: Violation[]) =>
  violations
    .flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}: ${v.description}`),
    )
    .join('\n');

/** Every acknowledgement in the tree: where, which rule, why. */
function acknowledgements(): Array<{ path: string; id: string; reason: string }> {
  const found: Array<{ path: string; id: string; reason: string }> = [];
  const visit = (node: IConstruct) => {
    for (const entry of node.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.push({ path: node.node.path, id: id.replace(/^annotation::/i, ''), reason });
      }
    }
    for (const child of node.node.children) visit(child);
  };
  visit(stack);
  return found;
}

describe('cdk-nag (AwsSolutions, Serverless)', () => {
  it('finds no error that is not acknowledged', () => {
    const errors = findings().filter((v) => v.severity === 'error');
    expect(errors, listed(errors)).toEqual([]);
  });

  it('finds no warning that is not acknowledged', () => {
    const warnings = findings().filter((v) => v.severity !== 'error');
    expect(warnings, listed(warnings)).toEqual([]);
  });

  it('acknowledges each finding on its construct, with a reason of its own, and nothing stack-wide', () => {
    const all = acknowledgements();
    expect(all.length).toBeGreaterThan(0);
    for (const ack of all) {
      expect(ack.id, ack.path).toMatch(/^(AwsSolutions|Serverless)-[A-Za-z0-9]+(\[.+\])?$/);
      expect(ack.path, ack.id).not.toBe(stack.node.path);
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThan(60);
    }
  });

  describe('with the acknowledgements set aside', () => {
    // NagPack checks an acknowledgement in a private method: ignoring it shows every raw finding
    const proto = NagPack.prototype as unknown as { isAcknowledged: (...args: unknown[]) => boolean };
    let original: typeof proto.isAcknowledged;
    let raw: Violation[];
    beforeAll(() => {
      original = proto.isAcknowledged;
      proto.isAcknowledged = () => false;
      raw = findings();
    });
    afterAll(() => {
      proto.isAcknowledged = original;
    });

    it('each acknowledgement still has its finding on its construct or below', () => {
      expect(raw.length).toBeGreaterThan(0);
      const stale = acknowledgements().filter(
        (ack) =>
          !raw.some(
            (v) =>
              v.ruleName === ack.id &&
              v.violatingResources.some(
                (r) => r.constructPath === ack.path || r.constructPath.startsWith(`${ack.path}/`),
              ),
          ),
      );
      expect(stale.map((a) => `${a.path} ${a.id}`)).toEqual([]);
    });

    it('what is fixed stays fixed: logs, tracing, the API throttle, the DLQs of the event targets', () => {
      const rules = new Set(raw.map((v) => v.ruleName));
      for (const fixed of [
        'AwsSolutions-APIG1',
        'Serverless-APIGWAccessLogging',
        'Serverless-APIGWStructuredLogging',
        'Serverless-CloudWatchLogGroupRetentionPeriod',
        'Serverless-StepFunctionStateMachineXray',
        'Serverless-EventBusDLQ',
        'Serverless-LambdaTracing',
        'Serverless-APIGWDefaultThrottling',
        'AwsSolutions-SQS4',
        'AwsSolutions-SNS3',
      ]) {
        expect(rules.has(fixed), fixed).toBe(false);
      }
      // the state machine invokes its four functions by their unqualified ARNs (no "<function ARN>:*")
      expect([...rules].filter((r) => /IAM5\[Resource::<\w+\.Arn>:\*\]/.test(r))).toEqual([]);
    });
  });
});
