/**
 * Alerts beyond the OpenFaaS step (issue 10): a firing alert for a function of another kind
 * evaluates its policy at once, an alert's `value` annotation is the queue of a `queue`
 * function, and `scale_action="hold"` blocks every scale-down while it fires. Virtual clock.
 */
import { describe, expect, it } from '@jest/globals';
import { AlertScaler } from '../../src/alerts/alert-scaler.js';
import type { WebhookAlert } from '../../src/alerts/payload.js';
import { AlertSignals, noteOf, parseQueueValue } from '../../src/alerts/signals.js';
import { MemoryAlertStateStore } from '../../src/alerts/state-store.js';
import { VirtualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/log/logger.js';
import { policyEngine, START_MS } from '../engine/support/policy-loop.js';

const L = 'com.openfaas.scale.';
const STALE_MS = 60_000;

function alert(status: 'firing' | 'resolved', fingerprint: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}): WebhookAlert {
  return { status, fingerprint, labels: { alertname: 'Load', function_name: 'fn', ...labels }, annotations, startsAt: '2024-01-01T00:00:00Z' };
}
const hold = (status: 'firing' | 'resolved') => alert(status, 'h1', { alertname: 'KeepWarm', scale_action: 'hold' });

/** The policy engine of test/engine/support with an alert scaler wired as bootstrap wires it. */
async function setup(labels: Record<string, string>, replicas: number) {
  const box: { signals?: AlertSignals } = {};
  const e = await policyEngine(labels, replicas, {
    guard: { holding: (ref) => box.signals?.holding(ref) ?? [] },
    externalQueue: (ref) => box.signals?.queueValue(ref) ?? null,
  });
  const store = new MemoryAlertStateStore();
  const signals = new AlertSignals(e.clock, STALE_MS, store);
  box.signals = signals;
  const alerts = new AlertScaler({
    changer: e.changer,
    clock: e.clock,
    timers: e.scalers.timers,
    store,
    logger: silentLogger(),
    metrics: e.metrics,
    timing: { cooldownMs: 10_000, firingStaleMs: STALE_MS },
    defaultNamespace: 'openfaas-fn',
    signals,
    policy: e.scalers,
  });
  return { ...e, alerts, signals };
}

describe('a firing alert for a function that is not rps', () => {
  it('evaluates its policy at once instead of stepping it, and its value is the queue', async () => {
    const e = await setup({ [`${L}type`]: 'queue', [`${L}max-queue`]: '2', [`${L}max`]: '5' }, 1);
    const [outcome] = await e.alerts.applyAll([alert('firing', 'q1', {}, { value: '7' })]);
    expect(outcome).toMatchObject({ outcome: 'applied', from: 1, to: 2, reason: 'step-up' });
    const up = e.events.query().find((ev) => ev.action === 'scale_up');
    expect(up).toMatchObject({ source: 'policy', inputs: expect.objectContaining({ alertQueue: 7, queuedBusy: 7 }) });
    await e.clock.run(START_MS);
  });

  it('once resolved, its value no longer counts', async () => {
    const e = await setup({ [`${L}type`]: 'queue', [`${L}max-queue`]: '2' }, 1);
    await e.alerts.applyAll([alert('firing', 'q1', {}, { value: '7' })]);
    expect(await e.signals.queueValue(e.ref)).toBe(7);
    await e.alerts.applyAll([alert('resolved', 'q1', {}, { value: '7' })]);
    expect(await e.signals.queueValue(e.ref)).toBeNull();
    await e.clock.run(START_MS);
  });

  it('without a value evaluates the policy: nothing waits, nothing changes', async () => {
    const e = await setup({ [`${L}type`]: 'queue', [`${L}max-queue`]: '2' }, 1);
    const [outcome] = await e.alerts.applyAll([alert('firing', 'q1')]);
    expect(outcome).toMatchObject({ outcome: 'unchanged', from: 1, to: 1, reason: 'unchanged' });
    expect(e.events.query().filter((ev) => ev.source === 'alert')).toEqual([]);
  });

  it('with invalid policy labels is skipped, not stepped', async () => {
    const e = await setup({ [`${L}type`]: 'queue', [`${L}step`]: 'many' }, 1);
    const [outcome] = await e.alerts.applyAll([alert('firing', 'q1')]);
    expect(outcome).toMatchObject({ outcome: 'skipped', reason: 'invalid-labels', problems: [expect.stringMatching(/scale\.step/)] });
    expect(await e.desired()).toBe(1);
  });
});

describe('an rps function', () => {
  it('is still stepped by a firing alert, value annotation or not', async () => {
    const e = await setup({ [`${L}max`]: '10', [`${L}factor`]: '20' }, 1);
    const [outcome] = await e.alerts.applyAll([alert('firing', 'r1', {}, { value: '12.5' })]);
    expect(outcome).toMatchObject({ outcome: 'applied', from: 1, to: 3, reason: 'step-up' });
    await e.clock.run(START_MS);
  });
});

describe('scale_action="hold"', () => {
  it('never steps; it blocks the alert scale-down while it fires, which runs once it resolves', async () => {
    const e = await setup({ [`${L}max`]: '10', [`${L}factor`]: '20', [`${L}down.window`]: '5s' }, 1);
    const [held] = await e.alerts.applyAll([hold('firing')]);
    expect(held).toMatchObject({ outcome: 'unchanged', reason: 'hold' });
    expect(await e.desired()).toBe(1);
    await e.alerts.applyAll([alert('firing', 'r1')]);
    await e.clock.run(START_MS);
    expect(await e.desired()).toBe(3);
    await e.alerts.applyAll([alert('resolved', 'r1')]);
    await e.clock.run(10_000);
    expect(await e.desired()).toBe(3);
    expect(e.events.query().find((ev) => ev.reason === 'hold')).toMatchObject({ source: 'alert', action: 'unchanged', inputs: expect.objectContaining({ decided: 'reset-to-min', heldBy: ['KeepWarm'] }) });
    const [released] = await e.alerts.applyAll([hold('resolved')]);
    expect(released).toMatchObject({ outcome: 'unchanged', reason: 'hold-released' });
    await e.clock.run(1_000);
    expect(await e.desired()).toBe(1);
  });

  it('blocks the policy loop\'s idle removal of a queue function until it resolves', async () => {
    const e = await setup({ [`${L}type`]: 'queue', [`${L}min`]: '1', [`${L}idle-timeout`]: '1s' }, 3);
    await e.alerts.applyAll([hold('firing')]);
    await e.clock.run(2_000);
    await e.scalers.tick();
    expect(await e.desired()).toBe(3);
    expect(e.events.query().find((ev) => ev.reason === 'hold')).toMatchObject({ source: 'policy', inputs: expect.objectContaining({ decided: 'idle', heldBy: ['KeepWarm'] }) });
    await e.alerts.applyAll([hold('resolved')]);
    await e.clock.run(100);
    expect(await e.desired()).toBe(1);
  });

  it('stops counting once not seen for the stale time (a lost resolve)', async () => {
    const clock = new VirtualClock(0);
    const signals = new AlertSignals(clock, STALE_MS, new MemoryAlertStateStore());
    const ref = { name: 'fn', namespace: 'openfaas-fn' };
    const hold1 = noteOf(hold('firing'));
    await signals.note(ref, hold1 === null ? [] : [hold1]);
    expect(await signals.holding(ref)).toEqual(['KeepWarm']);
    clock.advance(STALE_MS);
    expect(await signals.holding(ref)).toEqual([]);
  });
});

describe('the value annotation', () => {
  it.each<[string | undefined, number | null]>([
    ['12', 12],
    [' 3.5 ', 3.5],
    ['1.2e+03', 1200],
    ['0', 0],
    ['-1', null],
    ['NaN', null],
    ['+Inf', null],
    ['twelve', null],
    ['', null],
    [undefined, null],
  ])('%j is read as %j', (text, value) => {
    expect(parseQueueValue(text)).toBe(value);
  });
});
