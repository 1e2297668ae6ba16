import { describe, expect, it } from '@jest/globals';
import { meanOf, parseDistribution, sample } from '../../src/sim/distribution.js';
import { Random } from '../../src/sim/random.js';

describe('Random', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const seqA = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(seqA);
  });

  it('forks streams that depend on the seed and the stream number, not on draws made before', () => {
    const used = new Random(7);
    used.next();
    expect(used.fork(3).nextUint32()).toBe(new Random(7).fork(3).nextUint32());
    expect(new Random(7).fork(3).nextUint32()).not.toBe(new Random(7).fork(4).nextUint32());
  });

  it('draws floats in [0, 1) and exponentials with the asked mean', () => {
    const random = new Random(1);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) {
      const u = random.next();
      expect(u >= 0 && u < 1).toBe(true);
      sum += random.exponential(100);
    }
    expect(sum / 100_000).toBeGreaterThan(98);
    expect(sum / 100_000).toBeLessThan(102);
  });
});

describe('parseDistribution', () => {
  it.each([
    ['300ms', { kind: 'fixed', ms: 300 }],
    ['2s', { kind: 'fixed', ms: 2000 }],
    ['exp:100ms', { kind: 'exp', meanMs: 100 }],
    ['uniform:50ms-150ms', { kind: 'uniform', lowMs: 50, highMs: 150 }],
  ])('reads %s', (text, expected) => {
    expect(parseDistribution(text)).toEqual(expected);
  });

  it.each(['fast', 'exp:', 'uniform:150ms-50ms', 'uniform:1s', 'uniform:1s-2s-3s', 'normal:1s'])('refuses %s', (text) => {
    expect(parseDistribution(text)).toBeNull();
  });

  it('samples a uniform within its range and a fixed value as is', () => {
    const random = new Random(3);
    const uniform = { kind: 'uniform', lowMs: 50, highMs: 150 } as const;
    for (let i = 0; i < 1000; i++) {
      const v = sample(uniform, random);
      expect(v >= 50 && v < 150).toBe(true);
    }
    expect(sample({ kind: 'fixed', ms: 7 }, random)).toBe(7);
    expect(meanOf(uniform)).toBe(100);
  });
});
