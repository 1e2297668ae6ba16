import http from 'node:http';
import http2 from 'node:http2';
import type { Readable } from 'node:stream';

/** An idle upstream session (no frame either way) closes after this long, ms. */
const SESSION_IDLE_MS = 30_000;
/** Most upstream sessions kept at once; past it the oldest is closed (its streams finish). */
const MAX_SESSIONS = 4096;

/**
 * One HTTP/2 (h2c, prior knowledge) session per replica origin, made on first use and reused
 * by every call to it. A session that fails, is told GOAWAY, or is idle for SESSION_IDLE_MS
 * is dropped; the next call makes a new one. Bounded by MAX_SESSIONS.
 */
export class UpstreamSessions {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();

  /** The session to `url`'s origin (`http://host:port`), new when there is none usable. */
  get(url: URL): http2.ClientHttp2Session {
    const origin = `http://${url.host}`;
    const found = this.sessions.get(origin);
    if (found !== undefined && !found.closed && !found.destroyed) return found;
    const session = http2.connect(origin);
    const drop = (): void => {
      if (this.sessions.get(origin) === session) this.sessions.delete(origin);
    };
    // Each stream sees the failure as its own error; the session is dropped here.
    session.on('error', drop);
    session.once('goaway', drop);
    session.once('close', drop);
    session.setTimeout(SESSION_IDLE_MS, () => {
      drop();
      session.close();
    });
    session.unref();
    this.sessions.delete(origin);
    this.sessions.set(origin, session);
    if (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) {
        this.sessions.get(oldest)?.close();
        this.sessions.delete(oldest);
      }
    }
    return session;
  }

  /** How many sessions are kept. */
  get size(): number {
    return this.sessions.size;
  }

  /** Closes every session (streams in flight finish) and forgets them. */
  close(): void {
    for (const session of this.sessions.values()) session.close();
    this.sessions.clear();
  }
}

/**
 * Ends a call's exchange with its replica: the answer (`source`) no longer goes to the client's
 * stream, the send is aborted (HTTP/1.1) or cancelled (RST_STREAM CANCEL), and the rest of the
 * client's body is read and dropped, so its stream can end and close.
 */
export function abortExchange(stream: http2.ServerHttp2Stream, upstream: http.ClientRequest | http2.ClientHttp2Stream | null, source: Readable | null): void {
  if (source !== null) source.unpipe(stream);
  if (upstream === null) return;
  stream.unpipe(upstream);
  stream.resume();
  if (upstream instanceof http.ClientRequest) upstream.destroy();
  else if (!upstream.closed) upstream.close(http2.constants.NGHTTP2_CANCEL);
}
