import { describe, expect, it } from '@jest/globals';
import { csvField, EventLog, eventsToCsv, type EngineEvent } from '../../src/engine/events.js';

function event(time: number, fn = 'fn', extra: Partial<EngineEvent> = {}): EngineEvent {
  return { time, function: fn, source: 'alert', action: 'scale_up', from: 1, to: 2, reason: 'step-up', inputs: {}, ...extra };
}

describe('EventLog', () => {
  it('keeps only the newest capacity events, oldest first', () => {
    const log = new EventLog(3);
    for (let t = 1; t <= 5; t++) log.record(event(t));
    expect(log.length).toBe(3);
    expect(log.query().map((e) => e.time)).toEqual([3, 4, 5]);
  });

  it('filters by function and since, and limit keeps the newest', () => {
    const log = new EventLog(10);
    [event(1, 'a'), event(2, 'b'), event(3, 'a'), event(4, 'a'), event(5, 'b')].forEach((e) => log.record(e));
    expect(log.query({ function: 'a' }).map((e) => e.time)).toEqual([1, 3, 4]);
    expect(log.query({ since: 3 }).map((e) => e.time)).toEqual([3, 4, 5]);
    expect(log.query({ function: 'a', limit: 2 }).map((e) => e.time)).toEqual([3, 4]);
    expect(log.query({ limit: 0 })).toEqual([]);
  });

  it('calls every sink; a throwing sink is reported and the others still run', () => {
    const errors: unknown[] = [];
    const log = new EventLog(2, (err) => errors.push(err));
    const seen: number[] = [];
    log.addSink(() => {
      throw new Error('sink down');
    });
    const remove = log.addSink((e) => seen.push(e.time));
    log.record(event(1));
    remove();
    log.record(event(2));
    expect(seen).toEqual([1]);
    expect(errors).toHaveLength(2);
  });

  it('a capacity below 1 is refused', () => {
    expect(() => new EventLog(0)).toThrow(RangeError);
  });
});

describe('events as CSV', () => {
  it('has the header time,action,target,status,from,to with ISO UTC times, the counts before and after a decision (none on a lifecycle row), and CRLF line ends', () => {
    const csv = eventsToCsv([event(0), event(1_500, 'fn', { action: 'drain_start', replica: 'fn-2', reason: 'scale-down', from: 3, to: 2 })]);
    expect(csv).toBe('time,action,target,status,from,to\r\n1970-01-01T00:00:00.000Z,scale_up,fn,step-up,1,2\r\n1970-01-01T00:00:01.500Z,drain_start,fn/fn-2,scale-down,,\r\n');
  });

  const rows: Array<[string, string]> = [
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
  ];
  it.each(rows)('field %j is written as %j', (value, written) => {
    expect(csvField(value)).toBe(written);
  });
});
