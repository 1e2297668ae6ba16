import { hostname } from 'node:os';
import type { Logger } from 'winston';
import { isAppError } from '../../errors.js';
import { V1MicroTime, type KubeApi, type V1Lease } from './client.js';

/** Epoch ms of a MicroTime, which client-node hands over as a Date or as the RFC 3339 string. */
function timeMs(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return Date.parse(value);
  return 0;
}

export interface LeaderElectorOptions {
  readonly api: KubeApi;
  /** Namespace of the Lease; default `openfaas`. */
  readonly namespace?: string;
  /** Name of the Lease; default `alert-scaler-leader` (as ALERT_SCALER_LEASE_NAME). */
  readonly name?: string;
  /** This instance's holderIdentity; default the hostname (the pod name in a cluster). */
  readonly identity?: string;
  /** How long a holder's claim lasts without renewal, in whole seconds; default 15. */
  readonly leaseDurationSeconds?: number;
  /** A leader that could not renew for this long steps down (before others may take over); default 2/3 of the lease. */
  readonly renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew, in ms; default 2000. */
  readonly retryPeriodMs?: number;
  /** The clock, epoch ms; injectable for tests. */
  readonly now?: () => number;
  readonly logger: Logger;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection: the
 * holder renews `renewTime` every retry period; another instance takes over once it has
 * seen the same record unchanged for a whole lease duration (its own clock, so clock skew
 * between pods does not matter) or when the holder released it (empty holderIdentity).
 * Every write carries the Lease's resourceVersion: a 409 means someone else won.
 */
export class LeaderElector {
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private leader = false;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private pending: Promise<unknown> = Promise.resolve();
  private observedKey = '';
  private observedAt = 0;
  private lastRenewAt = 0;

  constructor(private readonly options: LeaderElectorOptions) {
    this.namespace = options.namespace ?? 'openfaas';
    this.name = options.name ?? 'alert-scaler-leader';
    this.identity = options.identity ?? hostname();
    this.leaseDurationSeconds = options.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = options.renewDeadlineMs ?? Math.floor((this.leaseDurationSeconds * 1000 * 2) / 3);
    this.retryPeriodMs = options.retryPeriodMs ?? 2000;
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child({ component: 'leader-election', lease: `${this.namespace}/${this.name}`, identity: this.identity });
  }

  isLeader(): boolean {
    return this.leader;
  }

  /** Calls `listener(isLeader)` on every change; returns the unsubscribe function. */
  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Makes a first attempt, then keeps acquiring or renewing every retry period in the background. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.round();
  }

  /**
   * Stops trying; a leader releases the Lease (empty holderIdentity) so another instance
   * takes over at once. `{ release: false }` behaves like a crash (tests).
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.pending.catch(() => undefined);
    if (this.leader && options.release !== false) await this.release();
    this.setLeader(false);
  }

  /** One attempt to acquire or renew; resolves to whether this instance now leads. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { api } = this.options;
    const now = this.now();
    const lease = await api.getLease(this.namespace, this.name);
    if (lease === null) {
      try {
        await api.createLease(this.namespace, {
          metadata: { name: this.name, namespace: this.namespace },
          spec: this.claim(now, now, 0),
        });
        return this.renewed(now);
      } catch (err) {
        if (isAppError(err, 'PROVIDER_CONFLICT')) return this.lost('lease created by another instance');
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const key = `${holder}|${timeMs(spec.renewTime)}|${spec.leaseTransitions ?? 0}`;
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = now;
    }
    const duration = (spec.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000;
    if (holder !== '' && holder !== this.identity && this.observedAt + duration > now) return this.lost(null);
    const transitions = (spec.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
    const acquired = holder === this.identity && spec.acquireTime !== undefined ? timeMs(spec.acquireTime) : now;
    try {
      const body: V1Lease = { ...lease, spec: this.claim(acquired, now, transitions) };
      await api.replaceLease(this.namespace, this.name, body);
      return this.renewed(now);
    } catch (err) {
      if (isAppError(err, 'PROVIDER_CONFLICT')) return this.lost('lease updated by another instance');
      throw err;
    }
  }

  private claim(acquiredAt: number, renewedAt: number, transitions: number): NonNullable<V1Lease['spec']> {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseDurationSeconds,
      acquireTime: new V1MicroTime(acquiredAt),
      renewTime: new V1MicroTime(renewedAt),
      leaseTransitions: transitions,
    };
  }

  private renewed(now: number): boolean {
    this.lastRenewAt = now;
    this.setLeader(true);
    return true;
  }

  private lost(why: string | null): boolean {
    if (why !== null) this.logger.debug('lease not acquired', { why });
    this.setLeader(false);
    return false;
  }

  private async round(): Promise<void> {
    const attempt = this.tryAcquireOrRenew().catch((err: unknown) => {
      // Unreachable API: a leader keeps its role only until the renew deadline.
      if (this.leader && this.now() - this.lastRenewAt >= this.renewDeadlineMs) this.setLeader(false);
      this.logger.warn('lease attempt failed', { error: String(err), leader: this.leader });
    });
    this.pending = attempt;
    await attempt;
    if (this.running) this.timer = setTimeout(() => void this.round(), this.retryPeriodMs);
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.options.api.getLease(this.namespace, this.name);
      if (lease?.spec?.holderIdentity !== this.identity) return;
      const now = new V1MicroTime(this.now());
      await this.options.api.replaceLease(this.namespace, this.name, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
      });
      this.logger.info('lease released');
    } catch (err) {
      this.logger.warn('lease release failed', { error: String(err) });
    }
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.logger.info(leader ? 'became leader' : 'stopped leading');
    for (const listener of this.listeners) {
      try {
        listener(leader);
      } catch (err) {
        this.logger.error('leader listener failed', { error: String(err) });
      }
    }
  }
}
