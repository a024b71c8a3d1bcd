import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';

// The AWS calls every Lambda function of the embedded runtime makes (local/aws-calls.ts), one fresh file per
// run (emptied by the global setup), checked against the template's IAM statements by the `iam` project.
const awsCallLog =
  process.env.FUEL_AWS_CALL_LOG ?? join(tmpdir(), `fuel-aws-calls-${process.pid}-${Date.now()}.jsonl`);

const common = {
  setupFiles: ['local/polyfills.ts'],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
  env: { FUEL_AWS_CALL_LOG: awsCallLog },
};

export default defineConfig({
  test: {
    // two files at a time, even on 2 cores (vitest's default there is one): most of a test's time is spent
    // waiting on nodes' processes, timers and local endpoints, not computing
    maxWorkers: 2,
    env: { FUEL_AWS_CALL_LOG: awsCallLog },
    globalSetup: ['test/helpers/web-build.setup.ts', 'test/iam/call-log.setup.ts'],
    projects: [
      {
        test: {
          ...common,
          name: 'suite',
          include: ['test/**/*.test.ts'],
          // browser tests need Debian's chromium: `npm run test:browser` (CI installs it)
          exclude: [...configDefaults.exclude, 'test/browser/**', 'test/iam/**'],
        },
      },
      {
        test: {
          ...common,
          name: 'iam',
          include: ['test/iam/**/*.test.ts'],
          // after every other test: it reads what they recorded
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
