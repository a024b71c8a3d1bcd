/**
 * Randomized stop and restart on an embedded runtime as mean as AWS (FUEL_CHAOS: events dropped, duplicated,
 * late; results shown late; throttling; asynchronous invocations failing; functions killed at their
 * timeout), with the same invariants (test/helpers/stop-restart-random.ts). Short here; `npm run soak`
 * runs it long. FUEL_CHAOS=<seed> and FUEL_RANDOM_SEED=<seed> replay a run.
 */
import { randomStopRestartSuite } from '../helpers/stop-restart-random.js';

randomStopRestartSuite({ seed: 20_261_201, cycles: 4, chaos: 4242 });
