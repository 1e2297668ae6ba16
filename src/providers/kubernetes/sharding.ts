import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'winston';
import { BucketLeases } from './buckets.js';
import { Membership, type LeaseApi } from './membership.js';

export interface ShardingOptions {
  readonly api: LeaseApi;
  readonly namespace: string;
  /** The group of gateways (ALERT_SCALER_LEASE_NAME): member Leases `<group>-member-<identity>`, bucket Leases `<group>-bucket-<i>`. */
  readonly group: string;
  readonly buckets: number;
  readonly leaseDurationSeconds: number;
  /** Time between two rounds, ms. */
  readonly renewMs: number;
  /** This gateway's identity; default the hostname (the pod name) plus a random suffix. */
  readonly identity?: string;
  /** The clock of the lease deadlines and ages, epoch ms; default steadyNow (tests give a virtual one). */
  readonly now?: () => number;
  readonly logger: Logger;
}

/**
 * Epoch ms that never step (the process's start time plus the monotonic clock): the lease
 * deadlines and the ages of others' Leases are measured on it, so an NTP step neither
 * stretches this gateway's belief that it still owns a bucket nor shortens the wait before a
 * takeover. The Lease times written with it are off the wall clock by the steps since start.
 */
export const steadyNow = (): number => performance.timeOrigin + performance.now();

/** The default identity: the pod name plus a random suffix, so a restarted container is a new member. */
export function defaultIdentity(): string {
  return `${hostname()}-${randomBytes(3).toString('hex')}`;
}

/**
 * Runs membership and buckets together, one round every renew period: renew this gateway's
 * member Lease and list the members, then acquire, renew or release buckets for the live
 * members. `stop` releases the buckets and deletes the member Lease (a graceful handover).
 */
export class Sharding {
  readonly membership: Membership;
  readonly buckets: BucketLeases;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pending: Promise<void> = Promise.resolve();
  private failing = false;

  constructor(private readonly options: ShardingOptions) {
    const identity = options.identity ?? defaultIdentity();
    const now = options.now ?? steadyNow;
    const common = { api: options.api, namespace: options.namespace, identity, leaseDurationSeconds: options.leaseDurationSeconds, now, logger: options.logger };
    this.membership = new Membership({ ...common, group: options.group });
    this.buckets = new BucketLeases({ ...common, prefix: `${options.group}-bucket`, buckets: options.buckets });
    this.log = options.logger.child({ component: 'sharding', identity });
  }

  /** A first round (errors logged), then one every renew period in the background. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.loop();
  }

  /** Stops the rounds; releases the buckets and deletes the member Lease. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.pending;
    await this.buckets.releaseAll();
    await this.membership.leave();
  }

  /** One round now (tests); never throws. */
  round(): Promise<void> {
    this.pending = this.once();
    return this.pending;
  }

  private async once(): Promise<void> {
    try {
      await this.membership.round();
    } catch (err) {
      this.warn('member round failed', err);
    }
    try {
      await this.buckets.round(this.membership.members());
      if (this.failing) this.log.info('lease rounds restored');
      this.failing = false;
    } catch (err) {
      this.warn('bucket round failed', err);
    }
  }

  private warn(message: string, err: unknown): void {
    if (!this.failing) this.log.warn(message, { error: err instanceof Error ? err.message : String(err) });
    this.failing = true;
  }

  private async loop(): Promise<void> {
    const started = performance.now();
    await this.round();
    if (!this.running) return;
    const wait = Math.max(0, this.options.renewMs - (performance.now() - started));
    this.timer = setTimeout(() => void this.loop(), wait);
  }
}
