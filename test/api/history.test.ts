import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { bucketQuantile, FunctionHistory } from '../../src/api/history.js';
import { HistoryRecorder } from '../../src/api/history-recorder.js';
import { silentLogger } from '../../src/log/logger.js';
import { alertsView, operatorView, NO_ALERTS } from '../../src/api/status-live.js';
import { createMetrics } from '../../src/metrics/registry.js';

const sample = (desired: number, queued = 0) => ({ desired, ready: desired, queued });
const totals = (calls: number, buckets: number[] = []) => ({ calls, errors5xx: 0, timeouts504: 0, buckets });

describe('FunctionHistory', () => {
  it('keeps a point only when a count or the rate changed, at most `points`, with the call rate over each step', () => {
    const h = new FunctionHistory({ points: 3 });
    expect(h.record('echo', 0, sample(1), totals(0))).toBe(true);
    // Idle: nothing changed, no point.
    expect(h.record('echo', 5000, sample(1), totals(0))).toBe(false);
    expect(h.record('echo', 10_000, sample(2, 4), totals(50))).toBe(true);
    h.record('echo', 15_000, sample(3), totals(60));
    h.record('echo', 20_000, sample(3), totals(60));
    expect(h.pointsOf('echo')).toEqual([
      [10_000, 2, 2, 4, 10],
      [15_000, 3, 3, 0, 2],
      [20_000, 3, 3, 0, 0],
    ]);
    expect(h.latest('echo')).toEqual([20_000, 3, 3, 0, 0]);
    expect(h.pointsOf('unknown')).toEqual([]);
  });

  it('drops the points past its window but the newest older one (the value at the window\'s start)', () => {
    const h = new FunctionHistory({ windowMs: 60_000 });
    h.record('f', 0, sample(1), undefined);
    h.record('f', 10_000, sample(2), undefined);
    h.record('f', 100_000, sample(3), undefined);
    expect(h.pointsOf('f')).toEqual([
      [10_000, 2, 2, 0, 0],
      [100_000, 3, 3, 0, 0],
    ]);
  });

  it('records at most `maxFunctions` functions and forgets the ones gone', () => {
    const h = new FunctionHistory({ maxFunctions: 2 });
    for (const name of ['a', 'b', 'c']) h.record(name, 0, sample(1), undefined);
    expect([h.size, h.pointsOf('c'), h.accepts('c'), h.accepts('a')]).toEqual([2, [], false, true]);
    h.keepOnly(new Set(['b']));
    expect([h.size, h.pointsOf('a'), h.pointsOf('b').length]).toEqual([1, [], 1]);
    h.record('c', 5000, sample(1), undefined);
    h.forget('b');
    expect([h.pointsOf('c').length, h.pointsOf('b')]).toEqual([1, []]);
  });

  it('answers the p95 of the calls finished within its latency window only', () => {
    const bounds = [0.1, 0.5, 1, Number.POSITIVE_INFINITY];
    const h = new FunctionHistory({ latencyWindowMs: 10_000 });
    // 100 slow calls, then 100 fast ones more than a window later: the window sees only the fast ones.
    h.record('f', 0, sample(1), totals(0, [0, 0, 0, 0]));
    h.record('f', 5000, sample(1), totals(100, [0, 0, 100, 100]));
    expect(h.p95Ms('f', bounds, 5000)).toBe(975);
    h.record('f', 30_000, sample(1), totals(200, [100, 100, 100, 200]));
    expect(h.p95Ms('f', bounds, 30_000)).toBe(95);
    // No call for longer than the window: none.
    h.record('f', 45_000, sample(1), totals(200, [100, 100, 100, 200]));
    expect(h.p95Ms('f', bounds, 45_000)).toBeNull();
  });
});

describe('bucketQuantile', () => {
  it('interpolates inside a bucket as histogram_quantile does, and answers the top finite bound for the +Inf bucket', () => {
    const bounds = [1, 2, Number.POSITIVE_INFINITY];
    expect(bucketQuantile(bounds, [0, 0, 0], [10, 20, 20], 0.5)).toBe(1);
    expect(bucketQuantile(bounds, [0, 0, 0], [0, 10, 10], 0.5)).toBe(1.5);
    expect(bucketQuantile(bounds, [0, 0, 0], [0, 0, 10], 0.95)).toBe(2);
    expect(bucketQuantile(bounds, [5, 5, 5], [5, 5, 5], 0.95)).toBeNull();
  });
});

describe('operatorView', () => {
  const policy = { type: 'queue' as const, settings: { min_replicas: 0, max_replicas: 2 } };
  const base = { desired: 2, ready: 2, queueLength: 0, policy, totals: undefined, latencyP95Ms: null, alerts: NO_ALERTS };

  it('is saturated only at max with calls still queued', () => {
    expect(operatorView({ ...base, queueLength: 3 }).saturated).toBe(true);
    expect(operatorView(base).saturated).toBe(false);
    expect(operatorView({ ...base, desired: 1, queueLength: 3 }).saturated).toBe(false);
  });

  it('names the kind and bounds, a function at zero as scaled to zero, and none for invalid labels', () => {
    expect(operatorView(base)).toMatchObject({ kind: 'queue', minReplicas: 0, maxReplicas: 2, scaledToZero: false, errors: { server: 0, timeouts: 0 } });
    expect(operatorView({ ...base, desired: 0, ready: 0 }).scaledToZero).toBe(true);
    expect(operatorView({ ...base, policy: { type: null, problems: ['x'] }, queueLength: 9 })).toMatchObject({ kind: null, maxReplicas: null, saturated: false });
  });
});

describe('alertsView', () => {
  it('counts the firing alerts and names the holds seen within the stale window; the pending scale-down as ISO time', () => {
    const state = {
      firing: { a: 1000, b: 9000 },
      scaleDownAt: 20_000,
      steps: {},
      holds: { h1: { name: 'Backlog', seen: 9500 }, h2: { name: 'Old', seen: 100 } },
    };
    expect(alertsView(state, 10_000, 5000)).toEqual({ firing: 1, holds: ['Backlog'], scaleDownAt: new Date(20_000).toISOString() });
  });
});

describe('HistoryRecorder', () => {
  const ref = (name: string) => ({ name, namespace: 'openfaas-fn' });
  const info = (name: string, desired: number) => ({ ref: ref(name), desired, ready: desired, labels: {}, annotations: {} });

  it('lists the functions once, then follows the notifications: no provider read per step, no queue read past the cap', async () => {
    let lists = 0;
    let listener: ((r: { name: string; namespace: string }, state: { desired: number; ready: number }) => void) | undefined;
    const statsRead: string[] = [];
    const metrics = createMetrics(new Registry());
    for (let i = 0; i < 10; i++) metrics.callTotals.entry('a').add(200, 0.02);
    const recorder = new HistoryRecorder({
      provider: {
        listFunctions: async () => {
          lists += 1;
          return [info('a', 1), info('b', 2), info('c', 3)] as never;
        },
        subscribe: (l) => {
          listener = l as never;
          return () => undefined;
        },
      },
      dispatcher: {
        stats: (r) => {
          statsRead.push(r.name);
          return { queued: { no_replica: 1, busy: 2 }, oldestWaitMs: 0, replicas: [] };
        },
      },
      metrics,
      defaultNamespace: 'openfaas-fn',
      logger: silentLogger(),
      history: new FunctionHistory({ maxFunctions: 2 }),
    });
    const heard: string[] = [];
    recorder.onPoint((r, point) => heard.push(`${r.name}:${point[1]}`));
    try {
      await recorder.start();
      expect(statsRead).toEqual(['a', 'b']);
      expect(heard).toEqual(['a:1', 'b:2']);
      expect(recorder.history.pointsOf('a')).toEqual([[expect.any(Number), 1, 1, 3, 0]]);
      // A step with nothing changed: no point, no list.
      await recorder.sample(Date.now() + 5000);
      expect([lists, heard.length]).toEqual([1, 2]);
      listener?.(ref('a'), { desired: 4, ready: 2 });
      await recorder.sample(Date.now() + 10_000);
      expect([lists, heard]).toEqual([1, ['a:1', 'b:2', 'a:4']]);
      recorder.forget(ref('a'));
      listener?.(ref('c'), { desired: 3, ready: 3 });
      await recorder.sample(Date.now() + 15_000);
      expect([recorder.history.pointsOf('a'), heard.at(-1)]).toEqual([[], 'c:3']);
      // Calls read from the totals table: 10 of b's in the 5 s since its last step are 2/s.
      for (let i = 0; i < 10; i++) metrics.callTotals.entry('b').add(200, 0.02);
      await recorder.sample(Date.now() + 20_000);
      expect(recorder.history.pointsOf('b').at(-1)?.[4]).toBeCloseTo(2, 1);
    } finally {
      recorder.stop();
    }
  });
});
