import { describe, expect, it } from '@jest/globals';
import { isLeaving } from '../../src/engine/drain.js';
import type { ReplicaView } from '../../src/engine/replicas.js';
import { gauge } from './support/engine.js';
import { policyEngine, START_MS, TICK_MS } from './support/policy-loop.js';

const L = 'com.openfaas.scale.';
const DECISIONS = new Set(['scale_up', 'scale_down', 'unchanged']);

/** A function's replicas counted by state, as the replica gauges count them. */
function replicaStates(replicas: readonly ReplicaView[]): Record<'starting' | 'free' | 'busy' | 'draining', number> {
  const counts = { starting: 0, free: 0, busy: 0, draining: 0 };
  for (const r of replicas) {
    if (isLeaving(r)) counts.draining += 1;
    else if (r.phase === 'starting') counts.starting += 1;
    else if (r.inFlight > 0) counts.busy += 1;
    else counts.free += 1;
  }
  return counts;
}

describe('policy loop walk-throughs (virtual clock)', () => {
  it('EverAI max-queue: a second replica is added while requests wait busy, never more than 5, back to 1 after the idle time', async () => {
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '1', [`${L}max`]: '5', [`${L}max-queue`]: '2', [`${L}step`]: '1', [`${L}idle-timeout`]: '3s', [`${L}concurrency`]: '1' }, 1);
    e.scalers.start();
    const load = e.clients(4, 200, 10_000);
    await e.clock.run(10_000 + 1_000);
    // One replica alone serves 4 clients × 200 ms for 10 s 50 times.
    expect(await load).toBeGreaterThan(60);
    const ups = e.events.query().filter((ev) => ev.source === 'policy' && ev.action === 'scale_up');
    expect(ups[0]).toMatchObject({ from: 1, to: 2, reason: 'step-up' });
    expect(ups[0]?.inputs['queuedBusy']).toBeGreaterThan(2);
    expect(e.seen.maxDesired).toBeLessThanOrEqual(5);
    expect(e.seen.maxPerReplica).toBe(1);
    expect(await e.desired()).toBeGreaterThanOrEqual(2);
    await e.clock.run(3_000 + 2 * TICK_MS);
    expect(await e.desired()).toBe(1);
    expect(e.live()).toBe(1);
    const idle = e.events.query().filter((ev) => ev.action === 'scale_down');
    expect(idle.every((ev) => ev.reason === 'idle' && Array.isArray(ev.inputs['remove']))).toBe(true);
    e.scalers.stop();
  });

  it('EverAI free-worker: under 4 clients it settles at 4 busy + 1 free = 5, and afterwards back to 1', async () => {
    const e = await policyEngine({ [`${L}type`]: 'free-workers', [`${L}min`]: '1', [`${L}max`]: '5', [`${L}min-free`]: '1', [`${L}step`]: '1', [`${L}idle-timeout`]: '3s', [`${L}concurrency`]: '1' }, 1);
    e.scalers.start();
    const load = e.clients(4, 200, 10_000);
    await e.clock.run(8_000);
    expect(await e.desired()).toBe(5);
    expect(replicaStates(e.dispatcher.replicas(e.ref))).toEqual({ starting: 0, free: 1, busy: 4, draining: 0 });
    expect(await gauge(e.metrics, 'alert_scaler_replicas', { function_name: 'fn', state: 'busy' })).toBe(4);
    expect(await gauge(e.metrics, 'alert_scaler_replicas', { function_name: 'fn', state: 'free' })).toBe(1);
    expect(await gauge(e.metrics, 'alert_scaler_policy_setting', { function_name: 'fn', setting: 'min_free_workers' })).toBe(1);
    await e.clock.run(3_000);
    await load;
    expect(e.seen.maxDesired).toBe(5);
    await e.clock.run(3_000 + 2 * TICK_MS);
    expect(await e.desired()).toBe(1);
    expect(e.live()).toBe(1);
    e.scalers.stop();
  });

  it('Code Engine: 60 concurrent slow requests scale 4 to 20, never 3 in one replica, all answered, back to 4 after the scale-down delay', async () => {
    const e = await policyEngine({ [`${L}type`]: 'concurrency', [`${L}min`]: '4', [`${L}max`]: '20', [`${L}concurrency`]: '2', [`${L}down.window`]: '30s' }, 4);
    e.scalers.start();
    await e.clock.run(5_000);
    expect(await e.desired()).toBe(4);
    const answers: number[] = [];
    const requests = Array.from({ length: 60 }, () => e.call(10_000).then(() => answers.push(e.clock.now())));
    // As Knative: the stable and panic windows (idle seconds included) fill second by second,
    // and the replicas here start in 0.5 s, so 20 comes within seconds rather than at once.
    let reachedMs = 0;
    while ((await e.desired()) < 20 && reachedMs < 20_000) {
      await e.clock.run(TICK_MS);
      reachedMs += TICK_MS;
    }
    expect(reachedMs).toBeLessThanOrEqual(8_000);
    await e.clock.run(40_000);
    await Promise.all(requests);
    expect(answers.length).toBe(60);
    expect(e.seen.maxPerReplica).toBe(2);
    expect(e.seen.maxDesired).toBe(20);
    await e.clock.run(180_000);
    expect(await e.desired()).toBe(4);
    expect(e.live()).toBe(4);
    // The first answers lowered the observed concurrency; the lower count waited out the 30 s delay.
    const down = e.events.query().filter((ev) => ev.source === 'policy' && ev.action === 'scale_down');
    expect((down[0]?.time ?? 0) - (answers[0] ?? 0)).toBeGreaterThanOrEqual(30_000);
    e.scalers.stop();
  });
});

describe('policy loop', () => {
  it('a queue forming is answered within one tick, and at once when the request asks for an evaluation', async () => {
    for (const hook of [false, true]) {
      const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}max-queue`]: '0', [`${L}concurrency`]: '1', [`${L}max`]: '5' }, 1);
      e.scalers.start();
      await e.clock.run(TICK_MS / 2);
      const queuedAt = e.clock.now();
      void e.call(5_000, hook);
      void e.call(5_000, hook);
      await e.clock.run(TICK_MS);
      const up = e.events.query().find((ev) => ev.action === 'scale_up');
      const reactionMs = (up?.time ?? Number.POSITIVE_INFINITY) - queuedAt;
      process.stdout.write(`policy reaction from a queue forming to the replica asked for (${hook ? 'evaluateNow hook' : 'tick only'}): ${reactionMs} ms of virtual time, tick ${TICK_MS} ms\n`);
      expect(reactionMs).toBeLessThanOrEqual(hook ? 0 : TICK_MS);
      e.scalers.stop();
    }
  });

  it('a gateway that is not the leader decides nothing but still sets the gauges', async () => {
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}max-queue`]: '0', [`${L}concurrency`]: '1' }, 1, { leader: () => false });
    e.scalers.start();
    void e.call(5_000);
    void e.call(5_000);
    await e.clock.run(3 * TICK_MS);
    expect(await e.desired()).toBe(1);
    expect(e.events.query().filter((ev) => ev.source === 'policy' && DECISIONS.has(ev.action))).toEqual([]);
    expect(await gauge(e.metrics, 'alert_scaler_replicas', { function_name: 'fn', state: 'busy' })).toBe(1);
    e.scalers.stop();
  });

  it('a gateway that gains the function\'s bucket evaluates it at once; one that loses it drops its due times', async () => {
    const listeners = new Set<() => void>();
    let owned = false;
    const ownership = { owns: () => owned, onChange: (l: () => void) => (listeners.add(l), () => listeners.delete(l)) };
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}max-queue`]: '0', [`${L}concurrency`]: '1', [`${L}max`]: '3' }, 1, { ownership });
    await e.scalers.start();
    void e.call(20_000);
    void e.call(20_000);
    await e.clock.run(3 * TICK_MS);
    expect(await e.desired()).toBe(1);
    owned = true;
    for (const l of listeners) l();
    await e.clock.run(10);
    expect(await e.desired()).toBeGreaterThan(1);
    expect(e.scalers.timers.dueAt('tick:openfaas-fn/fn')).toBeDefined();
    owned = false;
    for (const l of listeners) l();
    await e.clock.run(10);
    expect(e.scalers.timers.dueAt('tick:openfaas-fn/fn')).toBeUndefined();
    await e.scalers.stop();
  });

  it('an rps function is left to its alerts', async () => {
    const e = await policyEngine({ [`${L}max`]: '5', [`${L}concurrency`]: '1' }, 1);
    e.scalers.start();
    for (let i = 0; i < 5; i++) void e.call(5_000);
    await e.clock.run(3 * TICK_MS);
    expect(await e.desired()).toBe(1);
    expect(e.events.query().filter((ev) => ev.source === 'policy' && DECISIONS.has(ev.action))).toEqual([]);
    e.scalers.stop();
  });

  it('invalid policy labels change nothing and the function is skipped', async () => {
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}step`]: 'many', [`${L}concurrency`]: '1' }, 1);
    e.scalers.start();
    for (let i = 0; i < 5; i++) void e.call(5_000);
    await e.clock.run(3 * TICK_MS);
    expect(await e.desired()).toBe(1);
    e.scalers.stop();
  });

  it('a top-up to min is applied on the first tick, whole', async () => {
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '3' }, 1);
    e.scalers.start();
    await e.clock.run(TICK_MS);
    expect(await e.desired()).toBe(3);
    expect(e.events.query().find((ev) => ev.action === 'scale_up')).toMatchObject({ from: 1, to: 3, reason: 'top-up-to-min', source: 'policy' });
    await e.clock.run(START_MS);
    e.scalers.stop();
  });

  it('a scale.zero function the idler took to zero stays there: min is where a wake starts, not a floor to top up to', async () => {
    // Before: every tick topped it up to min 1 and the (already past) idle deadline took it
    // down again, once a second forever (the simulate bench's 24 h grew to 2.9 M events).
    for (const type of ['queue', 'free-workers', 'concurrency']) {
      const e = await policyEngine({ [`${L}type`]: type, [`${L}min`]: '1', [`${L}zero`]: 'true', [`${L}zero-duration`]: '5s' }, 1);
      await e.scalers.start();
      await e.clock.run(5_000 + 10 * TICK_MS);
      expect({ type, desired: await e.desired() }).toEqual({ type, desired: 0 });
      const changes = e.events.query().filter((ev) => ev.action === 'scale_up' || ev.action === 'scale_down');
      expect(changes.map((ev) => `${ev.source} ${ev.action} ${ev.reason}`)).toEqual(['idler scale_down idle']);
      const idleEvaluations = e.scalers.stats().evaluations;
      await e.clock.run(60 * TICK_MS);
      expect(e.scalers.stats().evaluations).toBe(idleEvaluations);
      await e.scalers.stop();
    }
  });

  it('idle removal drains exactly the replicas the policy chose, not the newest idle one', async () => {
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '2', [`${L}idle-timeout`]: '3s', [`${L}concurrency`]: '1' }, 3);
    // fn-3 (newest) serves a request just before the loop looks; fn-1 and fn-2 have been idle since they started.
    await e.clock.run(3_000);
    e.dispatcher.setDraining(e.ref, ['fn-1', 'fn-2'], true);
    const slot = e.dispatcher.tryAcquire(e.ref);
    expect(slot?.replicaId).toBe('fn-3');
    slot?.release();
    e.dispatcher.setDraining(e.ref, ['fn-1', 'fn-2'], false);
    await e.scalers.tick();
    const drained = e.events.query().filter((ev) => ev.action === 'drain_start').map((ev) => ev.replica);
    expect(drained).toEqual(['fn-2']);
    await e.clock.run(100);
    expect(e.provider.listReplicas(e.ref).map((r) => r.id)).toEqual(['fn-1', 'fn-3']);
  });
});
