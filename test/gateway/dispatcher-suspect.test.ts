/**
 * The dispatcher's suspect mark (what the proxy sets when a replica could not be reached) and
 * the deadline a retried call carries, on a virtual clock: milliseconds, no sockets.
 */
import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { Dispatcher } from '../../src/engine/dispatcher.js';
import { isAppError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { StaticProvider, type StaticReplica } from './static-provider.js';

const ref = { name: 'fn', namespace: 'openfaas-fn' };
const A: StaticReplica = { id: 'a', address: 'http://127.0.0.1:1001' };
const B: StaticReplica = { id: 'b', address: 'http://127.0.0.1:1002' };
const SUSPECT_MS = 1000;

function setup(replicas: readonly StaticReplica[], requestTimeoutMs = 5000): { clock: VirtualClock; provider: StaticProvider; dispatcher: Dispatcher } {
  const clock = new VirtualClock(1_000_000);
  const provider = new StaticProvider(replicas);
  const dispatcher = new Dispatcher({
    provider,
    clock,
    metrics: createMetrics(),
    defaultNamespace: 'openfaas-fn',
    defaults: { concurrency: 0, maxQueued: 100, requestTimeoutMs, maxWaitMs: 10_000 },
    suspectMs: SUSPECT_MS,
  });
  dispatcher.sync(ref, { desired: replicas.length, ready: replicas.length, labels: {}, annotations: {} });
  return { clock, provider, dispatcher };
}

/** The replica ids of `n` slots taken at once and given back. */
function picks(dispatcher: Dispatcher, n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const slot = dispatcher.tryAcquire(ref);
    ids.push(slot?.replicaId ?? 'none');
    slot?.release();
  }
  return ids;
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a suspect replica', () => {
  it('gets no slot while the other replica takes every call', () => {
    const { dispatcher } = setup([A, B]);
    dispatcher.suspect(ref, 'a');
    expect(picks(dispatcher, 4)).toEqual(['b', 'b', 'b', 'b']);
  });

  it('comes back after the suspect time passes (the next call is the probe)', () => {
    const { clock, dispatcher } = setup([A, B]);
    dispatcher.suspect(ref, 'a');
    clock.advance(SUSPECT_MS - 1);
    expect(picks(dispatcher, 2)).toEqual(['b', 'b']);
    clock.advance(1);
    expect(new Set(picks(dispatcher, 4))).toEqual(new Set(['a', 'b']));
  });

  it('stays out while the provider still lists it ready, and comes back once it is reported not ready and then ready again', () => {
    const { provider, dispatcher } = setup([A, B]);
    dispatcher.suspect(ref, 'a');
    provider.set(ref, [A, B]);
    expect(picks(dispatcher, 2)).toEqual(['b', 'b']);
    provider.set(ref, [{ ...A, phase: 'starting' }, B]);
    expect(picks(dispatcher, 2)).toEqual(['b', 'b']);
    provider.set(ref, [A, B]);
    expect(new Set(picks(dispatcher, 4))).toEqual(new Set(['a', 'b']));
  });

  it('that the provider drops is forgotten: a new replica under the same id is usable at once', () => {
    const { provider, dispatcher } = setup([A]);
    dispatcher.suspect(ref, 'a');
    provider.set(ref, []);
    provider.set(ref, [A]);
    expect(picks(dispatcher, 1)).toEqual(['a']);
  });

  it('when it is the only replica, a call waits (as no_replica) and is served when the suspicion ends', async () => {
    const { clock, dispatcher } = setup([A]);
    dispatcher.suspect(ref, 'a');
    let got: string | null = null;
    const waiting = dispatcher.acquire(ref).then((slot) => (got = slot.replicaId));
    await settle();
    expect(dispatcher.stats(ref).queued).toEqual({ no_replica: 1, busy: 0 });
    clock.advance(SUSPECT_MS);
    await waiting;
    expect(got).toBe('a');
  });

  it('an unknown function or replica is ignored', () => {
    const { dispatcher } = setup([A]);
    dispatcher.suspect({ name: 'other', namespace: 'openfaas-fn' }, 'a');
    dispatcher.suspect(ref, 'nope');
    expect(picks(dispatcher, 1)).toEqual(['a']);
  });
});

describe('a retried call\'s deadline', () => {
  it('caps the new slot\'s request timeout at the first slot\'s deadline', async () => {
    const { clock, dispatcher } = setup([A], 5000);
    const first = dispatcher.tryAcquire(ref);
    if (first === null) throw new Error('no slot');
    expect(first.deadlineAt).toBe(clock.now() + 5000);
    clock.advance(3000);
    first.release();
    const second = await dispatcher.acquire(ref, { deadlineAt: first.deadlineAt });
    expect(second.deadlineAt).toBe(first.deadlineAt);
    let expired: unknown = null;
    second.onTimeout((reason) => (expired = reason));
    clock.advance(1999);
    expect(expired).toBeNull();
    clock.advance(1);
    expect(isAppError(expired, 'REQUEST_TIMEOUT')).toBe(true);
  });

  it('bounds the wait for a slot: a call whose replica stays suspect is rejected at the deadline, not after the queue wait', async () => {
    const { clock, dispatcher } = setup([A], 5000);
    const first = dispatcher.tryAcquire(ref);
    if (first === null) throw new Error('no slot');
    dispatcher.suspect(ref, 'a');
    first.release();
    clock.advance(4500);
    dispatcher.suspect(ref, 'a'); // suspect again: out for another second, past the deadline
    let outcome: unknown = null;
    dispatcher.acquire(ref, { deadlineAt: first.deadlineAt }).then(
      () => (outcome = 'slot'),
      (err: unknown) => (outcome = err),
    );
    clock.advance(499);
    await settle();
    expect(outcome).toBeNull();
    clock.advance(1);
    await settle();
    expect(isAppError(outcome, 'WAKE_TIMEOUT')).toBe(true);
  });

  it('already past is REQUEST_TIMEOUT at once', async () => {
    const { clock, dispatcher } = setup([A], 5000);
    await expect(dispatcher.acquire(ref, { deadlineAt: clock.now() })).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
  });
});
