import { describe, expect, it } from '@jest/globals';
import { systemClock, VirtualClock } from '../../src/core/clock.js';

describe('VirtualClock', () => {
  it('holds no more timers than are live (plus a bounded slack) when each call sets and clears a long timeout, and keeps their order', () => {
    const clock = new VirtualClock();
    const ran: number[] = [];
    let most = 0;
    // Like the simulator: per call a 5-minute request timeout, cleared when the call ends 1 ms later.
    for (let i = 0; i < 100_000; i++) {
      const timeout = clock.setTimeout(() => ran.push(-1), 300_000);
      if (i % 10_000 === 0) clock.setTimeout(() => ran.push(i), 300_000 + i);
      clock.advance(1);
      clock.clearTimeout(timeout);
      most = Math.max(most, clock.heldTimers);
    }
    expect(clock.pending()).toBe(10);
    expect(most).toBeLessThanOrEqual(2 * 1024 + 2 * 10 + 2);
    clock.advance(1_000_000);
    expect(ran).toEqual(Array.from({ length: 10 }, (_, k) => k * 10_000));
  });

  it('starts at the given time and moves only when advanced', () => {
    const clock = new VirtualClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
  });

  it('runs due timers in due order, then insertion order for equal due times', () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    clock.setTimeout(() => order.push('c@30'), 30);
    clock.setTimeout(() => order.push('a@10'), 10);
    clock.setTimeout(() => order.push('b@10'), 10);
    clock.setTimeout(() => order.push('d@40'), 40);
    clock.advance(30);
    expect(order).toEqual(['a@10', 'b@10', 'c@30']);
    expect(clock.pending()).toBe(1);
  });

  it('a timer sees the time it was due at, not the end of the advance', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 7);
    clock.advance(100);
    expect(seen).toEqual([7]);
    expect(clock.now()).toBe(100);
  });

  it('timers scheduled by a timer run within the same advance when due', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 5);
    }, 5);
    clock.advance(10);
    expect(seen).toEqual([5, 10]);
  });

  it('a cleared timer never runs and is not pending', () => {
    const clock = new VirtualClock();
    let ran = false;
    const handle = clock.setTimeout(() => {
      ran = true;
    }, 5);
    clock.clearTimeout(handle);
    clock.clearTimeout(undefined);
    expect(clock.pending()).toBe(0);
    clock.advance(10);
    expect(ran).toBe(false);
  });

  it('run lets promise callbacks settle between timers', async () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    const wait = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    const task = (async () => {
      await wait(10);
      seen.push(`first@${clock.now()}`);
      await wait(10);
      seen.push(`second@${clock.now()}`);
    })();
    await clock.run(25);
    await task;
    expect(seen).toEqual(['first@10', 'second@20']);
  });

  it('keeps heap order over many timers', () => {
    const clock = new VirtualClock();
    const order: number[] = [];
    const delays = [50, 3, 99, 3, 17, 0, 64, 8, 8, 42, 1, 77];
    delays.forEach((d) => clock.setTimeout(() => order.push(d), d));
    clock.advance(100);
    expect(order).toEqual([...delays].sort((a, b) => a - b));
  });
});

describe('VirtualClock.nextDue', () => {
  it('names the earliest pending timer, skips cleared ones, and is null when none is left', () => {
    const clock = new VirtualClock(100);
    expect(clock.nextDue()).toBeNull();
    const early = clock.setTimeout(() => undefined, 5);
    clock.setTimeout(() => undefined, 20);
    expect(clock.nextDue()).toBe(105);
    clock.clearTimeout(early);
    expect(clock.nextDue()).toBe(120);
    clock.advance(20);
    expect(clock.nextDue()).toBeNull();
  });
});

describe('systemClock', () => {
  it('reads Date.now and its timers fire and can be unref-ed or cleared', async () => {
    const before = Date.now();
    expect(systemClock.now()).toBeGreaterThanOrEqual(before);
    const cleared = systemClock.setTimeout(() => {
      throw new Error('cleared timer ran');
    }, 1);
    systemClock.clearTimeout(cleared);
    await new Promise<void>((resolve) => {
      const handle = systemClock.setTimeout(resolve, 1);
      handle.unref();
    });
    expect(systemClock.now()).toBeGreaterThanOrEqual(before);
  });
});
