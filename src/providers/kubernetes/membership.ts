/**
 * Gateway membership on Leases: each gateway keeps a Lease of its own (label
 * `alert-scaler.io/member=<group>`, the group being ALERT_SCALER_LEASE_NAME) renewed every round, with its function-listener address and
 * its busiest functions' load in annotations; every round it lists the member Leases and
 * counts the live ones. A record seen unchanged for a whole lease duration on this gateway's
 * own clock is dead (as client-go's leader election judges, so clock skew does not matter); a
 * gateway that stops deletes its Lease, so its share comes back at once.
 */
import { hash } from 'node:crypto';
import type { Logger } from 'winston';
import { isAppError } from '../../errors.js';
import type { FunctionLoad, GatewayFacts, MemberLoadSource, MemberShard } from '../setup.js';
import { V1MicroTime, type KubeApi, type V1Lease } from './client.js';

/** The label that marks a member Lease; its value is the group (installations in one namespace do not mix). */
export const MEMBER_LABEL = 'alert-scaler.io/member';
/** The annotation with a member's function-listener URL. */
export const ADDRESS_ANNOTATION = 'alert-scaler.io/address';
/** The annotation with a member's load: JSON rows `[function, present, busy, no_replica, started]`. */
export const LOAD_ANNOTATION = 'alert-scaler.io/load';
/** Functions a member publishes the load of, the busiest first. */
export const LOAD_LIMIT = 200;
/** Upper bound of the load annotation, bytes (a Lease's annotations may hold 256 KiB in all). */
export const LOAD_MAX_BYTES = 32 * 1024;
/** A member Lease unchanged for this many lease durations is deleted by whoever sees it (a crashed gateway's), as it was listed. */
const DEAD_LEASE_DURATIONS = 3;

/** The Lease calls membership and buckets make. */
export type LeaseApi = Pick<KubeApi, 'listLeases' | 'getLease' | 'createLease' | 'replaceLease' | 'deleteLease'>;

/** Epoch ms of a MicroTime, which client-node hands over as a Date or as the RFC 3339 string. */
export function timeMs(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return Date.parse(value);
  return 0;
}

/**
 * When each Lease's record was last seen to change, on this gateway's clock: a holder is
 * judged by how long its record has stood still here, never by the times written in it.
 */
export class Observations {
  private readonly seen = new Map<string, { key: string; at: number }>();

  /** Ms since the record of `name` last changed (0 when it just did, or on first sight). */
  age(name: string, lease: V1Lease, now: number): number {
    const spec = lease.spec ?? {};
    const key = `${spec.holderIdentity ?? ''}|${timeMs(spec.renewTime)}|${spec.leaseTransitions ?? 0}`;
    const known = this.seen.get(name);
    if (known === undefined || known.key !== key) {
      this.seen.set(name, { key, at: now });
      return 0;
    }
    return now - known.at;
  }

  /** Forgets the Leases not in `names`. */
  retain(names: ReadonlySet<string>): void {
    for (const name of this.seen.keys()) if (!names.has(name)) this.seen.delete(name);
  }
}

/**
 * A Lease name for an identity in `group` (`[a-z0-9-]`, at most 63 characters); one cut or changed to
 * fit ends in a digest of the identity, so two never share a Lease (long pod names differ at the end).
 */
export function memberLeaseName(group: string, identity: string): string {
  const safe = identity.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const plain = `${group}-member-${safe}`;
  if (safe === identity && plain.length <= 63) return plain;
  const digest = hash('sha256', identity, 'hex').slice(0, 10);
  return `${plain.slice(0, 63 - digest.length - 1).replace(/-+$/, '')}-${digest}`;
}

export interface MembershipOptions {
  readonly api: LeaseApi;
  readonly namespace: string;
  /** The members' group: the value of their label and the prefix of their Lease names. */
  readonly group: string;
  /** This gateway's identity (unique per process: a pod name plus a random suffix). */
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  /** The clock, epoch ms. */
  readonly now: () => number;
  readonly logger: Logger;
}

interface Member {
  readonly identity: string;
  readonly address: URL | null;
}

type Load = Omit<FunctionLoad, 'function'>;

/**
 * This gateway's member Lease and its view of the others: the live count and its rank among
 * the sorted identities (the split of each replica's hard limit), their addresses (calls this
 * gateway has no slot for go there) and the sum of their published loads (the owner's
 * RemoteSignals without Prometheus). `round` is driven from outside (src/providers/kubernetes/sharding.ts).
 */
export class Membership implements MemberShard, MemberLoadSource {
  readonly leaseName: string;
  private readonly observations = new Observations();
  private readonly listeners = new Set<() => void>();
  private readonly log: Logger;
  private live: readonly Member[];
  private rank = 0;
  private own: V1Lease | null = null;
  private facts: GatewayFacts | undefined;
  private others: ReadonlyMap<string, Load> = new Map();

  constructor(private readonly options: MembershipOptions) {
    this.leaseName = memberLeaseName(options.group, options.identity);
    this.live = [{ identity: options.identity, address: null }];
    this.log = options.logger.child({ component: 'membership', identity: options.identity });
  }

  /** Where this gateway listens and how to read its load. */
  attach(facts: GatewayFacts): void {
    this.facts = facts;
  }

  get count(): number {
    return this.live.length;
  }

  get index(): number {
    return this.rank;
  }

  /** The live identities, sorted (this gateway's included). */
  members(): readonly string[] {
    return this.live.map((m) => m.identity);
  }

  addressOf(index: number): URL | null {
    return this.live[index]?.address ?? null;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The other members' load summed per function, as of the last round (no I/O). */
  read(_signal: AbortSignal): Promise<ReadonlyMap<string, Load>> {
    return Promise.resolve(this.others);
  }

  /** Renews this gateway's Lease (creating it when missing), then lists the members. Throws when the API fails. */
  async round(): Promise<void> {
    await this.renew();
    await this.observe();
  }

  /** Deletes this gateway's Lease, so the others count it out at their next round. */
  async leave(): Promise<void> {
    try {
      await this.options.api.deleteLease(this.options.namespace, this.leaseName);
      this.own = null;
    } catch (err) {
      this.log.warn('member lease not deleted', { error: String(err) });
    }
  }

  private async renew(): Promise<void> {
    const { api, namespace, now } = this.options;
    const body = this.ownLease(now());
    try {
      this.own = this.own === null ? await api.createLease(namespace, body) : await api.replaceLease(namespace, this.leaseName, body);
    } catch (err) {
      // Someone else wrote it (a conflict), or it was deleted (a dead-lease sweep after a pause): read it again.
      if (!isAppError(err, 'PROVIDER_CONFLICT') && !isAppError(err, 'FUNCTION_UNKNOWN') && !isAppError(err, 'PROVIDER_FAILED')) throw err;
      this.own = await api.getLease(namespace, this.leaseName);
      const retry = this.ownLease(now());
      this.own = this.own === null ? await api.createLease(namespace, retry) : await api.replaceLease(namespace, this.leaseName, retry);
    }
  }

  private ownLease(at: number): V1Lease {
    const address = this.facts?.address() ?? null;
    const annotations: Record<string, string> = { [LOAD_ANNOTATION]: encodeLoad(this.facts?.load(LOAD_LIMIT) ?? []) };
    if (address !== null) annotations[ADDRESS_ANNOTATION] = address;
    const time = new V1MicroTime(at);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...(this.own?.metadata ?? {}), name: this.leaseName, namespace: this.options.namespace, labels: { [MEMBER_LABEL]: this.options.group }, annotations },
      spec: { holderIdentity: this.options.identity, leaseDurationSeconds: this.options.leaseDurationSeconds, renewTime: time, acquireTime: this.own?.spec?.acquireTime ?? time },
    };
  }

  private async observe(): Promise<void> {
    const { api, namespace, now, identity } = this.options;
    const listed = await api.listLeases(namespace, `${MEMBER_LABEL}=${this.options.group}`);
    const at = now();
    const names = new Set<string>();
    const live: Member[] = [];
    const others = new Map<string, Load>();
    for (const lease of listed.items) {
      const name = lease.metadata?.name ?? '';
      const holder = lease.spec?.holderIdentity ?? '';
      names.add(name);
      if (holder === '') continue;
      const age = this.observations.age(name, lease, at);
      const duration = (lease.spec?.leaseDurationSeconds ?? this.options.leaseDurationSeconds) * 1000;
      if (holder !== identity && age >= duration) {
        if (age >= DEAD_LEASE_DURATIONS * duration) await this.sweep(name, lease.metadata?.resourceVersion);
        continue;
      }
      live.push({ identity: holder, address: parseAddress(lease.metadata?.annotations?.[ADDRESS_ANNOTATION]) });
      if (holder !== identity) addLoads(others, decodeLoad(lease.metadata?.annotations?.[LOAD_ANNOTATION]));
    }
    this.observations.retain(names);
    if (!live.some((m) => m.identity === identity)) live.push({ identity, address: null });
    live.sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
    this.others = others;
    this.setLive(live);
  }

  private async sweep(name: string, resourceVersion: string | undefined): Promise<void> {
    try {
      await this.options.api.deleteLease(this.options.namespace, name, resourceVersion);
      this.log.info('dead member lease deleted', { lease: name });
    } catch (err) {
      this.log.warn('dead member lease not deleted', { lease: name, error: String(err) });
    }
  }

  private setLive(live: Member[]): void {
    const rank = live.findIndex((m) => m.identity === this.options.identity);
    const changed = live.length !== this.live.length || rank !== this.rank || live.some((m, i) => m.identity !== this.live[i]?.identity || m.address?.href !== this.live[i]?.address?.href);
    this.live = live;
    this.rank = rank;
    if (!changed) return;
    this.log.info('members changed', { count: live.length, index: rank });
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (err) {
        this.log.error('member listener failed', { error: String(err) });
      }
    }
  }
}

function parseAddress(text: string | undefined): URL | null {
  if (text === undefined) return null;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

/** The load annotation: rows `[function, present, busy, no_replica, started]`, cut at LOAD_MAX_BYTES. */
export function encodeLoad(loads: readonly FunctionLoad[]): string {
  const rows: string[] = [];
  let bytes = 2;
  for (const l of loads.slice(0, LOAD_LIMIT)) {
    const row = JSON.stringify([l.function, l.present, l.queued.busy, l.queued.no_replica, l.started]);
    if (bytes + row.length + 1 > LOAD_MAX_BYTES) break;
    rows.push(row);
    bytes += row.length + 1;
  }
  return `[${rows.join(',')}]`;
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** Parses a load annotation; anything malformed is skipped (an oversized one entirely). */
export function decodeLoad(text: string | undefined): FunctionLoad[] {
  if (text === undefined || text.length > 2 * LOAD_MAX_BYTES) return [];
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  const out: FunctionLoad[] = [];
  for (const row of rows.slice(0, LOAD_LIMIT) as unknown[]) {
    if (!Array.isArray(row) || typeof row[0] !== 'string') continue;
    out.push({ function: row[0], present: count(row[1]), queued: { busy: count(row[2]), no_replica: count(row[3]) }, started: count(row[4]) });
  }
  return out;
}

function addLoads(sums: Map<string, Load>, loads: readonly FunctionLoad[]): void {
  for (const l of loads) {
    const s = sums.get(l.function);
    sums.set(
      l.function,
      s === undefined
        ? { present: l.present, queued: { ...l.queued }, started: l.started }
        : { present: s.present + l.present, queued: { busy: s.queued.busy + l.queued.busy, no_replica: s.queued.no_replica + l.queued.no_replica }, started: s.started + l.started },
    );
  }
}
