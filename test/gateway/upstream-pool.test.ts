/**
 * UpstreamPool on real sockets to 127.0.0.1: the replicas are raw `net` servers written here,
 * which record every byte they receive and answer with exactly the bytes each test gives, so
 * framing, reuse and failures are seen as a replica would cause them. Every wait is bounded.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { AppError } from '../../src/errors.js';
import { UpstreamProtocolError } from '../../src/gateway/upstream/response-parser.js';
import { UpstreamPool, requestHead, type ExchangeOwner, type UpstreamExchange, type UpstreamRequest, type WholeAnswer } from '../../src/gateway/upstream/upstream-pool.js';

const HOST = '127.0.0.1';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `ready()` holds, polled every 5 ms; rejects after `ms` naming `what`. */
async function until(ready: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(5);
  }
}

/** One connection a raw replica accepted. */
interface ServerConn {
  readonly socket: net.Socket;
  /** Every byte received, in order. */
  received: Buffer;
  /** The complete requests read, as latin1 text (head and body). */
  readonly requests: string[];
  /** performance.now() of its close; 0 while open. */
  closedAt: number;
}

interface RawServer {
  readonly port: number;
  readonly conns: ServerConn[];
}

/** The index just past the first complete request in `buf` (Content-Length or chunked body), -1 when none yet. */
function requestEnd(buf: Buffer): number {
  const text = buf.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return -1;
  const bodyStart = headEnd + 4;
  const head = text.slice(0, bodyStart);
  if (/\r\ntransfer-encoding: chunked\r\n/i.test(head)) {
    if (text.startsWith('0\r\n\r\n', bodyStart)) return bodyStart + 5;
    const last = text.indexOf('\r\n0\r\n\r\n', bodyStart);
    return last < 0 ? -1 : last + 7;
  }
  const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(head)?.[1] ?? 0);
  return buf.length >= bodyStart + length ? bodyStart + length : -1;
}

/** A replica on a port of its own: `answer` runs for each complete request, with its connection. */
async function rawServer(answer: (conn: ServerConn, request: string) => void): Promise<RawServer> {
  const conns: ServerConn[] = [];
  const server = net.createServer((socket) => {
    const conn: ServerConn = { socket, received: Buffer.alloc(0), requests: [], closedAt: 0 };
    conns.push(conn);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      conn.received = Buffer.concat([conn.received, chunk]);
      pending = Buffer.concat([pending, chunk]);
      for (let end = requestEnd(pending); end >= 0; end = requestEnd(pending)) {
        const request = pending.subarray(0, end).toString('latin1');
        pending = pending.subarray(end);
        conn.requests.push(request);
        answer(conn, request);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => (conn.closedAt = performance.now()));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const conn of conns) conn.socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, conns };
}

/** A replica answering every request with `answer` (exact bytes), keeping the connection open. */
function replying(answer: string): Promise<RawServer> {
  return rawServer((conn) => conn.socket.write(answer, 'latin1'));
}

/** A port nobody listens on. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function newPool(): UpstreamPool {
  const pool = new UpstreamPool();
  cleanups.push(() => pool.close());
  return pool;
}

/** An owner that records every callback; `onHead` / `onData` let a test act inside them. */
class Owner implements ExchangeOwner {
  readonly events: string[] = [];
  readonly chunks: Buffer[] = [];
  status = 0;
  rawHeaders: string[] = [];
  error: NodeJS.ErrnoException | null = null;
  idles = 0;
  idleAt = 0;
  endedAt = 0;
  onData: ((chunk: Buffer) => void) | null = null;

  /** Answers that came whole in one read (head and body together, see WholeAnswer). */
  wholes = 0;

  upstreamHead(status: number, rawHeaders: string[], whole?: WholeAnswer): void {
    this.events.push('head');
    this.status = status;
    this.rawHeaders = rawHeaders;
    if (whole === undefined) return;
    // All of the answer at once: recorded as the incremental calls would be, one piece of data.
    this.wholes += 1;
    if (whole.body.length > 0) this.upstreamData(whole.body);
    this.upstreamEnd();
  }

  upstreamData(chunk: Buffer): void {
    this.events.push('data');
    this.chunks.push(Buffer.from(chunk));
    this.onData?.(chunk);
  }

  upstreamEnd(): void {
    this.events.push('end');
    this.endedAt = performance.now();
  }

  upstreamError(err: NodeJS.ErrnoException): void {
    this.events.push('error');
    this.error = err;
  }

  upstreamIdle(): void {
    this.events.push('idle');
    this.idles += 1;
    this.idleAt = performance.now();
  }

  upstreamDrain(): void {
    // Not recorded: when the socket's buffer fills is up to the kernel.
  }

  get body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }

  get ended(): boolean {
    return this.events.includes('end');
  }

  get failed(): boolean {
    return this.error !== null;
  }
}

function request(method: string, path: string, port: number, options: { chunked?: boolean; bodyFramed?: boolean; headers?: string[] } = {}): UpstreamRequest {
  return {
    method,
    path,
    headers: ['Host', `${HOST}:${port}`, ...(options.headers ?? [])],
    chunked: options.chunked ?? false,
    bodyFramed: options.bodyFramed ?? false,
  };
}

/** A GET sent whole (`end` called) on `pool`; its owner records the answer. */
function get(pool: UpstreamPool, port: number, path = '/'): { exchange: UpstreamExchange; owner: Owner } {
  const owner = new Owner();
  const exchange = pool.exchange(HOST, port, owner, request('GET', path, port));
  exchange.end();
  return { exchange, owner };
}

/** A GET that completes with body 'ok' and no error. */
async function getOk(pool: UpstreamPool, port: number, path = '/'): Promise<{ exchange: UpstreamExchange; owner: Owner }> {
  const sent = get(pool, port, path);
  await until(() => sent.owner.ended || sent.owner.failed, `an answer to GET ${path}`);
  expect(sent.owner.error).toBeNull();
  expect(sent.owner.body).toBe('ok');
  return sent;
}

describe('connection reuse', () => {
  it.each([
    ['a Content-Length answer', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['a chunked answer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
  ])('a second exchange to the same address reuses the connection after %s', async (_name, answer) => {
    const server = await replying(answer);
    const pool = newPool();
    const first = await getOk(pool, server.port, '/one');
    const second = await getOk(pool, server.port, '/two');
    // Each exchange keeps what it was when it started.
    expect(first.exchange.reused).toBe(false);
    expect(second.exchange.reused).toBe(true);
    expect(second.exchange.socket).toBe(first.exchange.socket);
    expect(server.conns).toHaveLength(1);
    expect(server.conns[0]?.requests.map((r) => r.split(' ')[1])).toEqual(['/one', '/two']);
    // The second exchange's head starts where the first request's bytes ended.
    expect(first.exchange.sentFrom).toBe(0);
    expect(second.exchange.sentFrom).toBe(Buffer.byteLength(server.conns[0]?.requests[0] ?? '', 'latin1'));
    expect(second.owner.events).toEqual(['head', 'data', 'end']);
  });

  it.each([
    ['Connection: close', (conn: ServerConn) => conn.socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok')],
    ['a close-delimited body', (conn: ServerConn) => conn.socket.end('HTTP/1.1 200 OK\r\n\r\nok')],
    ['HTTP/1.0', (conn: ServerConn) => conn.socket.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok')],
    ['bytes after the end of the answer', (conn: ServerConn) => conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n')],
  ])('an answer with %s is not reused: the next exchange makes a new connection', async (_name, answer) => {
    const server = await rawServer(answer);
    const pool = newPool();
    const first = await getOk(pool, server.port);
    expect(first.owner.events).toEqual(['head', 'data', 'end']);
    const second = await getOk(pool, server.port);
    expect(second.exchange.reused).toBe(false);
    expect(second.exchange.socket).not.toBe(first.exchange.socket);
    expect(server.conns).toHaveLength(2);
    // The first connection is closed, by the pool when the replica did not close it.
    await until(() => server.conns[0]?.closedAt !== 0, 'the first connection closed');
  });

  it.each([
    ['the moment its close is read', 'end'],
    ['once it is gone', 'close'],
  ])('a connection the replica closed while idle in the pool is not used %s: the next exchange gets a fresh one', async (_name, event) => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    const first = await getOk(pool, server.port);
    // The next exchange starts inside the pooled socket's own event, before anything else runs.
    const started = new Promise<ReturnType<typeof get>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${event}' on the pooled connection within 2 s`)), 2000);
      first.exchange.socket.once(event, () => {
        clearTimeout(timer);
        resolve(get(pool, server.port));
      });
    });
    server.conns[0]?.socket.end();
    const second = await started;
    await until(() => second.owner.ended || second.owner.failed, 'the answer on a fresh connection');
    expect(second.owner.error).toBeNull();
    expect(second.owner.body).toBe('ok');
    expect(second.exchange.reused).toBe(false);
    expect(second.owner.events).toEqual(['head', 'data', 'end']);
    expect(server.conns).toHaveLength(2);
    expect(server.conns[1]?.requests).toHaveLength(1);
  });

  it('an answer that completes in the read where the owner paused it leaves the connection reading for the next exchange', async () => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    const owner = new Owner();
    const exchange = pool.exchange(HOST, server.port, owner, request('GET', '/', server.port));
    owner.onData = () => exchange.pause();
    exchange.end();
    await until(() => owner.ended, 'the first answer');
    const second = await getOk(pool, server.port);
    expect(second.exchange.reused).toBe(true);
  });

  it('an idle connection is closed after about 1 s unused', async () => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    const { owner } = await getOk(pool, server.port);
    await until(() => server.conns[0]?.closedAt !== 0, 'the idle connection closed', 3000);
    const idleFor = (server.conns[0]?.closedAt ?? 0) - owner.endedAt;
    expect(idleFor).toBeGreaterThanOrEqual(900);
    expect(idleFor).toBeLessThanOrEqual(3000);
  });

  it('close() closes the idle connections at once', async () => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    await getOk(pool, server.port);
    expect(server.conns[0]?.closedAt).toBe(0);
    pool.close();
    await until(() => server.conns[0]?.closedAt !== 0, 'the idle connection closed', 500);
  });
});

describe('failures', () => {
  it('a refused connection reaches upstreamError with syscall connect', async () => {
    const port = await deadPort();
    const pool = newPool();
    const { exchange, owner } = get(pool, port);
    await until(() => owner.failed, 'the connect error');
    expect(owner.error?.code).toBe('ECONNREFUSED');
    expect(owner.error?.syscall).toBe('connect');
    expect(owner.events).toEqual(['error']);
    expect(exchange.reused).toBe(false);
  });

  it('a replica closing before any byte of the answer gives ECONNRESET "socket hang up"', async () => {
    const server = await rawServer((conn) => conn.socket.end());
    const pool = newPool();
    const { owner } = get(pool, server.port);
    await until(() => owner.failed, 'the hang-up');
    expect(owner.error?.code).toBe('ECONNRESET');
    expect(owner.error?.message).toBe('socket hang up');
    expect(owner.events).toEqual(['error']);
  });

  it('a hang-up on a pooled connection says the connection was reused', async () => {
    let calls = 0;
    const server = await rawServer((conn) => {
      calls += 1;
      if (calls === 1) conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else conn.socket.end();
    });
    const pool = newPool();
    await getOk(pool, server.port);
    const { exchange, owner } = get(pool, server.port);
    await until(() => owner.failed, 'the hang-up');
    expect(exchange.reused).toBe(true);
    expect(owner.error?.message).toBe('socket hang up');
    expect(server.conns).toHaveLength(1);
  });

  it('a replica closing in the middle of the body gives an error after the head and the data so far', async () => {
    const server = await rawServer((conn) => conn.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const pool = newPool();
    const { owner } = get(pool, server.port);
    await until(() => owner.failed || owner.ended, 'the cut answer');
    expect(owner.events).toEqual(['head', 'data', 'error']);
    expect(owner.status).toBe(200);
    expect(owner.body).toBe('abc');
    expect(owner.error?.code).toBe('ECONNRESET');
    expect(owner.error?.message).toBe('aborted');
  });

  it.each([
    ['a bad head', 'HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH', ['error']],
    ['a bad chunk after the head', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE', ['head', 'error']],
  ])('an answer with %s gives an UpstreamProtocolError and the connection is closed', async (_name, answer, code, events) => {
    const server = await replying(answer);
    const pool = newPool();
    const { exchange, owner } = get(pool, server.port);
    await until(() => owner.failed || owner.ended, 'the protocol error');
    expect(owner.error).toBeInstanceOf(UpstreamProtocolError);
    expect(owner.error?.code).toBe(code);
    expect(owner.events).toEqual(events);
    expect(exchange.socket.destroyed).toBe(true);
    await until(() => server.conns[0]?.closedAt !== 0, 'the replica saw the close');
    // And it is not pooled: the next exchange connects again.
    const next = get(pool, server.port);
    await until(() => next.owner.failed || next.owner.ended, 'the next answer');
    expect(next.exchange.reused).toBe(false);
    expect(server.conns).toHaveLength(2);
  });
});

describe('request framing', () => {
  it('a chunked body goes as <hex>CRLF<data>CRLF pieces and a last 0 chunk, exactly', async () => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    const req = request('POST', '/upload', server.port, { chunked: true, bodyFramed: true, headers: ['X-Test', '1'] });
    const owner = new Owner();
    const exchange = pool.exchange(HOST, server.port, owner, req);
    const alphabet = 'abcdefghijklmnopqrstuvwxyz';
    const z300 = 'z'.repeat(300);
    // Corked (before flush) and not corked (after) take the same framing; an empty piece writes nothing.
    exchange.write(Buffer.from('hello'));
    expect(exchange.write(Buffer.alloc(0))).toBe(true);
    exchange.flush();
    exchange.write(Buffer.from(alphabet));
    exchange.write(Buffer.from(z300));
    exchange.end();
    await until(() => owner.ended || owner.failed, 'the answer');
    expect(owner.error).toBeNull();
    const head = `POST /upload HTTP/1.1\r\nHost: ${HOST}:${server.port}\r\nX-Test: 1\r\nTransfer-Encoding: chunked\r\n\r\n`;
    expect(requestHead(req)).toBe(head);
    expect(server.conns[0]?.received.toString('latin1')).toBe(`${head}5\r\nhello\r\n1a\r\n${alphabet}\r\n12c\r\n${z300}\r\n0\r\n\r\n`);
  });

  it('a chunked request without a body is only the last chunk', async () => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    const req = request('POST', '/', server.port, { chunked: true, bodyFramed: true });
    const owner = new Owner();
    pool.exchange(HOST, server.port, owner, req).end();
    await until(() => owner.ended || owner.failed, 'the answer');
    expect(server.conns[0]?.received.toString('latin1')).toBe(`${requestHead(req)}0\r\n\r\n`);
  });

  it('a body framed by Content-Length is written as is', async () => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    const req = request('PUT', '/item', server.port, { bodyFramed: true, headers: ['Content-Length', '6'] });
    const owner = new Owner();
    const exchange = pool.exchange(HOST, server.port, owner, req);
    exchange.write(Buffer.from('abc'));
    exchange.flush();
    exchange.write(Buffer.from('def'));
    exchange.end();
    await until(() => owner.ended || owner.failed, 'the answer');
    expect(server.conns[0]?.received.toString('latin1')).toBe(`PUT /item HTTP/1.1\r\nHost: ${HOST}:${server.port}\r\nContent-Length: 6\r\n\r\nabcdef`);
  });

  it('a POST without a body and without Content-Length gets Content-Length: 0 on the wire, a GET does not', async () => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    const post = new Owner();
    pool.exchange(HOST, server.port, post, request('POST', '/p', server.port)).end();
    await until(() => post.ended || post.failed, 'the POST answer');
    await getOk(pool, server.port, '/g');
    expect(server.conns[0]?.requests).toEqual([
      `POST /p HTTP/1.1\r\nHost: ${HOST}:${server.port}\r\nContent-Length: 0\r\n\r\n`,
      `GET /g HTTP/1.1\r\nHost: ${HOST}:${server.port}\r\n\r\n`,
    ]);
  });

  it.each([
    ['POST', false, 'Content-Length: 0\r\n'],
    ['PUT', false, 'Content-Length: 0\r\n'],
    ['PATCH', false, 'Content-Length: 0\r\n'],
    ['GET', false, ''],
    ['HEAD', false, ''],
    ['DELETE', false, ''],
    ['OPTIONS', false, ''],
    ['POST', true, ''],
  ])('requestHead for %s with bodyFramed %s adds %j', (method, bodyFramed, added) => {
    const head = requestHead({ method, path: '/a?b=c', headers: ['Host', 'h', 'X-A', 'v'], chunked: false, bodyFramed });
    expect(head).toBe(`${method} /a?b=c HTTP/1.1\r\nHost: h\r\nX-A: v\r\n${added}\r\n`);
  });

  const splitting: Array<[string, UpstreamRequest]> = [
    ['a CR in a header value', { method: 'GET', path: '/', headers: ['X-A', 'a\rb'], chunked: false, bodyFramed: false }],
    ['an LF in a header value', { method: 'GET', path: '/', headers: ['X-A', 'a\nX-B: b'], chunked: false, bodyFramed: false }],
    ['a NUL in a header value', { method: 'GET', path: '/', headers: ['X-A', 'a\0b'], chunked: false, bodyFramed: false }],
    ['an LF in a header name', { method: 'GET', path: '/', headers: ['X-A\nX-B', 'v'], chunked: false, bodyFramed: false }],
    ['a CR in the path', { method: 'GET', path: '/a\rb', headers: [], chunked: false, bodyFramed: false }],
    ['an LF in the path', { method: 'GET', path: '/a\nb', headers: [], chunked: false, bodyFramed: false }],
    ['a NUL in the path', { method: 'GET', path: '/a\0b', headers: [], chunked: false, bodyFramed: false }],
    ['a space in the path', { method: 'GET', path: '/a b', headers: [], chunked: false, bodyFramed: false }],
    ['a CRLF in the method', { method: 'GET\r\n', path: '/', headers: [], chunked: false, bodyFramed: false }],
  ];
  it.each(splitting)('requestHead throws AppError BAD_REQUEST for %s', (_name, req) => {
    let thrown: unknown = null;
    try {
      requestHead(req);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe('BAD_REQUEST');
  });

  it('exchange() throws the same before connecting', async () => {
    const server = await replying('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const pool = newPool();
    const owner = new Owner();
    expect(() => pool.exchange(HOST, server.port, owner, request('GET', '/', server.port, { headers: ['X-A', 'a\r\nX-Injected: 1'] }))).toThrow(AppError);
    await sleep(50);
    expect(server.conns).toHaveLength(0);
    expect(owner.events).toEqual([]);
  });
});

describe('destroy', () => {
  it('closes the connection in the middle of an answer and no owner callback follows', async () => {
    const server = await rawServer((conn) => {
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      setTimeout(() => {
        if (!conn.socket.destroyed) conn.socket.end('defghij');
      }, 150);
    });
    const pool = newPool();
    const { exchange, owner } = get(pool, server.port);
    await until(() => owner.events.includes('data'), 'the first body bytes');
    exchange.destroy();
    expect(exchange.socket.destroyed).toBe(true);
    await until(() => server.conns[0]?.closedAt !== 0, 'the replica saw the close');
    await sleep(250);
    expect(owner.events).toEqual(['head', 'data']);
    expect(owner.body).toBe('abc');
    // Not pooled either.
    const next = get(pool, server.port);
    await until(() => next.owner.events.includes('data') || next.owner.failed, 'the next answer');
    expect(next.exchange.reused).toBe(false);
    next.exchange.destroy();
  });

  it('before any answer, closes the connection without an error to the owner', async () => {
    const server = await rawServer(() => undefined);
    const pool = newPool();
    const { exchange, owner } = get(pool, server.port);
    await until(() => server.conns[0]?.requests.length === 1, 'the replica read the request');
    exchange.destroy();
    await until(() => server.conns[0]?.closedAt !== 0, 'the replica saw the close');
    await sleep(50);
    expect(owner.events).toEqual([]);
    // Later calls on a destroyed exchange do nothing.
    expect(exchange.write(Buffer.from('x'))).toBe(true);
    exchange.end();
    exchange.destroy();
    expect(server.conns[0]?.received.toString('latin1')).toBe(server.conns[0]?.requests[0]);
  });
});

describe('watchIdle', () => {
  /** A replica that sends the head of a 5-byte answer and then nothing. */
  const silentAfterHead = (): Promise<RawServer> => replying('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');

  it('calls upstreamIdle once when the replica sends a head and then nothing for longer than ms', async () => {
    const server = await silentAfterHead();
    const pool = newPool();
    const { exchange, owner } = get(pool, server.port);
    await until(() => owner.events.includes('head'), 'the head');
    const watched = performance.now();
    exchange.watchIdle(100);
    await until(() => owner.idles > 0, 'upstreamIdle', 2000);
    const after = owner.idleAt - watched;
    expect(after).toBeGreaterThanOrEqual(99);
    expect(after).toBeLessThanOrEqual(2000);
    await sleep(200);
    expect(owner.events).toEqual(['head', 'idle']);
    exchange.destroy();
  });

  it('does not fire while the answer is paused, and fires after resume', async () => {
    const server = await silentAfterHead();
    const pool = newPool();
    const { exchange, owner } = get(pool, server.port);
    await until(() => owner.events.includes('head'), 'the head');
    exchange.pause();
    exchange.watchIdle(100);
    await sleep(400);
    expect(owner.idles).toBe(0);
    const resumed = performance.now();
    exchange.resume();
    await until(() => owner.idles > 0, 'upstreamIdle after resume', 2000);
    expect(owner.idleAt - resumed).toBeGreaterThanOrEqual(99);
    exchange.destroy();
  });

  it('does not fire while body bytes keep coming more often than ms', async () => {
    const server = await rawServer((conn) => {
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n');
      let sent = 0;
      const timer = setInterval(() => {
        if (conn.socket.destroyed || sent === 8) clearInterval(timer);
        else {
          conn.socket.write('x');
          sent += 1;
        }
      }, 50);
    });
    const pool = newPool();
    const { exchange, owner } = get(pool, server.port);
    await until(() => owner.events.includes('head'), 'the head');
    exchange.watchIdle(200);
    await until(() => owner.ended || owner.failed, 'the slow answer', 3000);
    expect(owner.body).toBe('xxxxxxxx');
    expect(owner.idles).toBe(0);
  });

  it('stops watching with watchIdle(0)', async () => {
    const server = await silentAfterHead();
    const pool = newPool();
    const { exchange, owner } = get(pool, server.port);
    await until(() => owner.events.includes('head'), 'the head');
    exchange.watchIdle(100);
    exchange.watchIdle(0);
    await sleep(300);
    expect(owner.idles).toBe(0);
    exchange.destroy();
  });
});
