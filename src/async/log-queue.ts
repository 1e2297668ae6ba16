import type { Clock, TimerHandle } from '../core/clock.js';
import { AppError } from '../errors.js';
import { FairReady } from './fair-ready.js';
import { LogFile } from './log-file.js';
import type { AsyncCall, AsyncQueue, DeadLetter, Delivery, DeliveryHandler } from './types.js';

/** Options of the embedded queue. */
export interface LogQueueOptions {
  /** Folder of the log (`queue.log`), created when missing. */
  readonly dir: string;
  readonly clock: Clock;
  /** Most calls stored and not settled; `enqueue` rejects QUEUE_FULL past it. */
  readonly maxQueued: number;
  /** Most dead letters kept; the oldest is dropped past it. */
  readonly maxDeadLetters: number;
  /** The log is compacted when it is over this many bytes and over 4 times its live records. */
  readonly compactMinBytes: number;
}

/** One log record: enqueued, acked, nacked (one more attempt), dead-lettered, replayed. */
type LogRecord =
  | { t: 'e'; c: AsyncCall }
  | { t: 'a'; i: string }
  | { t: 'n'; i: string }
  | { t: 'd'; i: string; r: string; at: number }
  | { t: 'r'; i: string };

interface Stored {
  readonly call: AsyncCall;
  attempts: number;
  /** The enqueue record's size: what compaction keeps. */
  readonly bytes: number;
}

/**
 * The embedded durable queue for one gateway: an append-only log (src/async/log-file.ts) with
 * one fdatasync per batch before `enqueue` resolves, replayed on open (calls neither acked nor
 * dead-lettered are delivered again), bounded in calls and dead letters, compacted when the
 * settled records dominate. Why not a library: no embedded store on npm is both well kept and
 * shipped with prebuilt binaries for Node 20 without a native build, and the log needs only append,
 * sync and rename.
 */
export class LogQueue implements AsyncQueue {
  private readonly calls = new Map<string, Stored>();
  private readonly dead = new Map<string, DeadLetter & { bytes: number }>();
  private readonly counts = new Map<string, number>();
  /** Ready calls per function, handed out in turn, each function under its delivery limit. */
  private readonly ready = new FairReady();
  private readonly inFlight = new Set<string>();
  private readonly timers = new Map<string, TimerHandle>();
  private handler: DeliveryHandler | null = null;
  private maxInFlight = 0;
  private liveBytes = 0;
  private closed = false;

  private constructor(
    private readonly file: LogFile,
    private readonly options: LogQueueOptions,
  ) {}

  /** Opens the log in `options.dir` and replays it. */
  static open(options: LogQueueOptions): LogQueue {
    const { file, lines } = LogFile.open(options.dir, 'queue.log');
    const queue = new LogQueue(file, options);
    for (const line of lines) queue.replayLine(line);
    for (const [id, s] of queue.calls) queue.ready.push(s.call.fn, id);
    return queue;
  }

  private replayLine(line: string): void {
    let rec: LogRecord;
    try {
      rec = JSON.parse(line) as LogRecord;
    } catch {
      return; // a line torn by a crash
    }
    if (rec.t === 'e') this.store(rec.c, 1, Buffer.byteLength(line) + 1);
    else if (rec.t === 'a') this.forget(rec.i);
    else if (rec.t === 'n') {
      const s = this.calls.get(rec.i);
      if (s !== undefined) s.attempts += 1;
    } else if (rec.t === 'd') this.bury(rec.i, rec.r, rec.at);
    else if (rec.t === 'r') this.raise(rec.i);
  }

  private store(call: AsyncCall, attempts: number, bytes: number): void {
    this.calls.set(call.id, { call, attempts, bytes });
    this.counts.set(call.fn, (this.counts.get(call.fn) ?? 0) + 1);
    this.liveBytes += bytes;
  }

  private forget(id: string): Stored | undefined {
    const s = this.calls.get(id);
    if (s === undefined) return undefined;
    this.calls.delete(id);
    const n = (this.counts.get(s.call.fn) ?? 1) - 1;
    if (n <= 0) this.counts.delete(s.call.fn);
    else this.counts.set(s.call.fn, n);
    this.liveBytes -= s.bytes;
    return s;
  }

  private bury(id: string, reason: string, at: number): void {
    const s = this.forget(id);
    if (s === undefined) return;
    this.dead.set(id, { call: s.call, reason, attempts: s.attempts, at, bytes: s.bytes });
    this.liveBytes += s.bytes;
    if (this.dead.size > this.options.maxDeadLetters) {
      const oldest = this.dead.keys().next().value as string;
      this.liveBytes -= this.dead.get(oldest)?.bytes ?? 0;
      this.dead.delete(oldest);
    }
  }

  /** A dead letter back among the calls (attempts from 1); false when unknown. */
  private raise(id: string): boolean {
    const d = this.dead.get(id);
    if (d === undefined) return false;
    this.dead.delete(id);
    this.liveBytes -= d.bytes;
    this.store(d.call, 1, d.bytes);
    return true;
  }

  async enqueue(call: AsyncCall): Promise<void> {
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'the async queue is closed');
    if (this.calls.size >= this.options.maxQueued) {
      throw new AppError('QUEUE_FULL', `the async queue holds ${this.calls.size} calls, its limit`, { details: { reason: 'async' } });
    }
    const line = JSON.stringify({ t: 'e', c: call } satisfies LogRecord);
    this.store(call, 1, Buffer.byteLength(line) + 1);
    try {
      await this.file.append(line);
    } catch (err) {
      this.forget(call.id);
      throw err;
    }
    this.ready.push(call.fn, call.id);
    this.pump();
  }

  consume(handler: DeliveryHandler, maxInFlight: number, limitOf?: (fn: string) => number): void {
    this.handler = handler;
    this.maxInFlight = Math.max(1, maxInFlight);
    if (limitOf !== undefined) this.ready.limitOf = limitOf;
    this.pump();
  }

  backlog(fn: string): number {
    return this.counts.get(fn) ?? 0;
  }

  backlogs(): ReadonlyMap<string, number> {
    return this.counts;
  }

  deadLetters(limit: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for (const { call, reason, attempts, at } of this.dead.values()) {
      if (out.length >= limit) break;
      out.push({ call, reason, attempts, at });
    }
    return Promise.resolve(out);
  }

  async replay(id: string): Promise<boolean> {
    if (this.closed || !this.dead.has(id)) return false;
    await this.file.append(JSON.stringify({ t: 'r', i: id } satisfies LogRecord));
    if (!this.raise(id)) return false;
    const call = this.calls.get(id)?.call;
    if (call !== undefined) this.ready.push(call.fn, id);
    this.pump();
    return true;
  }

  close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) this.options.clock.clearTimeout(t);
    this.timers.clear();
    this.file.close();
    return Promise.resolve();
  }

  /** Hands ready calls to the consumer while it has room, in turn across functions, each under its limit. */
  private pump(): void {
    const handler = this.handler;
    if (handler === null) return;
    while (!this.closed && this.inFlight.size < this.maxInFlight) {
      const next = this.ready.take();
      if (next === undefined) break;
      const stored = this.calls.get(next.id);
      if (stored === undefined || this.inFlight.has(next.id)) {
        this.ready.settled(next.fn);
        continue;
      }
      this.inFlight.add(next.id);
      handler(this.delivery(stored));
    }
  }

  private delivery(stored: Stored): Delivery {
    const { id } = stored.call;
    let settled = false;
    let shared = true;
    /** Frees the call's share of its function's limit, once. */
    const unshare = (): void => {
      if (!shared) return;
      shared = false;
      this.ready.settled(stored.call.fn);
    };
    const settle = async (rec: LogRecord, after: () => void): Promise<void> => {
      if (settled) return;
      settled = true;
      this.inFlight.delete(id);
      unshare();
      if (!this.closed) {
        after();
        await this.file.append(JSON.stringify(rec)).catch(() => undefined);
        this.maybeCompact();
      }
      this.pump();
    };
    return {
      call: stored.call,
      attempt: stored.attempts,
      ack: () => settle({ t: 'a', i: id }, () => this.forget(id)),
      nack: (delayMs) =>
        settle({ t: 'n', i: id }, () => {
          stored.attempts += 1;
          this.timers.set(id, this.options.clock.setTimeout(() => {
            this.timers.delete(id);
            this.ready.push(stored.call.fn, id);
            this.pump();
          }, delayMs));
        }),
      deadLetter: (reason) => {
        const at = this.options.clock.now();
        return settle({ t: 'd', i: id, r: reason, at }, () => this.bury(id, reason, at));
      },
      yieldShare: () => {
        if (settled || !shared) return;
        unshare();
        this.pump();
      },
    };
  }

  /** Rewrites the log to its live records when the settled ones dominate. */
  private maybeCompact(): void {
    if (this.file.bytes < this.options.compactMinBytes || this.file.bytes < 4 * this.liveBytes) return;
    const lines: string[] = [];
    for (const s of this.calls.values()) {
      lines.push(JSON.stringify({ t: 'e', c: s.call } satisfies LogRecord));
      for (let i = 1; i < s.attempts; i++) lines.push(JSON.stringify({ t: 'n', i: s.call.id } satisfies LogRecord));
    }
    for (const d of this.dead.values()) {
      lines.push(JSON.stringify({ t: 'e', c: d.call } satisfies LogRecord));
      lines.push(JSON.stringify({ t: 'd', i: d.call.id, r: d.reason, at: d.at } satisfies LogRecord));
    }
    this.file.rewrite(lines);
  }
}
