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
 * the replica's answer is paused while the client's socket is full. The pieces of one read
 * and the end of the answer go out in one write: the client's socket is corked at a piece
 * and uncorked at the next turn of the event loop (`setImmediate`), after the answer's end
 * (a later tick of the same turn) was written, which saves a write per call for answers that
 * arrive in one read.
 *
 * `idleMs` > 0: the replica may pause at most that long between two pieces of its answer
 * (measured on the upstream connection from the answer's head on); then the owner's
 * `answerIdle` runs. Time the client holds the answer back does not count.
 */
export class AnswerCopy {
  /** The client's socket while corked by this copy; null when not. */
  private corked: Socket | null = null;
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
    if (this.corked === null) {
      const socket = res.socket;
      if (socket !== null && !socket.destroyed) {
        socket.cork();
        this.corked = socket;
        setImmediate(uncork, this);
      }
    }
    if (!res.write(chunk)) {
      this.upstreamRes.pause();
      res.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = (): void => {
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

  /** Writes what this turn of the event loop gave the client's socket (see the class). */
  flush(): void {
    const socket = this.corked;
    if (socket === null) return;
    this.corked = null;
    socket.uncork();
  }
}

/** The immediate's callback: one function for every copy (the copy is its argument). */
function uncork(copy: AnswerCopy): void {
  copy.flush();
}
