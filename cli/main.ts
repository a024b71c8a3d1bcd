/**
 * `fuel-sls`: the command line of the deployment service, in the spirit of python-fuelclient's `fuel2`.
 * Talks to the HTTP API only; the URL and token come from flags or FUEL_API_URL / FUEL_AUTH_TOKEN.
 * The commands are in the table of commands.ts; `fuel-sls --help` lists them.
 */
import type { Io } from './command.js';
import { run } from './run.js';

// `fuel-sls ... | head`: a closed pipe ends the output quietly
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const io: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  write: (raw) => process.stdout.write(raw),
  isTTY: process.stdout.isTTY === true,
};

process.exitCode = await run(process.argv.slice(2), io, process.env);
