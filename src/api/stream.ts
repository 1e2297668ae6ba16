import type { Request, Response } from 'express';
import type { EngineEvent, EventLog } from '../engine/events.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { functionLabel, parseFunctionRef, refKey, type FunctionRef, type ReplicaState } from '../providers/types.js';
import type { EventView } from './events.js';
import { readPassData, snapshotOf, type FunctionSnapshot, type Known, type PassData, type SnapshotSources } from './stream-snapshot.js';

export type { FunctionSnapshot } from './stream-snapshot.js';

/** Shortest time between two snapshots of one function, ms. */
export const DEFAULT_COALESCE_MS = 250;
/** Time between two heartbeat comments on an idle stream, ms. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Bytes a client may leave unread before it is dropped. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
export { RATE_WINDOW_MS } from './stream-snapshot.js';
/** How often the function list is read again (functions added or gone), ms. */
const RELIST_MS = 5_000;

/** One server-sent event: its name and one line of JSON (JSON.stringify never emits a raw newline). */
function frame(name: string, json: string): string {
  return `event: ${name}\ndata: ${json}\n\n`;
}

export interface StatusStreamOptions extends SnapshotSources {
  readonly events: Pick<EventLog, 'addSink'>;
  readonly logger: Logger;
  /** DEFAULT_COALESCE_MS when absent. */
  readonly coalesceMs?: number;
  /** DEFAULT_HEARTBEAT_MS when absent. */
  readonly heartbeatMs?: number;
  /** DEFAULT_MAX_BUFFERED_BYTES when absent. */
  readonly maxBufferedBytes?: number;
}

/**
 * `GET /system/stream[?function=name[.namespace]]`: server-sent events for live views (one
 * function's only, with `function`). On connect, one `function` event
 * per function (a FunctionSnapshot); then a `function` event whenever one changes (checked
 * every `coalesceMs`, so at most that often per function), an `engine` event for each engine
 * event as it is recorded (an EventView), a `removed` event `{name, namespace}` when a
 * function goes away, and a heartbeat comment when nothing was sent for `heartbeatMs`. With a
 * recorder: on connect a `history` event per function `{name, namespace, stepMs, points}`
 * (HistoryPoint rows), then a `point` event `{name, namespace, point}` at each step.
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
  private detachPoints: (() => void) | undefined;
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
    // A fresh client gets every function once, whatever was sent to the others, then its history.
    const data = await this.passData();
    const recorder = this.options.recorder;
    for (const known of this.known.values()) {
      if (only !== null && only !== this.labelOf(known.ref)) continue;
      this.write(res, frame('function', JSON.stringify(this.snapshot(known, data))));
      if (recorder === undefined) continue;
      const points = recorder.history.pointsOf(recorder.labelOf(known.ref));
      this.write(res, frame('history', JSON.stringify({ name: known.ref.name, namespace: known.ref.namespace, stepMs: recorder.stepMs, points })));
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
    this.options.recorder?.stop();
  }

  private start(): void {
    if (this.timer !== undefined) return;
    this.unsubscribe = this.options.provider.subscribe((ref, state) => this.remember(ref, state));
    this.detachSink = this.options.events.addSink((event) => this.broadcastEvent(event));
    this.detachPoints = this.options.recorder?.onPoint((ref, point) =>
      this.broadcast(this.labelOf(ref), frame('point', JSON.stringify({ name: ref.name, namespace: ref.namespace, point }))),
    );
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
    this.detachPoints?.();
    this.detachPoints = undefined;
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
      this.options.recorder?.forget(known.ref);
      this.broadcast(this.labelOf(known.ref), frame('removed', JSON.stringify({ name: known.ref.name, namespace: known.ref.namespace })));
    }
  }

  private passData(): Promise<PassData> {
    return readPassData(this.known, this.options, this.log);
  }

  private snapshot(known: Known, data: PassData): FunctionSnapshot {
    return snapshotOf(known, data, this.options);
  }

  /** One pass: every function whose snapshot changed is sent; a heartbeat when the stream was quiet. */
  private async pass(): Promise<void> {
    if (this.passing || this.clients.size === 0) return;
    this.passing = true;
    try {
      if (Date.now() - this.lastListed >= RELIST_MS) await this.relist();
      const data = await this.passData();
      for (const known of this.known.values()) {
        const json = JSON.stringify(this.snapshot(known, data));
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
