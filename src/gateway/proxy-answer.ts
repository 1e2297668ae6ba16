import type http from 'node:http';
import type { Socket } from 'node:net';

/** What an answer being forwarded tells its call (src/gateway/proxy-call.ts). */
export interface AnswerOwner {
  /** The replica sent nothing of the answer for the idle timeout while the client was reading. */
  answerIdle(): void;
  /** The replica's answer failed mid-way (reset, bad chunk). */
  answerFailed(err: Error): void;
}

/**
 * Copies a replica's answer body to the client piece by piece as it arrives (chunked answers
 * and server-sent events reach the client as the replica writes them), with backpressure:
 * the replica's answer is paused while the client's socket is full. (Node's response corks
 * the client socket for the tick of a write, so an answer read at once and its end still go
 * out in one write: 2 writev per call in all, counted with strace.)
 *
 * `idleMs` > 0: the replica may pause at most that long between two pieces of its answer
 * (measured on the upstream connection from the answer's head on); then the owner's
 * `answerIdle` runs. Time the client holds the answer back does not count.
 */
export class AnswerCopy {
  /** The upstream connection while its idle timeout is watched; null when not. */
  private watched: Socket | null = null;

  constructor(
    private readonly upstreamReq: http.ClientRequest,
    private readonly upstreamRes: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly idleMs: number,
    private readonly owner: AnswerOwner,
  ) {}

  /** Starts copying (the response head has been written). */
  start(): void {
    const { upstreamRes } = this;
    const socket = this.upstreamReq.socket;
    if (this.idleMs > 0 && socket !== null) {
      // The pool sets its own idle timeout again when the connection goes back to it.
      socket.setTimeout(this.idleMs);
      socket.on('timeout', this.onTimeout);
      this.watched = socket;
    }
    upstreamRes.on('data', this.onData);
    upstreamRes.once('end', this.onEnd);
    upstreamRes.once('error', this.onError);
  }

  private readonly onData = (chunk: Buffer): void => {
    const { res } = this;
    if (!res.write(chunk)) {
      this.upstreamRes.pause();
      // The client holds the answer back: the replica's silence from now on is not its own.
      this.watched?.setTimeout(0);
      res.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = (): void => {
    // A full idle period for the replica from the moment the client takes more, not what was
    // left of one that ran while the answer was held back.
    this.watched?.setTimeout(this.idleMs);
    this.upstreamRes.resume();
  };

  private readonly onEnd = (): void => {
    this.unwatch();
    this.res.end();
  };

  private readonly onError = (err: Error): void => {
    this.owner.answerFailed(err);
  };

  /** The upstream connection was idle for `idleMs`: the replica stalled, unless the client is the one not reading. */
  private readonly onTimeout = (): void => {
    const socket = this.watched;
    if (socket === null || this.upstreamRes.complete || this.res.destroyed) return;
    if (this.res.writableNeedDrain) {
      socket.setTimeout(this.idleMs);
      return;
    }
    this.unwatch();
    this.owner.answerIdle();
  };

  /** Stops watching the upstream connection (the answer ended, or the call is cut). */
  unwatch(): void {
    const socket = this.watched;
    if (socket === null) return;
    this.watched = null;
    socket.removeListener('timeout', this.onTimeout);
  }
}
