import type { Slot } from '../engine/dispatcher.js';
import { isAppError } from '../errors.js';
import type { AlertPath } from './alert-path.js';
import type { AsyncReplay } from './async-replay.js';
import { sample } from './distribution.js';
import type { TraceFeed } from './feed.js';
import { noteOverload, type FunctionRun } from './functions.js';
import type { SimGateway } from './gateway.js';
import { flush } from './pending.js';
import type { SimStack } from './stack.js';
import type { Timeline } from './timeline.js';
import type { Arrival } from './trace.js';

/** What the replay of the calls feeds besides the gateway. */
export interface ReplayParts {
  readonly gw: SimGateway;
  readonly stack: SimStack;
  readonly fns: readonly FunctionRun[];
  /** Counts the calls served (the modelled Prometheus scrapes them). */
  readonly alertPath: AlertPath;
  /** Counts the arrivals (the chart's load). */
  readonly timeline: Timeline;
  /** Stores and delivers the async calls. */
  readonly async: AsyncReplay;
}

/**
 * The request replay: each arriving call takes a slot from the gateway's dispatcher (or waits
 * in its queue, up to the function's wake timeout) and gives it back after its service time,
 * as the proxy does; a call reaching its request timeout is counted as timed out. An async
 * call goes to the async replay (src/sim/async-replay.ts) instead.
 */
export class Replay {
  /** Calls not finished yet (waiting for a slot or running). */
  outstanding = 0;

  constructor(private readonly parts: ReplayParts) {}

  /** True when no call and no async call is left. */
  get idle(): boolean {
    return this.outstanding === 0 && this.parts.async.outstanding === 0;
  }

  /** One call of the trace arrives now. */
  readonly arrive = (a: Arrival): void => {
    const { gw, stack } = this.parts;
    const { dispatcher } = gw.engine;
    const f = this.parts.fns[a.fn] as FunctionRun;
    if (a.async === true) {
      this.parts.timeline.arrival();
      this.parts.async.arrive(a, a.serviceMs ?? sample(stack.functions[a.fn]?.service ?? { kind: 'fixed', ms: 0 }, f.serviceRandom));
      return;
    }
    const now = gw.clock.now();
    f.counters.requests += 1;
    this.parts.timeline.arrival();
    noteOverload(f, now, stack.alerting.threshold);
    this.parts.alertPath.started(f.index);
    // The gateway's record of the call, from its arrival to its end (the idle deadlines read it).
    const end = gw.invocations.begin(f.ref);
    const serviceMs = a.serviceMs ?? sample(stack.functions[a.fn]?.service ?? { kind: 'fixed', ms: 0 }, f.serviceRandom);
    const slot = dispatcher.tryAcquire(f.ref);
    if (slot !== null) {
      this.begin(f, slot, now, serviceMs, end);
      return;
    }
    this.outstanding += 1;
    gw.pending.track(
      dispatcher.acquire(f.ref, { maxWaitMs: f.wakeTimeoutMs }).then(
        (queuedSlot) => {
          this.outstanding -= 1;
          f.counters.queued += 1;
          this.begin(f, queuedSlot, now, serviceMs, end);
        },
        (err: unknown) => {
          this.outstanding -= 1;
          end();
          if (isAppError(err, 'QUEUE_FULL')) f.counters.refused += 1;
          else if (isAppError(err, 'QUEUE_TIMEOUT')) {
            f.counters.queued += 1;
            f.counters.timedOut += 1;
          } else throw err;
        },
      ),
    );
  };

  /** A call got its slot: it runs for `serviceMs`, or until the dispatcher's request timeout frees the slot. */
  private begin(f: FunctionRun, slot: Slot, arrivedAt: number, serviceMs: number, end: () => void): void {
    const { clock } = this.parts.gw;
    const waited = slot.waitedMs ?? 0;
    const grantedAt = arrivedAt + waited;
    f.counters.waits.push(waited);
    this.outstanding += 1;
    if (serviceMs >= f.limits.requestTimeoutMs) {
      // The dispatcher's own timer frees the slot and aborts the call at the timeout.
      f.counters.timedOut += 1;
      clock.setTimeout(() => {
        this.outstanding -= 1;
        end();
      }, grantedAt + f.limits.requestTimeoutMs - clock.now());
      return;
    }
    clock.setTimeout(() => {
      slot.release();
      this.outstanding -= 1;
      f.counters.served += 1;
      f.counters.latencies.push(waited + serviceMs);
      end();
      this.parts.alertPath.served(f.index);
    }, grantedAt + serviceMs - clock.now());
  }
}

/**
 * Moves the clock from due time to due time, reading the trace as it goes, until nothing is
 * due, or the trace is over, its end passed and no call or tracked work is left. Throws the
 * first failure of tracked work.
 */
export async function replayToEnd(gw: SimGateway, feed: TraceFeed, replay: Replay): Promise<void> {
  const { clock, pending } = gw;
  for (;;) {
    if (feed.needRefill) {
      await feed.refill();
      continue;
    }
    if (pending.failure !== undefined) throw pending.failure;
    const due = clock.nextDue();
    const arrival = feed.peek();
    // A timer due at the same instant as an arrival runs first (a call ending frees its slot).
    if (arrival !== undefined && (due === null || arrival.timeMs < due)) {
      feed.take();
      clock.advance(arrival.timeMs - clock.now());
      replay.arrive(arrival);
    } else {
      if (due === null) break;
      if (feed.done && due > feed.endMs() && replay.idle && pending.count === 0) break;
      clock.advance(due - clock.now());
    }
    if (pending.count > 0) await flush();
  }
}
