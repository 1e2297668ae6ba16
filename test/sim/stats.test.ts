import { describe, expect, it } from '@jest/globals';
import { Random } from '../../src/sim/random.js';
import { EXACT_LIMIT, MAX_RETAINED, Samples } from '../../src/sim/stats.js';

/** Exact nearest-rank percentile of `values` (no rounding). */
function exactAt(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** `count` waits like a run's: a third 0 (a free slot), the rest exponential around 200 ms with a long tail. */
function fill(count: number, seed: number): { samples: Samples; kept: number[] | null } {
  const random = new Random(seed);
  const samples = new Samples();
  const kept: number[] | null = count <= 200_000 ? [] : null;
  for (let i = 0; i < count; i++) {
    const v = random.next() < 0.33 ? 0 : random.exponential(200) + (random.next() < 0.01 ? random.exponential(30_000) : 0);
    samples.push(v);
    kept?.push(v);
  }
  return { samples, kept };
}

describe('Samples: percentiles in bounded memory', () => {
  it('holds the same bounded number of numbers after 10^5 and 10^6 values (not one per value)', () => {
    const small = fill(100_000, 1).samples;
    const large = fill(1_000_000, 1).samples;
    expect([small.length, large.length]).toEqual([100_000, 1_000_000]);
    expect(small.retained).toBeLessThanOrEqual(MAX_RETAINED);
    expect(large.retained).toBeLessThanOrEqual(MAX_RETAINED);
    // The bound is a constant (every bucket of 61 octaves), far below one number per value;
    // ten times the values only reach a few more octaves of the tails.
    expect(MAX_RETAINED).toBeLessThan(20_000);
    expect(large.retained - small.retained).toBeLessThanOrEqual(8 * 256);
  });

  it('allocates less than 256 KiB of buffers for 10^6 values (one Float64 per value would be 8 MB)', () => {
    const random = new Random(4);
    const before = process.memoryUsage().arrayBuffers;
    const samples = new Samples();
    for (let i = 0; i < 1_000_000; i++) samples.push(random.exponential(200));
    const grew = process.memoryUsage().arrayBuffers - before;
    expect(samples.length).toBe(1_000_000);
    expect(grew).toBeLessThan(256 * 1024);
  });

  it('is exact (nearest rank, 0.1 ms) up to EXACT_LIMIT values', () => {
    const { samples, kept } = fill(EXACT_LIMIT, 2);
    const values = kept ?? [];
    expect(samples.retained).toBe(EXACT_LIMIT);
    expect(samples.percentiles()).toEqual({
      p50: Math.round(exactAt(values, 50) * 10) / 10,
      p95: Math.round(exactAt(values, 95) * 10) / 10,
      p99: Math.round(exactAt(values, 99) * 10) / 10,
    });
  });

  it('past EXACT_LIMIT stays within 0.2 % (plus the 0.1 ms rounding) of the exact percentiles, and repeated values stay exact', () => {
    const { samples, kept } = fill(150_000, 3);
    const values = kept ?? [];
    const got = samples.percentiles();
    for (const p of [50, 95, 99] as const) {
      const exact = exactAt(values, p);
      const value = got[`p${p}`] ?? Number.NaN;
      expect(Math.abs(value - exact)).toBeLessThanOrEqual(exact / 512 + 0.05 + 1e-9);
    }
    const fixed = new Samples();
    for (let i = 0; i < 3 * EXACT_LIMIT; i++) fixed.push(i % 10 === 0 ? 0 : 23_000);
    expect(fixed.percentiles()).toEqual({ p50: 23_000, p95: 23_000, p99: 23_000 });
  });
});
