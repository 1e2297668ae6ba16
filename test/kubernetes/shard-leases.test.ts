/**
 * Membership and bucket Leases in the fake API server, each gateway with its own API client,
 * on a manual clock: rounds are driven by hand (no timers run), so expiry is exact.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { FunctionRef } from '../../src/core/ref.js';
import { KubeApi, loadKubeConfig } from '../../src/providers/kubernetes/index.js';
import { bucketOf, intendedOwners } from '../../src/providers/kubernetes/buckets.js';
import { decodeLoad, encodeLoad, LOAD_MAX_BYTES, MEMBER_LABEL, memberLeaseName } from '../../src/providers/kubernetes/membership.js';
import { Sharding } from '../../src/providers/kubernetes/sharding.js';
import type { FunctionLoad } from '../../src/providers/setup.js';
import type { FakeApiServer } from './fake-api-server.js';
import { quietLogger, startFake } from './helpers.js';

const LEASE_SECONDS = 2;
const BUCKETS = 10;
const refs: FunctionRef[] = Array.from({ length: 60 }, (_, i) => ({ name: `fn-${i}`, namespace: 'openfaas-fn' }));

describe('member Lease names (pure)', () => {
  it('are valid names of at most 63 characters, one per identity, however long or odd the identities', () => {
    // A long pod name: gateways of one Deployment differ only at its end.
    const pod = 'alert-scaler-gateway-with-a-rather-long-deployment-name-7d9f8c6b5d';
    const identities = [`${pod}-a1b2c`, `${pod}-x9y8z`, 'gw-a', 'GW_A', 'gw.a', 'gw-a-'];
    const names = identities.map((identity) => memberLeaseName('alert-scaler', identity));
    for (const name of names) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(new Set(names).size).toBe(identities.length);
    // A short, already valid identity keeps its readable name.
    expect(memberLeaseName('alert-scaler', 'gw-a')).toBe('alert-scaler-member-gw-a');
  });
});

describe('bucket assignment (pure)', () => {
  it('a function always falls in the same bucket, within range', () => {
    for (const ref of refs) {
      const bucket = bucketOf(ref, BUCKETS);
      expect(bucket).toBe(bucketOf({ ...ref }, BUCKETS));
      expect(bucket).toBeGreaterThanOrEqual(0);
      expect(bucket).toBeLessThan(BUCKETS);
    }
    expect(new Set(refs.map((r) => bucketOf(r, BUCKETS))).size).toBe(BUCKETS);
  });

  it('every bucket has one intended owner among the members, whatever their order; none without members', () => {
    const members = ['gw-a', 'gw-b', 'gw-c'];
    const owners = intendedOwners(BUCKETS, members);
    expect(owners).toHaveLength(BUCKETS);
    for (const owner of owners) expect(members).toContain(owner);
    expect(intendedOwners(BUCKETS, [...members].reverse())).toEqual(owners);
    expect(intendedOwners(2, [])).toEqual([null, null]);
  });

  it('bounded loads: no member is meant more than ceil(buckets / members), over many random member sets', () => {
    for (let trial = 0; trial < 500; trial++) {
      const count = 1 + (trial % 5);
      const members = Array.from({ length: count }, (_, i) => `alert-scaler-7d9f-${trial}-${i}-${Math.random().toString(36).slice(2, 8)}`);
      const owners = intendedOwners(10, members);
      for (const m of members) expect(owners.filter((o) => o === m).length).toBeLessThanOrEqual(Math.ceil(10 / count));
      if (count === 3) for (const m of members) expect(owners.filter((o) => o === m).length).toBeGreaterThanOrEqual(2);
    }
  });

  it('a member that leaves moves its own buckets and few others', () => {
    const members = ['gw-a', 'gw-b', 'gw-c', 'gw-d'];
    const before = intendedOwners(100, members);
    const after = intendedOwners(100, members.filter((m) => m !== 'gw-c'));
    expect(after).not.toContain('gw-c');
    const others = before.filter((o) => o !== 'gw-c').length;
    const stayed = before.filter((o, b) => o !== 'gw-c' && after[b] === o).length;
    expect(stayed).toBeGreaterThanOrEqual(Math.floor(others * 0.8));
    // Spread over every member.
    for (const m of members) expect(before.filter((o) => o === m).length).toBe(25);
  });
});

describe('load annotation', () => {
  it('is bounded in size however many functions are busy, and reads back', () => {
    const loads: FunctionLoad[] = Array.from({ length: 10_000 }, (_, i) => ({ function: `function-with-a-long-name-${i}.namespace-${i}`, present: 10_000 - i, queued: { busy: 3, no_replica: 1 }, started: 123_456 }));
    const text = encodeLoad(loads);
    expect(text.length).toBeLessThanOrEqual(LOAD_MAX_BYTES);
    const back = decodeLoad(text);
    expect(back.length).toBeGreaterThan(50);
    expect(back[0]).toEqual(loads[0]);
  });

  it('skips malformed rows and refuses an oversized annotation', () => {
    expect(decodeLoad('[["a",1,0,0,2],["b","x"],7,[3]]')).toEqual([{ function: 'a', present: 1, queued: { busy: 0, no_replica: 0 }, started: 2 }, { function: 'b', present: 0, queued: { busy: 0, no_replica: 0 }, started: 0 }]);
    expect(decodeLoad('not json')).toEqual([]);
    expect(decodeLoad(`[${'["a",1,0,0,1],'.repeat(10_000)}["a",1,0,0,1]]`)).toEqual([]);
  });
});

describe('membership and buckets on Leases', () => {
  let fake: FakeApiServer;
  let kubeconfig: string;
  let close: () => Promise<void>;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const running: Sharding[] = [];
  let round = 0;

  beforeAll(async () => {
    ({ fake, kubeconfig, close } = await startFake());
  });
  afterEach(() => {
    running.splice(0);
  });
  afterAll(async () => close());

  /** Gateways on a namespace of their own (so the tests do not see each other's Leases). */
  function gateways(...names: string[]): Sharding[] {
    round += 1;
    const namespace = `shard-${round}`;
    fake.ensureNamespace(namespace);
    return names.map((identity) => {
      const s = new Sharding({
        api: new KubeApi(loadKubeConfig(kubeconfig), 2000), namespace, group: 'alert-scaler', buckets: BUCKETS,
        leaseDurationSeconds: LEASE_SECONDS, renewMs: 500, identity, now: () => clock, logger: quietLogger(),
      });
      running.push(s);
      return s;
    });
  }

  const rounds = async (gws: readonly Sharding[], times = 1): Promise<void> => {
    for (let i = 0; i < times; i++) for (const g of gws) await g.round();
  };
  const ownersOf = (gws: readonly Sharding[], ref: FunctionRef): string[] => gws.filter((g) => g.buckets.owns(ref)).map((g) => g.buckets.self);

  it('three gateways from the same config count 3 with ranks 0..2, and each function has exactly one owner, the intended one', async () => {
    const gws = gateways('gw-a', 'gw-b', 'gw-c');
    await rounds(gws, 3);
    expect(gws.map((g) => g.membership.count)).toEqual([3, 3, 3]);
    expect(gws.map((g) => g.membership.index).sort()).toEqual([0, 1, 2]);
    for (const ref of refs) {
      const owners = ownersOf(gws, ref);
      expect(owners).toEqual([intendedOwners(BUCKETS, ['gw-a', 'gw-b', 'gw-c'])[bucketOf(ref, BUCKETS)]]);
      for (const g of gws) expect(g.buckets.ownerOf(ref)).toBe(owners[0]);
    }
    expect(fake.objects('coordination.k8s.io', 'leases', `shard-${round}`).filter((l) => (l.metadata.labels as Record<string, string> | undefined)?.[MEMBER_LABEL] === 'alert-scaler')).toHaveLength(3);
  });

  it('a gateway that stops deletes its Lease and releases its buckets: the others count 2 and take them at their next round, no clock advance', async () => {
    const gws = gateways('gw-a', 'gw-b', 'gw-c');
    await rounds(gws, 3);
    const [a, b, c] = gws as [Sharding, Sharding, Sharding];
    await c.stop();
    await rounds([a, b], 2);
    expect([a.membership.count, b.membership.count]).toEqual([2, 2]);
    for (const ref of refs) expect(ownersOf([a, b, c], ref)).toEqual([intendedOwners(BUCKETS, ['gw-a', 'gw-b'])[bucketOf(ref, BUCKETS)]]);
  });

  it('a dead gateway (no more renewals) counts until its record stood still a lease duration on the others\' clock; its buckets move then', async () => {
    const gws = gateways('gw-a', 'gw-b', 'gw-c');
    await rounds(gws, 3);
    const [a, b, c] = gws as [Sharding, Sharding, Sharding];
    const cRefs = refs.filter((r) => c.buckets.owns(r));
    expect(cRefs.length).toBeGreaterThan(0);
    // c is killed: it renews no more. Just short of a lease duration, it still counts and holds its buckets.
    clock += LEASE_SECONDS * 1000 - 100;
    await rounds([a, b]);
    expect([a.membership.count, b.membership.count]).toEqual([3, 3]);
    for (const ref of cRefs) expect(ownersOf([a, b], ref)).toEqual([]);
    // c itself stepped down already: past its renew deadline (2/3 of the lease) it decides nothing.
    for (const ref of cRefs) expect(c.buckets.owns(ref)).toBe(false);
    // One renew period later the lease duration has passed: the others count 2 and take its buckets in that round.
    clock += 500;
    await rounds([a, b]);
    expect([a.membership.count, b.membership.count]).toEqual([2, 2]);
    const intended = intendedOwners(BUCKETS, ['gw-a', 'gw-b']);
    for (const ref of cRefs) expect(ownersOf([a, b], ref)).toEqual([intended[bucketOf(ref, BUCKETS)]]);
    // A bucket that moves between the two to keep them balanced is released in that round and
    // taken in the next; what each sees of the other's buckets is as of its last list: one
    // more round and they agree.
    await rounds([a, b]);
    for (const ref of refs) expect(ownersOf([a, b], ref)).toEqual([intended[bucketOf(ref, BUCKETS)]]);
    for (const ref of cRefs) expect(a.buckets.ownerOf(ref)).toBe(ownersOf([a, b], ref)[0]);
  });

  it('a dead member\'s Lease is swept as it was listed: one its member renewed meanwhile stays', async () => {
    const gws = gateways('gw-a', 'gw-b', 'gw-c');
    const namespace = `shard-${round}`;
    await rounds(gws, 2);
    const [a, b] = gws as [Sharding, Sharding, Sharding];
    const leaseOfC = () => fake.objects('coordination.k8s.io', 'leases', namespace).find((l) => l.metadata.name === 'alert-scaler-member-gw-c');
    // c renews no more; a and b see its record stand still.
    clock += LEASE_SECONDS * 1000 + 100;
    await rounds([a, b]);
    clock += 2 * LEASE_SECONDS * 1000 + 100;
    // c comes back just as a deletes its Lease (a paused process resumed): the delete meets the newer version.
    fake.onRequest = (r) => {
      if (r.method !== 'DELETE' || !r.path.endsWith('/alert-scaler-member-gw-c')) return;
      fake.onRequest = undefined;
      fake.mutateObject('coordination.k8s.io', 'leases', namespace, 'alert-scaler-member-gw-c', (l) => {
        (l['spec'] as { renewTime?: string }).renewTime = new Date(clock).toISOString();
      });
    };
    await a.round();
    expect(fake.onRequest).toBeUndefined();
    expect(leaseOfC()).toBeDefined();
    // Still dead after that (nothing renews it): swept once it stood still long enough again.
    clock += 3 * LEASE_SECONDS * 1000 + 100;
    await rounds([a, b]);
    clock += 3 * LEASE_SECONDS * 1000 + 100;
    await rounds([a, b]);
    expect(leaseOfC()).toBeUndefined();
  });

  it('an owner steps down at its renew deadline (2/3 of the lease), before anyone may take over', async () => {
    const [a] = gateways('gw-a') as [Sharding];
    await rounds([a]);
    expect(refs.every((r) => a.buckets.owns(r))).toBe(true);
    clock += Math.floor((LEASE_SECONDS * 1000 * 2) / 3) - 1;
    expect(a.buckets.owns(refs[0] as FunctionRef)).toBe(true);
    clock += 1;
    expect(refs.some((r) => a.buckets.owns(r))).toBe(false);
    // Renewing again restores it.
    await rounds([a]);
    expect(refs.every((r) => a.buckets.owns(r))).toBe(true);
  });

  it('a new member gets its buckets: the old holder releases them and the newcomer acquires them within one round each', async () => {
    const [a, b] = gateways('gw-a', 'gw-b') as [Sharding, Sharding];
    await rounds([a]);
    expect(refs.every((r) => a.buckets.owns(r))).toBe(true);
    await rounds([b, a, b]);
    for (const ref of refs) expect(ownersOf([a, b], ref)).toEqual([intendedOwners(BUCKETS, ['gw-a', 'gw-b'])[bucketOf(ref, BUCKETS)]]);
    expect(b.buckets.heldBuckets().length).toBeGreaterThan(0);
  });

  it('each member reads the others\' published load (not its own), summed per function', async () => {
    const [a, b, c] = gateways('gw-a', 'gw-b', 'gw-c') as [Sharding, Sharding, Sharding];
    const load = (present: number): FunctionLoad[] => [{ function: 'fn-1', present, queued: { busy: present - 1, no_replica: 0 }, started: 10 * present }];
    a.membership.attach({ address: () => 'http://127.0.0.1:1001', load: () => load(2) });
    b.membership.attach({ address: () => 'http://127.0.0.1:1002', load: () => load(5) });
    c.membership.attach({ address: () => null, load: () => [] });
    await rounds([a, b, c], 2);
    const seen = await c.membership.read(new AbortController().signal);
    expect(seen.get('fn-1')).toEqual({ present: 7, queued: { busy: 5, no_replica: 0 }, started: 70 });
    expect((await a.membership.read(new AbortController().signal)).get('fn-1')).toEqual({ present: 5, queued: { busy: 4, no_replica: 0 }, started: 50 });
    const addresses = [0, 1, 2].map((i) => c.membership.addressOf(i)?.toString() ?? null);
    expect(addresses).toEqual(['http://127.0.0.1:1001/', 'http://127.0.0.1:1002/', null]);
  });

  it('by default the lease deadline is kept on a clock that does not step: a wall clock jumping a minute ahead does not end the ownership', async () => {
    fake.ensureNamespace('shard-steady');
    const wall = Date.now;
    let step = 0;
    Date.now = () => wall() + step;
    try {
      const g = new Sharding({
        api: new KubeApi(loadKubeConfig(kubeconfig), 2000), namespace: 'shard-steady', group: 'alert-scaler', buckets: BUCKETS,
        leaseDurationSeconds: LEASE_SECONDS, renewMs: 500, identity: 'gw-steady', logger: quietLogger(),
      });
      await g.round();
      await g.round();
      expect(refs.every((ref) => g.buckets.owns(ref))).toBe(true);
      step = 60_000;
      expect(refs.every((ref) => g.buckets.owns(ref))).toBe(true);
    } finally {
      Date.now = wall;
    }
  });
});
