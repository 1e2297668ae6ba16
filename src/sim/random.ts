/**
 * A small seeded pseudo-random generator for the simulator: xoshiro128** (Blackman and
 * Vigna), its 128-bit state filled from the seed by splitmix32. Same seed, same sequence, on
 * every platform: only 32-bit integer arithmetic (`Math.imul`, shifts) is used.
 */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private readonly seed: number;

  /** @param seed any integer; only its low 32 bits matter. */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    let s = this.seed;
    const splitmix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A float in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4_294_967_296;
  }

  /** An exponentially distributed value with the given mean (mean 0 gives 0). */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** A uniform value in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** A new generator whose sequence depends on this one's seed and `stream` only (not on its use so far). */
  fork(stream: number): Random {
    return new Random((Math.imul(this.seed ^ 0x5bd1e995, 0x01000193) + Math.imul(stream + 1, 0x9e3779b1)) >>> 0);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
