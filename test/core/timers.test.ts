import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { TimerHeap } from '../../src/core/timers.js';

describe('TimerHeap', () => {
  it('runs entries in due order, then by when they were set, with one clock timer', async () => {
    const clock = new VirtualClock(0);
    const heap = new TimerHeap(clock);
    const ran: string[] = [];
    for (const [key, at] of [['c', 30], ['a', 10], ['b', 20], ['a2', 10], ['d', 5]] as const) heap.set(key, at, () => ran.push(key));
    expect(clock.pending()).toBe(1);
    expect(heap.size).toBe(5);
    await clock.run(100);
    expect(ran).toEqual(['d', 'a', 'a2', 'b', 'c']);
    expect(heap.size).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('setting a key again moves it; cancel removes it; setEarliest keeps the earlier time', async () => {
    const clock = new VirtualClock(0);
    const heap = new TimerHeap(clock);
    const ran: Array<[string, number]> = [];
    const log = (key: string) => () => ran.push([key, clock.now()]);
    heap.set('x', 50, log('x'));
    heap.set('y', 60, log('y'));
    heap.set('x', 70, log('x'));
    heap.set('z', 40, log('z'));
    heap.cancel('z');
    heap.setEarliest('y', 80, log('y-late'));
    heap.setEarliest('y', 55, log('y-early'));
    expect(heap.dueAt('y')).toBe(55);
    await clock.run(100);
    expect(ran).toEqual([['y-early', 55], ['x', 70]]);
  });

  it('a throwing callback is reported and the others still run; work set for now runs on the next turn', async () => {
    const clock = new VirtualClock(0);
    const errors: string[] = [];
    const heap = new TimerHeap(clock, (err, key) => errors.push(`${key}: ${(err as Error).message}`));
    const ran: string[] = [];
    heap.set('bad', 10, () => {
      throw new Error('boom');
    });
    heap.set('good', 10, () => {
      ran.push('good');
      heap.set('again', clock.now(), () => ran.push('again'));
    });
    await clock.run(10);
    expect(errors).toEqual(['bad: boom']);
    expect(ran).toEqual(['good', 'again']);
  });

  it('keeps order over many random sets and cancels (heap invariant)', async () => {
    const clock = new VirtualClock(0);
    const heap = new TimerHeap(clock);
    const expected = new Map<string, number>();
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const ran: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const key = `k${Math.floor(rnd() * 500)}`;
      if (rnd() < 0.2) {
        heap.cancel(key);
        expected.delete(key);
        continue;
      }
      const at = 1 + Math.floor(rnd() * 10_000);
      heap.set(key, at, () => ran.push(at));
      expected.set(key, at);
    }
    await clock.run(20_000);
    expect(ran).toEqual([...expected.values()].sort((a, b) => a - b));
  });

  it('close drops everything and ignores later sets', async () => {
    const clock = new VirtualClock(0);
    const heap = new TimerHeap(clock);
    let ran = 0;
    heap.set('a', 10, () => (ran += 1));
    heap.close();
    heap.set('b', 10, () => (ran += 1));
    await clock.run(100);
    expect(ran).toBe(0);
    expect(clock.pending()).toBe(0);
  });
});
