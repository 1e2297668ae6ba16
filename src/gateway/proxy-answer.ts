import type http from 'node:http';
import type { UpstreamExchange, WholeAnswer } from './upstream/upstream-pool.js';

/** What an answer being forwarded tells its call (src/gateway/proxy-call.ts). */
export interface AnswerOwner {
  /** The replica sent nothing of the answer for the idle timeout while the client was reading. */
  answerIdle(): void;
  /** The replica's answer failed (reset, bad chunk, a head Node refuses). */
  answerFailed(err: Error): void;
}

/**
 * Copies a replica's answer body to the client piece by piece as the exchange reads it
 * (chunked answers and server-sent events reach the client as the replica writes them), with
 * backpressure: the replica's connection is paused while the client's socket is full. (Node's
 * response corks the client socket for the tick of a write, so an answer read at once and its
 * end still go out in one write.)
 *
 * `idleMs` > 0: the replica may pause at most about that long between two pieces of its
 * answer (from the answer's head on; checked by the pool's sweep, within 1.25x of it); then
 * the owner's `answerIdle` runs. Time the client holds the answer back does not count.
 *
 * The head goes to the client with the first piece of the body (or the end), as Node sends a
 * written head anyway: until then nothing of the answer was sent, and a replica that fails
 * before its first body byte still gets the client a whole error answer (502, 504).
 */
export class AnswerCopy {
  /** The head, until it is written with the first piece or the end. */
  private head: { readonly status: number; readonly headers: string[] } | null;

  constructor(
    private readonly exchange: UpstreamExchange,
    private readonly res: http.ServerResponse,
    private readonly idleMs: number,
    private readonly owner: AnswerOwner,
    status: number,
    headers: string[],
  ) {
    this.head = { status, headers };
  }

  /**
   * Writes an answer that came whole in one read: head and body in one write, with its length
   * when it came chunked (so the client gets no chunked framing either). Throws when Node
   * refuses a header.
   */
  static whole(res: http.ServerResponse, status: number, headers: string[], whole: WholeAnswer): void {
    if (whole.chunked) headers.push('Content-Length', String(whole.body.length));
    res.writeHead(status, headers);
    if (whole.body.length > 0) res.end(whole.body);
    else res.end();
  }

  /** Keeps the answer's head for its first piece and starts watching the replica's silence. */
  static begin(exchange: UpstreamExchange, res: http.ServerResponse, status: number, headers: string[], idleMs: number, owner: AnswerOwner): AnswerCopy {
    const answer = new AnswerCopy(exchange, res, idleMs, owner, status, headers);
    if (idleMs > 0) exchange.watchIdle(idleMs);
    return answer;
  }

  /** A piece of the answer: to the client, pausing the replica while the client's socket is full. */
  data(chunk: Buffer): void {
    const { res } = this;
    if (!this.writeHead()) return;
    if (!res.write(chunk)) {
      this.exchange.pause();
      res.once('drain', this.onDrain);
    }
  }

  /** The answer is complete. */
  end(): void {
    if (this.writeHead()) this.res.end();
  }

  /** Writes the kept head (once); false when Node refuses it: nothing was sent, the owner answers the error. */
  private writeHead(): boolean {
    const head = this.head;
    if (head === null) return true;
    this.head = null;
    try {
      this.res.writeHead(head.status, head.headers);
      return true;
    } catch (err) {
      this.owner.answerFailed(new Error('its head cannot be forwarded', { cause: err }));
      return false;
    }
  }

  /** The replica was silent for `idleMs` while the client was reading: the owner cuts the answer. */
  idle(): void {
    if (this.res.destroyed) return;
    if (this.res.writableNeedDrain) {
      this.exchange.watchIdle(this.idleMs);
      return;
    }
    this.owner.answerIdle();
  }

  private readonly onDrain = (): void => {
    // A full idle period for the replica from the moment the client takes more (resume restarts its clock).
    this.exchange.resume();
  };
}
