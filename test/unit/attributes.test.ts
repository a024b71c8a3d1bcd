import { describe, expect, it } from 'vitest';
import { defaultAttributes, mergeAttributes, stopTimeout } from '../../lambdas/domain/attributes.js';

describe('mergeAttributes', () => {
  it('changes a setting value and keeps its label, type and description', () => {
    const merged = mergeAttributes(defaultAttributes(), { deployment: { stop_timeout: { value: 120 } } });
    expect(merged.deployment).toMatchObject({
      metadata: { label: 'Deployment' },
      stop_timeout: { value: 120, type: 'number', label: 'Stop timeout (s)' },
    });
    expect(stopTimeout(merged)).toBe(120);
  });

  it('leaves the other settings and groups as they were', () => {
    const before = defaultAttributes();
    const merged = mergeAttributes(before, { provision: { timeout: { value: 60 } } });
    expect(merged.deployment).toEqual(before.deployment);
    expect((merged.provision as Record<string, unknown>).cmd).toEqual(
      (before.provision as Record<string, unknown>).cmd,
    );
  });

  it('adds groups and settings that did not exist', () => {
    const merged = mergeAttributes(defaultAttributes(), { custom: { flag: { value: true, label: 'Flag' } } });
    expect(merged.custom).toEqual({ flag: { value: true, label: 'Flag' } });
  });

  it('does not change the stored tree it merges into', () => {
    const stored = defaultAttributes();
    mergeAttributes(stored, { deployment: { stop_timeout: { value: 5 } } });
    expect(stopTimeout(stored)).toBe(600);
  });
});
