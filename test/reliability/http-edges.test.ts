/**
 * HTTP edge cases against a running gateway (local provider, real replica processes), on raw
 * sockets to 127.0.0.1: request smuggling, over-limit bodies, slow and aborted clients, a
 * replica killed mid-answer, and a 50 MB answer streamed with the gateway's memory flat.
 * Every wait is bounded; a hang fails the test instead of stalling the suite.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import type { LocalProvider } from '../../src/providers/local/index.js';
import { eventually, startTestScaler, type TestFunction } from '../support/harness.js';
import { rawRequest } from '../gateway/raw-client.js';

const STREAM = join(packageRoot(), 'test', 'reliability', 'fixtures', 'stream-replica.mjs');
const NS = 'openfaas-fn';
const BODY_LIMIT = 64 * 1024;
const REQUEST_TIMEOUT_MS = 1500;
const BODY_IDLE_TIMEOUT_MS = 1000;
const replica: TestFunction = { command: [process.execPath, STREAM] };

let s: RunningScaler;
beforeAll(async () => {
  // `big` has its own request timeout: a 50 MB answer on a loaded machine may take more than 1.5 s.
  const big: TestFunction = { ...replica, labels: { 'com.openfaas.request-timeout': '20s' } };
  s = await startTestScaler({ edge: replica, victim: replica, big }, {
    ALERT_SCALER_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), ALERT_SCALER_BODY_LIMIT_BYTES: String(BODY_LIMIT), ALERT_SCALER_BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_TIMEOUT_MS),
  });
  for (const name of ['edge', 'victim', 'big']) await eventually(async () => (await s.provider.getReplicas({ name, namespace: NS })).ready === 1);
});
afterAll(async () => {
  await s.close();
});

/** Requests the replicas of `name` have seen (the fixture's own count, health checks excluded). */
async function hits(name: string): Promise<number> {
  const res = await request(s.server).get(`/function/${name}/hits`).timeout(3000);
  expect(res.status).toBe(200);
  return Number(res.text);
}

/** Replica slots of `name` still held by a call. */
function inFlight(name: string): number {
  return s.engine.dispatcher.replicas({ name, namespace: NS }).reduce((n, r) => n + r.inFlight, 0);
}

/** `gateway_function_invocation_inflight` of `name`: calls the gateway is serving, slot or not. */
async function invocationsInFlight(name: string): Promise<number> {
  const text = (await request(s.server).get('/metrics').timeout(3000)).text;
  return Number(new RegExp(`^gateway_function_invocation_inflight\\{function_name="${name}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/** The gateway still serves: a proxied call with a body answers 200 with the body's length. */
async function stillServes(name = 'edge'): Promise<void> {
  const res = await request(s.server).post(`/function/${name}`).send('still up').timeout(5000);
  expect([res.status, res.text]).toEqual([200, '8']);
}

/** Opens a raw socket to the gateway. */
function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(s.port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('request smuggling', () => {
  const smuggled = 'GET /function/edge/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n';
  const cases: Array<[string, string]> = [
    ['Content-Length and Transfer-Encoding', `Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding and Content-Length', `Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${smuggled}`],
    ['two different Content-Lengths', `Content-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`],
    ['two equal Content-Lengths', `Content-Length: ${smuggled.length}\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`],
    ['an obs-folded Transfer-Encoding', `Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['an obs-folded ordinary header', `X-Note: one\r\n two\r\nContent-Length: 0\r\n\r\n${smuggled}`],
    ['an obfuscated Transfer-Encoding', `Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['a space before the colon', `Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['a Content-Length list', `Content-Length: 5, 5\r\n\r\nhello`],
  ];

  it.each(cases)('%s is answered 400 and reaches no replica', async (_name, rest) => {
    const before = await hits('edge');
    const answer = await rawRequest(s.port, `POST /function/edge HTTP/1.1\r\nHost: gw.test\r\n${rest}`, 3000);
    expect(answer.status).toBe(400);
    expect(await hits('edge')).toBe(before + 0);
    await stillServes();
  });
});

describe('request bodies over the limit', () => {
  it('a chunked body over the limit is cut with 413 BODY_TOO_LARGE, and the slot is given back', async () => {
    const socket = await connect();
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write('POST /function/edge HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n');
    const piece = Buffer.alloc(16 * 1024, 'b');
    // Four times the limit, in chunks, unless the gateway answers first.
    for (let i = 0; i < 16 && chunks.length === 0 && !socket.destroyed; i++) {
      socket.write(`${piece.length.toString(16)}\r\n`);
      socket.write(piece);
      socket.write('\r\n');
      await new Promise((r) => setTimeout(r, 5));
    }
    await eventually(() => Buffer.concat(chunks).includes('\r\n\r\n'), 5000);
    const text = Buffer.concat(chunks).toString('latin1');
    socket.destroy();
    await closed;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toContain('"code":"BODY_TOO_LARGE"');
    await eventually(() => inFlight('edge') === 0, 3000);
    await stillServes();
  });

  it('a declared Content-Length over the limit is refused with 413 before any replica sees it', async () => {
    const before = await hits('edge');
    const answer = await rawRequest(s.port, `POST /function/edge HTTP/1.1\r\nHost: gw.test\r\nContent-Length: ${BODY_LIMIT + 1}\r\nConnection: close\r\n\r\nxx`, 3000);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'BODY_TOO_LARGE' } });
    expect(await hits('edge')).toBe(before);
  });
});

describe('slow and aborted clients', () => {
  it('50 slowloris connections trickling headers do not slow other calls', async () => {
    const sockets = await Promise.all(Array.from({ length: 50 }, () => connect()));
    for (const socket of sockets) {
      socket.on('error', () => undefined);
      socket.write('GET /function/edge HTTP/1.1\r\nHost: gw.test\r\n');
    }
    const trickle = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write(`X-Slow-${Math.floor(Math.random() * 1e6)}: a\r\n`);
    }, 50);
    try {
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        await stillServes();
        expect((await request(s.server).get('/healthz').timeout(2000)).status).toBe(200);
        expect(performance.now() - started).toBeLessThan(1000);
      }
    } finally {
      clearInterval(trickle);
      for (const socket of sockets) socket.destroy();
    }
    // Such a client is cut at last: Node's header timeout is on, and finite.
    expect(s.server.headersTimeout).toBeGreaterThan(0);
    expect(s.server.headersTimeout).toBeLessThanOrEqual(60_000);
  });

  // Was a 504 REQUEST_TIMEOUT after the request timeout, the slot held all along (issue 16, item 5).
  it('a body that stalls gets 408 BODY_TIMEOUT after the body idle timeout, having held no replica slot', async () => {
    const started = Date.now();
    const answer = rawRequest(s.port, 'POST /function/edge HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nonly ten b', BODY_IDLE_TIMEOUT_MS + 5000);
    await new Promise((resolve) => setTimeout(resolve, BODY_IDLE_TIMEOUT_MS / 2));
    expect(inFlight('edge')).toBe(0);
    const result = await answer;
    const tookMs = Date.now() - started;
    expect(result.status).toBe(408);
    expect(JSON.parse(result.body)).toMatchObject({ error: { code: 'BODY_TIMEOUT' } });
    expect(tookMs).toBeGreaterThanOrEqual(BODY_IDLE_TIMEOUT_MS - 50);
    expect(tookMs).toBeLessThan(BODY_IDLE_TIMEOUT_MS + 3000);
    expect(inFlight('edge')).toBe(0);
    await stillServes();
  });

  // Took a slot before its body came, and gave it back at the reset (issue 16, item 5: a body
  // up to 64 KiB is read before the call takes a slot).
  it('a client that resets mid-upload held no slot, is no longer counted in flight, and the next call is served', async () => {
    const socket = await connect();
    socket.on('error', () => undefined);
    socket.write(`POST /function/edge HTTP/1.1\r\nHost: gw.test\r\nContent-Length: ${BODY_LIMIT}\r\n\r\n`);
    socket.write(Buffer.alloc(BODY_LIMIT / 4, 'u'));
    await eventually(async () => (await invocationsInFlight('edge')) === 1, 3000);
    expect(inFlight('edge')).toBe(0);
    socket.resetAndDestroy();
    await eventually(async () => (await invocationsInFlight('edge')) === 0, 3000);
    expect(inFlight('edge')).toBe(0);
    await stillServes();
  });

  it('a client that resets mid-download gives its slot back and the next call is served', async () => {
    const socket = await connect();
    socket.on('error', () => undefined);
    let received = 0;
    const enough = new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        received += c.length;
        if (received > 256 * 1024) resolve();
      });
    });
    socket.write(`GET /function/edge/big?bytes=${50 * 1024 * 1024} HTTP/1.1\r\nHost: gw.test\r\n\r\n`);
    await Promise.race([enough, new Promise((_, reject) => setTimeout(() => reject(new Error('no bytes within 5 s')), 5000))]);
    socket.resetAndDestroy();
    await eventually(() => inFlight('edge') === 0, 3000);
    await stillServes();
  });
});

describe('a replica killed mid-answer', () => {
  const provider = (): LocalProvider => s.provider as LocalProvider;
  const killReplica = (pid: number): void => {
    const victim = provider().replicasOf({ name: 'victim', namespace: NS }).find((r) => r.pid === pid);
    if (victim === undefined) throw new Error(`no victim replica with pid ${pid}`);
    victim.kill('SIGKILL');
  };

  it('after the answer began: the client sees the answer cut short, never a hang, and the next call is served', async () => {
    let killedPid = 0;
    const outcome = await new Promise<{ status: number; bytes: number; declared: number; ended: 'aborted' | 'complete' }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the client hung for 5 s')), 5000);
      const req = http.get({ host: '127.0.0.1', port: s.port, path: '/function/victim/stall', agent: false }, (res) => {
        let bytes = 0;
        let killed = false;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (!killed) {
            killed = true;
            killedPid = Number(res.headers['x-pid']);
            killReplica(killedPid);
          }
        });
        const done = (ended: 'aborted' | 'complete') => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, bytes, declared: Number(res.headers['content-length']), ended });
        };
        res.on('aborted', () => done('aborted'));
        res.on('error', () => done('aborted'));
        res.on('end', () => done(res.complete ? 'complete' : 'aborted'));
      });
      req.on('error', () => undefined);
    });
    expect(outcome.status).toBe(200);
    expect(outcome.ended).toBe('aborted');
    expect(outcome.bytes).toBeLessThan(outcome.declared);
    await eventually(() => inFlight('victim') === 0, 3000);
    // Once the provider has seen the death (as in the next test): until then a POST may still
    // reach the dying replica, and one reset after its bytes went out is a 502, never sent twice.
    await eventually(() => provider().replicasOf({ name: 'victim', namespace: NS }).every((r) => r.pid !== killedPid), 3000);
    // The provider starts a new replica; the next call waits for it and is served.
    await stillServes('victim');
  });

  /** The pid of the victim's one ready replica. */
  const readyPid = async (): Promise<number> => {
    await eventually(async () => (await s.provider.getReplicas({ name: 'victim', namespace: NS })).ready === 1, 5000);
    const pid = provider().replicasOf({ name: 'victim', namespace: NS }).find((r) => r.phase === 'ready')?.pid;
    if (pid === undefined) throw new Error('no ready victim replica');
    return pid;
  };

  it('after the function read the call, before the answer began: 502 UPSTREAM_FAILED (a POST is not sent twice), and once the provider has seen the death the next call is served', async () => {
    const pid = await readyPid();
    const seen = await hits('victim');
    const answer = request(s.server).post('/function/victim?delayMs=2000').send('slow').timeout(5000).then((r) => r);
    // The replica has read the call (its count went up) when it dies: the function saw it.
    await eventually(async () => (await hits('victim')) === seen + 1, 3000);
    killReplica(pid);
    const res = await answer;
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('UPSTREAM_FAILED');
    await eventually(() => provider().replicasOf({ name: 'victim', namespace: NS }).every((r) => r.pid !== pid), 3000);
    await stillServes('victim');
  });

  // A call dispatched between a replica's death and the provider's exit notice goes to the
  // dead replica (a pooled socket gives a reset or a hang-up, a new one ECONNREFUSED) though no
  // byte of it reached a function. The gateway cannot tell that hang-up from a replica that
  // read the call and closed (issue 16 item 1), so a plain POST goes again only when nothing
  // left (refused, or unwritten); one that says it may be repeated (Idempotency-Key) waits for
  // the restart: the replica is made suspect and the call is served by its successor.
  it('a repeatable call sent the moment its only replica is killed waits for the restarted replica instead of failing 502', async () => {
    const pid = await readyPid();
    killReplica(pid);
    const res = await request(s.server).post('/function/victim').set('Idempotency-Key', 'still-up-1').send('still up').timeout(5000);
    expect([res.status, res.text]).toEqual([200, '8']);
    expect(provider().replicasOf({ name: 'victim', namespace: NS }).find((r) => r.phase === 'ready')?.pid).not.toBe(pid);
  });
});

describe('a 50 MB answer', () => {
  /** Downloads `path` in a child process (so only the gateway's memory is in this one); resolves with the byte count. */
  function download(path: string): Promise<number> {
    const script = `require('http').get({host:'127.0.0.1',port:${s.port},path:${JSON.stringify(path)},agent:false},r=>{let n=0;r.on('data',c=>n+=c.length);r.on('end',()=>{console.log(n)})}).on('error',e=>{console.error(e.message);process.exit(1)})`;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(Number(out.trim()));
        else reject(new Error(`the download exited with ${code}`));
      });
    });
  }

  it('streams through with the gateway\'s memory flat', async () => {
    const bytes = 50 * 1024 * 1024;
    const memory = () => {
      const m = process.memoryUsage();
      return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
    };
    const base = memory();
    let peak = { rss: 0, heap: 0 };
    const sampler = setInterval(() => {
      const now = memory();
      peak = { rss: Math.max(peak.rss, now.rss - base.rss), heap: Math.max(peak.heap, now.heap - base.heap) };
    }, 5);
    let received = 0;
    try {
      received = await download(`/function/big/big?bytes=${bytes}`);
    } finally {
      clearInterval(sampler);
    }
    const mb = (n: number) => Math.round(n / 1e5) / 10;
    process.stdout.write(`50 MB answer through the gateway: peak heap+buffers +${mb(peak.heap)} MB, peak RSS +${mb(peak.rss)} MB\n`);
    expect(received).toBe(bytes);
    // Buffering the answer would hold its 50 MB at once; streaming holds socket buffers and
    // chunks not yet collected (about 30 MB measured before a GC runs): room for the
    // collector, not for the answer.
    expect(peak.heap).toBeLessThan(45 * 1024 * 1024);
    expect(peak.rss).toBeLessThan(40 * 1024 * 1024);
  });
});
