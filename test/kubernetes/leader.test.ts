/** LeaderElector on a coordination.k8s.io/v1 Lease in the fake API server, with a manual lease clock. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeApi, loadKubeConfig } from '../../src/providers/kubernetes/index.js';
import { LeaderElector } from '../../src/providers/kubernetes/leader.js';
import type { FakeApiServer } from './fake-api-server.js';
import { quietLogger, startFake, waitFor } from './helpers.js';

const LEASE_SECONDS = 5;

describe('LeaderElector', () => {
  let fake: FakeApiServer;
  let kubeconfig: string;
  let close: () => Promise<void>;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const electors: LeaderElector[] = [];
  let leaseName = 0;

  beforeAll(async () => {
    ({ fake, kubeconfig, close } = await startFake());
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop({ release: false })));
    fake.clearFaults();
  });
  afterAll(async () => close());

  /** Two electors on one new Lease, each with its own API client; the lease clock is manual. */
  function pair(): [LeaderElector, LeaderElector, string] {
    leaseName += 1;
    const name = `alert-scaler-${leaseName}`;
    const make = (identity: string): LeaderElector => {
      const e = new LeaderElector({
        api: new KubeApi(loadKubeConfig(kubeconfig), 2000), name, identity,
        leaseDurationSeconds: LEASE_SECONDS, retryPeriodMs: 10, now: () => clock, logger: quietLogger(),
      });
      electors.push(e);
      return e;
    };
    return [make('pod-a'), make('pod-b'), name];
  }

  const lease = (name: string): { holderIdentity?: string; leaseTransitions?: number; leaseDurationSeconds?: number } =>
    (fake.objects('coordination.k8s.io', 'leases', 'openfaas').find((l) => l.metadata.name === name)?.['spec'] ?? {}) as never;

  it('of two electors exactly one leads, and it is the Lease holder', async () => {
    const [a, b, name] = pair();
    await Promise.all([a.start(), b.start()]);
    // Several retry periods: the leader renews, the other keeps observing.
    for (let i = 0; i < 5; i += 1) {
      clock += 1000;
      await new Promise((r) => setTimeout(r, 25));
      expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
    }
    const leader = a.isLeader() ? 'pod-a' : 'pod-b';
    expect(lease(name)).toMatchObject({ holderIdentity: leader, leaseDurationSeconds: LEASE_SECONDS });
  });

  it('when the leader stops it releases the Lease and the other takes over at once', async () => {
    const [a, b, name] = pair();
    await a.start();
    await b.start();
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    const changes: boolean[] = [];
    b.onChange((leading) => changes.push(leading));
    await a.stop();
    expect(a.isLeader()).toBe(false);
    await waitFor(() => b.isLeader(), 'b to lead');
    expect(changes).toEqual([true]);
    expect(lease(name)).toMatchObject({ holderIdentity: 'pod-b', leaseTransitions: 1 });
  });

  it('when the leader dies (no release) the other takes over within the lease duration, not before', async () => {
    const [a, b, name] = pair();
    await a.start();
    await b.start();
    expect(a.isLeader()).toBe(true);
    await a.stop({ release: false });
    const killedAt = clock;
    // Let b observe the abandoned record, then move the lease clock to just before expiry.
    await new Promise((r) => setTimeout(r, 30));
    clock = killedAt + LEASE_SECONDS * 1000 - 1;
    await new Promise((r) => setTimeout(r, 50));
    expect(b.isLeader()).toBe(false);
    clock = killedAt + LEASE_SECONDS * 1000;
    await waitFor(() => b.isLeader(), 'b to take over', 2000);
    expect(clock - killedAt).toBeLessThanOrEqual(LEASE_SECONDS * 1000);
    expect(lease(name).holderIdentity).toBe('pod-b');
  });

  it('a leader that cannot renew steps down at its renew deadline', async () => {
    const [a] = pair();
    await a.start();
    expect(a.isLeader()).toBe(true);
    fake.failNext({ path: '/leases/', status: 503, count: 1_000_000 });
    clock += 1000;
    await new Promise((r) => setTimeout(r, 30));
    expect(a.isLeader()).toBe(true);
    clock += LEASE_SECONDS * 1000;
    await waitFor(() => !a.isLeader(), 'a to step down', 2000);
  });

  it('a conflicting update means not leader', async () => {
    const [a, , name] = pair();
    await a.start();
    expect(a.isLeader()).toBe(true);
    await a.stop({ release: false });
    // Someone else took the lease after a's read: a's write carries a stale resourceVersion.
    fake.onRequest = (r) => {
      if (r.method !== 'PUT') return;
      fake.onRequest = undefined;
      fake.mutateObject('coordination.k8s.io', 'leases', 'openfaas', name, (l) => { (l['spec'] as { holderIdentity: string }).holderIdentity = 'pod-z'; });
    };
    clock += 1000;
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(a.isLeader()).toBe(false);
  });
});
