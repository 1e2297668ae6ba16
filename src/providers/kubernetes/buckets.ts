/**
 * Functions sharded over gateways by bucket Leases, as Knative's autoscaler does: a function
 * falls in bucket `hash(namespace/name) mod B`; each bucket's intended owner is chosen from the
 * live members by rendezvous hashing with bounded loads (balanced; a member that leaves moves its own buckets and few others); a
 * gateway acquires the buckets meant for it (free, released, or expired by observed time),
 * renews them every round, and releases the ones no longer meant for it. It decides for a
 * function only while it holds the bucket and is within its renew deadline (2/3 of the lease,
 * as client-go), while the others take over only after a whole lease duration: a gateway
 * that was paused steps down before anyone else steps in.
 */
import type { Logger } from 'winston';
import { stableHash } from '../../core/hash.js';
import { refKey, type FunctionRef } from '../../core/ref.js';
import { isAppError } from '../../errors.js';
import type { Ownership } from '../setup.js';
import { V1MicroTime, type V1Lease } from './client.js';
import { Observations, type LeaseApi } from './membership.js';

/** The label that marks a bucket Lease; its value is the bucket set's name (the Lease name prefix). */
export const BUCKET_LABEL = 'alert-scaler.io/bucket';

/** The bucket of a function among `buckets`: stable across processes. */
export function bucketOf(ref: FunctionRef, buckets: number): number {
  return stableHash(refKey(ref)) % buckets;
}

/** MurmurHash3's finalizer: FNV of similar names (`gw-a`, `gw-b`) differ in few bits; this spreads them. */
function mix32(h: number): number {
  let x = h >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Rendezvous score of `member` for `bucket`: the higher, the more `bucket` wants it. */
function score(member: string, bucket: number): number {
  return mix32(stableHash(member) ^ Math.imul(bucket + 1, 0x9e3779b1));
}

/**
 * The intended owner of each of `buckets` buckets among `members` (null when there are none):
 * rendezvous hashing with bounded loads. Each bucket, in order, goes to the member that scores
 * it highest among those holding fewer than ceil(buckets / members): no member holds more
 * than that (10 buckets, 3 gateways: 4, 4 and 2 at worst; plain rendezvous
 * over random identities left a gateway with 6 of 10 buckets, or none, in about one start in
 * twenty); a change of members moves the leaver's buckets and few others. Every gateway computes the same from the same members.
 */
export function intendedOwners(buckets: number, members: readonly string[]): Array<string | null> {
  if (members.length === 0) return Array.from({ length: buckets }, () => null);
  const cap = Math.ceil(buckets / members.length);
  const load = new Map<string, number>(members.map((m) => [m, 0]));
  const owners: Array<string | null> = [];
  for (let bucket = 0; bucket < buckets; bucket++) {
    let best: string | null = null;
    let bestScore = -1;
    for (const member of members) {
      if ((load.get(member) ?? 0) >= cap) continue;
      const s = score(member, bucket);
      if (s > bestScore || (s === bestScore && best !== null && member < best)) {
        best = member;
        bestScore = s;
      }
    }
    if (best !== null) load.set(best, (load.get(best) ?? 0) + 1);
    owners.push(best);
  }
  return owners;
}

export interface BucketLeasesOptions {
  readonly api: LeaseApi;
  readonly namespace: string;
  /** Name prefix of the bucket Leases (`<prefix>-<i>`), also the value of their label. */
  readonly prefix: string;
  readonly buckets: number;
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  /** An owner that could not renew for this long stops deciding; default 2/3 of the lease. */
  readonly renewDeadlineMs?: number;
  readonly now: () => number;
  readonly logger: Logger;
}

/** The bucket Leases as this gateway sees and holds them; `round` is driven from outside. */
export class BucketLeases implements Ownership {
  readonly self: string;
  private readonly observations = new Observations();
  private readonly listeners = new Set<() => void>();
  private readonly log: Logger;
  private readonly renewDeadlineMs: number;
  /** Buckets held: when each was last renewed (clock ms, taken before the write). */
  private readonly held = new Map<number, number>();
  /** The live holder of every bucket as last listed (this gateway's own included). */
  private holders: ReadonlyArray<string | null> = [];

  constructor(private readonly options: BucketLeasesOptions) {
    this.self = options.identity;
    this.renewDeadlineMs = options.renewDeadlineMs ?? Math.floor((options.leaseDurationSeconds * 1000 * 2) / 3);
    this.log = options.logger.child({ component: 'buckets', identity: options.identity });
  }

  owns(ref: FunctionRef): boolean {
    const renewedAt = this.held.get(bucketOf(ref, this.options.buckets));
    return renewedAt !== undefined && this.options.now() - renewedAt < this.renewDeadlineMs;
  }

  ownerOf(ref: FunctionRef): string | null {
    if (this.owns(ref)) return this.self;
    const holder = this.holders[bucketOf(ref, this.options.buckets)] ?? null;
    return holder === this.self ? null : holder;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The buckets this gateway holds now, sorted. */
  heldBuckets(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** One round: list the bucket Leases, then acquire, renew or release each as `members` (live, sorted) intend. */
  async round(members: readonly string[]): Promise<void> {
    const { api, namespace, prefix, buckets, now } = this.options;
    const before = this.heldBuckets().join(',');
    try {
      const listed = await api.listLeases(namespace, `${BUCKET_LABEL}=${prefix}`);
      const byName = new Map(listed.items.map((l) => [l.metadata?.name ?? '', l]));
      this.observations.retain(new Set(byName.keys()));
      const holders: Array<string | null> = [];
      const writes: Array<Promise<void>> = [];
      const intended = intendedOwners(buckets, members);
      for (let bucket = 0; bucket < buckets; bucket++) {
        const lease = byName.get(this.nameOf(bucket)) ?? null;
        holders.push(this.liveHolder(bucket, lease, now()));
        writes.push(this.settle(bucket, lease, intended[bucket] === this.self));
      }
      await Promise.all(writes);
      this.holders = holders.map((h, bucket) => (this.held.has(bucket) ? this.self : h === this.self ? null : h));
    } finally {
      this.expire();
      if (this.heldBuckets().join(',') !== before) this.changed();
    }
  }

  /** Releases every bucket held (a graceful stop): the others take them at their next round. */
  async releaseAll(): Promise<void> {
    const held = this.heldBuckets();
    this.held.clear();
    if (held.length > 0) this.changed();
    const { api, namespace } = this.options;
    await Promise.all(
      held.map(async (bucket) => {
        try {
          const lease = await api.getLease(namespace, this.nameOf(bucket));
          if (lease?.spec?.holderIdentity === this.self) await api.replaceLease(namespace, this.nameOf(bucket), this.released(lease));
        } catch (err) {
          this.log.warn('bucket not released', { bucket, error: String(err) });
        }
      }),
    );
  }

  private nameOf(bucket: number): string {
    return `${this.options.prefix}-${bucket}`;
  }

  /** The bucket's holder unless released or expired by observed time; this gateway counts only while it holds it. */
  private liveHolder(bucket: number, lease: V1Lease | null, at: number): string | null {
    if (lease === null) return null;
    const holder = lease.spec?.holderIdentity ?? '';
    const age = this.observations.age(this.nameOf(bucket), lease, at);
    if (holder === '') return null;
    const duration = (lease.spec?.leaseDurationSeconds ?? this.options.leaseDurationSeconds) * 1000;
    return holder === this.self || age < duration ? holder : null;
  }

  /** Acquires, renews or releases one bucket; a lost race (409) only means another gateway wrote first. */
  private async settle(bucket: number, lease: V1Lease | null, mine: boolean): Promise<void> {
    const { api, namespace } = this.options;
    const holder = lease?.spec?.holderIdentity ?? '';
    const at = this.options.now();
    try {
      if (!mine) {
        if (holder === this.self && lease !== null) {
          // Stop deciding before the write: the next owner may start as soon as it sees the release.
          this.held.delete(bucket);
          await api.replaceLease(namespace, this.nameOf(bucket), this.released(lease));
          this.log.info('bucket released', { bucket });
        } else this.held.delete(bucket);
        return;
      }
      if (lease === null) {
        await api.createLease(namespace, this.claim(bucket, null, at));
      } else {
        const free = holder === '' || holder === this.self || this.liveHolder(bucket, lease, at) === null;
        if (!free) return;
        await api.replaceLease(namespace, this.nameOf(bucket), this.claim(bucket, lease, at));
      }
      if (!this.held.has(bucket)) this.log.info('bucket acquired', { bucket });
      this.held.set(bucket, at);
    } catch (err) {
      if (isAppError(err, 'PROVIDER_CONFLICT') || isAppError(err, 'FUNCTION_UNKNOWN')) {
        this.held.delete(bucket);
        return;
      }
      this.log.warn('bucket lease write failed', { bucket, error: String(err) });
    }
  }

  private claim(bucket: number, lease: V1Lease | null, at: number): V1Lease {
    const spec = lease?.spec ?? {};
    const same = spec.holderIdentity === this.self;
    const time = new V1MicroTime(at);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...(lease?.metadata ?? {}), name: this.nameOf(bucket), namespace: this.options.namespace, labels: { [BUCKET_LABEL]: this.options.prefix } },
      spec: {
        holderIdentity: this.self,
        leaseDurationSeconds: this.options.leaseDurationSeconds,
        acquireTime: same && spec.acquireTime !== undefined ? spec.acquireTime : time,
        renewTime: time,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (same ? 0 : 1),
      },
    };
  }

  private released(lease: V1Lease): V1Lease {
    const time = new V1MicroTime(this.options.now());
    // List items carry no kind: the body names it.
    return { ...lease, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec: { ...lease.spec, holderIdentity: '', renewTime: time } };
  }

  /** Buckets not renewed within the renew deadline are no longer held. */
  private expire(): void {
    const at = this.options.now();
    for (const [bucket, renewedAt] of this.held) {
      if (at - renewedAt >= this.renewDeadlineMs) {
        this.held.delete(bucket);
        this.log.warn('bucket lost: not renewed within the renew deadline', { bucket });
      }
    }
  }

  private changed(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (err) {
        this.log.error('ownership listener failed', { error: String(err) });
      }
    }
  }
}
