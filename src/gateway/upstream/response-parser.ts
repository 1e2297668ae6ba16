/**
 * An HTTP/1.1 response parser for the proxy's upstream side (RFC 9112): the status line and
 * headers, then the body framed by Content-Length, chunked transfer coding or the connection's
 * close. It reads what a replica sends on a keep-alive connection the gateway opened, so it is
 * strict: anything it cannot frame for certain is an error, the call fails with 502 and the
 * connection is closed, never reused.
 *
 * Bodies are handed on as slices of the bytes read (no copy); chunked bodies without their
 * framing. Trailers are read and dropped. Informational answers (1xx except 101) are skipped.
 */

import { CR, EMPTY, LF, chunkSizeOf, wholeChunked } from './chunked-whole.js';
import { UpstreamProtocolError, parseResponseHead, type ResponseHead } from './response-head.js';

export { UpstreamProtocolError } from './response-head.js';

/** The largest response head (status line and headers) taken, bytes: Node's own default. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** The longest chunk-size line (with extensions) and the largest trailer section, bytes. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;

/** Where the parsed answer goes. */
export interface ResponseSink {
  /** The final head (status 101 or 200-599; 1xx others are skipped). `rawHeaders` as Node's: [name, value, ...]. */
  responseHead(status: number, rawHeaders: string[]): void;
  /** A piece of the body, as it arrives (a slice of the read buffer). */
  responseData(chunk: Buffer): void;
  /** The answer is complete. */
  responseEnd(): void;
  /**
   * Optional: a whole answer found in one read (head and all of its body), in place of the three
   * calls above; `body` is the body without chunked framing, `chunked` says it had that framing
   * (so its length was not in the head).
   */
  responseWhole?(status: number, rawHeaders: string[], body: Buffer, chunked: boolean): void;
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

/** Parses one answer; `reset` readies it for the next answer on the same connection. */
export class ResponseParser {
  private state = State.Head;
  /** Bytes of a head, chunk-size line or trailer section split over reads; null when none. */
  private pending: Buffer | null = null;
  /** Body bytes (or chunk bytes) still to come in Length / ChunkData. */
  private remaining = 0;
  private trailerBytes = 0;
  /** The connection may carry another exchange after this answer. */
  private persistent = true;
  /** The request was HEAD: no answer carries a body. */
  private headRequest = false;

  constructor(private readonly sink: ResponseSink) {}

  /** Starts a new answer, for a request with `method`. */
  reset(method: string): void {
    this.state = State.Head;
    this.pending = null;
    this.remaining = 0;
    this.trailerBytes = 0;
    this.persistent = true;
    this.headRequest = method === 'HEAD';
  }

  /** The whole answer has been read. */
  get complete(): boolean {
    return this.state === State.Done;
  }

  /** The final head has been read. */
  get headDone(): boolean {
    return this.state !== State.Head;
  }

  /** The answer is complete and its framing allows the connection to be used again. */
  get reusable(): boolean {
    return this.state === State.Done && this.persistent;
  }

  /**
   * Feeds bytes read from the connection. Returns how many bytes after the answer's end were
   * left unread (0 in the normal case); throws UpstreamProtocolError on anything malformed.
   */
  feed(chunk: Buffer): number {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      switch (this.state) {
        case State.Head:
          at = this.readHead(chunk, at);
          break;
        case State.Length: {
          const take = Math.min(this.remaining, end - at);
          this.remaining -= take;
          const piece = at === 0 && take === end ? chunk : chunk.subarray(at, at + take);
          at += take;
          this.sink.responseData(piece);
          if (this.remaining === 0) this.finish();
          break;
        }
        case State.ChunkSize:
          at = this.readChunkSize(chunk, at);
          break;
        case State.ChunkData: {
          const take = Math.min(this.remaining, end - at);
          this.remaining -= take;
          const piece = chunk.subarray(at, at + take);
          at += take;
          this.sink.responseData(piece);
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case State.ChunkDataEnd: {
          // The CRLF after a chunk's data, possibly split over two reads.
          const expected = this.remaining === 2 ? CR : LF;
          if (chunk[at] !== expected) throw new UpstreamProtocolError('HPE_STRICT', 'chunked answer: no CRLF after a chunk');
          at += 1;
          this.remaining -= 1;
          if (this.remaining === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Trailers:
          at = this.readTrailers(chunk, at);
          break;
        case State.UntilClose: {
          this.sink.responseData(at === 0 ? chunk : chunk.subarray(at));
          at = end;
          break;
        }
        case State.Done:
          // Bytes after a complete answer: the replica said more than it was asked.
          this.persistent = false;
          return end - at;
      }
    }
    return 0;
  }

  /**
   * The connection closed (the peer's end): a body framed by the close is complete; true when
   * the answer is complete, false when it was cut.
   */
  close(): boolean {
    if (this.state === State.UntilClose) this.finish();
    this.persistent = false;
    return this.state === State.Done;
  }

  private finish(): void {
    this.state = State.Done;
    this.pending = null;
    this.sink.responseEnd();
  }

  /** Bytes of `chunk` from `at` joined to what is pending, up to and including the line end `mark` found by `find`. */
  private take(chunk: Buffer, at: number, limit: number, find: (buf: Buffer, from: number) => number, code: string, what: string): { text: string; next: number } | null {
    const pending = this.pending;
    const buf = pending === null ? (at === 0 ? chunk : chunk.subarray(at)) : Buffer.concat([pending, chunk.subarray(at)]);
    const from = pending === null ? 0 : Math.max(0, pending.length - 3);
    const found = find(buf, from);
    if (found < 0) {
      if (buf.length > limit) throw new UpstreamProtocolError(code, `${what} over ${limit} bytes`);
      // Copied: the read buffer is not kept alive for a few bytes.
      this.pending = Buffer.from(buf);
      return null;
    }
    if (found > limit) throw new UpstreamProtocolError(code, `${what} over ${limit} bytes`);
    this.pending = null;
    const consumedFromChunk = found - (pending === null ? 0 : pending.length);
    return { text: buf.toString('latin1', 0, found), next: at + consumedFromChunk };
  }

  private readHead(chunk: Buffer, at: number): number {
    const got = this.take(chunk, at, MAX_HEAD_BYTES, headEnd, 'HPE_HEADER_OVERFLOW', 'response head');
    if (got === null) return chunk.length;
    const { text, next } = got;
    const head = parseResponseHead(text.slice(0, -4));
    // Informational (100 Continue, 103 Early Hints): skipped; the real head follows.
    if (head.code < 200 && head.code !== 101) return next;
    if (head.close) this.persistent = false;
    const bodyless = this.frame(head);
    const whole = this.sink.responseWhole === undefined || head.code === 101 ? null : bodyless ? { body: EMPTY, next } : this.wholeBody(chunk, next);
    if (whole !== null) {
      const chunked = this.state === State.ChunkSize;
      this.state = State.Done;
      this.pending = null;
      this.sink.responseWhole?.(head.code, head.raw, whole.body, chunked);
      return whole.next;
    }
    this.sink.responseHead(head.code, head.raw);
    if (bodyless) this.finish();
    return next;
  }

  /** The whole body when all of it is in `chunk` from `from` on (Content-Length or chunked without trailers); null when not. */
  private wholeBody(chunk: Buffer, from: number): { body: Buffer; next: number } | null {
    if (this.state === State.Length) return chunk.length - from >= this.remaining ? { body: chunk.subarray(from, from + this.remaining), next: from + this.remaining } : null;
    return this.state === State.ChunkSize ? wholeChunked(chunk, from) : null;
  }

  /** Chooses the body's framing from a final head; true when the answer has no body (then the state is Done). */
  private frame(head: ResponseHead): boolean {
    const { code, contentLength, transferEncoding } = head;
    if (code === 101) {
      // Not asked for: the caller fails the call; nothing more is read on this connection.
      this.persistent = false;
      this.state = State.Done;
      return false;
    }
    if (this.headRequest || code === 204 || code === 304) {
      this.state = State.Done;
      return true;
    }
    if (transferEncoding !== null) {
      // RFC 9112 6.1: a sender must not send both. Refused, as Node's own parser refuses it: the
      // replica's Content-Length would otherwise reach the client beside a body it does not describe.
      if (contentLength >= 0) throw new UpstreamProtocolError('HPE_UNEXPECTED_CONTENT_LENGTH', 'an answer with both Transfer-Encoding and Content-Length');
      const codings = transferEncoding.split(',');
      if (codings[codings.length - 1]?.trim().toLowerCase() === 'chunked') this.state = State.ChunkSize;
      else {
        this.persistent = false;
        this.state = State.UntilClose;
      }
      return false;
    }
    if (contentLength === 0) {
      this.state = State.Done;
      return true;
    }
    if (contentLength > 0) {
      this.remaining = contentLength;
      this.state = State.Length;
      return false;
    }
    this.persistent = false;
    this.state = State.UntilClose;
    return false;
  }

  private readChunkSize(chunk: Buffer, at: number): number {
    const got = this.take(chunk, at, MAX_CHUNK_LINE_BYTES, lineEnd, 'HPE_INVALID_CHUNK_SIZE', 'a chunk-size line');
    if (got === null) return chunk.length;
    const size = chunkSizeOf(got.text.slice(0, -2));
    if (size < 0) throw new UpstreamProtocolError('HPE_INVALID_CHUNK_SIZE', 'chunked answer: a chunk size is not hexadecimal');
    if (size === 0) {
      this.state = State.Trailers;
      this.trailerBytes = 0;
    } else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
    return got.next;
  }

  /** Trailer lines until the empty line that ends the answer; read and dropped. */
  private readTrailers(chunk: Buffer, at: number): number {
    const got = this.take(chunk, at, MAX_CHUNK_LINE_BYTES, lineEnd, 'HPE_HEADER_OVERFLOW', 'a trailer line');
    if (got === null) return chunk.length;
    this.trailerBytes += got.text.length;
    if (this.trailerBytes > MAX_HEAD_BYTES) throw new UpstreamProtocolError('HPE_HEADER_OVERFLOW', `trailers over ${MAX_HEAD_BYTES} bytes`);
    if (got.text.length === 2) this.finish();
    return got.next;
  }
}

/** The index just past the first CRLFCRLF in `buf` at or after `from`; -1 when none. */
function headEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf('\r\n\r\n', from, 'latin1');
  return i < 0 ? -1 : i + 4;
}

/** The index just past the first CRLF in `buf` at or after `from`; -1 when none. A bare LF is an error. */
function lineEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf(LF, from);
  if (i < 0) return -1;
  if (i === 0 || buf[i - 1] !== CR) throw new UpstreamProtocolError('HPE_STRICT', 'chunked answer: a line ends without CRLF');
  return i + 1;
}
