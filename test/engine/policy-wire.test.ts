/**
 * The policy loop as the gateway wires it (issue 10): a queued request asks for an
 * evaluation at once (debounced), dry run and hold decided once in the change cycle for
 * every source, and a queue reported by alerts feeding the `queue` kind. Virtual clock,
 * memory provider.
 */
import { describe, expect, it } from '@jest/globals';
import type { EventSource } from '../../src/engine/events.js';
import { policyEngine, START_MS, TICK_MS } from './support/policy-loop.js';

const L = 'com.openfaas.scale.';
const QUEUE = { [`${L}type`]: 'queue', [`${L}max-queue`]: '0', [`${L}concurrency`]: '1', [`${L}max`]: '5' };

describe('a request that has to wait', () => {
  it('asks for one evaluation per burst, answered in the same instant', async () => {
    const e = await policyEngine(QUEUE, 1);
    e.dispatcher.onQueued((ref) => void e.scalers.evaluateNow(ref));
    let reads = 0;
    const read = e.provider.getReplicas.bind(e.provider);
    e.provider.getReplicas = (ref) => {
      reads += 1;
      return read(ref);
    };
    const queuedAt = e.clock.now();
    for (let i = 0; i < 11; i++) void e.call(5_000, false);
    await e.clock.run(0);
    const ups = e.events.query().filter((ev) => ev.action === 'scale_up');
    expect(ups).toHaveLength(1);
    expect(ups[0]).toMatchObject({ source: 'policy', from: 1, to: 2, reason: 'step-up', time: queuedAt });
    // One read by the loop and one by the change cycle (and one for the re-run a request
    // arriving meanwhile asks for), not one per waiting request.
    expect(reads).toBeLessThanOrEqual(3);
  });

  it('is not reported on the fast path, only when it joins the queue', async () => {
    const e = await policyEngine(QUEUE, 1);
    const reasons: string[] = [];
    e.dispatcher.onQueued((_ref, reason) => reasons.push(reason));
    const first = e.dispatcher.tryAcquire(e.ref);
    expect(first).not.toBeNull();
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 1_000 });
    expect(reasons).toEqual(['busy']);
    first?.release();
    (await waiting).release();
  });
});

describe('dry run', () => {
  it('with the config on, the loop records its decision once with dryRun and changes nothing', async () => {
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '3' }, 1, { dryRun: true });
    e.scalers.start();
    await e.clock.run(4 * TICK_MS);
    expect(await e.desired()).toBe(1);
    expect(e.live()).toBe(1);
    const decisions = e.events.query().filter((ev) => ev.source === 'policy' && ev.replica === undefined);
    expect(decisions).toEqual([expect.objectContaining({ action: 'scale_up', from: 1, to: 3, reason: 'top-up-to-min', dryRun: true })]);
    e.scalers.stop();
  });

  it('label dry-run=true puts one function in dry run; dry-run=false takes one out of the config dry run', async () => {
    const on = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '3', [`${L}dry-run`]: 'true' }, 1);
    await on.scalers.tick();
    expect(await on.desired()).toBe(1);
    expect(on.events.query().at(-1)).toMatchObject({ action: 'scale_up', dryRun: true });
    const off = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '3', [`${L}dry-run`]: 'false' }, 1, { dryRun: true });
    await off.scalers.tick();
    expect(await off.desired()).toBe(3);
    expect(off.events.query().find((ev) => ev.action === 'scale_up')).not.toHaveProperty('dryRun');
    await off.clock.run(START_MS);
  });

  it.each<[EventSource, boolean]>([
    ['policy', false],
    ['alert', false],
    ['idler', false],
    ['waker', true],
    ['api', true],
  ])('a change from %s is applied: %s (the wake and the operator are never dry)', async (source, applied) => {
    const e = await policyEngine({}, 2, { dryRun: true });
    const done = await e.changer.change(e.ref, source, () => ({ replicas: 1, reason: 'test' }));
    await done.settled;
    await e.clock.run(100);
    expect(done).toMatchObject({ from: 2, to: 1, changed: applied, dryRun: !applied });
    expect(await e.desired()).toBe(applied ? 1 : 2);
    const event = e.events.query().find((ev) => ev.action === 'scale_down');
    expect(event?.dryRun).toBe(applied ? undefined : true);
  });
});

describe('hold', () => {
  it('blocks the loop\'s idle removal while held, records it once, and the removal runs once released', async () => {
    let holding: string[] = ['KeepWarm'];
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '1', [`${L}idle-timeout`]: '1s' }, 3, { guard: { holding: () => holding } });
    e.scalers.start();
    await e.clock.run(5 * TICK_MS);
    expect(await e.desired()).toBe(3);
    const held = e.events.query().filter((ev) => ev.reason === 'hold');
    expect(held).toEqual([expect.objectContaining({ source: 'policy', action: 'unchanged', from: 3, to: 3 })]);
    expect(held[0]?.inputs).toMatchObject({ decided: 'idle', wanted: 1, heldBy: ['KeepWarm'] });
    holding = [];
    await e.clock.run(2 * TICK_MS);
    expect(await e.desired()).toBe(1);
    e.scalers.stop();
  });

  it.each<[EventSource, boolean]>([
    ['policy', true],
    ['alert', true],
    ['idler', true],
    ['api', false],
  ])('a scale-down from %s is held: %s (an operator\'s explicit order is not)', async (source, blocked) => {
    const e = await policyEngine({}, 3, { guard: { holding: () => ['KeepWarm'] } });
    const done = await e.changer.change(e.ref, source, () => ({ replicas: 1, reason: 'test' }));
    await done.settled;
    expect(done.heldBy).toEqual(blocked ? ['KeepWarm'] : []);
    expect(await e.desired()).toBe(blocked ? 3 : 1);
  });

  it('never blocks a scale-up', async () => {
    const e = await policyEngine({}, 1, { guard: { holding: () => ['KeepWarm'] } });
    const done = await e.changer.change(e.ref, 'alert', () => ({ replicas: 2, reason: 'step-up' }));
    expect(done).toMatchObject({ changed: true, heldBy: [] });
    await e.clock.run(START_MS);
  });
});

describe('a queue only alerts can see', () => {
  it('feeds the queue kind: more than max-queue waiting elsewhere steps up with nothing queued here', async () => {
    const e = await policyEngine({ [`${L}type`]: 'queue', [`${L}max-queue`]: '2', [`${L}max`]: '5' }, 1, { externalQueue: () => 5 });
    await e.scalers.tick();
    expect(await e.desired()).toBe(2);
    expect(e.events.query().find((ev) => ev.action === 'scale_up')?.inputs).toMatchObject({ queuedBusy: 5, alertQueue: 5 });
    await e.clock.run(START_MS);
  });

  it('at or under max-queue changes nothing, and it wakes a function at zero', async () => {
    const under = await policyEngine({ [`${L}type`]: 'queue', [`${L}max-queue`]: '2' }, 1, { externalQueue: () => 2 });
    await under.scalers.tick();
    expect(await under.desired()).toBe(1);
    const zero = await policyEngine({ [`${L}type`]: 'queue', [`${L}min`]: '0' }, 0, { externalQueue: () => 1 });
    await zero.scalers.tick();
    expect(await zero.desired()).toBe(1);
    await zero.clock.run(START_MS);
  });

  it('is not read for other kinds', async () => {
    const e = await policyEngine({ [`${L}type`]: 'free-workers', [`${L}min-free`]: '0' }, 1, { externalQueue: () => 50 });
    await e.scalers.tick();
    expect(await e.desired()).toBe(1);
  });
});

describe('the policy gauges', () => {
  it('are set for an rps function too, so one rule can compare every function with its own setting', async () => {
    const { gauge } = await import('./support/engine.js');
    const e = await policyEngine({ [`${L}max`]: '7' }, 1);
    await e.scalers.tick();
    expect(await gauge(e.metrics, 'alert_scaler_replicas', { function_name: 'fn', state: 'free' })).toBe(1);
    expect(await gauge(e.metrics, 'alert_scaler_policy_setting', { function_name: 'fn', setting: 'max_replicas' })).toBe(7);
  });
});
