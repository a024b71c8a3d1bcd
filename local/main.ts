/** `npm start`: the whole service on this machine, with a demo environment unless FUEL_DEMO=0. */
import './polyfills.js';
import { type Chaos, chaosFromEnv } from './chaos.js';
import { startRuntime } from './runtime.js';

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name} must be an integer between ${min} and ${max} (got '${raw}')`);
    process.exit(2);
  }
  return value;
}

function secondsFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 3600) {
    console.error(`${name} must be a number of seconds between 0 and 3600 (got '${raw}')`);
    process.exit(2);
  }
  return value;
}

const port = intFromEnv('PORT', 8000, 0, 65535);
const nodeCount = intFromEnv('FUEL_LOCAL_NODES', 6, 1, 1000);
const demo = process.env.FUEL_DEMO !== '0';
const verbose = process.env.FUEL_LOG === 'debug';
let chaos: Chaos | null;
try {
  chaos = chaosFromEnv();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}

/** Why the service could not start, in one line for the operator. */
function startFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return `Port ${port} on 127.0.0.1 is already in use (another npm start?): stop what listens there, or start on another port, e.g. PORT=${port === 8000 ? 8001 : 8000} npm start`;
  if (code === 'EACCES')
    return `Port ${port} may not be used by this user: choose one above 1023 (PORT=8000)`;
  return `The service could not start: ${err instanceof Error ? err.message : String(err)}`;
}

const runtime = await startRuntime({
  port,
  nodeCount,
  demo,
  authToken: process.env.FUEL_AUTH_TOKEN || undefined,
  adminUser: process.env.FUEL_ADMIN_USER || undefined,
  adminPassword: process.env.FUEL_ADMIN_PASSWORD || undefined,
  dataDir: process.env.FUEL_DATA_DIR || undefined,
  unisolatedNodes: process.env.FUEL_UNISOLATED_NODES === '1',
  standInSeconds: secondsFromEnv('FUEL_STANDIN_SECONDS', 1),
  chaos: chaos ?? undefined,
  log: (line) => {
    if (verbose || line.startsWith('demo:') || line.startsWith('chaos') || line.includes('failed'))
      console.log(line);
  },
}).catch((err: unknown) => {
  console.error(startFailure(err));
  if (verbose) console.error(err);
  process.exit(1);
});

console.log(`Fuel deployment service (embedded) listening on ${runtime.url}`);
const admin = `${process.env.FUEL_ADMIN_USER || 'admin'} / ${process.env.FUEL_ADMIN_PASSWORD ? '(FUEL_ADMIN_PASSWORD)' : 'admin'}`;
console.log(
  `  web UI: ${runtime.url}/   (open it in a browser; log in as ${admin}, or with the token below)`,
);
console.log(`  API:    ${runtime.url}/api/v1/   (send X-Auth-Token: ${runtime.token})`);
console.log(`  nodes:  ${nodeCount} simulated nodes and a master`);
console.log(`  isolation: ${runtime.fleet.isolation().description}`);
if (chaos)
  console.log(`  chaos:  FUEL_CHAOS=${chaos.seed}: the local endpoints behave as AWS may (docs/chaos.md)`);
if (demo) console.log(`  demo:   curl -s -H 'X-Auth-Token: ${runtime.token}' ${runtime.url}/api/v1/tasks/`);
console.log('Press Ctrl-C to stop.');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping...');
    runtime
      .stop()
      .then(() => process.exit(0))
      .catch((err) => {
        console.error(err);
        process.exit(1);
      });
  });
}
