/**
 * No processed POST is sent twice (issue 16, item 1). Replicas are real processes
 * (fixtures/side-effect-replica.mjs) that append every call they run to a file before they
 * react; the gateway is the real proxy on 127.0.0.1, its replicas exactly what the test lists
 * (StaticProvider: a dead or killed replica stays listed ready, as before a provider notices).
 * Each failure mode is driven, then the file is counted: a POST without `Idempotency-Key` ran
 * at most once, whatever happened; where it could not be sent again the client got a 502.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { systemClock } from '../../src/core/clock.js';
import { Dispatcher } from '../../src/engine/dispatcher.js';
import { InvocationLog } from '../../src/engine/activity.js';
import { createFunctionProxy } from '../../src/gateway/proxy.js';
import { MAX_ATTEMPTS, RETRY_BODY_BYTES } from '../../src/gateway/proxy-retry.js';
import { silentLogger } from '../../src/log/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import { StaticProvider, type StaticReplica } from '../gateway/static-provider.js';

const NS = 'openfaas-fn';
const FIXTURE = join(packageRoot(), 'test', 'reliability', 'fixtures', 'side-effect-replica.mjs');
const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-side-effects-'));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Replica {
  readonly spec: StaticReplica;
  readonly process: ChildProcess;
}

let files = 0;
/** A fresh record file for one test. */
const recordFile = (): string => join(dir, `record-${++files}`);

/** Starts a side-effect replica process and waits (at most 10 s) until it listens. */
function replica(name: string, file: string, env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, [FIXTURE], { env: { ...process.env, NAME: name, RECORD_FILE: file, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${name} did not listen within 10 s`)), 10_000);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const port = /listening (\d+)/.exec(out)?.[1];
      if (port === undefined) return;
      clearTimeout(timer);
      resolve({ spec: { id: name, address: `http://127.0.0.1:${port}` }, process: child });
    });
    child.once('exit', (code) => reject(new Error(`replica ${name} exited with ${code}`)));
  });
}

/** A listed-ready replica whose port nobody listens on. */
async function deadReplica(name: string): Promise<StaticReplica> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { id: name, address: `http://127.0.0.1:${port}` };
}

/** How many times each call id was run, from a record file. */
function runs(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    const id = line.split(' ')[0] ?? '';
    if (id !== '' && id !== 'closed') counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** The replica that ran `id`, from a record file ('' when none did yet). */
function ranOn(file: string, id: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').find((line) => line.startsWith(`${id} `))?.split(' ')[1] ?? '';
  } catch {
    return '';
  }
}

interface Gateway {
  readonly port: number;
  readonly metrics: Metrics;
}

async function gateway(replicas: readonly StaticReplica[], suspectMs: number): Promise<Gateway> {
  const metrics = createMetrics();
  const dispatcher = new Dispatcher({
    provider: new StaticProvider(replicas),
    clock: systemClock,
    metrics,
    defaultNamespace: NS,
    defaults: { concurrency: 0, maxQueued: 100, requestTimeoutMs: 10_000, maxWaitMs: 10_000 },
    suspectMs,
  });
  const proxy = createFunctionProxy({ dispatcher, invocations: new InvocationLog(), metrics, logger: silentLogger(), defaultNamespace: NS, bodyLimitBytes: 1024 * 1024, trustedProxies: undefined });
  const server = http.createServer(proxy);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    dispatcher.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, metrics };
}

interface Answer {
  readonly status: number;
  readonly code: string;
  readonly attempts: number | undefined;
  readonly ms: number;
}

/** One call through the gateway (its own connection unless `agent` is given), bounded at 15 s. */
function call(port: number, method: string, path: string, id: string, options: { body?: Buffer | string; headers?: Record<string, string>; agent?: http.Agent } = {}): Promise<Answer> {
  const body = options.body ?? 'side effect';
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers = { 'x-call-id': id, 'content-length': String(Buffer.byteLength(body)), ...options.headers };
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: options.agent ?? false, headers, timeout: 15_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const error = status >= 400 ? (JSON.parse(text) as { error: { code: string; attempts?: number } }).error : undefined;
        resolve({ status, code: error?.code ?? '-', attempts: error?.attempts, ms: performance.now() - started });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} ${id}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function retries(metrics: Metrics, reason: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric('alert_scaler_upstream_retries_total');
  const values = metric === undefined ? [] : (await metric.get()).values;
  return values.filter((v) => v.labels['reason'] === reason).reduce((n, v) => n + v.value, 0);
}

/** Ids `prefix-0` ... `prefix-(n-1)`. */
const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** Blocks the event loop (a bounded busy wait) until `check` holds. */
function blockUntil(check: () => boolean, maxMs: number): void {
  const end = Date.now() + maxMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!check()) {
    if (Date.now() > end) throw new Error(`not reached within ${maxMs} ms`);
    Atomics.wait(pause, 0, 0, 2);
  }
}

describe('a replica that runs a POST and then fails: the POST is not sent again', () => {
  it('(a) it reads the body, records and resets the connection: each of 30 POSTs ran once and got a 502 UPSTREAM_FAILED', async () => {
    const file = recordFile();
    const r = await replica('resetter', file, { MODE: 'reset' });
    const gw = await gateway([r.spec], 20);
    const answers = [];
    for (const id of ids('a', 30)) answers.push(await call(gw.port, 'POST', '/function/fa', id));
    expect(answers.map((a) => `${a.status} ${a.code}`)).toEqual(Array.from({ length: 30 }, () => '502 UPSTREAM_FAILED'));
    expect([...runs(file).values()]).toEqual(Array.from({ length: 30 }, () => 1));
    expect(await retries(gw.metrics, 'reset')).toBe(0);
  });

  it('(a) a PUT, and a POST that carries an Idempotency-Key, are still sent again after the reset (at most 3 attempts)', async () => {
    const file = recordFile();
    const r = await replica('resetter', file, { MODE: 'reset' });
    const gw = await gateway([r.spec], 20);
    const put = await call(gw.port, 'PUT', '/function/fa', 'put-1');
    const keyed = await call(gw.port, 'POST', '/function/fa', 'key-1', { headers: { 'Idempotency-Key': 'k-1' } });
    for (const answer of [put, keyed]) expect([answer.status, answer.code, answer.attempts]).toEqual([502, 'UPSTREAM_FAILED', MAX_ATTEMPTS]);
    expect(Object.fromEntries(runs(file))).toEqual({ 'put-1': MAX_ATTEMPTS, 'key-1': MAX_ATTEMPTS });
    expect(await retries(gw.metrics, 'reset')).toBe(2 * (MAX_ATTEMPTS - 1));
  });

  it('(b) it records and closes a reused keep-alive connection at once without answering: of 20 POSTs none ran twice, each dropped one got a 502', async () => {
    const file = recordFile();
    const r = await replica('dropper', file, { MODE: 'drop-reused' });
    const gw = await gateway([r.spec], 20);
    const answers = new Map<string, Answer>();
    for (const id of ids('b', 20)) answers.set(id, await call(gw.port, 'POST', '/function/fb', id));
    const ran = runs(file);
    expect([...ran.values()].filter((n) => n > 1)).toEqual([]);
    // A dropped call ran (recorded) and was answered 502; the others were answered 200 and not recorded.
    for (const [id, answer] of answers) expect(`${id}: ${answer.status} ${answer.code}`).toBe(`${id}: ${ran.has(id) ? '502 UPSTREAM_FAILED' : '200 -'}`);
    expect(ran.size).toBeGreaterThanOrEqual(5);
    expect(await retries(gw.metrics, 'closed')).toBe(0);
  });

  it.each([
    // RETRY_BODY_BYTES, the most that is kept for a retry: with the head that is more than the
    // replica's one read takes, so part stays unread and its death resets the connection.
    ['with part of its body unread (the kernel resets the connection)', '?hold=1', RETRY_BODY_BYTES],
    ['while it serves the call, the body read (an orderly close)', '?delayMs=10000', 60_000],
  ])('(c) it is killed %s: a 502, and the other replica never ran the POST', async (_name, query, bytes) => {
    const file = recordFile();
    for (const round of [1, 2]) {
      const a = await replica(`a${round}`, file, { MODE: 'answer' });
      const b = await replica(`b${round}`, file, { MODE: 'answer' });
      const gw = await gateway([a.spec, b.spec], 20);
      const id = `c${query.length}-${round}`;
      const pending = call(gw.port, 'POST', `/function/fc${query}`, id, { body: Buffer.alloc(bytes, 'x') });
      await waitFor(() => ranOn(file, id) !== '', 5000);
      (ranOn(file, id) === a.spec.id ? a : b).process.kill('SIGKILL');
      const answer = await pending;
      expect([answer.status, answer.code]).toEqual([502, 'UPSTREAM_FAILED']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(runs(file).get(id)).toBe(1);
    }
  });
});

/**
 * A raw replica on 127.0.0.1: the first call it reads gets `first`, every later one `later`
 * (each a function of the call's socket); counts the request heads it read.
 */
async function rawReplica(first: (socket: net.Socket) => void, later: (socket: net.Socket) => void): Promise<{ spec: StaticReplica; heads: () => number }> {
  let heads = 0;
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const found = chunk.toString('latin1').split(' HTTP/1.1\r\n').length - 1;
      for (let i = 0; i < found; i++) (heads++ === 0 ? first : later)(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { spec: { id: 'raw', address: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, heads: () => heads };
}

describe('a replica that has begun to answer is never sent the call again, whatever the method', () => {
  const ok = (socket: net.Socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const okThenClose = (socket: net.Socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
  /** Writes `bytes`, then 20 ms later closes (FIN) or resets the connection. */
  const writeThen = (bytes: string, then: 'end' | 'reset') => (socket: net.Socket) => {
    socket.write(bytes);
    setTimeout(() => (then === 'end' ? socket.end() : socket.resetAndDestroy()), 20);
  };
  const partialHead = 'HTTP/1.1 200 OK\r\nContent-Le';
  const partialHeadThenEnd = writeThen(partialHead, 'end');
  const continueThenEnd = writeThen('HTTP/1.1 100 Continue\r\n\r\n', 'end');
  const headThenReset = writeThen('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'reset');
  const partialHeadThenReset = writeThen(partialHead, 'reset');
  /** A head with a control character in a value (refused as the gateway reads it), its body 20 ms later. */
  const badHeadThenBody = (socket: net.Socket) => {
    socket.write('HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 4\r\n\r\n', 'latin1');
    setTimeout(() => socket.write('body'), 20);
  };
  // [case, first answer on a connection, later answers, method, headers]
  const cases: Array<[string, (s: net.Socket) => void, (s: net.Socket) => void, string, Record<string, string>]> = [
    ['a GET on a reused connection: part of a head, then the replica closes', ok, partialHeadThenEnd, 'GET', {}],
    ['a POST with an Idempotency-Key on a reused connection: 100 Continue, then the replica closes', ok, continueThenEnd, 'POST', { 'Idempotency-Key': 'k-1' }],
    ['a PUT on a fresh connection: part of a head, then a reset', okThenClose, partialHeadThenReset, 'PUT', {}],
    // Nothing of the answer had gone to the client yet: it gets a whole 502, not a cut connection.
    ['a POST: the whole head, then a reset before any body byte', ok, headThenReset, 'POST', {}],
    ['a POST: a head with a control character in a value, then its body', ok, badHeadThenBody, 'POST', {}],
  ];
  it.each(cases)('%s: the replica read it once, the client gets a 502', async (_case, first, later, method, headers) => {
    const r = await rawReplica(first, later);
    const gw = await gateway([r.spec], 20);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    expect((await call(gw.port, method, '/function/fraw', 'one', { agent, headers })).status).toBe(200);
    const second = await call(gw.port, method, '/function/fraw', 'two', { agent, headers });
    expect([second.status, second.code]).toEqual([502, 'UPSTREAM_FAILED']);
    expect(r.heads()).toBe(2);
    expect((await retries(gw.metrics, 'closed')) + (await retries(gw.metrics, 'reset'))).toBe(0);
  });
});

describe('a POST that provably never reached its replica is sent again', () => {
  it('(d) a refused connection: each of 10 POSTs is answered by the live replica and ran once', async () => {
    const file = recordFile();
    const live = await replica('live', file, { MODE: 'answer' });
    const gw = await gateway([await deadReplica('dead'), live.spec], 1000);
    const answers = [];
    for (const id of ids('d', 10)) answers.push(await call(gw.port, 'POST', '/function/fd', id));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 10 }, () => 200));
    expect([...runs(file).values()]).toEqual(Array.from({ length: 10 }, () => 1));
    expect(await retries(gw.metrics, 'refused')).toBeGreaterThanOrEqual(1);
  });

  it('(e) the stale keep-alive race: a POST after the replica closed the pooled connection is not sent on it (the pool drops a connection whose close it has read), runs once, and the replica stays in rotation', async () => {
    const file = recordFile();
    // The replica closes a connection idle 150 ms: sooner than the gateway drops an idle one (1 s).
    const r = await replica('idler', file, { MODE: 'answer', IDLE_CLOSE_MS: '150' });
    const suspectMs = 3000;
    const gw = await gateway([r.spec], suspectMs);
    const client = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => client.destroy());
    for (const round of [1, 2, 3]) {
      expect((await call(gw.port, 'POST', '/function/fe', `e-warm-${round}`, { agent: client })).status).toBe(200);
      // Hold the event loop until the replica has closed the pooled connection, so the gateway
      // reads that close in the same turn as the next call and before it (the close came first).
      blockUntil(() => readFileSync(file, 'utf8').split('\n').filter((l) => l === 'closed').length === round, 5000);
      const answer = await call(gw.port, 'POST', '/function/fe', `e-${round}`, { agent: client });
      expect([round, answer.status]).toEqual([round, 200]);
      expect(answer.ms).toBeLessThan(suspectMs);
      // Not sent on the closed connection, so nothing to send again (Node's Agent handed it out
      // and the call went again as `closed`; src/gateway/upstream/upstream-pool.ts does not).
      expect(await retries(gw.metrics, 'closed')).toBe(0);
    }
    expect(await retries(gw.metrics, 'reset')).toBe(0);
    expect([...runs(file).values()]).toEqual([1, 1, 1, 1, 1, 1]);
  });
});

/** Resolves once `check` holds, polling every 10 ms; rejects after `maxMs`. */
async function waitFor(check: () => boolean, maxMs: number): Promise<void> {
  const end = Date.now() + maxMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`not reached within ${maxMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
