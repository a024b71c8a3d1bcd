/**
 * Global setup of the vitest run: the AWS call log (FUEL_AWS_CALL_LOG, chosen in vitest.config.ts) starts
 * empty, so the `iam` project reads only what this run's tests recorded. A log the config chose is removed
 * after the run; one named in the environment is kept. A vitest run started by a test of this run (it
 * inherits the variables) leaves the log as it is.
 */
import { rmSync, writeFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';

const STARTED = 'FUEL_AWS_CALL_LOG_STARTED';

export function setup(project: TestProject): (() => void) | undefined {
  const file = project.config.env.FUEL_AWS_CALL_LOG;
  if (!file) throw new Error('vitest.config.ts gives no FUEL_AWS_CALL_LOG');
  if (process.env[STARTED] === file) return undefined;
  process.env[STARTED] = file;
  writeFileSync(file, '');
  return () => {
    if (!process.env.FUEL_AWS_CALL_LOG) rmSync(file, { force: true });
  };
}
