/**
 * The proxy sends a call again when its replica never read it (refused, reset before the
 * answer), on real sockets to 127.0.0.1: replicas are in-test HTTP servers, a dead one is a
 * port nobody listens on, and the provider reports only what the test says (so a dead
 * replica stays listed ready, as between a death and a provider noticing).
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { systemClock } from '../../src/core/clock.js';
import { Dispatcher } from '../../src/engine/dispatcher.js';
import { InvocationLog } from '../../src/engine/activity.js';
import { createFunctionProxy } from '../../src/gateway/proxy.js';
import { OPERATOR_CREDENTIALS, requestHeaders } from '../../src/gateway/proxy-headers.js';
import { MAX_ATTEMPTS, RETRY_BODY_BYTES, retryReasonOf, setSendHeaders } from '../../src/gateway/proxy-retry.js';
import { silentLogger } from '../../src/log/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import type { ReplicaState } from '../../src/providers/types.js';
import { StaticProvider, type StaticReplica } from './static-provider.js';

const NS = 'openfaas-fn';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A replica answering `<name>:<body bytes>`; `kill` closes it and its connections as a dying process would. */
interface TestReplica {
  readonly spec: StaticReplica;
  /** Calls it has answered or dropped (health checks do not exist here). */
  seen: number;
  kill(): Promise<void>;
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A live replica; `dropSecond` makes it close a kept-alive connection, without answering,
 * 30 ms after it read the second call that connection carries (as a replica that died
 * serving it).
 */
async function replica(name: string, options: { dropSecond?: boolean } = {}): Promise<TestReplica> {
  const perSocket = new WeakMap<object, number>();
  const r: TestReplica = { spec: { id: name, address: null }, seen: 0, kill: () => close(server) };
  const server = http.createServer((req, res) => {
    r.seen += 1;
    const count = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, count);
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      if (options.dropSecond === true && count === 2) setTimeout(() => req.socket.destroy(), 30);
      else res.end(`${name}:${bytes}`);
    });
  });
  const address = await listen(server);
  cleanups.push(() => close(server).catch(() => undefined));
  return Object.assign(r, { spec: { id: name, address } });
}

/** A replica the provider lists ready whose port nobody listens on: every connection is refused. */
async function dead(name: string): Promise<StaticReplica> {
  const server = http.createServer();
  const address = await listen(server);
  await close(server);
  return { id: name, address };
}

interface Gateway {
  readonly port: number;
  readonly metrics: Metrics;
  readonly provider: StaticProvider;
  readonly dispatcher: Dispatcher;
  readonly invocations: InvocationLog;
}

async function gateway(replicas: readonly StaticReplica[], options: { requestTimeoutMs?: number; suspectMs?: number; provider?: StaticProvider } = {}): Promise<Gateway> {
  const provider = options.provider ?? new StaticProvider(replicas);
  const metrics = createMetrics();
  const dispatcher = new Dispatcher({
    provider,
    clock: systemClock,
    metrics,
    defaultNamespace: NS,
    defaults: { concurrency: 0, maxQueued: 100, requestTimeoutMs: options.requestTimeoutMs ?? 5000, maxWaitMs: 5000 },
    suspectMs: options.suspectMs ?? 1000,
  });
  const invocations = new InvocationLog();
  const proxy = createFunctionProxy({ dispatcher, invocations, metrics, logger: silentLogger(), defaultNamespace: NS, bodyLimitBytes: 1024 * 1024, trustedProxies: undefined });
  const server = http.createServer(proxy);
  const address = await listen(server);
  cleanups.push(async () => {
    dispatcher.close();
    await close(server);
  });
  return { port: Number(new URL(address).port), metrics, provider, dispatcher, invocations };
}

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly ms: number;
}

/** One call through the gateway on its own connection; `body` as one piece (Content-Length) or as pieces sent 50 ms apart (chunked). */
function call(port: number, method: string, path: string, body: string | Buffer | readonly string[] = ''): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${method} ${path}: no answer within 10 s`)), 10_000);
    const headers: Record<string, string | number> = Array.isArray(body) ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body as string | Buffer) };
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), ms: performance.now() - started });
      });
    });
    req.on('error', reject);
    if (!Array.isArray(body)) {
      req.end(body);
      return;
    }
    const pieces = [...(body as readonly string[])];
    const next = (): void => {
      const piece = pieces.shift();
      if (piece === undefined) req.end();
      else {
        req.write(piece);
        setTimeout(next, 50);
      }
    };
    next();
  });
}

/** `alert_scaler_upstream_retries_total` for one function and reason (0 when never counted). */
async function retries(metrics: Metrics, fn: string, reason: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric('alert_scaler_upstream_retries_total');
  if (metric === undefined) throw new Error('alert_scaler_upstream_retries_total is not registered');
  const values = (await metric.get()).values;
  return values.find((v) => v.labels['function_name'] === fn && v.labels['reason'] === reason)?.value ?? 0;
}

function errorOf(answer: Answer): { code: string; attempts?: number } {
  return (JSON.parse(answer.text) as { error: { code: string; attempts?: number } }).error;
}

describe('which failures are sent again', () => {
  const err = (code: string, syscall?: string, message = code): NodeJS.ErrnoException => Object.assign(new Error(message), { code, ...(syscall === undefined ? {} : { syscall }) });
  const hangUp = err('ECONNRESET', undefined, 'socket hang up');
  const resetRead = err('ECONNRESET', 'read');
  // [name, error, reused socket, repeatable (idempotent or Idempotency-Key), none of its bytes written, reason]
  const rows: Array<[string, NodeJS.ErrnoException, boolean, boolean, boolean, string | null]> = [
    ['a refused connection, whatever the method', err('ECONNREFUSED', 'connect'), false, false, false, 'refused'],
    ['an unreachable host (the connect failed)', err('EHOSTUNREACH', 'connect'), false, false, false, 'refused'],
    ['a reset read on a fresh connection, repeatable', resetRead, false, true, false, 'reset'],
    ['a reset read on a reused connection, repeatable', resetRead, true, true, false, 'reset'],
    // Was retried for a POST too: a replica that read the call and reset the connection ran it each time.
    ['a reset read after a POST went out: the replica may have read it', resetRead, false, false, false, null],
    ['a reset read on a reused connection after a POST went out', resetRead, true, false, false, null],
    ['a broken pipe on write, repeatable', err('EPIPE', 'write'), true, true, false, 'reset'],
    ['a broken pipe after part of a POST went out', err('EPIPE', 'write'), true, false, false, null],
    ['a hang-up on a reused connection, repeatable', hangUp, true, true, false, 'closed'],
    // Was retried when the close came by the first poll after sending: 14 of 20 such POSTs ran twice.
    ['a hang-up on a reused connection after a POST went out, however soon', hangUp, true, false, false, null],
    ['a POST none of whose bytes were written on a pooled connection already closed (ended by the other party)', err('EPIPE', undefined, 'This socket has been ended by the other party'), true, false, true, 'closed'],
    ['a POST none of whose bytes were written before a hang-up on a pooled connection', hangUp, true, false, true, 'closed'],
    ['a hang-up on a fresh connection', hangUp, false, true, false, null],
    ['a read timeout', err('ETIMEDOUT', 'read'), true, true, false, null],
  ];
  it.each(rows)('%s', (_name, error, reusedSocket, repeatable, unsent, reason) => {
    expect(retryReasonOf(error, { reusedSocket, repeatable, unsent, answered: false })).toBe(reason);
  });

  it.each(rows.filter((row) => row[5] !== 'refused'))('%s, once a byte of an answer came (a 1xx, part of a head): never', (_name, error, reusedSocket, repeatable, unsent) => {
    expect(retryReasonOf(error, { reusedSocket, repeatable, unsent, answered: true })).toBeNull();
  });
});

describe('what the request headers say about sending again and about the body', () => {
  const read = (raw: string[]) => requestHeaders(raw, '127.0.0.1', false, () => false);
  // [name, raw headers, allows a second send, the key header forwarded]
  const rows: Array<[string, string[], boolean, boolean]> = [
    ['an Idempotency-Key (any case) allows a second send and is forwarded', ['idempotency-KEY', 'k-1'], true, true],
    ['an empty Idempotency-Key does not', ['Idempotency-Key', ' '], false, true],
    ['one named in Connection is dropped, and does not', ['Connection', 'Idempotency-Key', 'Idempotency-Key', 'k-1'], false, false],
  ];
  it.each(rows)('%s', (_name, raw, key, forwarded) => {
    const headers = read(raw);
    expect(headers.idempotencyKey).toBe(key);
    expect(headers.forward.some((name) => name.toLowerCase() === 'idempotency-key')).toBe(forwarded);
  });

  it('OPERATOR_CREDENTIALS (the admin listener: calls, WebSocket upgrades, async calls) drops Authorization and Cookie in any case, nothing else', () => {
    const raw = ['authorization', 'Basic b3A6cHc=', 'COOKIE', 'a=b', 'X-Api-Key', 'k', 'Accept', '*/*'];
    const forward = requestHeaders(raw, '127.0.0.1', false, () => false, OPERATOR_CREDENTIALS).forward.filter((_, i) => i % 2 === 0);
    expect(forward).toEqual(['X-Api-Key', 'Accept', 'X-Forwarded-For', 'X-Forwarded-Proto']);
    expect(read(raw).forward).toContain('authorization');
  });

  it('a Transfer-Encoding marks a body of unknown length (and is not forwarded); a Content-Length is read', () => {
    expect(read(['Transfer-Encoding', 'chunked'])).toMatchObject({ chunked: true, contentLength: Number.NaN });
    expect(read(['Transfer-Encoding', 'chunked']).forward).not.toContain('Transfer-Encoding');
    expect(read(['Content-Length', '12'])).toMatchObject({ chunked: false, contentLength: 12 });
  });
});

describe('a call whose replica never read it', () => {
  it('a POST to a replica that refuses is answered by the other one, and the refusing one leaves rotation', async () => {
    const live = await replica('live');
    const gw = await gateway([await dead('dead'), live.spec]);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await call(gw.port, 'POST', '/function/fa', 'hello'));
    expect(answers.map((a) => [a.status, a.text])).toEqual(Array.from({ length: 4 }, () => [200, 'live:5']));
    expect(await retries(gw.metrics, 'fa', 'refused')).toBe(1);
    expect(live.seen).toBe(4);
  });

  it('a POST to a replica killed between calls gets its answer from the replica the provider reports next', async () => {
    const first = await replica('first');
    const gw = await gateway([first.spec]);
    expect(await call(gw.port, 'POST', '/function/fb', 'hello')).toMatchObject({ status: 200, text: 'first:5' });
    await first.kill();
    await new Promise((r) => setTimeout(r, 20));
    const second = await replica('second');
    // The provider notices late: the call goes to the dead replica first, then waits.
    setTimeout(() => gw.provider.set({ name: 'fb', namespace: NS }, [second.spec]), 150);
    const answer = await call(gw.port, 'POST', '/function/fb', 'hello');
    expect([answer.status, answer.text]).toEqual([200, 'second:5']);
    expect(answer.ms).toBeGreaterThanOrEqual(100);
    expect((await retries(gw.metrics, 'fb', 'refused')) + (await retries(gw.metrics, 'fb', 'reset'))).toBe(1);
    expect(second.seen).toBe(1);
  });

  it('a chunked POST whose first piece went to a refusing replica reaches the other one whole', async () => {
    const live = await replica('live');
    const gw = await gateway([await dead('dead'), live.spec]);
    const answer = await call(gw.port, 'POST', '/function/fc', ['abc', 'defg', 'hi']);
    expect([answer.status, answer.text]).toEqual([200, 'live:9']);
    expect(await retries(gw.metrics, 'fc', 'refused')).toBe(1);
  });

  it(`a body over ${RETRY_BODY_BYTES} bytes to a refusing replica is a 502 UPSTREAM_FAILED and is not sent again`, async () => {
    const live = await replica('live');
    const gw = await gateway([await dead('dead'), live.spec]);
    const answer = await call(gw.port, 'POST', '/function/fd', Buffer.alloc(RETRY_BODY_BYTES + 1, 'x'));
    expect(answer.status).toBe(502);
    expect(errorOf(answer).code).toBe('UPSTREAM_FAILED');
    expect(await retries(gw.metrics, 'fd', 'refused')).toBe(0);
    expect(live.seen).toBe(0);
  });

  it(`a body of exactly ${RETRY_BODY_BYTES} bytes is kept and sent again`, async () => {
    const live = await replica('live');
    const gw = await gateway([await dead('dead'), live.spec]);
    const answer = await call(gw.port, 'POST', '/function/fe', Buffer.alloc(RETRY_BODY_BYTES, 'x'));
    expect([answer.status, answer.text]).toEqual([200, `live:${RETRY_BODY_BYTES}`]);
  });
});

describe('retries are bounded', () => {
  it(`a function whose every replica refuses is a 502 after ${MAX_ATTEMPTS} attempts on ${MAX_ATTEMPTS} replicas, not a loop`, async () => {
    const gw = await gateway(await Promise.all(['d1', 'd2', 'd3', 'd4'].map(dead)));
    const answer = await call(gw.port, 'POST', '/function/ff', 'hello');
    expect(answer.status).toBe(502);
    expect(errorOf(answer)).toMatchObject({ code: 'UPSTREAM_FAILED', attempts: MAX_ATTEMPTS });
    expect(await retries(gw.metrics, 'ff', 'refused')).toBe(MAX_ATTEMPTS - 1);
    expect(answer.ms).toBeLessThan(1000);
  });

  it(`a lone replica that keeps refusing is probed again after the suspect time, and the call is a 502 after ${MAX_ATTEMPTS} attempts`, async () => {
    const gw = await gateway([await dead('only')], { suspectMs: 60 });
    const answer = await call(gw.port, 'GET', '/function/fg');
    expect(answer.status).toBe(502);
    expect(errorOf(answer)).toMatchObject({ code: 'UPSTREAM_FAILED', attempts: MAX_ATTEMPTS });
    expect(await retries(gw.metrics, 'fg', 'refused')).toBe(MAX_ATTEMPTS - 1);
    // Two waits for the suspicion to end, each about 60 ms.
    expect(answer.ms).toBeGreaterThanOrEqual(110);
    expect(answer.ms).toBeLessThan(2000);
  });

  it('a retry waits for a replica no longer than the first attempt\'s request timeout', async () => {
    const gw = await gateway([await dead('only')], { requestTimeoutMs: 300, suspectMs: 10_000 });
    const answer = await call(gw.port, 'POST', '/function/fh', 'hello');
    expect(answer.status).toBe(502);
    expect(errorOf(answer)).toMatchObject({ code: 'UPSTREAM_FAILED', attempts: 1 });
    expect(answer.ms).toBeGreaterThanOrEqual(250);
    expect(answer.ms).toBeLessThan(2000);
  });
});

describe('a pooled connection the replica closes before answering', () => {
  it('while serving the call, is sent again for a GET (no suspect: the replica lives), and is a 502 for a POST', async () => {
    const flaky = await replica('flaky', { dropSecond: true });
    const gw = await gateway([flaky.spec]);
    expect(await call(gw.port, 'GET', '/function/fi')).toMatchObject({ status: 200, text: 'flaky:0' });
    // The second call reuses the pooled connection, which the replica drops: a new one answers.
    expect(await call(gw.port, 'GET', '/function/fi')).toMatchObject({ status: 200, text: 'flaky:0' });
    expect(await retries(gw.metrics, 'fi', 'closed')).toBe(1);
    const post = await call(gw.port, 'POST', '/function/fi', 'hello');
    expect(post.status).toBe(502);
    expect(errorOf(post).code).toBe('UPSTREAM_FAILED');
    expect(await retries(gw.metrics, 'fi', 'closed')).toBe(1);
    expect(flaky.seen).toBe(4);
  });
});

describe('the headers of each send', () => {
  const M = 'X-Alert-Scaler-Forwarded';
  const sends = (steps: ReadonlyArray<[string, boolean]>): string[] => {
    const forward = ['Accept', '*/*'];
    steps.forEach(([host, forwarded], i) => setSendHeaders(forward, host, i === 0, forwarded));
    return forward;
  };
  it.each<[string, ReadonlyArray<[string, boolean]>, string[]]>([
    ['a first send to a replica adds Host only', [['r1:8080', false]], ['Accept', '*/*', 'Host', 'r1:8080']],
    ['a first send to another gateway is marked', [['g2:8080', true]], ['Accept', '*/*', M, '1', 'Host', 'g2:8080']],
    ['a retry to a replica changes Host only', [['r1:8080', false], ['r2:8080', false]], ['Accept', '*/*', 'Host', 'r2:8080']],
    ['a retry sent on to another gateway after a replica failed is marked too', [['r1:8080', false], ['g2:8080', true]], ['Accept', '*/*', M, '1', 'Host', 'g2:8080']],
    ['a later send to a replica drops the mark', [['g2:8080', true], ['r1:8080', false]], ['Accept', '*/*', 'Host', 'r1:8080']],
    ['two marked sends carry one mark', [['g2:8080', true], ['g3:8080', true]], ['Accept', '*/*', M, '1', 'Host', 'g3:8080']],
  ])('%s', (_name, steps, expected) => {
    expect(sends(steps)).toEqual(expected);
  });
});

describe('a client that goes away while its function is first looked up', () => {
  /** The provider's read of a function takes 300 ms (a cold cache, a slow API). */
  class SlowLookup extends StaticProvider {
    override async getReplicas(): Promise<ReplicaState> {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return super.getReplicas();
    }
  }

  it('is not sent, counts nothing in flight and holds no slot; the next call is served', async () => {
    const r = await replica('r1');
    const gw = await gateway([], { provider: new SlowLookup([r.spec]) });
    const ref = { name: 'slow', namespace: NS };
    const client = net.connect(gw.port, '127.0.0.1', () => client.write('GET /function/slow HTTP/1.1\r\nHost: x\r\n\r\n'));
    client.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.destroy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(r.seen).toBe(0);
    expect(gw.invocations.inflightOf(ref)).toBe(0);
    expect(gw.dispatcher.replicas(ref).reduce((n, x) => n + x.inFlight, 0)).toBe(0);
    const next = await call(gw.port, 'GET', '/function/slow');
    expect([next.status, next.text, r.seen]).toEqual([200, 'r1:0', 1]);
    expect(gw.invocations.inflightOf(ref)).toBe(0);
  });
});

