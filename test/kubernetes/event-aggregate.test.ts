import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { AppError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { EventAggregator, type ScaleEventApi } from '../../src/providers/kubernetes/event-aggregate.js';
import type { FunctionRef } from '../../src/providers/types.js';

/* The Scaled Events of functions on the virtual clock: the API is a recorder. */

const echo: FunctionRef = { name: 'echo', namespace: 'openfaas-fn' };
const other: FunctionRef = { name: 'other', namespace: 'openfaas-fn' };

function recorder(fail?: (call: string) => AppError | undefined) {
  const calls: string[] = [];
  let n = 0;
  const api: ScaleEventApi = {
    async create(ref, change, count) {
      const call = `create ${ref.name} ${change.from}->${change.to} x${count}`;
      calls.push(call);
      const err = fail?.(call);
      if (err !== undefined) throw err;
      n += 1;
      return `${ref.name}.${n}`;
    },
    async bump(ref, name, change, count) {
      const call = `bump ${name} ${change.from}->${change.to} x${count}`;
      calls.push(call);
      const err = fail?.(call);
      if (err !== undefined) throw err;
    },
  };
  return { api, calls };
}

describe('Scaled Events aggregated per function', () => {
  it('the first change creates the Event; the repeats within the interval are one bump of its count at the interval end', async () => {
    const clock = new VirtualClock(0);
    const { api, calls } = recorder();
    const events = new EventAggregator({ api, clock, logger: silentLogger(), intervalMs: 10_000 });
    events.record(echo, { from: 1, to: 2, message: 'step-up' });
    await clock.run(0);
    expect(calls).toEqual(['create echo 1->2 x1']);
    for (let i = 0; i < 50; i++) {
      events.record(echo, { from: 2, to: 1, message: 'down' });
      events.record(echo, { from: 1, to: 2, message: 'up' });
      await clock.run(100);
    }
    // 100 changes in 5 s: nothing more until the interval ends...
    expect(calls).toHaveLength(1);
    await clock.run(5000);
    // ...then one bump naming the latest change and the count so far.
    expect(calls).toEqual(['create echo 1->2 x1', 'bump echo.1 1->2 x101']);
    await clock.run(60_000);
    expect(calls).toHaveLength(2);
    events.record(echo, { from: 2, to: 1, message: 'down' });
    await clock.run(0);
    expect(calls.at(-1)).toBe('bump echo.1 2->1 x102');
    expect(events.stats()).toMatchObject({ written: 3, dropped: 0 });
  });

  it('each function has its own Event and interval', async () => {
    const clock = new VirtualClock(0);
    const { api, calls } = recorder();
    const events = new EventAggregator({ api, clock, logger: silentLogger(), intervalMs: 10_000 });
    events.record(echo, { from: 1, to: 2, message: 'a' });
    events.record(other, { from: 1, to: 3, message: 'b' });
    await clock.run(0);
    expect(calls.sort()).toEqual(['create echo 1->2 x1', 'create other 1->3 x1']);
  });

  it('an Event that expired (404 on the bump) is created again', async () => {
    const clock = new VirtualClock(0);
    const { api, calls } = recorder((call) => (call.startsWith('bump') ? new AppError('FUNCTION_UNKNOWN', 'events not found') : undefined));
    const events = new EventAggregator({ api, clock, logger: silentLogger(), intervalMs: 1000 });
    events.record(echo, { from: 1, to: 2, message: 'a' });
    await clock.run(2000);
    events.record(echo, { from: 2, to: 1, message: 'b' });
    await clock.run(0);
    expect(calls).toEqual(['create echo 1->2 x1', 'bump echo.1 2->1 x2', 'create echo 2->1 x1']);
  });

  it('a change the API budget refuses (its Event queue full) is dropped and counted, never retried in a loop', async () => {
    const clock = new VirtualClock(0);
    const { api, calls } = recorder(() => new AppError('QUEUE_FULL', 'event requests waiting'));
    const dropped: string[] = [];
    const events = new EventAggregator({ api, clock, logger: silentLogger(), intervalMs: 1000, onDropped: (reason) => dropped.push(reason) });
    events.record(echo, { from: 1, to: 2, message: 'a' });
    await clock.run(10_000);
    expect(calls).toHaveLength(1);
    expect(dropped).toEqual(['queue_full']);
    expect(events.stats().dropped).toBe(1);
  });

  it('past maxFunctions the least recently changed function is forgotten, its unwritten changes counted as dropped', async () => {
    const clock = new VirtualClock(0);
    const { api, calls } = recorder();
    const dropped: string[] = [];
    const events = new EventAggregator({ api, clock, logger: silentLogger(), intervalMs: 10_000, maxFunctions: 1, onDropped: (reason) => dropped.push(reason) });
    events.record(echo, { from: 1, to: 2, message: 'a' });
    await clock.run(0);
    events.record(echo, { from: 2, to: 1, message: 'b' }); // waits for the interval
    events.record(other, { from: 1, to: 2, message: 'c' }); // evicts echo
    await clock.run(20_000);
    expect(calls).toEqual(['create echo 1->2 x1', 'create other 1->2 x1']);
    expect(dropped).toEqual(['queue_full']);
  });
});
