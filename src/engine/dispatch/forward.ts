import type { Clock, TimerHandle } from '../../core/clock.js';
import { gatewayShare } from '../replicas.js';
import { TimedSlot, type Slot } from '../slot.js';
import type { LoadMeter } from './load-meter.js';
import { capacity, concurrencyOf, usable } from './pick.js';
import { report } from './read-models.js';
import type { Entry } from './types.js';

/** The header that marks a call one gateway forwarded to another: it is never forwarded again. */
export const FORWARDED_HEADER = 'X-Alert-Scaler-Forwarded';

/**
 * A call sent on to another gateway that has a slot for it, when this one has none on any
 * replica (a hard limit below the gateway count: concurrency 1, two replicas, three gateways).
 * It takes no slot here: the peer counts it and queues it if it must. Its request timeout is
 * the function's, as a slot's.
 */
class ForwardSlot extends TimedSlot implements Slot {
  readonly waitedMs = null;
  readonly waitedFor = null;
  readonly forwarded = true;
  readonly deadlineAt: number;
  private timer: TimerHandle | undefined;
  private released = false;

  constructor(
    readonly replicaId: string,
    readonly url: URL,
    private readonly clock: Clock,
    timeoutMs: number,
    name: string,
  ) {
    super();
    this.deadlineAt = clock.now() + timeoutMs;
    this.timer = clock.setTimeout(() => {
      if (this.held) return;
      this.release();
      this.timedOut(name, timeoutMs);
    }, timeoutMs);
    this.timer.unref();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.clock.clearTimeout(this.timer);
  }
}

type Peer = { readonly index: number; readonly url: URL };

/**
 * The members with a slot on a usable replica and a known address, when this gateway has no
 * slot on any usable replica while some serve; null otherwise. O(1) unless the function's hard
 * limit is below the gateway count (only then can a gateway be left without a slot).
 */
function peersOf(entry: Entry): Peer[] | null {
  const { shard } = entry;
  const limit = concurrencyOf(entry);
  if (shard.addressOf === undefined || limit <= 0 || limit >= shard.count || entry.replicas.serving === 0) return null;
  const open = [...entry.replicas.values()].filter((r) => usable(entry, r));
  if (open.length === 0 || open.some((r) => capacity(entry, r) > 0)) return null;
  const peers: Peer[] = [];
  for (let index = 0; index < shard.count; index++) {
    if (index === shard.index) continue;
    const url = shard.addressOf(index);
    if (url !== null && open.some((r) => gatewayShare(limit, { count: shard.count, index }, r.id) > 0)) peers.push({ index, url });
  }
  return peers.length === 0 ? null : peers;
}

function slotTo(entry: Entry, peers: readonly Peer[], clock: Clock, timeoutMs: number): Slot {
  const peer = peers[entry.forwards++ % peers.length] as Peer;
  return new ForwardSlot(`gateway-${peer.index}`, new URL(`/function/${entry.label}`, peer.url), clock, timeoutMs, entry.ref.name);
}

/**
 * A slot that forwards the call to a gateway with a slot, when this gateway has none on any
 * usable replica while some serve; null when it has one (or none serves, or no peer with a
 * slot has a known address). Peers with a slot take turns.
 */
export function forwardSlot(entry: Entry, clock: Clock, timeoutMs: number): Slot | null {
  const peers = peersOf(entry);
  return peers === null ? null : slotTo(entry, peers, clock, timeoutMs);
}

/**
 * Waiting calls this gateway can now forward (the members changed: a peer's address became
 * known, or this gateway lost its slots; a woken function's replica is ready) leave the queue
 * with a forwarding slot; calls forwarded here stay. Each leaves the function's present count
 * here (the peer counts it).
 */
export function forwardWaiting(entry: Entry, clock: Clock, meter: LoadMeter, timeoutMs: number): void {
  if (entry.queue.length === 0) return;
  const peers = peersOf(entry);
  if (peers === null) return;
  const staying = [];
  for (const waiter of entry.queue) {
    if (waiter.local) {
      staying.push(waiter);
      continue;
    }
    const left = waiter.deadlineAt === undefined ? timeoutMs : Math.max(0, waiter.deadlineAt - clock.now());
    waiter.cleanup();
    meter.count(entry, -1);
    waiter.resolve(slotTo(entry, peers, clock, left));
  }
  entry.queue = staying;
  if (entry.queue.length === 0) entry.wakeRaised = false;
  report(entry);
}
