/**
 * The web UI's build: Vite bundles web/src (Preact, TSX through esbuild) into web/dist, which the API
 * function serves (lambdas/api/web-files.ts) locally and on AWS. Relative asset paths: the page works
 * under any base path.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // one script and one style sheet: the page's policy allows only its own origin's files
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 400,
  },
});
