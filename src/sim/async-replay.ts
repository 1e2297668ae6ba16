import { FairReady } from '../async/fair-ready.js';
import { deliveryCap } from '../async/cap.js';
import { backoffMs, MAX_ATTEMPTS_LABEL } from '../async/worker.js';
import type { Config } from '../config/schema.js';
import { refKey, type FunctionRef } from '../core/ref.js';
import type { Slot } from '../engine/dispatcher.js';
import { isAppError } from '../errors.js';
import type { Arrival } from './arrival.js';
import type { FunctionRun } from './functions.js';
import type { SimGateway } from './gateway.js';
import type { Random } from './random.js';
import type { SimStack } from './stack.js';
import { Samples, type Percentiles } from './stats.js';

/** One function's async calls in a run; the shape of `async` in `--format json`. */
export interface AsyncSummary {
  /** Async calls in the trace: each accepted at once (202), never refused for the dispatcher's queue. */
  readonly accepted: number;
  /** Delivered: a replica answered within the request timeout. */
  readonly delivered: number;
  /** Deliveries tried again (no slot in time, the queue full, or the request timeout passed). */
  readonly retries: number;
  /** Given up on after the function's attempts (`com.openfaas.async.max-attempts`). */
  readonly deadLettered: number;
  /** From acceptance to the replica's answer, of the calls delivered. */
  readonly delayMs: Percentiles;
}

/** Counters of one function's async calls during a run. */
export class AsyncCounters {
  accepted = 0;
  delivered = 0;
  retries = 0;
  deadLettered = 0;
  readonly delays = new Samples();

  summary(): AsyncSummary {
    return { accepted: this.accepted, delivered: this.delivered, retries: this.retries, deadLettered: this.deadLettered, delayMs: this.delays.percentiles() };
  }
}

/** A stored call: its function, when it was accepted, its service time, the attempt it is on. */
interface StoredCall {
  readonly fn: number;
  readonly acceptedAt: number;
  readonly serviceMs: number;
  attempt: number;
}

export interface AsyncReplayParts {
  readonly gw: SimGateway;
  readonly stack: SimStack;
  readonly fns: readonly FunctionRun[];
  readonly config: Config;
}

/**
 * The async invocations of the run, as src/async/worker.ts delivers them over the embedded
 * queue: a call is stored at once; one pool of `asyncWorkers` deliveries takes the stored
 * calls in turn across functions, each function at most its max replicas × concurrency at once
 * and its own calls in acceptance order (src/async/fair-ready.ts), each through the dispatcher (a slot like any call: the hard limit
 * holds, a function at zero wakes); a failed attempt waits its backoff (jitter from a seeded
 * stream: the run stays deterministic) and is stored again, up to the function's attempts (a
 * full queue never uses one up), then dead-lettered. Stored calls not in delivery are the
 * backlog the `queue` and `concurrency` kinds read (`waiting`).
 */
export class AsyncReplay {
  /** Calls accepted and not yet delivered nor dead-lettered. */
  outstanding = 0;
  readonly counters: readonly AsyncCounters[];
  /** Stored calls ready for delivery, per function (by stack index), handed out as the embedded queue does. */
  private readonly ready: FairReady;
  /** The stored calls by id (ids are a counter: deterministic). */
  private readonly calls = new Map<string, StoredCall>();
  private nextId = 0;
  private inDelivery = 0;
  /** Per function: stored calls not in delivery (ready or waiting out a backoff). */
  private readonly stored: number[];
  private readonly index: ReadonlyMap<string, number>;
  private readonly attempts: readonly number[];
  private readonly jitter: readonly Random[];

  constructor(private readonly parts: AsyncReplayParts) {
    const { fns, stack, config, gw } = parts;
    this.counters = fns.map(() => new AsyncCounters());
    this.stored = fns.map(() => 0);
    this.index = new Map(fns.map((f) => [refKey(f.ref), f.index]));
    this.attempts = stack.functions.map((fn) => {
      const own = Number(fn.labels[MAX_ATTEMPTS_LABEL]);
      return Number.isInteger(own) && own >= 1 && own <= 100 ? own : config.asyncMaxAttempts;
    });
    this.jitter = fns.map((f) => gw.root.fork(30_000 + f.index));
    const capOf = deliveryCap(config);
    const caps = stack.functions.map((fn) => capOf(fn));
    this.ready = new FairReady((fn) => caps[Number(fn)] ?? 1);
  }

  /** Stored calls of `ref` not in delivery: the scalers' async backlog. */
  readonly waiting = (ref: FunctionRef): number => this.stored[this.index.get(refKey(ref)) ?? -1] ?? 0;

  /** An async call of the trace arrives now, with its service time: stored at once. */
  arrive(a: Arrival, serviceMs: number): void {
    (this.counters[a.fn] as AsyncCounters).accepted += 1;
    this.outstanding += 1;
    const id = String(this.nextId++);
    this.calls.set(id, { fn: a.fn, acceptedAt: this.parts.gw.clock.now(), serviceMs, attempt: 1 });
    this.store(a.fn, id);
  }

  private store(fn: number, id: string): void {
    this.stored[fn] = (this.stored[fn] ?? 0) + 1;
    this.ready.push(String(fn), id);
    this.pump();
  }

  /** Starts deliveries while the pool has room and calls are ready. */
  private pump(): void {
    while (this.inDelivery < this.parts.config.asyncWorkers) {
      const next = this.ready.take();
      if (next === undefined) break;
      const call = this.calls.get(next.id) as StoredCall;
      this.stored[call.fn] = (this.stored[call.fn] ?? 1) - 1;
      this.inDelivery += 1;
      this.deliver(next.id, call);
    }
  }

  private deliver(id: string, call: StoredCall): void {
    const { gw } = this.parts;
    const f = this.parts.fns[call.fn] as FunctionRun;
    const startedAt = gw.clock.now();
    const slot = gw.engine.dispatcher.tryAcquire(f.ref);
    if (slot !== null) {
      this.run(id, call, f, slot, startedAt);
      return;
    }
    gw.pending.track(
      gw.engine.dispatcher.acquire(f.ref).then(
        (queued) => this.run(id, call, f, queued, startedAt),
        (err: unknown) => {
          if (!isAppError(err)) throw err;
          this.failed(id, call, isAppError(err, 'QUEUE_FULL') || isAppError(err, 'SHUTTING_DOWN'));
        },
      ),
    );
  }

  /** The call has its slot: the replica answers after its service time, or the request timeout frees the slot and the attempt failed. */
  private run(id: string, call: StoredCall, f: FunctionRun, slot: Slot, startedAt: number): void {
    const { clock } = this.parts.gw;
    const grantedAt = startedAt + (slot.waitedMs ?? 0);
    if (call.serviceMs >= f.limits.requestTimeoutMs) {
      // The dispatcher's own timer frees the slot at the timeout.
      clock.setTimeout(() => this.failed(id, call, false), grantedAt + f.limits.requestTimeoutMs - clock.now());
      return;
    }
    clock.setTimeout(() => {
      slot.release();
      this.inDelivery -= 1;
      this.outstanding -= 1;
      this.calls.delete(id);
      this.ready.settled(String(call.fn));
      const counters = this.counters[call.fn] as AsyncCounters;
      counters.delivered += 1;
      counters.delays.push(clock.now() - call.acceptedAt);
      this.pump();
    }, grantedAt + call.serviceMs - clock.now());
  }

  /** A failed attempt: stored again after its backoff, or dead-lettered after the function's attempts. */
  private failed(id: string, call: StoredCall, transient: boolean): void {
    this.inDelivery -= 1;
    this.ready.settled(String(call.fn));
    const counters = this.counters[call.fn] as AsyncCounters;
    if (call.attempt < (this.attempts[call.fn] ?? 1) || transient) {
      counters.retries += 1;
      const delay = backoffMs(this.parts.config.asyncRetryBaseMs, call.attempt, (this.jitter[call.fn] as Random).next());
      call.attempt += 1;
      this.stored[call.fn] = (this.stored[call.fn] ?? 0) + 1;
      this.parts.gw.clock.setTimeout(() => {
        this.stored[call.fn] = (this.stored[call.fn] ?? 1) - 1;
        this.store(call.fn, id);
      }, delay);
    } else {
      counters.deadLettered += 1;
      this.outstanding -= 1;
      this.calls.delete(id);
    }
    this.pump();
  }
}
