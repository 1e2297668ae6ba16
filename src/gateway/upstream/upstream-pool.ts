import net from 'node:net';
import { AppError } from '../../errors.js';
import { ResponseParser, type ResponseSink } from './response-parser.js';

/*
 * The proxy's upstream HTTP/1.1 client on plain sockets: a keep-alive pool per replica address,
 * one exchange at a time per connection, the request head written as one string, the answer
 * read by ResponseParser. In one ad hoc run on this project's 2-core machine (wrk -c 64, 64 B,
 * each forwarder alone, no gateway logic), a Node http server forwarding with http.request and
 * an Agent used 82 µs of CPU per call, and 41 µs with a plain-socket client like this one
 * (BENCHMARKS.md, the notes on the CPU rows). The callers' side of the proxy stays Node's
 * http server and its llhttp parser.
 */

/** What an exchange tells the call it serves (src/gateway/proxy-call.ts). */
export interface ExchangeOwner {
  /** The final answer head: status 101 or 200-599, raw [name, value, ...] pairs. */
  upstreamHead(status: number, rawHeaders: string[]): void;
  /** A piece of the answer body. */
  upstreamData(chunk: Buffer): void;
  /** The answer is complete. */
  upstreamEnd(): void;
  /** The exchange failed: before the head (connect, reset, hang-up, bad head) or mid-answer. */
  upstreamError(err: NodeJS.ErrnoException): void;
  /** The replica sent nothing for the idle time set with `watchIdle`. */
  upstreamIdle(): void;
  /** The connection can take more of the request body. */
  upstreamDrain(): void;
}

/** An idle connection closes after this long unused, ms: well before Node servers' 5 s keep-alive timeout. */
const IDLE_CLOSE_MS = 1000;

/** Methods that Node's client sends `Content-Length: 0` for when they have no body. */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Characters never written into a request head from the values given: CR, LF, NUL. */
const HEAD_UNSAFE = /[\r\n\0]/;

/** The request a call sends: method, path (with query) and header pairs, Host among them. */
export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly string[];
  /** The body's length is not known (the client sent it chunked): it goes chunked. */
  readonly chunked: boolean;
  /** The headers already frame the body: a Content-Length is among them (0 included), or `chunked`. */
  readonly bodyFramed: boolean;
}

/** One keep-alive connection to a replica, its listeners set once. */
class Connection implements ResponseSink {
  exchange: UpstreamExchange | null = null;
  /** performance.now() of the last use (idle) or the last byte read (watched). */
  lastActivity = 0;
  readonly parser = new ResponseParser(this);
  /** Reused from the pool (not freshly connected) by the current exchange. */
  reused = false;

  constructor(
    readonly socket: net.Socket,
    readonly key: string,
    readonly pool: UpstreamPool,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onPeerEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
    socket.on('close', () => this.onClose());
    socket.on('drain', () => this.exchange?.owner.upstreamDrain());
  }

  /** Usable for another exchange: open both ways and not closing. */
  get alive(): boolean {
    const { socket } = this;
    return !socket.destroyed && socket.writable && !socket.readableEnded;
  }

  responseHead(status: number, rawHeaders: string[]): void {
    this.exchange?.owner.upstreamHead(status, rawHeaders);
  }

  responseData(chunk: Buffer): void {
    this.lastActivity = performance.now();
    this.exchange?.owner.upstreamData(chunk);
  }

  responseEnd(): void {
    const exchange = this.exchange;
    if (exchange === null) return;
    exchange.responseDone = true;
    exchange.owner.upstreamEnd();
  }

  private onData(chunk: Buffer): void {
    const exchange = this.exchange;
    if (exchange === null) {
      // Bytes nobody asked for: the connection is not HTTP we can trust.
      this.socket.destroy();
      return;
    }
    let leftover: number;
    try {
      leftover = this.parser.feed(chunk);
    } catch (err) {
      this.fail(exchange, err as NodeJS.ErrnoException);
      return;
    }
    if (this.exchange !== exchange || !this.parser.complete) return;
    // The answer is complete: the connection goes back to the pool when it can carry another exchange.
    if (this.parser.reusable && leftover === 0 && exchange.requestDone) this.pool.release(this);
    else this.detach(true);
  }

  /** The replica closed its side: a close-delimited answer ends; any other answer in flight is cut. */
  private onPeerEnd(): void {
    const exchange = this.exchange;
    if (exchange === null || exchange.responseDone) return;
    if (this.parser.close()) {
      this.detach(true);
      return;
    }
    this.fail(exchange, hangUp(this.parser.headDone));
  }

  private onError(err: NodeJS.ErrnoException): void {
    const exchange = this.exchange;
    if (exchange !== null && !exchange.responseDone) this.fail(exchange, err);
  }

  private onClose(): void {
    this.pool.forget(this);
    const exchange = this.exchange;
    if (exchange !== null && !exchange.responseDone) this.fail(exchange, hangUp(this.parser.headDone));
  }

  private fail(exchange: UpstreamExchange, err: NodeJS.ErrnoException): void {
    this.detach(true);
    exchange.owner.upstreamError(err);
  }

  /** Ends the current exchange's hold on the connection; `close`: the connection is not used again. */
  detach(close: boolean): void {
    const exchange = this.exchange;
    this.exchange = null;
    if (exchange !== null) exchange.detached = true;
    this.pool.unwatch(this);
    if (close) this.socket.destroy();
  }
}

/** Node's error for a connection that closed before its answer was complete. */
function hangUp(headDone: boolean): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(headDone ? 'aborted' : 'socket hang up');
  err.code = 'ECONNRESET';
  return err;
}

/** The request head as written (latin1, as Node writes header values); throws when a value could split it. */
export function requestHead(request: UpstreamRequest): string {
  const { method, path, headers } = request;
  if (unsafe(method) || unsafe(path) || method.includes(' ') || path.includes(' ')) throw splitting('the method or path');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] ?? '';
    const value = headers[i + 1] ?? '';
    if (unsafe(name) || unsafe(value)) throw splitting(`header ${JSON.stringify(name)}`);
    head += `${name}: ${value}\r\n`;
  }
  if (request.chunked) head += 'Transfer-Encoding: chunked\r\n';
  else if (!request.bodyFramed && !BODYLESS_METHODS.has(method)) head += 'Content-Length: 0\r\n';
  return `${head}\r\n`;
}

/** CR, LF or NUL: never written into a request head (Node's parser lets none through; a last guard). */
function unsafe(text: string): boolean {
  return HEAD_UNSAFE.test(text);
}

function splitting(what: string): AppError {
  return new AppError('BAD_REQUEST', `${what} holds a character that would split the request to the replica`);
}

/** One call's exchange on one connection: its request written, its answer handed to `owner`. */
export class UpstreamExchange {
  /** The whole request has been written (`end`). */
  requestDone = false;
  /** The answer is complete. */
  responseDone = false;
  /** The connection is no longer this exchange's (complete, failed or destroyed). */
  detached = false;
  /**
   * The connection's `bytesWritten` before this exchange's head. Node counts bytes as written
   * once queued (corked or waiting for the connect), so in practice it stays equal only when
   * nothing was queued; the retry rule reads "unchanged" as "provably unsent" and is never
   * looser than that.
   */
  readonly sentFrom: number;
  /** The connection came from the pool, not a fresh connect (fixed when the exchange starts). */
  readonly reused: boolean;
  private corked = true;
  private readonly chunked: boolean;

  constructor(
    private readonly connection: Connection,
    readonly owner: ExchangeOwner,
    method: string,
    head: string,
    chunked: boolean,
  ) {
    this.chunked = chunked;
    this.reused = connection.reused;
    const socket = connection.socket;
    connection.parser.reset(method);
    this.sentFrom = socket.bytesWritten;
    socket.cork();
    socket.write(head, 'latin1');
  }

  /** The connection's socket (its `bytesWritten` tells whether the call left). */
  get socket(): net.Socket {
    return this.connection.socket;
  }


  /** Writes a piece of the request body; false when the connection's buffer is full (wait for upstreamDrain). */
  write(chunk: Buffer): boolean {
    if (this.detached) return true;
    const socket = this.connection.socket;
    if (!this.chunked) return socket.write(chunk);
    if (chunk.length === 0) return true;
    const corked = this.corked;
    if (!corked) socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = socket.write('\r\n', 'latin1');
    if (!corked) socket.uncork();
    return ok;
  }

  /** The request is complete (its body's end sent, when chunked); what was held in the cork goes out. */
  end(): void {
    if (this.detached) return;
    this.requestDone = true;
    if (this.chunked) this.connection.socket.write('0\r\n\r\n', 'latin1');
    this.flush();
  }

  /** Sends what is corked (the head and the body so far). */
  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.connection.socket.uncork();
  }

  /** Stops reading the answer (the client's socket is full). */
  pause(): void {
    if (!this.detached) this.connection.socket.pause();
  }

  /** Reads the answer again. */
  resume(): void {
    if (this.detached) return;
    this.connection.lastActivity = performance.now();
    this.connection.socket.resume();
  }

  /** `ms` > 0: `owner.upstreamIdle` runs when no byte of the answer came for about that long; 0 stops watching. */
  watchIdle(ms: number): void {
    if (this.detached) return;
    this.connection.pool.watch(this.connection, ms);
  }

  /** Ends the exchange now: the connection is closed, never reused; no owner callback follows. */
  destroy(): void {
    if (this.detached) return;
    this.connection.detach(true);
  }
}

/**
 * Keep-alive connections per replica address (`host:port`), LIFO, closed after IDLE_CLOSE_MS
 * unused. Idle connections and the answers watched for silence are checked by one sweep timer
 * (unref'd, running only while there is something to check) instead of a timer per socket.
 */
export class UpstreamPool {
  private readonly idle = new Map<string, Connection[]>();
  private idleCount = 0;
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
      this.idleCount -= 1;
      if (candidate !== undefined && candidate.alive) {
        connection = candidate;
        break;
      }
      candidate?.socket.destroy();
    }
    if (connection === undefined) {
      connection = new Connection(net.connect({ host, port }), key, this);
      connection.reused = false;
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
    this.idleCount += 1;
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
    this.idleCount -= 1;
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
    this.idleCount = 0;
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
    if (this.idleCount > 0) {
      for (const [key, list] of this.idle) {
        // Oldest first: the list is LIFO, so the stale ones are at its start.
        while (list.length > 0 && now - (list[0]?.lastActivity ?? now) >= IDLE_CLOSE_MS) {
          this.idleCount -= 1;
          list.shift()?.socket.destroy();
        }
        if (list.length === 0) this.idle.delete(key);
      }
    }
    if (this.idleCount === 0 && this.watched.size === 0) this.stopSweep();
  }
}
