import { describe, expect, it } from 'vitest';
import {
  abandonScope,
  endReasonOf,
  forcedStop,
  isFaultToleranceStop,
  isForced,
  isOperatorStop,
  isPastDeadline,
  isStopping,
  mayDispatch,
  NO_STOP,
  requestedStop,
  type StopCause,
  stopTaskIdOf,
} from '../../lambdas/domain/stop.js';

const at = new Date('2026-12-01T10:00:00.000Z');

function requested(cause: StopCause = 'operator', timeoutSeconds = 600) {
  return requestedStop({
    cause,
    by: 'admin',
    message: 'wrong VLAN',
    stopTaskId: cause === 'fault_tolerance' ? null : 7,
    at,
    timeoutSeconds,
  });
}

describe('the stop state', () => {
  it('none: batches may be dispatched, nothing is stopping', () => {
    expect(mayDispatch(NO_STOP)).toBe(true);
    expect(isStopping(NO_STOP)).toBe(false);
    expect(isForced(NO_STOP)).toBe(false);
    expect(isOperatorStop(NO_STOP)).toBe(false);
    expect(stopTaskIdOf(NO_STOP)).toBeNull();
    expect(isPastDeadline(NO_STOP, new Date(at.getTime() + 10 ** 9))).toBe(false);
  });

  it('requested: records who, when, why and the deadline; nothing more is dispatched', () => {
    const stop = requested();
    expect(stop.request).toEqual({
      cause: 'operator',
      by: 'admin',
      at: '2026-12-01T10:00:00.000Z',
      message: 'wrong VLAN',
      stopTaskId: 7,
      deadline: '2026-12-01T10:10:00.000Z',
      timeoutSeconds: 600,
    });
    expect(mayDispatch(stop)).toBe(false);
    expect(isStopping(stop)).toBe(true);
    expect(isForced(stop)).toBe(false);
    expect(stopTaskIdOf(stop)).toBe(7);
  });

  it('forced: keeps the request and says what escalated it', () => {
    const stop = forcedStop(requested(), '2026-12-01T10:01:00.000Z', 'stop_timeout');
    expect(stop.request.message).toBe('wrong VLAN');
    expect(stop.forced).toEqual({ at: '2026-12-01T10:01:00.000Z', cause: 'stop_timeout' });
    expect(mayDispatch(stop)).toBe(false);
    expect(isStopping(stop)).toBe(true);
    expect(isForced(stop)).toBe(true);
  });

  it('an operator and a forced delete have a stop task; fault tolerance has none', () => {
    expect(isOperatorStop(requested('operator'))).toBe(true);
    expect(isOperatorStop(requested('forced_delete'))).toBe(true);
    expect(isOperatorStop(requested('fault_tolerance'))).toBe(false);
    expect(isFaultToleranceStop(requested('fault_tolerance'))).toBe(true);
    expect(isFaultToleranceStop(requested('operator'))).toBe(false);
    expect(stopTaskIdOf(requested('fault_tolerance'))).toBeNull();
  });

  it('a requested stop is past its deadline at the deadline, a forced one never', () => {
    const stop = requested('operator', 60);
    expect(isPastDeadline(stop, new Date(at.getTime() + 59_999))).toBe(false);
    expect(isPastDeadline(stop, new Date(at.getTime() + 60_000))).toBe(true);
    expect(
      isPastDeadline(forcedStop(stop, at.toISOString(), 'operator'), new Date(at.getTime() + 10 ** 9)),
    ).toBe(false);
  });

  it('cancelled commands are given up on offline nodes after a grace period, on all after five', () => {
    // grace: the stop timeout, at most a minute
    const short = forcedStop(requested('operator', 10), at.toISOString(), 'operator');
    expect(abandonScope(short, new Date(at.getTime() + 9_999))).toBe('none');
    expect(abandonScope(short, new Date(at.getTime() + 10_000))).toBe('offline');
    expect(abandonScope(short, new Date(at.getTime() + 49_999))).toBe('offline');
    expect(abandonScope(short, new Date(at.getTime() + 50_000))).toBe('all');
    const long = forcedStop(requested('operator', 600), at.toISOString(), 'operator');
    expect(abandonScope(long, new Date(at.getTime() + 59_999))).toBe('none');
    expect(abandonScope(long, new Date(at.getTime() + 60_000))).toBe('offline');
    expect(abandonScope(long, new Date(at.getTime() + 300_000))).toBe('all');
  });

  it('rows never started end skipped: stopped, aborted, or blocked by a requirement', () => {
    expect(endReasonOf(requested(), false)).toEqual({
      skipReason: 'stopped',
      reason: 'not started: the deployment was stopped',
    });
    // a stop wins over an orchestration failure
    expect(endReasonOf(requested(), true).skipReason).toBe('stopped');
    // a failed node that stopped the deployment: worded as the failure it is
    expect(endReasonOf(requested('fault_tolerance'), false)).toEqual({
      skipReason: 'stopped',
      reason: 'not started: the deployment failed',
    });
    expect(endReasonOf(NO_STOP, true)).toEqual({
      skipReason: 'aborted',
      reason: 'not started: the deployment was aborted',
    });
    expect(endReasonOf(NO_STOP, false)).toEqual({
      skipReason: 'blocked',
      reason: 'not started: a requirement did not succeed',
    });
  });
});
