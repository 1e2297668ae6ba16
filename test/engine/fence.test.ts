/** The fence: a decision of a gateway that lost the function's bucket is not applied. */
import { describe, expect, it } from '@jest/globals';
import { Changer, type Decide } from '../../src/engine/changer.js';
import { Drainer } from '../../src/engine/drain.js';
import { EventLog } from '../../src/engine/events.js';
import { isAppError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import type { FunctionRef, ReplicaProvider, ScaleWrite } from '../../src/providers/types.js';
import { DelegatingProvider } from '../support/delegating-provider.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { engine, NS, settle } from './support/engine.js';

/** A provider whose count writes wait for `release` (as a Kubernetes write waits in its queue, the rate limiter or a 409), then check their fence. */
class LateWrites extends DelegatingProvider {
  readonly fences: Array<ScaleWrite | undefined> = [];
  release: () => void = () => undefined;

  override async setReplicas(ref: FunctionRef, replicas: number, write?: ScaleWrite): Promise<void> {
    this.fences.push(write);
    await new Promise<void>((resolve) => (this.release = resolve));
    return super.setReplicas(ref, replicas, write);
  }
}

async function setup(replicas: number, wrap: (p: ReplicaProvider) => ReplicaProvider = (p) => p) {
  const e = await engine({ replicas, labels: { 'com.openfaas.scale.max': '10' } });
  const events = new EventLog(100);
  const drainer = new Drainer({ dispatcher: e.dispatcher, provider: e.provider, clock: e.clock, drainTimeoutMs: 30_000 });
  const ownership = { owned: true };
  const changer = new Changer({ ...e, provider: wrap(e.provider), drainer, events, logger: silentLogger(), defaults: DEFAULT_POLICY, defaultNamespace: NS, owns: () => ownership.owned });
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

  it('the fence goes with the write to the provider: a write sent after the owner lost the bucket is refused there', async () => {
    let late: LateWrites | undefined;
    const s = await setup(1, (p) => (late = new LateWrites(p)));
    const outcome = s.changer.change(s.ref, 'policy', s.to(3)).then(() => null, (e: unknown) => e);
    await settle();
    expect(late?.fences).toHaveLength(1);
    // The engine's own check passed; the bucket is lost while the write waits in the provider.
    s.ownership.owned = false;
    late?.release();
    expect(isAppError(await outcome, 'NOT_OWNER')).toBe(true);
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(1);
  });

  it('an alert\'s scale-down made as the owner is fenced; a step up, or a cap a receiver applies, is not', async () => {
    const s = await setup(3);
    s.ownership.owned = false;
    const err = await s.changer.change(s.ref, 'alert', s.to(1), { asOwner: () => true }).then(() => null, (e: unknown) => e);
    expect(isAppError(err, 'NOT_OWNER')).toBe(true);
    expect((await s.provider.getReplicas(s.ref)).desired).toBe(3);
    expect((await s.changer.change(s.ref, 'alert', s.to(5), { asOwner: () => true })).changed).toBe(true);
    const capped = await s.changer.change(s.ref, 'alert', s.to(4), { asOwner: () => false });
    expect(capped.changed).toBe(true);
    await capped.settled;
  });
});
