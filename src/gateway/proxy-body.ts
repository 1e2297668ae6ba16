import type http from 'node:http';
import { AppError } from '../errors.js';
import { RETRY_BODY_BYTES } from './proxy-retry.js';

/** Where a body streams once its call has a replica (an upstream exchange). */
export interface BodySink {
  /** False when the connection is full: the body pauses until `CallBody.drain`. */
  write(chunk: Buffer): boolean;
  end(): void;
}

/** What a request body needs from its call (src/gateway/proxy-call.ts). */
export interface BodyOwner {
  /** Sends to a replica so far: 0 while the body is received before the first send. */
  readonly attempts: number;
  /** The call is answered or gone: body events change nothing. */
  readonly finished: boolean;
  /** Answers the call with `err` (408 BODY_TIMEOUT). */
  fail(err: AppError): void;
  /** The body passed the limit: the call, or its exchange with a replica when one runs, ends with `err`. */
  overLimit(err: AppError): void;
}

/**
 * A proxied call's request body: received before the call takes a replica slot (all of it up
 * to RETRY_BODY_BYTES, so a slow sender holds no replica), counted against the body limit,
 * kept while the call may still be sent again, and bounded by an idle timeout between two
 * pieces. A call without a body never makes one.
 */
export class CallBody {
  /** The body can be sent again: no answer began, and what came of it is kept. */
  replayable = true;
  /** The chunks received so far: before the first send, and after it while replayable. */
  private saved: Buffer[] | null = null;
  private bytes = 0;
  /** Runs when the body has been received (see `receive`); null once run, or when not waited for. */
  private ready: (() => void) | null = null;
  /** The idle timeout while the body is being received; null when none runs. */
  private timer: NodeJS.Timeout | null = null;
  /** Where the rest of the body streams (see `flowTo`); null when it does not. */
  private sink: BodySink | null = null;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly limits: { readonly bodyLimitBytes: number; readonly bodyIdleTimeoutMs: number },
    private readonly owner: BodyOwner,
  ) {}

  /**
   * Starts reading the body (a Content-Length above 0, or a Transfer-Encoding). A body of at
   * most RETRY_BODY_BYTES is received in full first: `ready` runs at its end. A larger one
   * waits paused for its slot and then streams to the replica: `ready` runs at once (declared
   * size) or once that size is passed (chunked). The client may pause at most
   * `bodyIdleTimeoutMs` between two pieces: then 408 BODY_TIMEOUT. Time the gateway itself
   * holds the body back (waiting for a slot, a replica reading slowly) does not count.
   */
  receive(contentLength: number, ready: () => void): void {
    const { req } = this;
    const large = contentLength > RETRY_BODY_BYTES;
    if (large) {
      this.replayable = false;
      req.pause();
    } else this.ready = ready;
    req.on('data', (chunk: Buffer) => this.onChunk(chunk));
    req.once('end', () => this.onEnd());
    const idleMs = this.limits.bodyIdleTimeoutMs;
    if (idleMs > 0) this.timer = setTimeout(bodyIdle, idleMs, this);
    if (large) ready();
  }

  /** Writes what was received so far to a send (all of it before the first, or what is kept for a retry). */
  replay(upstream: BodySink): void {
    const saved = this.saved;
    if (saved !== null) for (const chunk of saved) upstream.write(chunk);
    if (!this.replayable) this.saved = null;
  }

  /**
   * Streams the rest of the body to `sink` as it comes: the request pauses while the sink's
   * connection is full, and goes on at `drain`.
   */
  flowTo(sink: BodySink): void {
    this.sink = sink;
    this.req.on('data', this.onFlowData);
    this.req.once('end', this.onFlowEnd);
    this.req.resume();
  }

  /** The sink can take more. */
  drain(): void {
    if (this.sink !== null) this.req.resume();
  }

  /** The body stops flowing to its sink (the exchange ended, or the call goes again). */
  stopFlow(): void {
    this.sink = null;
    this.req.removeListener('data', this.onFlowData);
    this.req.removeListener('end', this.onFlowEnd);
  }

  private readonly onFlowData = (chunk: Buffer): void => {
    if (this.sink?.write(chunk) === false) this.req.pause();
  };

  private readonly onFlowEnd = (): void => {
    const sink = this.sink;
    this.stopFlow();
    sink?.end();
  };

  /** An answer began: the call is never sent again, and what was kept can go. */
  drop(): void {
    this.replayable = false;
    this.saved = null;
  }

  /** The idle timeout passed: 408, unless the gateway is the one not reading (then it starts again). */
  onIdle(): void {
    const timer = this.timer;
    if (timer === null || this.owner.finished) return;
    if (this.req.readableFlowing !== true) {
      timer.refresh();
      return;
    }
    this.timer = null;
    const ms = this.limits.bodyIdleTimeoutMs;
    this.owner.fail(new AppError('BODY_TIMEOUT', `request body: nothing received for ${ms} ms`, { details: { bodyIdleTimeoutMs: ms } }));
  }

  /** Stops the idle timeout (the body ended, or the call closed). */
  clearTimer(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  private onEnd(): void {
    this.clearTimer();
    const ready = this.ready;
    if (ready === null) return;
    this.ready = null;
    if (!this.owner.finished) ready();
  }

  private onChunk(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.timer?.refresh();
    const limit = this.limits.bodyLimitBytes;
    if (this.bytes > limit) {
      this.owner.overLimit(new AppError('BODY_TOO_LARGE', `request body is over the ${limit} byte limit`));
      return;
    }
    if (this.owner.attempts === 0) {
      // Before the first send every piece is kept for it; past RETRY_BODY_BYTES the rest waits
      // (paused) for the slot and streams.
      (this.saved ??= []).push(chunk);
      const ready = this.ready;
      if (this.bytes > RETRY_BODY_BYTES && ready !== null) {
        this.replayable = false;
        this.ready = null;
        this.req.pause();
        ready();
      }
      return;
    }
    if (!this.replayable) return;
    if (this.bytes > RETRY_BODY_BYTES) this.drop();
    else (this.saved ??= []).push(chunk);
  }
}

/** The idle timer's callback: one function for every body (the body is its argument). */
function bodyIdle(body: CallBody): void {
  body.onIdle();
}
