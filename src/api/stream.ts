import type { Request, Response } from 'express';
import type { Dispatcher } from '../engine/dispatcher.js';
import type { EngineEvent, EventLog } from '../engine/events.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { SpecDefaults } from '../policy/spec.js';
import { functionLabel, parseFunctionRef, refKey, type FunctionRef, type ReplicaProvider, type ReplicaState } from '../providers/types.js';
import type { EventView } from './events.js';
import { functionDetail, type FunctionDetail } from './status.js';

/** Shortest time between two snapshots of one function, ms. */
export const DEFAULT_COALESCE_MS = 250;
/** Time between two heartbeat comments on an idle stream, ms. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Bytes a client may leave unread before it is dropped. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
/** The window the request rate is measured over, ms. */
export const RATE_WINDOW_MS = 10_000;
/** How often the function list is read again (functions added or gone), ms. */
const RELIST_MS = 5_000;

/** One server-sent event: its name and one line of JSON (JSON.stringify never emits a raw newline). */
function frame(name: string, json: string): string {
  return `event: ${name}\ndata: ${json}\n\n`;
}

/** One function as the stream (and the page) shows it: the OpenFaaS fields, the rate, the detail. */
export interface FunctionSnapshot extends FunctionDetail {
  readonly name: string;
  readonly namespace: string;
  readonly replicas: number;
  readonly availableReplicas: number;
  readonly invocationCount: number;
  /** Calls per second through this gateway over the last RATE_WINDOW_MS (less right after start). */
  readonly requestsPerSecond: number;
  readonly labels: Readonly<Record<string, string>>;
}

export interface StatusStreamOptions {
  readonly provider: ReplicaProvider;
  readonly dispatcher: Pick<Dispatcher, 'replicas' | 'stats' | 'waiting'>;
  readonly events: Pick<EventLog, 'addSink'>;
  readonly metrics: Metrics;
  readonly specDefaults: SpecDefaults;
  readonly defaultNamespace: string;
  readonly logger: Logger;
  /** DEFAULT_COALESCE_MS when absent. */
  readonly coalesceMs?: number;
  /** DEFAULT_HEARTBEAT_MS when absent. */
  readonly heartbeatMs?: number;
  /** DEFAULT_MAX_BUFFERED_BYTES when absent. */
  readonly maxBufferedBytes?: number;
}

interface Known {
  readonly ref: FunctionRef;
  state: ReplicaState;
  /** The JSON last sent; a snapshot is sent only when it differs. */
  sent: string;
  /** Invocation counts sampled at each pass: [time ms, count], oldest first, within the rate window. */
  samples: Array<readonly [number, number]>;
}

/**
 * `GET /system/stream[?function=name[.namespace]]`: server-sent events for live views (one
 * function's only, with `function`). On connect, one `function` event
 * per function (a FunctionSnapshot); then a `function` event whenever one changes (checked
 * every `coalesceMs`, so at most that often per function), an `engine` event for each engine
 * event as it is recorded (an EventView), a `removed` event `{name, namespace}` when a
 * function goes away, and a heartbeat comment when nothing was sent for `heartbeatMs`.
 * A client that leaves more than `maxBufferedBytes` unread is dropped (it reconnects and
 * starts from a fresh snapshot); nothing is buffered for it beyond that. `close()` ends every
 * stream at once (shutdown) and refuses new ones with 503 SHUTTING_DOWN.
 */
export class StatusStream {
  /** Each client with the one function it asked for (`function_name` label), or null for all. */
  private readonly clients = new Map<Response, string | null>();
  private readonly known = new Map<string, Known>();
  private readonly log: Logger;
  private readonly coalesceMs: number;
  private readonly heartbeatMs: number;
  private readonly maxBufferedBytes: number;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private detachSink: (() => void) | undefined;
  private passing = false;
  private lastListed = 0;
  /** When each client was last written to: its heartbeat is its own (one that follows one function hears nothing of the others). */
  private readonly lastWrite = new Map<Response, number>();
  private closed = false;

  constructor(private readonly options: StatusStreamOptions) {
    this.log = options.logger.child({ component: 'stream' });
    this.coalesceMs = options.coalesceMs ?? DEFAULT_COALESCE_MS;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  /** Clients connected now. */
  get size(): number {
    return this.clients.size;
  }

  /** The express handler of `GET /system/stream`. */
  readonly handle = async (req: Request, res: Response): Promise<void> => {
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'gateway is shutting down');
    const only = this.filterOf(req);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      // The stream is the connection's only use: once it ends, the socket closes (shutdown never waits on it).
      Connection: 'close',
    });
    res.write('retry: 2000\n\n');
    this.clients.set(res, only);
    this.lastWrite.set(res, Date.now());
    req.on('close', () => this.drop(res));
    this.start();
    try {
      await this.relist();
    } catch (err) {
      this.log.warn('stream list failed', { error: err instanceof Error ? err.message : String(err) });
    }
    // A fresh client gets every function once, whatever was sent to the others.
    const counts = await this.invocationCounts();
    for (const known of this.known.values()) {
      if (only === null || only === this.labelOf(known.ref)) this.write(res, frame('function', JSON.stringify(this.snapshot(known, counts))));
    }
  };

  /** `?function=name[.namespace]`: only that function's snapshots and events; null for all. */
  private filterOf(req: Request): string | null {
    const value = req.query['function'];
    if (value === undefined) return null;
    if (typeof value !== 'string' || value === '') {
      throw new AppError('BAD_REQUEST', 'query parameter function must be one non-empty string', { details: { parameter: 'function' } });
    }
    return this.labelOf(parseFunctionRef(value, this.options.defaultNamespace));
  }

  private labelOf(ref: FunctionRef): string {
    return functionLabel(ref, this.options.defaultNamespace);
  }

  /** Ends every stream and stops; later connections get 503. */
  close(): void {
    this.closed = true;
    for (const res of [...this.clients.keys()]) {
      this.clients.delete(res);
      this.lastWrite.delete(res);
      res.end();
    }
    this.stop();
  }

  private start(): void {
    if (this.timer !== undefined) return;
    this.unsubscribe = this.options.provider.subscribe((ref, state) => this.remember(ref, state));
    this.detachSink = this.options.events.addSink((event) => this.broadcastEvent(event));
    this.timer = setInterval(() => void this.pass(), this.coalesceMs);
    this.timer.unref();
  }

  /** Nobody listens: no timer, no subscription (the gateway pays nothing for the stream). */
  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.detachSink?.();
    this.detachSink = undefined;
    this.known.clear();
    this.lastListed = 0;
  }

  private drop(res: Response): void {
    this.lastWrite.delete(res);
    if (!this.clients.delete(res)) return;
    if (this.clients.size === 0) this.stop();
  }

  private remember(ref: FunctionRef, state: ReplicaState): void {
    const key = refKey(ref);
    const known = this.known.get(key);
    if (known === undefined) this.known.set(key, { ref, state, sent: '', samples: [] });
    else known.state = state;
  }

  /** Reads the function list again; announces the functions that went away. */
  private async relist(): Promise<void> {
    const functions = await this.options.provider.listFunctions();
    this.lastListed = Date.now();
    const seen = new Set<string>();
    for (const info of functions) {
      seen.add(refKey(info.ref));
      this.remember(info.ref, info);
    }
    for (const [key, known] of this.known) {
      if (seen.has(key)) continue;
      this.known.delete(key);
      this.broadcast(this.labelOf(known.ref), frame('removed', JSON.stringify({ name: known.ref.name, namespace: known.ref.namespace })));
    }
  }

  private async invocationCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const value of (await this.options.metrics.invocationTotal.get()).values) {
      const fn = String(value.labels['function_name']);
      counts.set(fn, (counts.get(fn) ?? 0) + value.value);
    }
    return counts;
  }

  private snapshot(known: Known, counts: Map<string, number>): FunctionSnapshot {
    const { ref, state } = known;
    const invocationCount = counts.get(this.labelOf(ref)) ?? 0;
    const now = Date.now();
    known.samples.push([now, invocationCount]);
    while (known.samples.length > 2 && now - (known.samples[1]?.[0] ?? now) >= RATE_WINDOW_MS) known.samples.shift();
    const [t0, c0] = known.samples[0] ?? [now, invocationCount];
    const requestsPerSecond = now - t0 < 1000 ? 0 : Math.round(((invocationCount - c0) * 1000 * 100) / (now - t0)) / 100;
    return {
      name: ref.name,
      namespace: ref.namespace,
      replicas: state.desired,
      availableReplicas: state.ready,
      invocationCount,
      requestsPerSecond,
      labels: state.labels,
      ...functionDetail({ dispatcher: this.options.dispatcher, provider: this.options.provider, specDefaults: this.options.specDefaults }, ref, state),
    };
  }

  /** One pass: every function whose snapshot changed is sent; a heartbeat when the stream was quiet. */
  private async pass(): Promise<void> {
    if (this.passing || this.clients.size === 0) return;
    this.passing = true;
    try {
      if (Date.now() - this.lastListed >= RELIST_MS) await this.relist();
      const counts = await this.invocationCounts();
      for (const known of this.known.values()) {
        const json = JSON.stringify(this.snapshot(known, counts));
        if (json === known.sent) continue;
        known.sent = json;
        this.broadcast(this.labelOf(known.ref), frame('function', json));
      }
      const now = Date.now();
      for (const res of [...this.clients.keys()]) if (now - (this.lastWrite.get(res) ?? 0) >= this.heartbeatMs) this.write(res, ': heartbeat\n\n');
    } catch (err) {
      this.log.warn('stream pass failed', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.passing = false;
    }
  }

  private broadcastEvent(event: EngineEvent): void {
    const view: EventView = { ...event, time: new Date(event.time).toISOString() };
    this.broadcast(event.function, frame('engine', JSON.stringify(view)));
  }

  /** Writes `text` to every client that follows all functions or `label` (null: to all). */
  private broadcast(label: string | null, text: string): void {
    for (const [res, only] of [...this.clients]) if (label === null || only === null || only === label) this.write(res, text);
  }

  /** Writes one frame; a client with too much unread is dropped, never buffered for without bound. */
  private write(res: Response, text: string): void {
    if (!this.clients.has(res)) return;
    if (res.writableLength > this.maxBufferedBytes) {
      this.log.warn('stream client dropped', { bufferedBytes: res.writableLength, limitBytes: this.maxBufferedBytes });
      this.drop(res);
      res.destroy();
      return;
    }
    res.write(text);
    this.lastWrite.set(res, Date.now());
  }
}
