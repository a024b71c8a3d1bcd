import { describe, expect, it } from 'vitest';
import {
  cancelledByForcedStop,
  errorTypeFor,
  type InvocationResult,
  recordedOutcome,
} from '../../lambdas/domain/command-result.js';
import type { CommandStatus } from '../../lambdas/domain/command-status.js';
import {
  isCommandCancelled,
  isCommandFinished,
  isCommandNotStarted,
  isCommandStatus,
} from '../../lambdas/domain/command-status.js';

function invocation(status: CommandStatus, extra: Partial<InvocationResult> = {}): InvocationResult {
  return {
    commandId: 'c-1',
    instanceId: 'mi-1',
    comment: 'fuel:1:layer-0:0',
    status,
    statusDetails: status,
    responseCode: status === 'Success' ? 0 : 3,
    startedAt: '2026-12-01T10:00:00.000Z',
    endedAt: '2026-12-01T10:00:05.000Z',
    stdoutTail: 'out',
    stderrTail: 'err',
    ...extra,
  };
}

const row = { taskName: 'netconfig', failOnError: true, stage: 'layer-2' as const };

describe('SSM command statuses', () => {
  it('are a closed vocabulary', () => {
    expect(isCommandStatus('Success')).toBe(true);
    expect(isCommandStatus('success')).toBe(false);
    expect(isCommandStatus(undefined)).toBe(false);
  });

  it('pending and delayed have not started; cancelled, cancelling and terminated were cancelled', () => {
    expect(isCommandNotStarted('Pending')).toBe(true);
    expect(isCommandNotStarted('Delayed')).toBe(true);
    expect(isCommandNotStarted('InProgress')).toBe(false);
    for (const s of ['Cancelled', 'Cancelling', 'Terminated'] as const)
      expect(isCommandCancelled(s)).toBe(true);
    expect(isCommandCancelled('Failed')).toBe(false);
    expect(isCommandFinished('Cancelling')).toBe(false);
    expect(isCommandFinished('DeliveryTimedOut')).toBe(true);
  });
});

describe('recordedOutcome', () => {
  it('a success is ready, with what SSM reported', () => {
    const out = recordedOutcome(invocation('Success'), row, false);
    expect(out.status).toBe('ready');
    expect(out.failure).toBeNull();
    expect(out.outcome.command).toEqual({
      commandId: 'c-1',
      instanceId: 'mi-1',
      ssmStatus: 'Success',
      statusDetails: 'Success',
      exitCode: 0,
      outputTail: 'out',
      errorTail: 'err',
    });
    expect(out.outcome.skipReason).toBeNull();
  });

  it('a failure is an error that fails the node as a deploy failure', () => {
    const out = recordedOutcome(invocation('Failed'), row, false);
    expect(out.status).toBe('error');
    expect(out.outcome.errorType).toBe('deploy');
    expect(out.outcome.cancelledByStop).toBe(false);
    expect(out.failure).toBe('netconfig failed (Failed, exit code 3)');
  });

  it('a failure of a provisioning command fails the node as a provisioning failure', () => {
    const out = recordedOutcome(invocation('TimedOut'), { ...row, stage: 'provision' }, false);
    expect(out.outcome.errorType).toBe('provision');
  });

  it('a command cancelled by a forced stop after it started fails its node as stop_deployment', () => {
    const out = recordedOutcome(invocation('Cancelled', { responseCode: null }), row, true);
    expect(out.status).toBe('error');
    expect(out.outcome).toMatchObject({ errorType: 'stop_deployment', cancelledByStop: true });
    expect(out.failure).toBe('netconfig was cancelled by a forced stop (Cancelled, exit code none)');
  });

  it('a command cancelled before it reached its node never started: skipped, stopped', () => {
    const out = recordedOutcome(invocation('Cancelled', { startedAt: null }), row, true);
    expect(out.status).toBe('skipped');
    expect(out.failure).toBeNull();
    expect(out.outcome.skipReason).toBe('stopped');
    expect(out.outcome.reason).toMatch(/before the command reached the node/);
  });

  it('a failure of a task with fail_on_error: false is skipped and fails nothing', () => {
    const out = recordedOutcome(invocation('Failed'), { ...row, failOnError: false }, false);
    expect(out.status).toBe('skipped');
    expect(out.failure).toBeNull();
    expect(out.outcome.skipReason).toBe('fail_on_error');
    expect(out.outcome.reason).toBe('failure ignored (fail_on_error: false): Failed, exit code 3');
  });

  it('only a cancellation during a forced stop counts as cancelled by it', () => {
    expect(cancelledByForcedStop(true, 'Cancelled')).toBe(true);
    expect(cancelledByForcedStop(true, 'Failed')).toBe(false);
    expect(cancelledByForcedStop(false, 'Cancelled')).toBe(false);
    expect(errorTypeFor('provision', true)).toBe('provision');
    expect(errorTypeFor('layer-0', true)).toBe('stop_deployment');
    expect(errorTypeFor('layer-0', false)).toBe('deploy');
  });
});
