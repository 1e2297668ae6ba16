import { describe, expect, it } from '@jest/globals';
import type { Slot } from '../../src/engine/dispatcher.js';
import { AppError } from '../../src/errors.js';
import { engine, gauge, settle, START_MS } from './support/engine.js';

const CONCURRENCY_1 = { 'com.openfaas.scale.concurrency': '1' };

describe('dispatcher', () => {
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

  it('close fails waiting requests with SHUTTING_DOWN', async () => {
    const e = await engine({ replicas: 0 });
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 }).catch((err: unknown) => err);
    e.dispatcher.close();
    expect(((await waiting) as AppError).code).toBe('SHUTTING_DOWN');
  });
});
