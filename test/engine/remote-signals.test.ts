import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { queuedWithRemote, RemoteSignals, remoteTimeoutMs, replicasWithRemote, type RemoteLoad, type RemoteLoadSource, type RemoteView } from '../../src/engine/signals.js';
import type { ReplicaRow } from '../../src/policy/decision.js';
import { capturingLogger } from '../support/harness.js';
import { policyEngine, TICK_MS } from './support/policy-loop.js';

const L = 'com.openfaas.scale.';

const row = (id: string, inFlight: number, extra: Partial<ReplicaRow> = {}): ReplicaRow => ({ id, phase: 'ready', inFlight, lastRequestEnd: null, createdAt: 0, draining: false, ...extra });
const view = (present: number, busy = 0, noReplica = 0, activeAt: number | null = null): RemoteView => ({ present, queued: { busy, no_replica: noReplica }, activeAt });
const load = (present: number, busy = 0, started = 0): RemoteLoad => ({ present, queued: { busy, no_replica: 0 }, started });

/** A source answering what `next` says: loads for `fn`, a failure, or never. */
class FakeSource implements RemoteLoadSource {
  next: RemoteLoad | 'fail' | 'hang' = load(0);
  reads = 0;

  read(signal: AbortSignal): Promise<ReadonlyMap<string, RemoteLoad>> {
    this.reads += 1;
    const next = this.next;
    if (next === 'fail') return Promise.reject(new Error('connection refused'));
    if (next === 'hang') return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    return Promise.resolve(new Map([['fn', next]]));
  }
}

describe('the other gateways\' load mapped onto this gateway\'s view', () => {
  it.each<[string, ReplicaRow[], RemoteView | null, Array<[number, number | null]>]>([
    ['without a view the table is unchanged', [row('a', 1), row('b', 0)], null, [[1, null], [0, null]]],
    ['requests held elsewhere are spread evenly, the least loaded replica first', [row('a', 1), row('b', 0), row('c', 0)], view(4), [[2, null], [2, null], [1, null]]],
    ['requests waiting elsewhere are not put on a replica', [row('a', 0), row('b', 0)], view(3, 2), [[1, null], [0, null]]],
    ['starting and draining replicas get none', [row('a', 0, { phase: 'starting' }), row('b', 0, { draining: true }), row('c', 0)], view(2), [[0, null], [0, null], [2, null]]],
    ['with no usable replica the requests held elsewhere go nowhere', [row('a', 0, { phase: 'starting' })], view(2), [[0, null]]],
    ['traffic elsewhere counts as each usable replica\'s last request end, unless its own is later', [row('a', 0, { lastRequestEnd: 1_000 }), row('b', 0, { lastRequestEnd: 9_000 }), row('c', 0)], view(0, 0, 0, 5_000), [[0, 5_000], [0, 9_000], [0, 5_000]]],
  ])('%s', (_name, replicas, remote, expected) => {
    expect(replicasWithRemote(replicas, remote).map((r) => [r.inFlight, r.lastRequestEnd])).toEqual(expected);
  });

  it.each<[string, RemoteView | null, { busy: number; no_replica: number }]>([
    ['without a view the queue is unchanged', null, { busy: 2, no_replica: 1 }],
    ['queues elsewhere add to this one, reason by reason', view(9, 3, 4), { busy: 5, no_replica: 5 }],
  ])('%s', (_name, remote, expected) => {
    expect(queuedWithRemote({ busy: 2, no_replica: 1 }, remote)).toEqual(expected);
  });

  it.each([
    [1000, 500],
    [10_000, 2000],
    [1, 1],
  ])('a tick of %i ms gives the query %i ms', (tick, timeout) => {
    expect(remoteTimeoutMs(tick)).toBe(timeout);
  });
});

describe('RemoteSignals', () => {
  async function signals() {
    const clock = new VirtualClock(1_000_000);
    const source = new FakeSource();
    const { logger, lines } = await capturingLogger();
    return { clock, source, lines, remote: new RemoteSignals({ source, clock, logger, timeoutMs: 500 }) };
  }

  it('a reading slower than the timeout gives up after it, leaves the local view, and warns once until a reading works', async () => {
    const { clock, source, lines, remote } = await signals();
    source.next = load(3, 1);
    await remote.refresh();
    expect(remote.load('fn')).toEqual({ present: 3, queued: { busy: 1, no_replica: 0 }, activeAt: 1_000_000 });

    source.next = 'hang';
    for (let i = 0; i < 2; i++) {
      const started = clock.now();
      const done = remote.refresh();
      await clock.run(500);
      await done;
      expect(clock.now() - started).toBe(500);
    }
    source.next = 'fail';
    await remote.refresh();
    expect(remote.degraded).toBe(true);
    expect(remote.load('fn')).toBeNull();
    expect(lines.filter((l) => l['message'] === 'remote load unavailable')).toHaveLength(1);

    source.next = load(1);
    await remote.refresh();
    expect(remote.degraded).toBe(false);
    expect(remote.load('fn')?.present).toBe(1);
    expect(lines.filter((l) => l['message'] === 'remote load restored')).toHaveLength(1);
  });

  it('the integral holds each reading until the next, and a failed reading counts as nothing held', async () => {
    const { clock, source, remote } = await signals();
    source.next = load(2);
    await remote.refresh();
    clock.advance(1_000);
    source.next = load(4);
    await remote.refresh();
    clock.advance(500);
    expect(remote.integral('fn', clock.now())).toBe(2 * 1_000 + 4 * 500);
    source.next = 'fail';
    await remote.refresh();
    clock.advance(1_000);
    expect(remote.integral('fn', clock.now())).toBe(4_000);
  });

  it('a started count that moved between readings is traffic, even with nothing held at the reading', async () => {
    const { clock, source, remote } = await signals();
    source.next = load(0, 0, 5);
    await remote.refresh();
    clock.advance(1_000);
    await remote.refresh();
    expect(remote.load('fn')?.activeAt).toBeNull();
    clock.advance(1_000);
    source.next = load(0, 0, 6);
    await remote.refresh();
    expect(remote.load('fn')?.activeAt).toBe(clock.now());
  });
});

describe('the policy loop with several gateways (virtual clock)', () => {
  it('queue: a busy queue on another gateway scales the function up within one tick though this gateway has no traffic', async () => {
    const source = new FakeSource();
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}max-queue`]: '2', [`${L}max`]: '5', [`${L}concurrency`]: '1' }, 1, { remote: source });
    source.next = load(4, 3);
    e.scalers.start();
    await e.clock.run(TICK_MS);
    const up = e.events.query().find((ev) => ev.action === 'scale_up');
    expect(up).toMatchObject({ from: 1, to: 2, reason: 'step-up' });
    expect(up?.inputs).toMatchObject({ queuedBusy: 3, remoteInFlight: 4, remoteQueued: 3 });
    expect(source.reads).toBe(1);
    await e.scalers.stop();
  });

  it('free-workers: a request held by another gateway makes the only replica busy, so one more is added', async () => {
    const source = new FakeSource();
    const e = await policyEngine({ [`${L}type`]: 'free-workers', [`${L}min-free`]: '1', [`${L}max`]: '5', [`${L}concurrency`]: '1' }, 1, { remote: source });
    source.next = load(1);
    e.scalers.start();
    await e.clock.run(TICK_MS);
    expect(await e.desired()).toBe(2);
    await e.scalers.stop();
  });

  it('concurrency: requests held by other gateways count in the observed concurrency', async () => {
    const source = new FakeSource();
    const e = await policyEngine({ [`${L}type`]: 'concurrency', [`${L}target`]: '1', [`${L}max`]: '10', [`${L}concurrency`]: '1' }, 1, { remote: source });
    source.next = load(4);
    e.scalers.start();
    await e.clock.run(10 * TICK_MS);
    expect(await e.desired()).toBe(4);
    await e.scalers.stop();
  });

  it('idle removal waits while traffic goes through another gateway, and goes ahead once every gateway is quiet', async () => {
    const source = new FakeSource();
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '1', [`${L}max`]: '5', [`${L}idle-timeout`]: '3s', [`${L}concurrency`]: '1' }, 3, { remote: source });
    let started = 0;
    e.scalers.start();
    for (let i = 0; i < 10; i++) {
      source.next = load(0, 0, (started += 1));
      await e.clock.run(TICK_MS);
    }
    expect(await e.desired()).toBe(3);
    await e.clock.run(3_000 + 2 * TICK_MS);
    expect(await e.desired()).toBe(1);
    await e.scalers.stop();
  });

  it('a query that never answers does not stop the ticks: the loop decides on this gateway\'s own view', async () => {
    const source = new FakeSource();
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}max-queue`]: '0', [`${L}max`]: '5', [`${L}concurrency`]: '1' }, 1, { remote: source });
    source.next = 'hang';
    e.scalers.start();
    await e.clock.run(3 * TICK_MS);
    expect(source.reads).toBe(3);
    expect(e.remote?.degraded).toBe(true);
    expect(await e.desired()).toBe(1);
    // Local load still scales it: two requests on one single-slot replica, one waits busy.
    void e.call(5_000, false);
    void e.call(5_000, false);
    await e.clock.run(TICK_MS);
    expect(await e.desired()).toBe(2);
    // The pass under way waits for its query's timeout (virtual time) before stop resolves.
    const stopped = e.scalers.stop();
    await e.clock.run(TICK_MS);
    await stopped;
  });
});
