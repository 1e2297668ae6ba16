import { describe, expect, it } from '@jest/globals';
import { FairReady } from '../../src/async/fair-ready.js';

describe('FairReady', () => {
  it('takes in turn across functions, oldest first within one, and never more than a function\'s limit in flight', () => {
    const r = new FairReady((fn) => (fn === 'a' ? 2 : 1));
    for (let i = 0; i < 5; i++) r.push('a', `a${i}`);
    r.push('b', 'b0');
    r.push('b', 'b1');
    r.push('c', 'c0');
    const order: string[] = [];
    for (let next = r.take(); next !== undefined; next = r.take()) order.push(next.id);
    // a twice (its limit), b and c once each; then nothing until something settles.
    expect(order).toEqual(['a0', 'b0', 'c0', 'a1']);
    expect(r.ready).toBe(4);
    r.settled('b');
    r.settled('a');
    expect([r.take()?.id, r.take()?.id, r.take()]).toEqual(['b1', 'a2', undefined]);
  });

  it('a limit raised later is used from the function\'s next settle; a function with nothing left is forgotten', () => {
    let limit = 1;
    const r = new FairReady(() => limit);
    for (let i = 0; i < 3; i++) r.push('f', `f${i}`);
    expect(r.take()?.id).toBe('f0');
    expect(r.take()).toBeUndefined();
    limit = 3;
    r.settled('f');
    expect([r.take()?.id, r.take()?.id, r.take()]).toEqual(['f1', 'f2', undefined]);
    r.settled('f');
    r.settled('f');
    expect(r.ready).toBe(0);
    r.push('f', 'f3');
    expect(r.take()?.id).toBe('f3');
  });

  it('10,000 functions of 3 calls each: every call taken once, each function once per round', () => {
    const r = new FairReady(() => 1);
    for (let k = 0; k < 3; k++) for (let f = 0; f < 10_000; f++) r.push(`fn${f}`, `${f}-${k}`);
    const seen = new Set<string>();
    let outOfOrder = 0;
    for (let round = 0; round < 3; round++) {
      const fns = new Set<string>();
      for (let next = r.take(); next !== undefined; next = r.take()) {
        fns.add(next.fn);
        seen.add(next.id);
        if (next.id !== `${next.fn.slice(2)}-${round}`) outOfOrder += 1;
      }
      expect(fns.size).toBe(10_000);
      for (const fn of fns) r.settled(fn);
    }
    expect(outOfOrder).toBe(0);
    expect(seen.size).toBe(30_000);
    expect(r.ready).toBe(0);
  });
});
