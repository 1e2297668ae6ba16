import { Random } from '../../src/sim/random.js';

/**
 * The seed of a seeded suite: `RELIABILITY_SEED` from the environment when set (to replay a
 * failure), else the suite's fixed one, so every run checks the same cases.
 */
export function suiteSeed(fallback: number): number {
  const text = process.env['RELIABILITY_SEED'];
  if (text === undefined || text === '') return fallback;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`RELIABILITY_SEED=${text} is not an integer`);
  return seed;
}

/** Picks and chances drawn from the simulator's seeded generator. */
export class Draw {
  readonly rng: Random;

  constructor(seed: number) {
    this.rng = new Random(seed);
  }

  next(): number {
    return this.rng.next();
  }

  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.rng.next() * (high - low + 1));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.rng.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  chance(p: number): boolean {
    return this.rng.next() < p;
  }
}

/**
 * Runs `body` and, when it fails, rethrows with the seed in front of the message, so the
 * failing run can be replayed with `RELIABILITY_SEED=<seed>`.
 */
export async function withSeed<T>(seed: number, body: () => T | Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    const prefix = `[seed ${seed}; replay with RELIABILITY_SEED=${seed}] `;
    if (err instanceof Error) {
      err.message = prefix + err.message;
      throw err;
    }
    throw new Error(prefix + String(err), { cause: err });
  }
}
