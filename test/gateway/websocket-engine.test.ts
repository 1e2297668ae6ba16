import { describe, expect, it } from '@jest/globals';
import { Drainer } from '../../src/engine/drain.js';
import { parseRequestLimits } from '../../src/policy/labels.js';
import { LIMITS, engine, settle } from '../engine/support/engine.js';

describe('what the engine gives a WebSocket', () => {
  it('a held slot outlives the request timeout and still counts in flight until released', async () => {
    const e = await engine({ replicas: 1 });
    const slot = e.dispatcher.tryAcquire(e.ref);
    if (slot === null) throw new Error('no slot');
    const expired: string[] = [];
    slot.onTimeout((reason) => expired.push(reason.code));
    slot.hold();
    e.clock.advance(LIMITS.requestTimeoutMs * 3);
    expect(expired).toEqual([]);
    expect(slot.signal.aborted).toBe(false);
    expect(e.dispatcher.replicas(e.ref)[0]?.inFlight).toBe(1);
    slot.release();
    expect(e.dispatcher.replicas(e.ref)[0]?.inFlight).toBe(0);
  });

  it('a slot not held is still cut at the request timeout', async () => {
    const e = await engine({ replicas: 1 });
    const slot = e.dispatcher.tryAcquire(e.ref);
    const expired: string[] = [];
    slot?.onTimeout((reason) => expired.push(reason.code));
    e.clock.advance(LIMITS.requestTimeoutMs);
    expect(expired).toEqual(['REQUEST_TIMEOUT']);
  });

  it('a drain that times out with a slot still held tells the listeners which replicas, before it resolves', async () => {
    const e = await engine({ replicas: 2 });
    const drainer = new Drainer({ dispatcher: e.dispatcher, provider: e.provider, clock: e.clock, drainTimeoutMs: 1000 });
    const slot = e.dispatcher.tryAcquire(e.ref);
    if (slot === null) throw new Error('no slot');
    slot.hold();
    const busy = slot.replicaId;
    const idle = e.dispatcher.replicas(e.ref).find((r) => r.id !== busy)?.id ?? '';
    const told: string[][] = [];
    const off = drainer.onDrainTimeout((_ref, ids) => told.push([...ids]));
    const drained = drainer.drain(e.ref, [busy, idle]);
    e.clock.advance(999);
    await settle();
    expect(told).toEqual([]);
    e.clock.advance(1);
    const outcomes = await drained;
    expect(told).toEqual([[busy]]);
    expect(outcomes.get(busy)).toBe('drain-timeout');
    expect(outcomes.get(idle)).toBe('drained');
    off();
    slot.release();
  });

  it('the dispatcher reads the idle timeout label with the other request limits', async () => {
    const e = await engine({ replicas: 1, labels: { 'com.openfaas.websocket.idle-timeout': '90s' } });
    expect(e.dispatcher.limits(e.ref)?.websocketIdleTimeoutMs).toBe(90_000);
    expect(e.dispatcher.limits({ name: 'other', namespace: 'openfaas-fn' })).toBeUndefined();
    const parsed = parseRequestLimits({ 'com.openfaas.websocket.idle-timeout': '0s' }, {}, { ...LIMITS, websocketIdleTimeoutMs: 300_000 });
    expect(parsed.ok && parsed.limits.websocketIdleTimeoutMs).toBe(0);
    const bad = parseRequestLimits({ 'com.openfaas.websocket.idle-timeout': 'soon' }, {}, LIMITS);
    expect(bad.ok).toBe(false);
  });
});
