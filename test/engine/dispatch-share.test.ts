/** The dispatcher's share of each replica's hard limit following live membership, and forwarding when it has no slot. */
import { describe, expect, it } from '@jest/globals';
import { gatewayShare, type GatewayShard } from '../../src/engine/replicas.js';
import { engine, settle } from './support/engine.js';

const CONCURRENCY_1 = { 'com.openfaas.scale.concurrency': '1' };

/** A membership stand-in: count and rank change when the test says, as the member Leases would. */
class LiveShard implements GatewayShard {
  constructor(
    public count: number,
    public index: number,
    private readonly addresses: ReadonlyArray<string | null>,
  ) {}

  addressOf(index: number): URL | null {
    const address = this.addresses[index];
    return address === undefined || address === null ? null : new URL(address);
  }
}

describe('the dispatcher\'s share follows the live gateway count', () => {
  it('concurrency 1 on two replicas, three gateways: the shares add up to one slot per replica; at two gateways each replica has one owner', async () => {
    const shards = [0, 1, 2].map((index) => new LiveShard(3, index, []));
    const engines = await Promise.all(shards.map((shard) => engine({ replicas: 2, labels: CONCURRENCY_1 }, { shard })));
    const ids = (engines[0]?.dispatcher.replicas(engines[0].ref) ?? []).map((r) => r.id);
    expect(ids).toHaveLength(2);
    // Every gateway takes all the slots it can; over the three, exactly one per replica.
    const takeAll = (list: typeof engines) => list.map((e) => {
      const got: Array<{ replicaId: string; release(): void }> = [];
      for (let i = 0; i < 3; i++) {
        const slot = e.dispatcher.tryAcquire(e.ref, true);
        if (slot !== null) got.push(slot);
      }
      return got;
    });
    const three = takeAll(engines);
    expect(three.flat().map((s) => s.replicaId).sort()).toEqual([...ids].sort());
    expect(three.some((got) => got.length === 0)).toBe(true);
    for (const slot of three.flat()) slot.release();
    // The third leaves: count 2, ranks 0 and 1; after reshard each replica's slot has one owner among the two.
    shards.slice(0, 2).forEach((shard, i) => {
      shard.count = 2;
      shard.index = i;
    });
    const two = engines.slice(0, 2);
    for (const e of two) e.dispatcher.reshard();
    const after = takeAll(two);
    expect(after.flat().map((s) => s.replicaId).sort()).toEqual([...ids].sort());
  });

  it('a waiting call gets the slot the gateway gains when the count drops (reshard serves the queue)', async () => {
    // Two gateways, concurrency 1, one replica: find the rank without the slot.
    const probe = await engine({ replicas: 1, labels: CONCURRENCY_1 });
    const id = probe.dispatcher.replicas(probe.ref)[0]?.id ?? '';
    const rank = gatewayShare(1, { count: 2, index: 0 }, id) === 0 ? 0 : 1;
    const shard = new LiveShard(2, rank, []);
    const e = await engine({ replicas: 1, labels: CONCURRENCY_1 }, { shard });
    expect(e.dispatcher.tryAcquire(e.ref, true)).toBeNull();
    let got: string | null = null;
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000, local: true }).then((slot) => (got = slot.replicaId));
    await settle();
    expect(got).toBeNull();
    shard.count = 1;
    shard.index = 0;
    e.dispatcher.reshard();
    await waiting;
    expect(got).toBe(id);
  });

  it('a gateway with no slot on any replica forwards the call to a member that has one (never when the call was forwarded to it)', async () => {
    const probe = await engine({ replicas: 1, labels: CONCURRENCY_1 });
    const id = probe.dispatcher.replicas(probe.ref)[0]?.id ?? '';
    // Three gateways: the one owning the replica's slot, and one without.
    const owner = [0, 1, 2].find((index) => gatewayShare(1, { count: 3, index }, id) === 1) ?? 0;
    const without = [0, 1, 2].find((index) => index !== owner) ?? 0;
    const addresses = ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003'];
    const e = await engine({ replicas: 1, labels: CONCURRENCY_1 }, { shard: new LiveShard(3, without, addresses) });
    const slot = e.dispatcher.tryAcquire(e.ref);
    expect(slot?.forwarded).toBe(true);
    expect(slot?.url.toString()).toBe(`${addresses[owner]}/function/fn`);
    // It holds no slot here: the replica stays free, nothing is counted as present.
    expect(e.dispatcher.replicas(e.ref)[0]?.inFlight).toBe(0);
    slot?.release();
    // A forwarded call is not forwarded again: it waits here.
    expect(e.dispatcher.tryAcquire(e.ref, true)).toBeNull();
    // Without a known address for the owner, nothing to forward to: it waits too.
    const blind = await engine({ replicas: 1, labels: CONCURRENCY_1 }, { shard: new LiveShard(3, without, [null, null, null]) });
    expect(blind.dispatcher.tryAcquire(blind.ref)).toBeNull();
  });

  it('a call waiting for want of a peer address is forwarded once the members change and the address is known', async () => {
    const probe = await engine({ replicas: 1, labels: CONCURRENCY_1 });
    const id = probe.dispatcher.replicas(probe.ref)[0]?.id ?? '';
    const owner = [0, 1, 2].find((index) => gatewayShare(1, { count: 3, index }, id) === 1) ?? 0;
    const without = [0, 1, 2].find((index) => index !== owner) ?? 0;
    const addresses: Array<string | null> = [null, null, null];
    const e = await engine({ replicas: 1, labels: CONCURRENCY_1 }, { shard: new LiveShard(3, without, addresses) });
    const local = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000, local: true });
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000 });
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(2);
    addresses[owner] = 'http://127.0.0.1:9009';
    e.dispatcher.reshard();
    const slot = await waiting;
    expect(slot.forwarded).toBe(true);
    expect(slot.url.toString()).toBe('http://127.0.0.1:9009/function/fn');
    // The call forwarded here stays in the queue; the present count no longer holds the one that left.
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(1);
    expect(e.dispatcher.loads(5)[0]?.present).toBe(1);
    e.dispatcher.close();
    await expect(local).rejects.toThrow(/shutting down/);
  });

  it('a call whose forward was refused waits here, then goes to the member with the slot once the members change', async () => {
    const probe = await engine({ replicas: 1, labels: CONCURRENCY_1 });
    const id = probe.dispatcher.replicas(probe.ref)[0]?.id ?? '';
    const owner = [0, 1, 2].find((index) => gatewayShare(1, { count: 3, index }, id) === 1) ?? 0;
    const without = [0, 1, 2].find((index) => index !== owner) ?? 0;
    const addresses: Array<string | null> = ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003'];
    const shard = new LiveShard(3, without, addresses);
    const e = await engine({ replicas: 1, labels: CONCURRENCY_1 }, { shard });
    // The owner refused the forward (its process gone): the retry is not sent straight back to it.
    let granted: URL | undefined;
    const retried = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000, forwardLater: true }).then((slot) => (granted = slot.url));
    const local = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000, local: true });
    await settle();
    expect(granted).toBeUndefined();
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(2);
    // The owner came back on a new address (a worker forked again, a pod restarted): the members changed.
    addresses[owner] = 'http://127.0.0.1:9109';
    e.dispatcher.reshard();
    await retried;
    expect(granted?.toString()).toBe('http://127.0.0.1:9109/function/fn');
    // The call forwarded here still waits for a slot of its own.
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(1);
    e.dispatcher.close();
    await expect(local).rejects.toThrow(/shutting down/);
  });

  it('calls waiting at a gateway with no slot while the function wakes are forwarded once its replica is ready', async () => {
    const probe = await engine({ replicas: 1, labels: CONCURRENCY_1 });
    const id = probe.dispatcher.replicas(probe.ref)[0]?.id ?? '';
    const owner = [0, 1, 2].find((index) => gatewayShare(1, { count: 3, index }, id) === 1) ?? 0;
    const without = [0, 1, 2].find((index) => index !== owner) ?? 0;
    const addresses = ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003'];
    const e = await engine({ replicas: 0, labels: CONCURRENCY_1 }, { shard: new LiveShard(3, without, addresses), onNeedReplica: (ref) => void e.provider.setReplicas(ref, 1) });
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000 });
    await settle();
    expect(e.dispatcher.stats(e.ref).queued.no_replica).toBe(1);
    await e.clock.run(1000);
    const slot = await waiting;
    expect(e.dispatcher.replicas(e.ref)[0]?.id).toBe(id);
    expect(slot.forwarded).toBe(true);
    expect(slot.url.toString()).toBe(`${addresses[owner]}/function/fn`);
  });

  it('publishes the busiest functions\' load: requests held, waiting by reason, arrivals', async () => {
    const e = await engine({ replicas: 1, labels: CONCURRENCY_1 });
    const first = e.dispatcher.tryAcquire(e.ref);
    const waiting = e.dispatcher.acquire(e.ref, { maxWaitMs: 60_000 });
    expect(e.dispatcher.loads(10)).toEqual([{ function: 'fn', present: 2, queued: { busy: 1, no_replica: 0 }, started: 2 }]);
    first?.release();
    (await waiting).release();
    expect(e.dispatcher.loads(10)).toEqual([{ function: 'fn', present: 0, queued: { busy: 0, no_replica: 0 }, started: 2 }]);
    e.clock.advance(61_000);
    expect(e.dispatcher.loads(10)).toEqual([]);
  });
});
