import { describe, expect, it } from '@jest/globals';
import type { Slot } from '../../src/engine/dispatcher.js';
import { AppError } from '../../src/errors.js';
import { counter, engine, gauge, histogramCount, settle, START_MS } from './support/engine.js';

const CONCURRENCY_1 = { 'com.openfaas.scale.concurrency': '1' };

describe('dispatcher', () => {
  it('integrates requests in flight plus waiting over time: 2, 3, 2, then 1 present for a second each = 8,000 request·ms', async () => {
    const e = await engine({ replicas: 1, labels: CONCURRENCY_1 });
    const start = e.dispatcher.concurrencyIntegral(e.ref);
    const first = e.dispatcher.tryAcquire(e.ref);
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000 });
    e.clock.advance(1000);
    expect(e.dispatcher.tryAcquire(e.ref)).toBeNull(); // a refused fast path is not a request present
    const late = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000 });
    e.clock.advance(1000);
    first?.release(); // the first waiter gets the slot: still 2 present (1 in flight, 1 waiting)
    await settle();
    e.clock.advance(1000);
    const second = await waiting;
    second.release();
    const last = await late;
    e.clock.advance(1000);
    last.release();
    const end = e.dispatcher.concurrencyIntegral(e.ref);
    // 0-1 s: 2 present; 1-2 s: 3; 2-3 s: 2; 3-4 s: 1.
    expect(end.sum - start.sum).toBe(2 * 1000 + 3 * 1000 + 2 * 1000 + 1 * 1000);
    expect(end.at - start.at).toBe(4000);
  });

  it('concurrency 1 on 3 replicas: 12 calls never share a replica, 9 wait as busy and get slots in FIFO order', async () => {
    const e = await engine({ replicas: 3, labels: CONCURRENCY_1 });
    const order: number[] = [];
    const slots = new Map<number, Slot>();
    let maxPerReplica = 0;
    const watch = () => {
      for (const r of e.dispatcher.replicas(e.ref)) maxPerReplica = Math.max(maxPerReplica, r.inFlight);
    };
    const calls = Array.from({ length: 12 }, (_, i) =>
      e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000 }).then((slot) => {
        order.push(i);
        slots.set(i, slot);
        watch();
      }),
    );
    await settle();
    expect(order).toEqual([0, 1, 2]);
    expect(e.dispatcher.stats(e.ref).queued).toEqual({ no_replica: 0, busy: 9 });
    expect(await gauge(e.metrics, 'gateway_function_queue_length', { function_name: 'fn', reason: 'busy' })).toBe(9);
    for (let next = 0; next < 12; next++) {
      e.clock.advance(10);
      slots.get(next)?.release();
      await settle();
      watch();
    }
    await Promise.all(calls);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(maxPerReplica).toBe(1);
    expect(e.dispatcher.stats(e.ref).queued).toEqual({ no_replica: 0, busy: 0 });
    expect(e.dispatcher.replicas(e.ref).reduce((n, r) => n + r.served, 0)).toBe(12);
  });

  it('a call queued with no replica to take it asks the provider to hurry (find the first ready replica fast); one queued behind busy replicas does not', async () => {
    const hurried = async (replicas: number): Promise<string[]> => {
      const e = await engine({ replicas, labels: CONCURRENCY_1 });
      const calls: string[] = [];
      Object.assign(e.provider, { hurry: (ref: { name: string }) => calls.push(ref.name) });
      const first = e.dispatcher.tryAcquire(e.ref);
      const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 1000 }).catch((err: unknown) => err);
      await settle();
      e.clock.advance(1000);
      await waiting;
      first?.release();
      return calls;
    };
    expect(await hurried(0)).toEqual(['fn']);
    expect(await hurried(1)).toEqual([]);
  });

  it('least in-flight first, round robin among equals', async () => {
    const e = await engine({ replicas: 3 });
    const ids = Array.from({ length: 6 }, () => e.dispatcher.tryAcquire(e.ref)?.replicaId);
    expect(new Set(ids.slice(0, 3)).size).toBe(3);
    expect(e.dispatcher.replicas(e.ref).map((r) => r.inFlight)).toEqual([2, 2, 2]);
  });

  it('a queued request is not overtaken: tryAcquire gives nothing while others wait', async () => {
    const e = await engine({ labels: CONCURRENCY_1 });
    const first = e.dispatcher.tryAcquire(e.ref);
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 });
    first?.release();
    expect(e.dispatcher.tryAcquire(e.ref)).toBeNull();
    const slot = await waiting;
    expect(slot.waitedMs).toBe(0);
  });

  it('waiting lists the queue in order with arrival times and the current reason, bounded by its limit', async () => {
    const e = await engine({ labels: CONCURRENCY_1 });
    expect(e.dispatcher.waiting(e.ref)).toEqual([]);
    const held = e.dispatcher.tryAcquire(e.ref);
    const t0 = e.clock.now();
    const first = e.dispatcher.acquire(e.ref, { maxWaitMs: 10_000 });
    e.clock.advance(5);
    const second = e.dispatcher.acquire(e.ref, { maxWaitMs: 10_000 });
    expect(e.dispatcher.waiting(e.ref)).toEqual([
      { arrivedAt: t0, reason: 'busy', arrivalReason: 'busy' },
      { arrivedAt: t0 + 5, reason: 'busy', arrivalReason: 'busy' },
    ]);
    expect(e.dispatcher.waiting(e.ref, 1)).toHaveLength(1);
    held?.release();
    (await first).release();
    (await second).release();
    expect(e.dispatcher.waiting(e.ref)).toEqual([]);
  });

  it('past max-queued the request is refused with QUEUE_FULL (503)', async () => {
    const e = await engine({ labels: { ...CONCURRENCY_1, 'com.openfaas.scale.max-queued': '2' } });
    e.dispatcher.tryAcquire(e.ref);
    void e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 }).catch(() => undefined);
    void e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 }).catch(() => undefined);
    const refused = await e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('QUEUE_FULL');
    expect((refused as AppError).status).toBe(503);
  });

  it('a request that waits past its deadline gets QUEUE_TIMEOUT (504) and leaves the queue', async () => {
    const e = await engine({ labels: CONCURRENCY_1 });
    e.dispatcher.tryAcquire(e.ref);
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 500 }).catch((err: unknown) => err);
    e.clock.advance(499);
    expect(e.dispatcher.stats(e.ref).oldestWaitMs).toBe(499);
    expect(await gauge(e.metrics, 'gateway_function_queue_oldest_wait_seconds', { function_name: 'fn' })).toBeCloseTo(0.499);
    e.clock.advance(1);
    const err = (await waiting) as AppError;
    expect([err.code, err.status]).toEqual(['QUEUE_TIMEOUT', 504]);
    expect(e.dispatcher.stats(e.ref).queued.busy).toBe(0);
  });

  it('a client that leaves is dropped from the queue', async () => {
    const e = await engine({ labels: CONCURRENCY_1 });
    const held = e.dispatcher.tryAcquire(e.ref);
    const controller = new AbortController();
    const gone = e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000, signal: controller.signal }).catch((err: unknown) => err);
    const next = e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 });
    controller.abort();
    expect(((await gone) as AppError).code).toBe('BAD_REQUEST');
    held?.release();
    expect((await next).replicaId).toBe('fn-1');
    expect(e.dispatcher.stats(e.ref).queued.busy).toBe(0);
  });

  it('past the request timeout the slot is freed, its signal aborts with REQUEST_TIMEOUT, and the queue moves', async () => {
    const e = await engine({ labels: { ...CONCURRENCY_1, 'com.openfaas.request-timeout': '2s' } });
    const slot = e.dispatcher.tryAcquire(e.ref);
    const next = e.dispatcher.acquire(e.ref, { maxWaitMs: 10_000 });
    e.clock.advance(1_999);
    expect(slot?.signal.aborted).toBe(false);
    e.clock.advance(1);
    expect(slot?.signal.aborted).toBe(true);
    expect((slot?.signal.reason as AppError).code).toBe('REQUEST_TIMEOUT');
    expect((await next).waitedMs).toBe(2_000);
    slot?.release();
    expect(e.dispatcher.replicas(e.ref)[0]?.inFlight).toBe(1);
  });

  it('onTimeout runs once at the request timeout with REQUEST_TIMEOUT, and a signal asked for later starts aborted', async () => {
    const e = await engine({ labels: { 'com.openfaas.request-timeout': '1s' } });
    const slot = e.dispatcher.tryAcquire(e.ref);
    const seen: string[] = [];
    slot?.onTimeout((reason) => seen.push(reason.code));
    e.clock.advance(1_000);
    expect(seen).toEqual(['REQUEST_TIMEOUT']);
    expect(slot?.signal.aborted).toBe(true);
    expect(e.dispatcher.replicas(e.ref)[0]).toMatchObject({ inFlight: 0, served: 1 });
  });

  it('release counts once however often it is called', async () => {
    const e = await engine({ replicas: 1 });
    const slot = e.dispatcher.tryAcquire(e.ref);
    e.dispatcher.tryAcquire(e.ref);
    slot?.release();
    slot?.release();
    expect(e.dispatcher.replicas(e.ref)[0]).toMatchObject({ inFlight: 1, served: 1 });
  });

  it('a burst at zero raises one wake, waits as no_replica, and is served when the replica is ready', async () => {
    const wakes: string[] = [];
    let wake: () => void = () => undefined;
    const e = await engine({ replicas: 0 }, { onNeedReplica: (ref) => {
      wakes.push(ref.name);
      wake();
    } });
    wake = () => void e.provider.setReplicas(e.ref, 1);
    const burst = Array.from({ length: 5 }, () => e.dispatcher.acquire(e.ref, { maxWaitMs: 10_000 }));
    expect(wakes).toEqual(['fn']);
    await settle();
    expect(e.dispatcher.stats(e.ref).queued).toEqual({ no_replica: 5, busy: 0 });
    e.clock.advance(START_MS);
    const slots = await Promise.all(burst);
    expect(slots.map((s) => s.waitedMs)).toEqual([START_MS, START_MS, START_MS, START_MS, START_MS]);
    expect(wakes).toEqual(['fn']);
  });

  it('a draining replica gets no new request; taking it back serves the queue', async () => {
    const e = await engine({ replicas: 1 });
    e.dispatcher.setDraining(e.ref, ['fn-1'], true);
    expect(e.dispatcher.tryAcquire(e.ref)).toBeNull();
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 });
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(1);
    e.dispatcher.setDraining(e.ref, ['fn-1'], false);
    expect((await waiting).replicaId).toBe('fn-1');
  });

  it('invalid limit labels are LABELS_INVALID', async () => {
    const e = await engine({ labels: { 'com.openfaas.scale.concurrency': 'lots' } });
    expect(() => e.dispatcher.tryAcquire(e.ref)).toThrow(expect.objectContaining({ code: 'LABELS_INVALID' }));
  });

  it('a request waiting for a function at zero past its deadline gets WAKE_TIMEOUT (504), and the cold start counts as timed out', async () => {
    const e = await engine({ replicas: 0 }, { onNeedReplica: () => undefined });
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 500 }).catch((err: unknown) => err);
    e.clock.advance(500);
    const err = (await waiting) as AppError;
    expect([err.code, err.status, err.details?.['reason']]).toEqual(['WAKE_TIMEOUT', 504, 'no_replica']);
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(0);
    expect(await counter(e.metrics, 'alert_scaler_cold_starts_total', { function_name: 'fn', outcome: 'timeout' })).toBe(1);
  });

  it('without maxWaitMs a request waits as long as the wake-timeout label says', async () => {
    const e = await engine({ replicas: 0, labels: { 'com.openfaas.scale.wake-timeout': '2s' } });
    const waiting = e.dispatcher.acquire(e.ref).catch((err: unknown) => err);
    e.clock.advance(1_999);
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(1);
    e.clock.advance(1);
    expect(((await waiting) as AppError).code).toBe('WAKE_TIMEOUT');
  });

  it('a served cold start is observed once, and its slots say they waited for a replica', async () => {
    const e = await engine({ replicas: 0 }, { onNeedReplica: () => void e.provider.setReplicas(e.ref, 1) });
    const burst = [0, 1].map(() => e.dispatcher.acquire(e.ref));
    e.clock.advance(START_MS);
    const slots = await Promise.all(burst);
    expect(slots.map((s) => s.waitedFor)).toEqual(['no_replica', 'no_replica']);
    expect(e.dispatcher.tryAcquire(e.ref)?.waitedFor).toBeNull();
    expect(await counter(e.metrics, 'alert_scaler_cold_starts_total', { function_name: 'fn', outcome: 'ready' })).toBe(1);
    expect(await histogramCount(e.metrics, 'alert_scaler_cold_start_seconds', { function_name: 'fn' })).toBe(1);
  });

  it('a failed wake rejects every request waiting for a replica with WAKE_FAILED (502), and the next request wakes again', async () => {
    const wakes: string[] = [];
    const e = await engine({ replicas: 0 }, { onNeedReplica: (ref) => wakes.push(ref.name) });
    const waiting = [0, 1, 2].map(() => e.dispatcher.acquire(e.ref).catch((err: unknown) => err));
    e.dispatcher.wakeFailed(e.ref, new Error('injected'));
    const errors = (await Promise.all(waiting)) as AppError[];
    expect(errors.map((err) => [err.code, err.status])).toEqual([0, 1, 2].map(() => ['WAKE_FAILED', 502]));
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(0);
    expect(await gauge(e.metrics, 'alert_scaler_held_requests', { function_name: 'fn' })).toBe(0);
    expect(await counter(e.metrics, 'alert_scaler_cold_starts_total', { function_name: 'fn', outcome: 'failed' })).toBe(1);
    void e.dispatcher.acquire(e.ref).catch(() => undefined);
    expect(wakes).toEqual(['fn', 'fn']);
  });

  it('a function scaled to 0 while a request waits for it is woken again', async () => {
    const wakes: string[] = [];
    const e = await engine({ replicas: 0 }, { onNeedReplica: (ref) => wakes.push(ref.name) });
    const waiting = e.dispatcher.acquire(e.ref);
    await e.provider.setReplicas(e.ref, 1);
    expect(wakes).toEqual(['fn']);
    await e.provider.setReplicas(e.ref, 0);
    expect(wakes).toEqual(['fn', 'fn']);
    await e.provider.setReplicas(e.ref, 1);
    e.clock.advance(START_MS);
    expect((await waiting).waitedFor).toBe('no_replica');
    expect(await counter(e.metrics, 'alert_scaler_cold_starts_total', { function_name: 'fn', outcome: 'ready' })).toBe(1);
  });

  it('the held-requests gauge shows the requests waiting for a replica, not those waiting for a busy one', async () => {
    const e = await engine({ replicas: 1, labels: CONCURRENCY_1 });
    e.dispatcher.tryAcquire(e.ref);
    void e.dispatcher.acquire(e.ref).catch(() => undefined);
    expect(await gauge(e.metrics, 'alert_scaler_held_requests', { function_name: 'fn' })).toBe(0);
    expect(await gauge(e.metrics, 'gateway_function_queue_length', { function_name: 'fn', reason: 'busy' })).toBe(1);
    e.dispatcher.close();
  });

  it('close fails waiting requests with SHUTTING_DOWN', async () => {
    const e = await engine({ replicas: 0 });
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 }).catch((err: unknown) => err);
    e.dispatcher.close();
    expect(((await waiting) as AppError).code).toBe('SHUTTING_DOWN');
  });
});
