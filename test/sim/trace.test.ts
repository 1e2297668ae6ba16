import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../src/errors.js';
import { arrivals } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'sim-trace-'));
let files = 0;
function file(text: string): string {
  const path = join(dir, `t${files++}.csv`);
  writeFileSync(path, text);
  return path;
}

/** The error a reader throws, with its code and the line it names. */
async function failure(path: string, functions: readonly string[] = ['a', 'b']): Promise<{ code: string; line: unknown }> {
  try {
    await arrivals(path, functions);
  } catch (err) {
    if (err instanceof AppError) return { code: err.code, line: err.details?.['line'] };
    throw err;
  }
  throw new Error('the trace was accepted');
}

describe('per-request CSV (time,function[,duration])', () => {
  it('reads each row as one call, seconds to ms, with its duration when given', async () => {
    const { list, endMs } = await arrivals(file('time,function,duration\n0,a,\n0.5,b,120\n1.25,a,2s\n'), ['a', 'b']);
    expect(list).toEqual([
      { timeMs: 0, fn: 0, serviceMs: null },
      { timeMs: 500, fn: 1, serviceMs: 120 },
      { timeMs: 1250, fn: 0, serviceMs: 2000 },
    ]);
    expect(endMs).toBe(1250);
  });

  it('reads ISO-8601 times relative to the first row', async () => {
    const { list } = await arrivals(file('time,function\n2019-07-15T10:00:00Z,a\n2019-07-15T10:00:02.5Z,b\n'), ['a', 'b']);
    expect(list.map((a) => a.timeMs)).toEqual([0, 2500]);
  });

  it('stops at the duration limit', async () => {
    const { list } = await arrivals(file('time,function\n0,a\n1,a\n2,a\n'), ['a'], 1, 1500);
    expect(list).toHaveLength(2);
  });

  it.each([
    ['a time that goes back', 'time,function\n5,a\n4,a\n', 3],
    ['a function not in the stack', 'time,function\n0,a\n1,zzz\n', 3],
    ['a time that is not a number', 'time,function\n0,a\n\nsoon,a\n', 4],
    ['a bad duration', 'time,function,duration\n0,a,fast\n', 2],
    ['too many fields', 'time,function,duration\n0,a,1,2\n', 2],
    ['an unknown header', 'when,what\n0,a\n', 1],
  ])('refuses %s, naming the line', async (_what, text, line) => {
    expect(await failure(file(text))).toEqual({ code: 'TRACE_INVALID', line });
  });

  it('refuses a file that does not exist', async () => {
    expect((await failure(join(dir, 'missing.csv'))).code).toBe('TRACE_INVALID');
  });
});

describe('per-interval CSV (start,function,count)', () => {
  it('spreads each count over its interval (the gap to the next start), in time order, seeded', async () => {
    const path = file('start,function,count\n0,a,3\n0,b,2\n60,a,4\n');
    const { list, endMs } = await arrivals(path, ['a', 'b'], 9);
    expect(list.filter((x) => x.timeMs < 60_000 && x.fn === 0)).toHaveLength(3);
    expect(list.filter((x) => x.timeMs < 60_000 && x.fn === 1)).toHaveLength(2);
    expect(list.filter((x) => x.timeMs >= 60_000 && x.timeMs < 120_000 && x.fn === 0)).toHaveLength(4);
    expect(list.map((x) => x.timeMs)).toEqual([...list.map((x) => x.timeMs)].sort((x, y) => x - y));
    expect(endMs).toBe(120_000);
    expect((await arrivals(path, ['a', 'b'], 9)).list).toEqual(list);
    expect((await arrivals(path, ['a', 'b'], 10)).list).not.toEqual(list);
  });

  it('refuses a count that is not a whole number, naming the line', async () => {
    expect(await failure(file('start,function,count\n0,a,1\n60,a,-2\n'))).toEqual({ code: 'TRACE_INVALID', line: 3 });
  });
});

describe('Azure Functions 2019 invocations per minute', () => {
  const header = `HashOwner,HashApp,HashFunction,Trigger,${Array.from({ length: 1440 }, (_, i) => i + 1).join(',')}`;
  const row = (fn: string, counts: Record<number, number>) => `o,app,${fn},http,${Array.from({ length: 1440 }, (_, i) => counts[i + 1] ?? 0).join(',')}`;

  it('maps a row to the function its HashFunction names, the others in order onto the rest', async () => {
    const path = file([header, row('f0e1d2', { 1: 2 }), row('b', { 2: 3 }), row('c9c9', { 1: 1 }), row('dd', { 3: 7 })].join('\n') + '\n');
    const trace = await arrivals(path, ['a', 'b']);
    // `b` is named by its row; the first unnamed row (f0e1d2) goes to `a`; the rest are unused.
    expect(trace.list.filter((x) => x.fn === 0).map((x) => Math.floor(x.timeMs / 60_000))).toEqual([0, 0]);
    expect(trace.list.filter((x) => x.fn === 1).map((x) => Math.floor(x.timeMs / 60_000))).toEqual([1, 1, 1]);
    expect(trace.endMs).toBe(1440 * 60_000);
  });

  it('refuses a row with a missing minute, naming the line', async () => {
    expect(await failure(file(`${header}\n${row('a', {})}\no,app,b,http,1,2\n`))).toEqual({ code: 'TRACE_INVALID', line: 3 });
  });
});

describe('builtin traces', () => {
  it('poisson:40 sends about 40 calls/s to every function, the same for the same seed', async () => {
    const { list, endMs } = await arrivals('builtin:poisson:40', ['a', 'b'], 3, 60_000);
    for (const fn of [0, 1]) {
      const n = list.filter((x) => x.fn === fn).length;
      // 2400 expected; a Poisson count has standard deviation sqrt(2400) ≈ 49.
      expect(Math.abs(n - 2400)).toBeLessThan(250);
    }
    expect(endMs).toBe(60_000);
    expect((await arrivals('builtin:poisson:40', ['a', 'b'], 3, 60_000)).list).toEqual(list);
    expect((await arrivals('builtin:poisson:40', ['a', 'b'], 4, 60_000)).list).not.toEqual(list);
  });

  it('step is 1 call/s for a minute, then 20, then 1 again after six minutes', async () => {
    const { list } = await arrivals('builtin:step', ['a'], 1);
    const rate = (from: number, to: number) => list.filter((x) => x.timeMs >= from * 1000 && x.timeMs < to * 1000).length / (to - from);
    expect(rate(0, 60)).toBeLessThan(2);
    expect(rate(60, 360)).toBeGreaterThan(18);
    expect(rate(60, 360)).toBeLessThan(22);
    expect(rate(360, 600)).toBeLessThan(2);
  });

  it('spike, diurnal and sparse are seeded, in time order, within their length', async () => {
    for (const [spec, length] of [['builtin:spike', 15 * 60_000], ['builtin:diurnal:1', 24 * 3_600_000], ['builtin:sparse', 2 * 3_600_000]] as const) {
      const { list, endMs } = await arrivals(spec, ['a', 'b'], 2);
      expect(endMs).toBe(length);
      expect(list.length).toBeGreaterThan(0);
      expect(list.every((x, i) => x.timeMs < length && (i === 0 || x.timeMs >= (list[i - 1]?.timeMs ?? 0)))).toBe(true);
      expect((await arrivals(spec, ['a', 'b'], 2)).list).toEqual(list);
    }
  });

  it('diurnal is quiet at midnight and busiest at noon', async () => {
    const { list } = await arrivals('builtin:diurnal:2', ['a'], 1);
    const hour = (h: number) => list.filter((x) => Math.floor(x.timeMs / 3_600_000) === h).length;
    expect(hour(12)).toBeGreaterThan(hour(0) * 4);
  });

  it.each(['builtin:nope', 'builtin:poisson', 'builtin:poisson:-1', 'builtin:step:1:2'])('refuses %s', async (spec) => {
    await expect(arrivals(spec, ['a'])).rejects.toMatchObject({ code: 'TRACE_INVALID' });
  });
});
