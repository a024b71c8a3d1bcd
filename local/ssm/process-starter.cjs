// The small process that starts the fleet's step processes (spawner.ts). Starting a process blocks the
// thread that starts it until the child has exec'd, and copies the starting process's page tables: here
// that is this process's few megabytes, not the service's hundreds, and the service's thread never waits.
// Plain JavaScript: it is started without the TypeScript loader its host may or may not have. It ends when
// the service does (its channel closes).
//
// In:  { op: 'spawn', id, file, args, cwd, env, detached }
// Out: { id, type: 'spawned', pid } | { id, type: 'stdout' | 'stderr', data } | { id, type: 'error', message }
//      | { id, type: 'close', code, signal }
const { spawn } = require('node:child_process');

process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message.op !== 'spawn') return;
  const { id } = message;
  const post = (reply) => {
    if (process.connected) process.send({ id, ...reply });
  };
  let child;
  try {
    child = spawn(message.file, message.args, {
      cwd: message.cwd,
      env: message.env,
      detached: message.detached,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    post({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    post({ type: 'close', code: -1, signal: null });
    return;
  }
  child.once('spawn', () => post({ type: 'spawned', pid: child.pid }));
  child.stdout.setEncoding('utf8').on('data', (data) => post({ type: 'stdout', data }));
  child.stderr.setEncoding('utf8').on('data', (data) => post({ type: 'stderr', data }));
  child.once('error', (error) => post({ type: 'error', message: error.message }));
  child.once('close', (code, signal) => post({ type: 'close', code, signal }));
});
