import http from 'node:http';
import type { Clock } from '../core/clock.js';
import type { Dispatcher, Slot } from '../engine/dispatcher.js';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { functionLabel, parseFunctionRef, type FunctionRef, type ReplicaProvider, type ReplicaState } from '../providers/types.js';
import { postCallback, sendToReplica, type Answer, type SendError } from './send.js';
import type { AsyncQueue, Delivery } from './types.js';

/** The label that sets a function's own attempt limit. */
export const MAX_ATTEMPTS_LABEL = 'com.openfaas.async.max-attempts';
/** Function answers retried (429 Too Many Requests, 502, 503, 504). */
const RETRY_STATUS = new Set([429, 502, 503, 504]);
const MAX_DELAY_MS = 60_000;
/** Callback attempts before it is given up on (logged and counted). */
const CALLBACK_ATTEMPTS = 4;
const CALLBACK_TIMEOUT_MS = 10_000;

/** An error as the callback's answer: its status and the gateway's JSON error body. */
function errorAnswer(err: AppError): Answer {
  return { status: err.status, contentType: 'application/json', body: Buffer.from(JSON.stringify({ error: { code: err.code, message: err.message } })), seconds: 0 };
}

export interface AsyncWorkerOptions {
  readonly queue: AsyncQueue;
  readonly dispatcher: Dispatcher;
  readonly provider: Pick<ReplicaProvider, 'getReplicas'>;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly workers: number;
  /** Largest function answer kept for the callback, bytes. */
  readonly bodyLimitBytes: number;
  /**
   * Most deliveries of one function at once, from its labels (its max replicas × hard
   * concurrency: what it can ever serve at once), so one deep backlog cannot take the whole
   * pool; a function not read yet gets 1. No limit when absent.
   */
  readonly deliveryCap?: (state: Pick<ReplicaState, 'labels' | 'annotations'>) => number;
}

/** Functions whose delivery limit is remembered; the map starts over past it. */
const MAX_CAPS = 100_000;

/** Exponential backoff with jitter: base·2^(attempt-1), capped, then 50-100 % of it (`unit` in [0, 1): a random draw; the simulator passes a seeded one). */
export function backoffMs(base: number, attempt: number, unit = Math.random()): number {
  const full = Math.min(MAX_DELAY_MS, base * 2 ** Math.min(20, attempt - 1));
  return Math.round(full * (0.5 + unit / 2));
}

/**
 * Delivers queued async calls through the dispatcher: each takes a replica slot like any call
 * (so the hard concurrency limit holds and a function at zero wakes), goes to the replica,
 * and its answer goes to the callback URL. 429/502/503/504 and failures to get a slot are
 * retried with backoff up to the function's attempt limit, then dead-lettered.
 */
export class AsyncWorker {
  private readonly agent = new http.Agent({ keepAlive: true, timeout: 1000 });
  /** Calls being delivered (holding or waiting for a slot), per function as requested. */
  private readonly delivering = new Map<string, number>();
  /** Each function's delivery limit (as requested), read from its labels at each delivery. */
  private readonly caps = new Map<string, number>();
  private readonly log: Logger;
  private stopped = false;
  /** A graceful stop began: calls handed out from now on are left unsettled (delivered again later). */
  private draining = false;
  /** Deliveries under way: a graceful stop waits for them. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: AsyncWorkerOptions) {
    this.log = options.logger.child({ component: 'async' });
  }

  /** Starts taking calls from the queue, and the backlog gauge. */
  start(): void {
    const limitOf = this.options.deliveryCap === undefined ? undefined : (fn: string) => this.caps.get(fn) ?? 1;
    this.options.queue.consume((d) => {
      if (this.draining || this.stopped) return;
      const delivery = this.deliver(d);
      this.inFlight.add(delivery);
      void delivery.finally(() => this.inFlight.delete(delivery));
    }, this.options.workers, limitOf);
    this.options.metrics.beforeAsyncCollect.add(this.collect);
  }

  /**
   * A graceful stop's first step: no new delivery starts, and those under way get up to
   * `timeoutMs` to finish (answer, callback, ack) while the dispatcher and replicas still run,
   * so a call the function is running is not cut and sent again after the restart.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled([...this.inFlight]), late]);
    clearTimeout(timer);
  }

  /** Stops the gauge; deliveries under way finish or are delivered again after a restart. */
  stop(): void {
    this.stopped = true;
    this.options.metrics.beforeAsyncCollect.delete(this.collect);
    this.agent.destroy();
  }

  /** Calls of `fn` stored and not yet in delivery: what waits beyond the dispatcher's own queue. */
  waiting(ref: FunctionRef): number {
    let n = 0;
    for (const [fn, count] of this.options.queue.backlogs()) {
      const r = parseFunctionRef(fn, this.options.defaultNamespace);
      if (r.name === ref.name && r.namespace === ref.namespace) n += Math.max(0, count - (this.delivering.get(fn) ?? 0));
    }
    return n;
  }

  private readonly collect = (): void => {
    const gauge = this.options.metrics.asyncQueueLength;
    gauge.reset();
    for (const [fn, count] of this.options.queue.backlogs()) gauge.set({ function_name: this.label(fn) }, count);
  };

  private label(fn: string): string {
    return functionLabel(parseFunctionRef(fn, this.options.defaultNamespace), this.options.defaultNamespace);
  }

  private async deliver(d: Delivery): Promise<void> {
    const { fn } = d.call;
    this.delivering.set(fn, (this.delivering.get(fn) ?? 0) + 1);
    try {
      await this.attempt(d);
    } catch (err) {
      this.log.error('async delivery failed', { function: fn, callId: d.call.id, error: (err as Error).message });
      await d.nack(backoffMs(this.options.retryBaseMs, d.attempt)).catch(() => undefined);
    } finally {
      const n = (this.delivering.get(fn) ?? 1) - 1;
      if (n <= 0) this.delivering.delete(fn);
      else this.delivering.set(fn, n);
    }
  }

  private async attempt(d: Delivery): Promise<void> {
    const { call } = d;
    const ref = parseFunctionRef(call.fn, this.options.defaultNamespace);
    let limit = this.options.maxAttempts;
    try {
      const state = await this.options.provider.getReplicas(ref);
      const own = Number(state.labels[MAX_ATTEMPTS_LABEL]);
      if (Number.isInteger(own) && own >= 1 && own <= 100) limit = own;
      if (this.options.deliveryCap !== undefined) {
        if (this.caps.size >= MAX_CAPS && !this.caps.has(call.fn)) this.caps.clear();
        this.caps.set(call.fn, Math.max(1, this.options.deliveryCap(state)));
      }
      await this.options.dispatcher.track(ref);
    } catch (err) {
      if (isAppError(err, 'FUNCTION_UNKNOWN')) return this.giveUp(d, 'function unknown', errorAnswer(err));
      throw err;
    }
    let answer: Answer | undefined;
    let reason: string;
    let transient = false;
    let slot: Slot | undefined;
    /** The send failed once the call may have reached the function: never sent again (its error is the answer). */
    let reached: AppError | null = null;
    try {
      slot = await this.options.dispatcher.acquire(ref);
      answer = await sendToReplica(call, slot, this.agent, this.options.bodyLimitBytes);
      reason = `status ${answer.status}`;
    } catch (err) {
      reason = isAppError(err) ? err.code : (err as Error).message;
      // The gateway's own queue was full or it is stopping: the function never saw the call.
      transient = isAppError(err, 'QUEUE_FULL') || isAppError(err, 'SHUTTING_DOWN');
      if (slot !== undefined && (err as SendError).unsent !== true) reached = isAppError(err) ? err : new AppError('UPSTREAM_FAILED', `function ${call.fn} failed: ${(err as Error).message}`);
    } finally {
      slot?.release();
      // The replica slot is back: another call of the function may go while this one's callback and ack run.
      d.yieldShare?.();
    }
    if (answer !== undefined && !RETRY_STATUS.has(answer.status)) {
      await this.callback(d, answer);
      await d.ack();
      return;
    }
    // Stopping: left unsettled, the call is delivered again after the next start.
    if (this.stopped) return;
    if (reached !== null) return this.giveUp(d, reason, errorAnswer(reached));
    if (d.attempt < limit || transient) {
      this.log.debug('async call retried', { function: call.fn, callId: call.id, attempt: d.attempt, reason });
      await d.nack(backoffMs(this.options.retryBaseMs, d.attempt));
      return;
    }
    await this.giveUp(d, reason, answer);
  }

  /** Dead-letters the call; its callback gets the function's last answer, else the error as the gateway would answer it. */
  private async giveUp(d: Delivery, reason: string, answer: Answer | undefined): Promise<void> {
    this.log.warn('async call dead-lettered', { function: d.call.fn, callId: d.call.id, attempts: d.attempt, reason });
    this.options.metrics.asyncDeadLetters.inc({ function_name: this.label(d.call.fn) });
    await this.callback(d, answer ?? errorAnswer(new AppError('UPSTREAM_FAILED', `the call was not delivered: ${reason}`)));
    await d.deadLetter(reason);
  }

  /** Posts the answer to the call's callback URL, retried with backoff; a final failure is logged and counted. */
  private async callback(d: Delivery, answer: Answer): Promise<void> {
    const { call } = d;
    if (call.callbackUrl === undefined) return;
    let last = '';
    for (let i = 1; i <= CALLBACK_ATTEMPTS; i++) {
      try {
        const status = await postCallback(call, answer, CALLBACK_TIMEOUT_MS);
        if (status < 500 && status !== 429) return;
        last = `status ${status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (i < CALLBACK_ATTEMPTS && !this.stopped) await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, backoffMs(this.options.retryBaseMs, i)));
    }
    this.log.warn('async callback failed', { function: call.fn, callId: call.id, attempts: CALLBACK_ATTEMPTS, reason: last });
    this.options.metrics.asyncCallbackFailures.inc({ function_name: this.label(call.fn) });
  }
}
