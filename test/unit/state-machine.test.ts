import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';

/** The state machine file with its CDK substitutions filled in, as Step Functions receives it. */
function definition(): Record<string, unknown> {
  const text = readFileSync(new URL('../../statemachines/deployment.asl.json', import.meta.url), 'utf8');
  return JSON.parse(
    text.replace(
      /\$\{(\w+)FunctionArn\}/g,
      (_, name: string) => `arn:aws:lambda:us-east-1:123456789012:function:fuel-${name}`,
    ),
  ) as Record<string, unknown>;
}

describe('statemachines/deployment.asl.json', () => {
  it('is valid Amazon States Language: every state reachable, every target, path and ARN well-formed', () => {
    const result = aslValidator(definition(), { checkPaths: true, checkArn: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('the validator refuses a definition with a missing target', () => {
    const broken = { ...definition(), StartAt: 'No such state' };
    const result = aslValidator(broken, { checkPaths: true, checkArn: true });
    expect(result.isValid).toBe(false);
    expect(result.errors.map((e) => e['Error code'])).toContain('MISSING_TRANSITION_TARGET');
  });
});
