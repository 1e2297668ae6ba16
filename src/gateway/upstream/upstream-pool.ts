import net from 'node:net';
import { Connection, UpstreamExchange, type ConnectionPool, type ExchangeOwner } from './connection.js';
import { requestHead, type UpstreamRequest } from './request-head.js';

export type { ExchangeOwner, UpstreamExchange, WholeAnswer } from './connection.js';
export { requestHead, type UpstreamRequest } from './request-head.js';

/*
 * The proxy's upstream HTTP/1.1 client on plain sockets: a keep-alive pool per replica address,
 * one exchange at a time per connection, the request head written as one string, the answer
 * read by ResponseParser. In one ad hoc run on this project's 2-core machine (wrk -c 64, 64 B,
 * each forwarder alone, no gateway logic), a Node http server forwarding with http.request and
 * an Agent used 82 µs of CPU per call, and 41 µs with a plain-socket client like this one
 * (BENCHMARKS.md, the notes on the CPU rows). The callers' side of the proxy stays Node's
 * http server and its llhttp parser.
 */

/** An idle connection closes after this long unused, ms: well before Node servers' 5 s keep-alive timeout. */
const IDLE_CLOSE_MS = 1000;

/**
 * Keep-alive connections per replica address (`host:port`), LIFO, closed after IDLE_CLOSE_MS
 * unused. Idle connections and the answers watched for silence are checked by one sweep timer
 * (unref'd, running only while there is something to check) instead of a timer per socket.
 */
export class UpstreamPool implements ConnectionPool {
  /** Idle connections per replica address; an address with none has no entry. */
  private readonly idle = new Map<string, Connection[]>();
  /** Connections whose answer is watched for silence, with the silence allowed (ms). */
  private readonly watched = new Map<Connection, number>();
  private sweeper: NodeJS.Timeout | null = null;
  private sweepMs = 250;
  private closed = false;

  /** Starts an exchange with the replica at `host:port` on a pooled connection or a new one. */
  exchange(host: string, port: number, owner: ExchangeOwner, request: UpstreamRequest): UpstreamExchange {
    const head = requestHead(request);
    const key = `${host}:${port}`;
    const list = this.idle.get(key);
    let connection: Connection | undefined;
    while (list !== undefined && list.length > 0) {
      const candidate = list.pop();
      if (list.length === 0) this.idle.delete(key);
      if (candidate !== undefined && candidate.alive) {
        connection = candidate;
        break;
      }
      candidate?.socket.destroy();
    }
    if (connection === undefined) {
      connection = new Connection(net.connect({ host, port }), key, this);
    } else {
      connection.reused = true;
      connection.socket.ref();
    }
    const exchange = new UpstreamExchange(connection, owner, request.method, head, request.chunked);
    connection.exchange = exchange;
    return exchange;
  }

  /** A connection whose exchange completed cleanly: kept for the next one. */
  release(connection: Connection): void {
    connection.detach(false);
    if (this.closed || !connection.alive) {
      connection.socket.destroy();
      return;
    }
    connection.lastActivity = performance.now();
    // An answer paused for a slow client may have completed in the same read: the next
    // exchange must find the connection reading.
    if (connection.socket.isPaused()) connection.socket.resume();
    connection.socket.unref();
    let list = this.idle.get(connection.key);
    if (list === undefined) {
      list = [];
      this.idle.set(connection.key, list);
    }
    list.push(connection);
    this.startSweep();
  }

  /** A connection that closed: out of the idle list if it was there. */
  forget(connection: Connection): void {
    this.watched.delete(connection);
    const list = this.idle.get(connection.key);
    if (list === undefined) return;
    const at = list.indexOf(connection);
    if (at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) this.idle.delete(connection.key);
  }

  /** Watches `connection`'s answer for silence longer than `ms` (0: stops). */
  watch(connection: Connection, ms: number): void {
    if (ms <= 0) {
      this.watched.delete(connection);
      return;
    }
    connection.lastActivity = performance.now();
    this.watched.set(connection, ms);
    // Checked at a quarter of the allowed silence at least (so it fires within 1.25x of it).
    const period = Math.max(5, Math.min(IDLE_CLOSE_MS / 4, Math.floor(ms / 4)));
    if (period < this.sweepMs) {
      this.sweepMs = period;
      this.stopSweep();
    }
    this.startSweep();
  }

  unwatch(connection: Connection): void {
    this.watched.delete(connection);
  }

  /** Closes every idle connection and keeps none from now on (shutdown). */
  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const c of list) c.socket.destroy();
    this.idle.clear();
    this.stopSweep();
  }

  private startSweep(): void {
    if (this.sweeper !== null) return;
    this.sweeper = setInterval(() => this.sweep(), this.sweepMs);
    this.sweeper.unref();
  }

  private stopSweep(): void {
    if (this.sweeper === null) return;
    clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private sweep(): void {
    const now = performance.now();
    for (const [connection, ms] of this.watched) {
      // Paused: the client holds the answer back, which is not the replica's silence (resume restarts the clock).
      if (now - connection.lastActivity < ms || connection.socket.isPaused()) continue;
      this.watched.delete(connection);
      connection.exchange?.owner.upstreamIdle();
    }
    for (const [key, list] of this.idle) {
      // Oldest first: the list is LIFO, so the stale ones are at its start.
      while (list.length > 0 && now - (list[0]?.lastActivity ?? now) >= IDLE_CLOSE_MS) list.shift()?.socket.destroy();
      if (list.length === 0) this.idle.delete(key);
    }
    if (this.idle.size === 0 && this.watched.size === 0) this.stopSweep();
  }
}
