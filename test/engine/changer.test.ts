import { describe, expect, it } from '@jest/globals';
import { Changer, type Decide } from '../../src/engine/changer.js';
import type { Slot } from '../../src/engine/dispatcher.js';
import { Drainer } from '../../src/engine/drain.js';
import { AppError } from '../../src/errors.js';
import { EventLog, eventsToCsv } from '../../src/engine/events.js';
import { silentLogger } from '../../src/log/logger.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { engine, NS, settle, START_MS, STOP_MS } from './support/engine.js';

const DRAIN_TIMEOUT_MS = 30_000;

async function setup(replicas: number) {
  const e = await engine({ replicas, labels: { 'com.openfaas.scale.max': '10' } });
  const events = new EventLog(100);
  const drainer = new Drainer({ dispatcher: e.dispatcher, provider: e.provider, clock: e.clock, drainTimeoutMs: DRAIN_TIMEOUT_MS });
  const changer = new Changer({ ...e, drainer, events, logger: silentLogger(), defaults: DEFAULT_POLICY, defaultNamespace: NS });
  const to = (n: number, reason = 'test'): Decide => () => ({ replicas: n, reason, inputs: { asked: n } });
  /** Holds one slot on each named replica. */
  const busy = (ids: string[]): Slot[] => {
    const slots: Slot[] = [];
    for (;;) {
      const slot = e.dispatcher.tryAcquire(e.ref);
      if (slot === null) throw new Error('no slot');
      if (ids.includes(slot.replicaId) && !slots.some((s) => s.replicaId === slot.replicaId)) slots.push(slot);
      else slot.release();
      if (slots.length === ids.length) return slots;
    }
  };
  const phases = () => Object.fromEntries(e.provider.listReplicas(e.ref).map((r) => [r.id, r.phase]));
  return { ...e, events, changer, to, busy, phases };
}

describe('change cycle', () => {
  it('a scale-up right after a removal counts the removed replica once: 3 -> 2 -> 3 asks the provider for 3', async () => {
    const s = await setup(3);
    const down = await s.changer.change(s.ref, 'api', s.to(2));
    await down.settled;
    // The removed replica is still stopping (STOP_MS has not passed) and no longer in desired.
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(2);
    const up = await s.changer.change(s.ref, 'api', s.to(3));
    expect(up).toMatchObject({ from: 2, to: 3, changed: true });
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(3);
  });

  it('a decision naming replicas removes exactly those, and drops one that took a request meanwhile', async () => {
    const s = await setup(4);
    const [held] = s.busy(['fn-2']);
    const outcome = await s.changer.change(s.ref, 'policy', () => ({ replicas: 2, reason: 'idle', remove: ['fn-1', 'fn-2'] }));
    // fn-2 is busy when the cycle looks, so only fn-1 goes: 4 -> 3, not the 2 the decision said.
    expect(outcome).toMatchObject({ from: 4, to: 3, changed: true });
    await outcome.settled;
    await s.clock.run(STOP_MS);
    expect(Object.keys(s.phases()).sort()).toEqual(['fn-2', 'fn-3', 'fn-4']);
    const decision = s.events.query().find((ev) => ev.action === 'scale_down');
    expect(decision?.inputs['remove']).toEqual(['fn-1']);
    held?.release();
  });

  it('scale 5 → 1 while 3 are busy: the idle ones go first, and nothing is removed before its requests end', async () => {
    const s = await setup(5);
    const [one, two, three] = s.busy(['fn-1', 'fn-2', 'fn-3']);
    const outcome = await s.changer.change(s.ref, 'api', s.to(1));
    expect(outcome).toMatchObject({ from: 5, to: 1, changed: true });
    const draining = s.events.query().filter((ev) => ev.action === 'drain_start').map((ev) => ev.replica);
    expect(draining).toEqual(['fn-5', 'fn-4', 'fn-3', 'fn-2']);
    await s.clock.run(1_000);
    expect(s.phases()).toEqual({ 'fn-1': 'ready', 'fn-2': 'ready', 'fn-3': 'ready', 'fn-4': 'ready', 'fn-5': 'ready' });
    expect(s.dispatcher.tryAcquire(s.ref)?.replicaId).toBe('fn-1');
    three?.release();
    await settle();
    expect(s.phases()['fn-3']).toBe('ready');
    two?.release();
    await outcome.settled;
    expect(s.phases()).toEqual({ 'fn-1': 'ready', 'fn-2': 'stopping', 'fn-3': 'stopping', 'fn-4': 'stopping', 'fn-5': 'stopping' });
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(1);
    await s.clock.run(STOP_MS);
    expect(Object.keys(s.phases())).toEqual(['fn-1']);
    one?.release();
    const done = s.events.query({ function: 'fn' }).filter((ev) => ev.action === 'scale_down_complete');
    expect(done.map((ev) => [ev.replica, ev.reason])).toEqual([
      ['fn-5', 'drained'],
      ['fn-4', 'drained'],
      ['fn-3', 'drained'],
      ['fn-2', 'drained'],
    ]);
  });

  it('a replica still busy at the drain timeout is removed then, with reason drain-timeout', async () => {
    const s = await setup(2);
    s.busy(['fn-1', 'fn-2']);
    const outcome = await s.changer.change(s.ref, 'idler', s.to(1));
    await s.clock.run(DRAIN_TIMEOUT_MS - 1);
    expect(s.phases()['fn-2']).toBe('ready');
    await s.clock.run(1);
    await outcome.settled;
    expect(s.phases()['fn-2']).toBe('stopping');
    expect(s.events.query().at(-1)).toMatchObject({ action: 'scale_down_complete', replica: 'fn-2', reason: 'drain-timeout', source: 'idler' });
  });

  it('a scale-up while replicas drain takes them back first and starts only what is missing', async () => {
    const s = await setup(3);
    const slots = s.busy(['fn-1', 'fn-2', 'fn-3']);
    const down = await s.changer.change(s.ref, 'alert', s.to(1));
    const up = await s.changer.change(s.ref, 'alert', s.to(4));
    expect([up.from, up.to]).toEqual([1, 4]);
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(4);
    expect(s.provider.listReplicas(s.ref).map((r) => r.id)).toEqual(['fn-1', 'fn-2', 'fn-3', 'fn-4']);
    expect(s.dispatcher.replicas(s.ref).filter((r) => r.draining)).toEqual([]);
    for (const slot of slots) slot.release();
    await down.settled;
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(4);
  });

  it('a decision that changes nothing is recorded too, with its inputs', async () => {
    const s = await setup(1);
    const outcome = await s.changer.change(s.ref, 'policy', s.to(1, 'unchanged'));
    expect(outcome.changed).toBe(false);
    expect(s.events.query()).toEqual([{ time: s.clock.now(), function: 'fn', source: 'policy', action: 'unchanged', from: 1, to: 1, reason: 'unchanged', inputs: { before: 1, after: 1, asked: 1 } }]);
  });

  it('the decision sees policy, state and the clock time, and must be pure data', async () => {
    const s = await setup(2);
    const seen: unknown[] = [];
    await s.changer.change(s.ref, 'policy', ({ state, policy, now }) => {
      seen.push([state.desired, state.ready, state.replicas.length, policy.maxReplicas, now]);
      return { replicas: state.desired, reason: 'unchanged' };
    });
    expect(seen).toEqual([[2, 2, 2, 10, s.clock.now()]]);
  });

  it('a scale-up records each new replica starting and becoming ready; the log renders as CSV', async () => {
    const s = await setup(1);
    await s.changer.change(s.ref, 'waker', s.to(2, 'wake'));
    await s.clock.run(START_MS);
    const csv = eventsToCsv(s.events.query({ function: 'fn' }));
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe('time,action,target,status,from,to');
    expect(lines.slice(1).map((l) => l.split(',').slice(1).join(','))).toEqual(['scale_up,fn,wake,1,2', 'scale_up_start,fn/fn-2,starting,,', 'scale_up_complete,fn/fn-2,ready,,']);
  });

  it('invalid scale labels refuse the change with LABELS_INVALID and record nothing', async () => {
    const e = await engine({ labels: { 'com.openfaas.scale.min': 'x' } });
    const events = new EventLog(10);
    const drainer = new Drainer({ dispatcher: e.dispatcher, provider: e.provider, clock: e.clock, drainTimeoutMs: 1 });
    const changer = new Changer({ ...e, drainer, events, logger: silentLogger(), defaults: DEFAULT_POLICY, defaultNamespace: NS });
    await expect(changer.change(e.ref, 'api', () => ({ replicas: 2, reason: 'x' }))).rejects.toMatchObject({ code: 'LABELS_INVALID' });
    expect(events.length).toBe(0);
  });
  it('a save that meets PROVIDER_CONFLICT reads and decides again, and the change is recorded once', async () => {
    const s = await setup(1);
    const seen: number[] = [];
    let conflicts = 1;
    const outcome = await s.changer.change(s.ref, 'alert', ({ context }) => ({ replicas: 3, reason: 'step-up', inputs: { stored: context } }), {
      load: async () => {
        seen.push(seen.length);
        return seen.length;
      },
      save: async () => {
        if (conflicts-- > 0) throw new AppError('PROVIDER_CONFLICT', 'stored state moved');
      },
    });
    expect(outcome).toMatchObject({ from: 1, to: 3, changed: true });
    expect(seen).toEqual([0, 1]);
    expect(s.events.query().filter((ev) => ev.action === 'scale_up')).toEqual([expect.objectContaining({ from: 1, to: 3, reason: 'step-up', inputs: { before: 1, after: 3, stored: 2 } })]);
  });

  it('a save that keeps conflicting gives up after the attempts and records nothing', async () => {
    const s = await setup(1);
    let saves = 0;
    const change = s.changer.change(s.ref, 'alert', s.to(3), {
      attempts: 3,
      save: async () => {
        saves += 1;
        throw new AppError('PROVIDER_CONFLICT', 'stored state moved');
      },
    });
    await expect(change).rejects.toMatchObject({ code: 'PROVIDER_CONFLICT' });
    expect(saves).toBe(3);
    expect(s.events.length).toBe(0);
  });

  it('a scale-up the provider refuses is recorded as scale_failed only, and the failed hook runs before the error propagates', async () => {
    const s = await setup(1);
    s.provider.setReplicas = async () => {
      throw new AppError('PROVIDER_UNAVAILABLE', 'injected');
    };
    const phases: string[] = [];
    const change = s.changer.change(s.ref, 'api', s.to(3, 'manual'), { failed: async (_d, _c, _err, phase) => void phases.push(phase) });
    await expect(change).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
    expect(phases).toEqual(['apply']);
    expect(s.events.query().map((ev) => [ev.action, ev.reason, ev.inputs['decided']])).toEqual([['scale_failed', 'PROVIDER_UNAVAILABLE', 'manual']]);
  });

  it('a removal that fails after the drain puts the drained replicas back in service and calls the failed hook', async () => {
    const s = await setup(2);
    s.provider.removeReplicas = async () => {
      throw new AppError('PROVIDER_UNAVAILABLE', 'injected');
    };
    const phases: string[] = [];
    const outcome = await s.changer.change(s.ref, 'alert', s.to(1, 'reset-to-min'), { failed: async (_d, _c, _err, phase) => void phases.push(phase) });
    await outcome.settled;
    expect(phases).toEqual(['settle']);
    expect(s.dispatcher.replicas(s.ref).filter((r) => r.draining)).toEqual([]);
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(2);
    expect(s.events.query().map((ev) => ev.action)).toEqual(['scale_down', 'drain_start', 'scale_failed']);
  });

  it('an applied change is logged once and counted once', async () => {
    const s = await setup(1);
    await s.changer.change(s.ref, 'api', s.to(2, 'manual'));
    await s.changer.change(s.ref, 'api', s.to(2, 'manual'));
    const metric = await s.metrics.scaleChanges.get();
    expect(metric.values.map((v) => [v.labels['reason'], v.labels['source'], v.value])).toEqual([['manual', 'api', 1]]);
    expect(s.events.query().filter((ev) => ev.replica === undefined).map((ev) => ev.action)).toEqual(['scale_up', 'unchanged']);
  });
});
