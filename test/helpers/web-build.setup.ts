/**
 * Global setup of the vitest run: the web UI's build (`web/dist`) exists before any suite reads it. The API
 * serves it (page-headers), the CDK app packages it (infra), so a suite run alone on a fresh clone
 * (`npx vitest run test/unit/infra.test.ts`) builds it first, as `npm test` does. A build already there is
 * used as it is: `npm run build:web` refreshes it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

export function setup(): void {
  if (existsSync(join(root, 'web', 'dist', 'index.html'))) return;
  execFileSync('npm', ['run', '--silent', 'build:web'], { cwd: root, stdio: 'inherit' });
}
