import type { Clock } from '../../core/clock.js';
import type { RequestLimits } from '../../policy/labels.js';
import type { EngineReplica } from '../replicas.js';
import { GrantedSlot, type Slot } from '../slot.js';
import type { LoadMeter } from './load-meter.js';
import { pick, reasonOf } from './pick.js';
import { report } from './read-models.js';
import type { Entry, Waiter } from './types.js';
import type { ColdStarts } from './wake.js';

/**
 * Hands out slots and takes them back: a slot on a chosen replica with its request timeout,
 * a released slot's bookkeeping, and the queue served from its head whenever slots free up.
 * One `free` function serves every slot, so a slot carries no closure of its own.
 */
export class Granter {
  /** Gives a slot back (the slot's `release`), then serves the queue. */
  readonly free = (slot: GrantedSlot<Entry>): void => {
    const { clock } = this;
    const { entry, replica } = slot;
    clock.clearTimeout(slot.timer);
    this.meter.count(entry, -1);
    entry.replicas.addInFlight(replica, -1);
    replica.served += 1;
    replica.lastRequestEnd = clock.now();
    if (replica.inFlight === 0) this.meter.idle(entry.ref, replica.id);
    this.pump(entry);
  };

  constructor(
    private readonly clock: Clock,
    private readonly meter: LoadMeter,
    private readonly wakes: ColdStarts,
    /** Limits of a function without the labels: the request timeout while its labels are invalid. */
    private readonly defaults: RequestLimits,
  ) {}

  /** A slot on `replica`; its request timeout fires after the function's limit, or at `deadlineAt` when that is sooner. */
  grant(entry: Entry, replica: EngineReplica, waiter: Waiter | null, deadlineAt: number | undefined): Slot {
    const { clock } = this;
    const now = clock.now();
    if (waiter === null) this.meter.count(entry, 1);
    entry.replicas.addInFlight(replica, 1);
    replica.lastRequestStart = now;
    const timeoutMs = entry.limits.ok ? entry.limits.limits.requestTimeoutMs : this.defaults.requestTimeoutMs;
    const fireInMs = deadlineAt === undefined ? timeoutMs : Math.max(0, Math.min(timeoutMs, deadlineAt - now));
    const slot = new GrantedSlot(entry, replica, waiter === null ? null : now - waiter.arrivedAt, waiter === null ? null : waiter.reason, this.free);
    slot.deadlineAt = now + fireInMs;
    if (entry.limits.ok) slot.protocol = entry.limits.limits.protocol;
    slot.timer = clock.setTimeout(() => slot.expire(timeoutMs), fireInMs);
    slot.timer.unref();
    return slot;
  }

  /** Hands free slots to the queue's head, in order, until the queue or the slots run out. */
  pump(entry: Entry): void {
    while (entry.queue.length > 0) {
      const replica = pick(entry);
      if (replica === undefined) break;
      const waiter = entry.queue.shift() as Waiter;
      waiter.cleanup();
      waiter.resolve(this.grant(entry, replica, waiter, waiter.deadlineAt));
    }
    if (entry.queue.length === 0) entry.wakeRaised = false;
    if (entry.wakeStartedAt !== null && reasonOf(entry) === 'busy') this.wakes.end(entry, 'ready');
    report(entry);
  }
}
