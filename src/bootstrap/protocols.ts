import type http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';

/** The HTTP/2 connection preface a client with prior knowledge sends first (RFC 9113 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** What handles one HTTP/2 stream (the 'stream' event of an HTTP/2 server, core API). */
export type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[]) => void;

/** The HTTP/2 side of a listener: its sessions, to close them at shutdown. */
export interface H2Listener {
  /** Open HTTP/2 sessions (one per client connection). */
  readonly sessions: ReadonlySet<http2.ServerHttp2Session>;
  /** Stops new streams on every session (GOAWAY); streams in flight finish. */
  closeIdle(): void;
  /** Destroys every session and its streams. */
  closeAll(): void;
}

/** Streams one client connection may have open at once (Node's default is 2^32-1). */
const MAX_STREAMS_PER_SESSION = 256;
/** An HTTP/2 client connection without a frame either way for this long is closed gracefully, ms. */
const SESSION_IDLE_MS = 120_000;
/** Longest a client may keep a connection silent before its first bytes, when the server sets no headersTimeout, ms. */
const FIRST_BYTES_TIMEOUT_MS = 60_000;

/**
 * Serves HTTP/2 with prior knowledge (h2c) beside HTTP/1.1 on the same port: every new
 * connection's first bytes are compared with the HTTP/2 preface, once per connection, and the
 * socket goes to an HTTP/2 session (`onStream` handles its streams) or, unchanged, to the
 * HTTP/1.1 server's own connection handling (no cost per request). A connection silent for
 * the server's `headersTimeout` before its first bytes is closed.
 */
export function serveH2c(server: http.Server, onStream: StreamHandler, settings: http2.ServerOptions = {}): H2Listener {
  const h2 = http2.createServer({ ...settings, settings: { maxConcurrentStreams: MAX_STREAMS_PER_SESSION, ...settings.settings } });
  // A session silent for SESSION_IDLE_MS is told GOAWAY: its streams (a quiet gRPC stream) finish first.
  h2.setTimeout(SESSION_IDLE_MS);
  h2.on('timeout', (session: http2.ServerHttp2Session) => session.close());
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // A session's own errors (a bad frame, a reset socket) end it; nothing else to do.
    session.on('error', () => undefined);
  });
  h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => onStream(stream, headers, rawHeaders));
  const http1 = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  const timeoutMs = server.headersTimeout > 0 ? server.headersTimeout : FIRST_BYTES_TIMEOUT_MS;
  server.on('connection', (socket: Socket) => sniff(socket, timeoutMs, (isH2) => {
    if (isH2) h2.emit('connection', socket);
    else {
      for (const listener of http1) listener.call(server, socket);
      socket.resume();
    }
  }));
  return {
    sessions,
    closeIdle: () => {
      for (const session of sessions) session.close();
    },
    closeAll: () => {
      for (const session of sessions) session.destroy();
    },
  };
}

/**
 * Reads a connection's first bytes until they match the HTTP/2 preface or differ from it (at
 * most the preface's 24 bytes are held), puts them back, and says which it was. The socket
 * is left paused with the bytes unread.
 */
function sniff(socket: Socket, timeoutMs: number, decided: (isH2: boolean) => void): void {
  let held: Buffer | null = null;
  const onTimeout = (): void => {
    socket.destroy();
  };
  // A socket error before the decision: Node destroys the socket; nothing was handed over.
  const onError = (): void => undefined;
  const onData = (chunk: Buffer): void => {
    const seen = held === null ? chunk : Buffer.concat([held, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const matches = seen.compare(PREFACE, 0, n, 0, n) === 0;
    if (matches && n < PREFACE.length) {
      held = seen;
      return;
    }
    socket.removeListener('data', onData);
    socket.removeListener('timeout', onTimeout);
    socket.removeListener('error', onError);
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(seen);
    decided(matches);
  };
  socket.on('data', onData);
  socket.setTimeout(timeoutMs);
  socket.once('timeout', onTimeout);
  socket.once('error', onError);
}
