import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // browser tests need Debian's chromium: `npm run test:browser` (CI installs it)
    exclude: [...configDefaults.exclude, 'test/browser/**'],
    setupFiles: ['local/polyfills.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
