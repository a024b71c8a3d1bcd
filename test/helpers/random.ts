/** Seeded randomness for reproducible randomized tests (local/random.ts), and their settings from the environment. */
export { mixSeed, mulberry32, Random } from '../../local/random.js';

/** A non-negative integer from the environment, or the fallback when unset or empty. */
export function intFromEnv(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw.trim());
  if (!Number.isInteger(value) || value < min || value > 0xffffffff) {
    throw new Error(`${name}=${raw}: expected an integer from ${min} to ${0xffffffff}`);
  }
  return value;
}

/** The seed of a randomized test: `FUEL_RANDOM_SEED` (or another variable) if set, else the fixed default. */
export function seedFromEnv(fallback: number, name = 'FUEL_RANDOM_SEED'): number {
  return intFromEnv(name, fallback) >>> 0;
}
