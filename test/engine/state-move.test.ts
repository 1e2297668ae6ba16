/**
 * State that survives a move (issue 18, acceptance point 2), on the virtual clock: two
 * gateways over one cluster (one MemoryProvider) and one stored alert state
 * (MemoryAlertStateStore), flipping which one decides for the function.
 */
import { describe, expect, it } from '@jest/globals';
import type { WebhookAlert } from '../../src/alerts/payload.js';
import { ADOPT_RETRY_MS } from '../../src/alerts/alert-scaler.js';
import { HELD_RECHECK_MS } from '../../src/alerts/state-cycle.js';
import { STALE_MS, TICK_MS, twoGateways } from './support/gateways.js';

const L = 'com.openfaas.scale.';
const RPS = { [`${L}max`]: '10', [`${L}factor`]: '20', [`${L}down.window`]: '30s' };

function alert(status: 'firing' | 'resolved', fingerprint: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}): WebhookAlert {
  return { status, fingerprint, labels: { alertname: 'Load', function_name: 'fn', ...labels }, annotations, startsAt: '2024-01-01T00:00:00Z' };
}
const hold = (status: 'firing' | 'resolved') => alert(status, 'h1', { alertname: 'KeepWarm', scale_action: 'hold' });

describe('a hold sent to one gateway', () => {
  it("blocks the alert scale-down decided by the other, which runs once the hold is released there", async () => {
    const g = await twoGateways(RPS, 1);
    g.moveTo('b');
    await g.clock.run(TICK_MS);
    const [held] = await g.a.composed.alerts.applyAll([hold('firing')]);
    expect(held).toMatchObject({ outcome: 'unchanged', reason: 'hold' });
    await g.b.composed.alerts.applyAll([alert('firing', 'r1')]);
    await g.clock.run(1_000);
    expect(await g.desired()).toBe(3);
    await g.b.composed.alerts.applyAll([alert('resolved', 'r1')]);
    await g.clock.run(40_000);
    expect(await g.desired()).toBe(3);
    expect(g.b.events().find((ev) => ev.reason === 'hold')).toMatchObject({ source: 'alert', action: 'unchanged', inputs: expect.objectContaining({ decided: 'reset-to-min', heldBy: ['KeepWarm'] }) });
    // Released at a (not the owner): the stored release re-arms b's held scale-down at once.
    await g.a.composed.alerts.applyAll([hold('resolved')]);
    await g.clock.run(100);
    expect(await g.desired()).toBe(1);
    expect(g.a.events().filter((ev) => ev.action === 'scale_down')).toEqual([]);
  });

  it("blocks the policy's idle removal decided by the other gateway", async () => {
    const g = await twoGateways({ [`${L}type`]: 'queue', [`${L}min`]: '1', [`${L}idle-timeout`]: '2s' }, 3);
    g.moveTo('b');
    await g.a.composed.alerts.applyAll([hold('firing')]);
    await g.clock.run(10_000);
    await g.b.composed.scalers.tick();
    expect(await g.desired()).toBe(3);
    expect(g.b.events().find((ev) => ev.reason === 'hold')).toMatchObject({ source: 'policy', inputs: expect.objectContaining({ decided: 'idle', heldBy: ['KeepWarm'] }) });
    await g.a.composed.alerts.applyAll([hold('resolved')]);
    await g.clock.run(TICK_MS + 100);
    expect(await g.desired()).toBe(1);
  });

  it('stops blocking once it goes stale (its resolve lost)', async () => {
    const g = await twoGateways(RPS, 1);
    g.moveTo('b');
    await g.clock.run(TICK_MS);
    await g.a.composed.alerts.applyAll([hold('firing')]);
    const heldAt = g.clock.now();
    await g.b.composed.alerts.applyAll([alert('firing', 'r1')]);
    await g.b.composed.alerts.applyAll([alert('resolved', 'r1')]);
    await g.clock.run(heldAt + STALE_MS - 1_000 - g.clock.now());
    expect(await g.desired()).toBe(3);
    expect(await g.b.signals.holding(g.ref)).toEqual(['KeepWarm']);
    await g.clock.run(1_000 + HELD_RECHECK_MS + 100);
    expect(await g.b.signals.holding(g.ref)).toEqual([]);
    expect(await g.desired()).toBe(1);
  });
});

describe('a value sent to one gateway', () => {
  it("is the queue the other gateway's policy decides on", async () => {
    const g = await twoGateways({ [`${L}type`]: 'queue', [`${L}max-queue`]: '2', [`${L}max`]: '5' }, 1);
    g.moveTo('b');
    await g.clock.run(TICK_MS);
    const [noted] = await g.a.composed.alerts.applyAll([alert('firing', 'q1', {}, { value: '7' })]);
    expect(noted).toMatchObject({ reason: 'policy-not-evaluated' });
    await g.clock.run(TICK_MS);
    await g.b.composed.scalers.evaluateNow(g.ref);
    expect(g.b.events().find((ev) => ev.action === 'scale_up')).toMatchObject({ source: 'policy', inputs: expect.objectContaining({ alertQueue: 7 }) });
  });
});

describe('after the owner is killed', () => {
  it('a failed read of the pending scale-downs on the new owner is tried again: the window still ends, one retry late at most', async () => {
    const g = await twoGateways(RPS, 1);
    await g.a.composed.alerts.applyAll([alert('firing', 'r1')]);
    await g.clock.run(1_000);
    await g.a.composed.alerts.applyAll([alert('resolved', 'r1')]);
    const due = (await g.store.load(g.ref)).state.scaleDownAt ?? 0;
    await g.kill(g.a);
    // The store cannot be listed at the moment of the move (an API error).
    const list = g.store.listPending.bind(g.store);
    let failures = 0;
    g.store.listPending = async () => {
      if (failures++ === 0) throw new Error('the API is unavailable');
      return list();
    };
    g.moveTo('b');
    await g.clock.run(due + ADOPT_RETRY_MS + 100 - g.clock.now());
    expect(failures).toBe(2);
    expect(await g.desired()).toBe(1);
  });

  it('the pending scale-down window still holds on the new owner and ends at its stored time', async () => {
    const g = await twoGateways(RPS, 1);
    await g.a.composed.alerts.applyAll([alert('firing', 'r1')]);
    await g.clock.run(1_000);
    expect(await g.desired()).toBe(3);
    await g.a.composed.alerts.applyAll([alert('resolved', 'r1')]);
    const due = (await g.store.load(g.ref)).state.scaleDownAt ?? 0;
    expect(due).toBe(g.clock.now() + 30_000);
    await g.clock.run(10_000);
    await g.kill(g.a);
    g.moveTo('b');
    await g.clock.run(due - 100 - g.clock.now());
    expect(await g.desired()).toBe(3);
    await g.clock.run(200);
    expect(await g.desired()).toBe(1);
    expect(g.b.events().find((ev) => ev.action === 'scale_down')).toMatchObject({ source: 'alert', reason: 'reset-to-min', time: due });
  });

  it('its hold still holds the scale-down on the new owner until released there', async () => {
    const g = await twoGateways(RPS, 1);
    await g.a.composed.alerts.applyAll([alert('firing', 'r1'), hold('firing')]);
    await g.clock.run(1_000);
    await g.a.composed.alerts.applyAll([alert('resolved', 'r1')]);
    const due = (await g.store.load(g.ref)).state.scaleDownAt ?? 0;
    await g.kill(g.a);
    g.moveTo('b');
    await g.clock.run(due + 10_000 - g.clock.now());
    expect(await g.desired()).toBe(3);
    expect(g.b.events().find((ev) => ev.reason === 'hold')).toMatchObject({ source: 'alert', inputs: expect.objectContaining({ heldBy: ['KeepWarm'] }) });
    await g.b.composed.alerts.applyAll([hold('resolved')]);
    await g.clock.run(100);
    expect(await g.desired()).toBe(1);
  });

  it("a non-owner that gets the resolve only stores scaleDownAt; the owner's timer runs it", async () => {
    const g = await twoGateways(RPS, 1);
    await g.a.composed.alerts.applyAll([alert('firing', 'r1')]);
    await g.clock.run(1_000);
    await g.b.composed.alerts.applyAll([alert('resolved', 'r1')]);
    const due = (await g.store.load(g.ref)).state.scaleDownAt ?? 0;
    expect(g.b.composed.scalers.timers.dueAt('alert:openfaas-fn/fn')).toBeUndefined();
    await g.clock.run(due + 100 - g.clock.now());
    expect(await g.desired()).toBe(1);
    expect(g.a.events().find((ev) => ev.action === 'scale_down')).toMatchObject({ source: 'alert', time: due });
  });

  it('with no scale-down window, a resolve at a non-owner is a scale-down due now that only the owner runs (an HA pair never removes twice)', async () => {
    const g = await twoGateways({ ...RPS, [`${L}down.window`]: '0s' }, 1);
    await g.a.composed.alerts.applyAll([alert('firing', 'r1')]);
    await g.clock.run(1_000);
    expect(await g.desired()).toBe(3);
    // Both gateways of the pair get the resolve; b (not the owner) stores it, a resets.
    const [atB] = await g.b.composed.alerts.applyAll([alert('resolved', 'r1')]);
    expect(atB).toMatchObject({ outcome: 'unchanged', reason: 'scale-down-scheduled' });
    expect((await g.store.load(g.ref)).state.scaleDownAt).toBe(g.clock.now());
    await g.a.composed.alerts.applyAll([alert('resolved', 'r1')]);
    await g.clock.run(1_000);
    expect(await g.desired()).toBe(1);
    expect(g.b.events().filter((ev) => ev.action === 'scale_down')).toEqual([]);
    expect(g.a.events().filter((ev) => ev.action === 'scale_down' && ev.source === 'alert')).toHaveLength(1);
  });
});

describe('a move while the old owner drains', () => {
  it.each([
    ['a pending scale-down, after its window', RPS, 31_000],
    ['a resolve with no window (reset to min)', { ...RPS, [`${L}down.window`]: '0s' }, 100],
  ])("%s: the old owner's alert scale-down is not applied after the move; the new owner's step up stands", async (_what, labels, wait) => {
    const g = await twoGateways(labels, 1);
    await g.a.composed.alerts.applyAll([alert('firing', 'r1')]);
    await g.clock.run(1_000);
    expect(await g.desired()).toBe(3);
    // Every replica busy at a: its scale-down drains until the calls end.
    const slots = [0, 1, 2].map(() => g.a.engine.dispatcher.tryAcquire(g.ref));
    expect(slots.every((slot) => slot !== null)).toBe(true);
    await g.a.composed.alerts.applyAll([alert('resolved', 'r1')]);
    await g.clock.run(wait);
    expect(g.a.events().filter((ev) => ev.action === 'drain_start')).toHaveLength(2);
    g.moveTo('b');
    await g.b.composed.alerts.applyAll([alert('firing', 'r2')]);
    await g.clock.run(1_000);
    expect(await g.desired()).toBe(5);
    for (const slot of slots) slot?.release();
    await g.clock.run(5_000);
    expect(await g.desired()).toBe(5);
    expect(g.a.events().filter((ev) => ev.action === 'scale_failed').map((ev) => ev.reason)).toEqual(['NOT_OWNER']);
  });
});

describe('the takeover guard', () => {
  it('holds a policy scale-down for one window after the move, never longer, and never a scale-up', async () => {
    const g = await twoGateways({ [`${L}type`]: 'queue', [`${L}min`]: '1', [`${L}max`]: '5', [`${L}max-queue`]: '2', [`${L}idle-timeout`]: '20s' }, 3);
    await g.clock.run(15_000);
    g.moveTo('b');
    const movedAt = g.clock.now();
    // The replicas have been idle 20 s: b (new here) would remove them, a would have.
    await g.clock.run(6_000);
    expect(await g.desired()).toBe(3);
    const held = g.b.events().find((ev) => ev.reason === 'takeover-hold');
    expect(held).toMatchObject({ source: 'policy', action: 'unchanged', inputs: expect.objectContaining({ decided: 'idle', holdUntil: expect.any(Number) }) });
    const until = Number(held?.inputs['holdUntil']);
    expect(until - movedAt).toBeGreaterThan(19_000);
    expect(until - movedAt).toBeLessThanOrEqual(20_000 + TICK_MS);
    // A queue reported meanwhile (to the other gateway) scales up at once.
    await g.a.composed.alerts.applyAll([alert('firing', 'q1', {}, { value: '9' })]);
    await g.clock.run(TICK_MS + 100);
    expect(await g.desired()).toBe(4);
    await g.a.composed.alerts.applyAll([alert('resolved', 'q1', {}, { value: '9' })]);
    await g.clock.run(until - 100 - g.clock.now());
    expect(await g.desired()).toBe(4);
    await g.clock.run(TICK_MS + 200);
    expect(await g.desired()).toBeLessThan(4);
    expect(g.b.events().filter((ev) => ev.reason === 'takeover-hold')).toHaveLength(1);
  });

  it('a function at zero that moves here and is woken is not idled at once: its idle clock starts at the move, not at this gateway\'s start', async () => {
    const g = await twoGateways({ [`${L}zero`]: 'true', [`${L}zero-duration`]: '20s' }, 0);
    // b has known the function since its start, at zero and owned by a: nothing made it look at ownership.
    await g.clock.run(60_000);
    g.moveTo('b');
    const movedAt = g.clock.now();
    // A call at a wakes it (its activity is a's alone).
    await g.provider.setReplicas(g.ref, 1);
    await g.clock.run(10_000);
    expect(await g.desired()).toBe(1);
    await g.clock.run(movedAt + 20_000 + TICK_MS + 100 - g.clock.now());
    expect(await g.desired()).toBe(0);
  });

  it('starts the idle clock no earlier than the move: a function called at the old owner is not idled early', async () => {
    const g = await twoGateways({ [`${L}zero`]: 'true', [`${L}zero-duration`]: '20s' }, 1);
    // A call held at a for 30 s; b never saw one (its record counts from its own start).
    const done = g.a.activity.begin(g.ref);
    await g.clock.run(30_000);
    done();
    g.moveTo('b');
    const movedAt = g.clock.now();
    await g.clock.run(19_000);
    expect(await g.desired()).toBe(1);
    await g.clock.run(movedAt + 20_000 + TICK_MS + 100 - g.clock.now());
    expect(await g.desired()).toBe(0);
    expect(g.b.events().find((ev) => ev.action === 'scale_down')).toMatchObject({ source: 'idler' });
  });
});
