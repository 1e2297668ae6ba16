import type net from 'node:net';
import { ResponseParser, type ResponseSink } from './response-parser.js';

/** What a connection needs from its pool (src/gateway/upstream/upstream-pool.ts). */
export interface ConnectionPool {
  /** The exchange completed cleanly: the connection is kept for the next one. */
  release(connection: Connection): void;
  /** The connection closed. */
  forget(connection: Connection): void;
  /** Watch the connection's answer for silence over `ms` (0 stops). */
  watch(connection: Connection, ms: number): void;
  unwatch(connection: Connection): void;
}

/** An answer's body read whole with its head. */
export interface WholeAnswer {
  readonly body: Buffer;
  /** It came chunked: its length was not in the head. */
  readonly chunked: boolean;
}

/** What an exchange tells the call it serves (src/gateway/proxy-call.ts). */
export interface ExchangeOwner {
  /**
   * The final answer head: status 101 or 200-599, raw [name, value, ...] pairs. With `whole`,
   * the answer came whole in one read: its body (without chunked framing) is all there is, no
   * upstreamData or upstreamEnd follows.
   */
  upstreamHead(status: number, rawHeaders: string[], whole?: WholeAnswer): void;
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

/** One keep-alive connection to a replica, its listeners set once. */
export class Connection implements ResponseSink {
  exchange: UpstreamExchange | null = null;
  /** performance.now() of the last use (idle) or the last byte read (watched). */
  lastActivity = 0;
  readonly parser = new ResponseParser(this);
  /** Reused from the pool (not freshly connected) by the current exchange. */
  reused = false;

  constructor(
    readonly socket: net.Socket,
    readonly key: string,
    readonly pool: ConnectionPool,
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

  responseWhole(status: number, rawHeaders: string[], body: Buffer, chunked: boolean): void {
    const exchange = this.exchange;
    if (exchange === null) return;
    exchange.responseDone = true;
    exchange.owner.upstreamHead(status, rawHeaders, { body, chunked });
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
    exchange.answered = true;
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

/** One call's exchange on one connection: its request written, its answer handed to `owner`. */
export class UpstreamExchange {
  /** The whole request has been written (`end`). */
  requestDone = false;
  /** The answer is complete. */
  responseDone = false;
  /** The connection is no longer this exchange's (complete, failed or destroyed). */
  detached = false;
  /** A byte of the answer came (a 1xx, part of a head): the replica read the call, which is never sent again. */
  answered = false;
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
