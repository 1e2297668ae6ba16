/** The fence: a decision of a gateway that lost the function's bucket is not applied. */
import { describe, expect, it } from '@jest/globals';
import { Changer, type Decide } from '../../src/engine/changer.js';
import { Drainer } from '../../src/engine/drain.js';
import { EventLog } from '../../src/engine/events.js';
import { isAppError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { engine, NS, settle } from './support/engine.js';

async function setup(replicas: number) {
  const e = await engine({ replicas, labels: { 'com.openfaas.scale.max': '10' } });
  const events = new EventLog(100);
  const drainer = new Drainer({ dispatcher: e.dispatcher, provider: e.provider, clock: e.clock, drainTimeoutMs: 30_000 });
  const ownership = { owned: true };
  const changer = new Changer({ ...e, drainer, events, logger: silentLogger(), defaults: DEFAULT_POLICY, defaultNamespace: NS, owns: () => ownership.owned });
  const to = (n: number): Decide => () => ({ replicas: n, reason: 'test', inputs: {} });
  return { ...e, events, changer, to, ownership };
}

describe('fenced writes', () => {
  it('a policy decision made while owning, but whose owner lost the bucket before the write, is not applied (NOT_OWNER)', async () => {
    const s = await setup(1);
    // Ownership is lost while the cycle awaits (after the read and the decision).
    const outcome = s.changer.change(s.ref, 'policy', s.to(3), { load: async () => { s.ownership.owned = false; return undefined; } });
    const err = await outcome.then(() => null, (e: unknown) => e);
    expect(isAppError(err, 'NOT_OWNER')).toBe(true);
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(1);
    expect(s.events.query().filter((ev) => ev.action === 'scale_up')).toEqual([]);
  });

  it('a scale-down whose owner lost the bucket during the drain removes nothing; the replicas serve again', async () => {
    const s = await setup(3);
    // Every replica busy: the one chosen drains until its call ends.
    const slots = [0, 1, 2].map(() => s.dispatcher.tryAcquire(s.ref));
    const outcome = await s.changer.change(s.ref, 'idler', () => ({ replicas: 2, reason: 'idle' }));
    expect(outcome.changed).toBe(true);
    expect(s.dispatcher.replicas(s.ref).filter((r) => r.draining)).toHaveLength(1);
    s.ownership.owned = false;
    for (const slot of slots) slot?.release();
    await s.clock.run(1000);
    await outcome.settled;
    await settle();
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(3);
    expect(s.events.query().filter((ev) => ev.action === 'scale_failed').map((ev) => ev.reason)).toEqual(['NOT_OWNER']);
    expect(s.dispatcher.replicas(s.ref).filter((r) => r.draining)).toEqual([]);
  });

  it('sources every gateway may apply (an alert, the API, a wake) are not fenced', async () => {
    const s = await setup(1);
    s.ownership.owned = false;
    for (const [source, n] of [['alert', 2], ['api', 3], ['waker', 4]] as const) {
      const outcome = await s.changer.change(s.ref, source, s.to(n));
      expect(outcome.changed).toBe(true);
    }
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(4);
  });
});
