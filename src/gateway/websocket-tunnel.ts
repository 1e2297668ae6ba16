import type { Socket } from 'node:net';
import type { Slot } from '../engine/slot.js';
import type { FunctionRef } from '../providers/types.js';
import { FrameCursor, closeFrame } from './websocket-frames.js';

/**
 * Why an upgraded WebSocket ended, the metric label `reason` of `gateway_websocket_closed_total`:
 * the side that sent the first close frame (else the first to end its connection), or the gateway's own close.
 */
export type CloseReason = 'client' | 'replica' | 'idle' | 'drain' | 'shutdown' | 'error';

/** How long a closing socket gets to finish (the rest of a frame, the close handshake) before it is cut, ms. */
export const CLOSE_GRACE_MS = 2000;

/** What a tunnel needs besides its two sockets. */
export interface TunnelOptions {
  readonly ref: FunctionRef;
  /** The replica slot, held (`Slot.hold`): released when both sockets have closed. */
  readonly slot: Slot;
  /** Close after this long silent in both directions, ms; 0 = never. */
  readonly idleTimeoutMs: number;
  /** Called once, after both sockets closed and the slot was released. */
  readonly onEnd: (tunnel: WebSocketTunnel, reason: CloseReason) => void;
}

/**
 * One upgraded WebSocket: the client's socket and the replica's, piped both ways as bytes
 * (backpressure kept: a side that cannot take more pauses the other). The gateway frames
 * nothing of its own but the close it sends for idle, drain and shutdown: code 1001 written
 * at a frame boundary of the replica's stream (the rest of a frame in flight goes first),
 * then both sockets end; whatever has not closed after CLOSE_GRACE_MS is destroyed. The slot
 * is held until both sockets have closed.
 */
export class WebSocketTunnel {
  /** Frames of the replica's stream (where the gateway's close frame may go) and of the client's (who closed first). */
  private readonly cursor = new FrameCursor();
  private readonly clientCursor = new FrameCursor();
  /** performance.now() of the last byte either way. */
  private lastActive = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  /** Set when the gateway closes the socket: the close frame waits for a frame boundary. */
  private closing: { code: 1001; reason: string } | null = null;
  private endReason: CloseReason | null = null;
  private open = 2;

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    readonly options: TunnelOptions,
  ) {
    client.on('data', this.fromClient);
    upstream.on('data', this.fromUpstream);
    client.on('drain', () => upstream.resume());
    upstream.on('drain', () => client.resume());
    client.on('end', () => this.sideEnded('client'));
    upstream.on('end', () => this.sideEnded('replica'));
    client.on('error', () => this.failed());
    upstream.on('error', () => this.failed());
    client.on('close', this.sideClosed);
    upstream.on('close', this.sideClosed);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    if (options.idleTimeoutMs > 0) this.armIdle(options.idleTimeoutMs);
  }

  /** The replica the socket holds a slot on. */
  get replicaId(): string {
    return this.options.slot.replicaId;
  }

  /** Starts the socket piping: `clientHead` and `upstreamHead` are bytes each side sent past the handshake. */
  start(clientHead: Buffer, upstreamHead: Buffer): void {
    if (upstreamHead.length > 0) this.fromUpstream(upstreamHead);
    if (clientHead.length > 0) this.fromClient(clientHead);
    this.client.resume();
    this.upstream.resume();
  }

  /**
   * Closes the socket from the gateway: code 1001 to the client (after the frame the
   * replica is sending, if any), the replica's socket ended. Idempotent.
   */
  close(reason: CloseReason, text: string): void {
    if (this.closing !== null || this.open < 2) return;
    this.endReason ??= reason;
    this.closing = { code: 1001, reason: text };
    this.clearIdle();
    this.graceTimer = setTimeout(() => this.destroy(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
    // Nothing more from the client goes on; the replica's rest of a frame still may.
    this.client.off('data', this.fromClient);
    this.client.resume();
    this.upstream.end();
    if (this.cursor.atBoundary) this.sendClose();
    else this.upstream.resume();
  }

  private readonly fromClient = (chunk: Buffer): void => {
    this.lastActive = performance.now();
    this.clientCursor.advance(chunk);
    if (this.endReason === null && this.clientCursor.closeSeen) this.endReason = 'client';
    if (!this.upstream.write(chunk)) this.client.pause();
  };

  private readonly fromUpstream = (chunk: Buffer): void => {
    this.lastActive = performance.now();
    if (this.closing !== null) {
      // Only the rest of the frame in flight, then the close frame.
      const upTo = this.cursor.advance(chunk, true);
      if (upTo > 0) this.client.write(chunk.subarray(0, upTo));
      if (this.cursor.atBoundary) this.sendClose();
      return;
    }
    this.cursor.advance(chunk);
    if (this.endReason === null && this.cursor.closeSeen) this.endReason = 'replica';
    if (!this.client.write(chunk)) this.upstream.pause();
  };

  private sendClose(): void {
    const closing = this.closing;
    if (closing === null || this.client.destroyed || this.client.writableEnded) return;
    this.upstream.off('data', this.fromUpstream);
    this.upstream.resume();
    this.client.end(closeFrame(closing.code, closing.reason));
  }

  /** One side sent FIN: the other side is ended too (its buffered bytes go first). */
  private sideEnded(side: 'client' | 'replica'): void {
    this.endReason ??= side;
    if (side === 'client') {
      if (!this.upstream.writableEnded) this.upstream.end();
    } else if (this.closing === null) {
      if (!this.client.writableEnded) this.client.end();
    } else if (!this.cursor.atBoundary) {
      // The replica ended inside a frame: no close frame can follow it.
      this.client.destroy();
    } else this.sendClose();
    this.armGrace();
  }

  private failed(): void {
    this.endReason ??= 'error';
    this.destroy();
  }

  private readonly sideClosed = (): void => {
    this.open -= 1;
    if (this.open === 1) {
      // The other side gets a moment to finish (its buffered bytes), then is cut.
      if (!this.client.destroyed) this.client.end();
      if (!this.upstream.destroyed) this.upstream.end();
      this.armGrace();
      return;
    }
    this.clearIdle();
    clearTimeout(this.graceTimer);
    this.options.slot.release();
    this.options.onEnd(this, this.endReason ?? 'error');
  };

  private armGrace(): void {
    if (this.graceTimer !== undefined) return;
    this.graceTimer = setTimeout(() => this.destroy(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  /** Ends both sockets at once, no close frame (the slot goes back once both have closed). */
  cut(): void {
    this.endReason ??= 'error';
    this.destroy();
  }

  private destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  private armIdle(delayMs: number): void {
    this.idleTimer = setTimeout(this.idleCheck, delayMs);
    this.idleTimer.unref();
  }

  private readonly idleCheck = (): void => {
    const idleMs = this.options.idleTimeoutMs;
    const silentMs = performance.now() - this.lastActive;
    if (silentMs >= idleMs) this.close('idle', 'idle timeout');
    else this.armIdle(idleMs - silentMs);
  };

  private clearIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
