/**
 * Randomized stop and restart on the embedded runtime as it is (test/helpers/stop-restart-random.ts says
 * what it checks). FUEL_RANDOM_SEED, FUEL_RANDOM_CYCLES and FUEL_RANDOM_CLUSTERS replay or lengthen a run.
 */
import { randomStopRestartSuite } from '../helpers/stop-restart-random.js';

randomStopRestartSuite({ seed: 20_240_611, cycles: 30, chaos: null });
