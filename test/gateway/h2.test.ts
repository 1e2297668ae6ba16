/**
 * HTTP/2 with prior knowledge (h2c) on the function listener, beside HTTP/1.1 on the same port
 * (issue 19, items 3 and 4): node:http2 clients against real replica processes on 127.0.0.1,
 * one function spoken to over HTTP/1.1 (the default) and one over h2c (label
 * com.openfaas.protocol=h2c), with the same routes. Plus the h2c versions of the reliability
 * suite's HTTP edge cases that apply to HTTP/2 (test/reliability/http-edges.test.ts): bodies
 * over the limit, clients that reset their stream (RST_STREAM), a 50 MB answer with the
 * gateway's memory flat, bad paths. Every wait is bounded.
 */
import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import type { LocalProvider } from '../../src/providers/local/index.js';
import { eventually, startTestScaler, type TestFunction } from '../support/harness.js';

const REPLICA = join(packageRoot(), 'test', 'gateway', 'fixtures', 'h2-replica.mjs');
const NS = 'openfaas-fn';
const BODY_LIMIT = 64 * 1024;
const replica = (labels: Record<string, string> = {}): TestFunction => ({ command: [process.execPath, REPLICA], labels });
/** The two ways to a replica: [function, what the replica sees (x-protocol)]. */
const UPSTREAMS: Array<[string, string]> = [
  ['h2-plain', '1.1'],
  ['h2-h2c', '2.0'],
];

let s: RunningScaler;
let session: http2.ClientHttp2Session;
beforeAll(async () => {
  s = await startTestScaler(
    {
      'h2-plain': replica({ 'com.openfaas.request-timeout': '20s' }),
      'h2-h2c': replica({ 'com.openfaas.protocol': 'h2c', 'com.openfaas.request-timeout': '20s' }),
      'h2-slow': replica({ 'com.openfaas.request-timeout': '500ms' }),
      // Called first by the test that resets its stream during the function's first lookup.
      'h2-fresh': replica(),
    },
    { ALERT_SCALER_BODY_LIMIT_BYTES: String(BODY_LIMIT), ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600', ALERT_SCALER_SHUTDOWN_TIMEOUT_MS: '1500' },
  );
  for (const name of ['h2-plain', 'h2-h2c', 'h2-slow', 'h2-fresh']) await eventually(async () => (await s.provider.getReplicas({ name, namespace: NS })).ready === 1, 20_000);
  session = connect();
}, 60_000);
afterAll(async () => {
  session.destroy();
  await s.close();
});

function connect(): http2.ClientHttp2Session {
  const c = http2.connect(`http://127.0.0.1:${s.port}`);
  c.on('error', () => undefined);
  return c;
}

interface Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: http2.IncomingHttpHeaders | null;
}

/** One HTTP/2 request on the shared session; rejects after 10 s. */
function h2(path: string, opts: { method?: string; body?: Buffer | string; headers?: http2.OutgoingHttpHeaders } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': opts.method ?? 'GET', ':path': path, ...opts.headers });
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no answer for ${path} within 10 s`));
    }, 10_000);
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks), trailers });
    });
    req.end(opts.body);
  });
}

/** Requests the replica of `name` has seen (its own count). */
async function hits(name: string): Promise<number> {
  return Number((await h2(`/function/${name}/hits`)).body.toString()) - 0;
}

/** Replica slots of `name` still held by a call. */
function inFlight(name: string): number {
  return s.engine.dispatcher.replicas({ name, namespace: NS }).reduce((n, r) => n + r.inFlight, 0);
}

/** A gateway metric of `name` read from /metrics (HTTP/1.1 on the same port). */
async function metric(metricName: string, name: string, code?: number): Promise<number> {
  const text = (await request(s.server).get('/metrics').timeout(3000)).text;
  const labels = code === undefined ? `function_name="${name}"` : `function_name="${name}",code="${code}"`;
  return Number(new RegExp(`^${metricName}\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

describe.each(UPSTREAMS)('h2c to the function listener, replica %s', (name, protocol) => {
  it('GET passes through with the sub-path and query, and is counted as a call', async () => {
    const before = await metric('gateway_function_invocation_total', name, 200);
    const a = await h2(`/function/${name}/sub/path?q=1`);
    expect([a.status, a.body.toString(), a.headers['x-method'], a.headers['x-path'], a.headers['x-protocol']]).toEqual([200, '0', 'GET', '/sub/path?q=1', protocol]);
    expect(await metric('gateway_function_invocation_total', name, 200)).toBe(before + 1);
  });

  it('POST with a body reaches the replica whole', async () => {
    const body = Buffer.alloc(40 * 1024, 'p');
    const a = await h2(`/function/${name}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect([a.status, a.body.toString(), a.headers['x-method']]).toEqual([200, String(body.length), 'POST']);
  });

  it("the replica's trailers reach the client", async () => {
    const a = await h2(`/function/${name}/trailers`);
    expect([a.status, a.body.toString(), a.trailers?.['x-checksum']]).toEqual([200, 'body', 'abc']);
  });

  it('HEAD and a 204 answer end the stream without a body', async () => {
    const head = await h2(`/function/${name}/`, { method: 'HEAD' });
    expect([head.status, head.body.length, head.headers['x-method']]).toEqual([200, 0, 'HEAD']);
    const none = await h2(`/function/${name}/nocontent`);
    expect([none.status, none.body.length]).toEqual([204, 0]);
  });

  it('an answer that ends before the client has sent its whole body is delivered and counted as 200', async () => {
    const before = await metric('gateway_function_invocation_total', name, 200);
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': `/function/${name}/early` });
      let headers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on('response', (h) => (headers = h));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', reject);
      req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks), trailers: null }));
      req.write(Buffer.alloc(1024, 'e'));
      // The rest of the body, after the answer has come.
      req.once('response', () => setTimeout(() => req.end(Buffer.alloc(1024, 'f')), 50));
    });
    expect([answer.status, answer.body.toString()]).toEqual([200, 'early']);
    await eventually(() => inFlight(name) === 0, 3000);
    expect(await metric('gateway_function_invocation_total', name, 200)).toBe(before + 1);
    expect(await metric('gateway_function_invocation_total', name, 502)).toBe(0);
  });

  it('a streamed answer reaches the client chunk by chunk, as the replica writes it', async () => {
    const n = 5;
    const arrivals: Array<{ index: number; writtenAt: number; arrivedAt: number }> = [];
    await new Promise<void>((resolve, reject) => {
      const req = session.request({ ':path': `/function/${name}/ticks?n=${n}&everyMs=100` });
      let pending = '';
      req.setEncoding('utf8');
      req.on('data', (text: string) => {
        const arrivedAt = Date.now();
        pending += text;
        let nl: number;
        while ((nl = pending.indexOf('\n')) !== -1) {
          const [index, writtenAt] = pending.slice(0, nl).split(' ').map(Number);
          arrivals.push({ index: index ?? -1, writtenAt: writtenAt ?? 0, arrivedAt });
          pending = pending.slice(nl + 1);
        }
      });
      req.on('end', () => resolve());
      req.on('error', reject);
      req.end();
    });
    const delays = arrivals.map((a) => a.arrivedAt - a.writtenAt);
    process.stdout.write(`h2c ${name}: chunk delays replica write -> client read (ms): ${delays.join(', ')}\n`);
    expect(arrivals.map((a) => a.index)).toEqual([0, 1, 2, 3, 4]);
    // Each chunk arrives before the replica writes the next one (100 ms later): nothing waits
    // for more of the answer. The median chunk within 20 ms of being written (measured 1-7 ms
    // per chunk on a quiet machine, the line printed above; a machine loaded by other work
    // adds a tail of up to 80 ms to single chunks, hence the median).
    for (let i = 0; i + 1 < arrivals.length; i++) expect(arrivals[i]?.arrivedAt).toBeLessThan(arrivals[i + 1]?.writtenAt ?? 0);
    expect([...delays].sort((a, b) => a - b)[Math.floor(delays.length / 2)]).toBeLessThan(20);
  });
});

describe('the h2c session to a replica', () => {
  it('is one per replica, reused by every call, concurrent ones included', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => h2(`/function/h2-h2c/reuse-${i}`, { method: 'POST', body: 'x' })));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => 200));
    expect((await h2('/function/h2-h2c/h2-sessions')).body.toString()).toBe('1');
  });
});

describe('errors the gateway makes over HTTP/2', () => {
  it('the request timeout answers 504 REQUEST_TIMEOUT as JSON and gives the slot back', async () => {
    const a = await h2('/function/h2-slow/?delayMs=5000');
    expect(a.status).toBe(504);
    expect(JSON.parse(a.body.toString())).toMatchObject({ error: { code: 'REQUEST_TIMEOUT' } });
    expect(inFlight('h2-slow')).toBe(0);
  });

  it('a streamed answer longer than the request timeout is cut at it (RST_STREAM) after the chunks so far, and the slot is given back', async () => {
    const started = performance.now();
    const outcome = await new Promise<{ chunks: number; error: string }>((resolve) => {
      const req = session.request({ ':path': '/function/h2-slow/ticks?n=50&everyMs=100' });
      let chunks = 0;
      req.on('data', () => (chunks += 1));
      req.on('error', (err: Error) => resolve({ chunks, error: err.message }));
      req.on('end', () => resolve({ chunks, error: 'none' }));
      req.end();
    });
    expect(outcome.error).toMatch(/NGHTTP2_INTERNAL_ERROR|code 2/);
    expect(outcome.chunks).toBeGreaterThanOrEqual(1);
    expect(performance.now() - started).toBeLessThan(4000);
    await eventually(() => inFlight('h2-slow') === 0, 3000);
  });

  it('a 101 an HTTP/1.1 replica sends to a call that asked no upgrade is a 502 at once, not a call held to its timeout', async () => {
    const started = performance.now();
    const a = await h2('/function/h2-plain/switch101');
    expect(a.status).toBe(502);
    expect(JSON.parse(a.body.toString())).toMatchObject({ error: { code: 'UPSTREAM_FAILED' } });
    expect(performance.now() - started).toBeLessThan(5000);
    await eventually(() => inFlight('h2-plain') === 0, 3000);
  });

  it('an unknown function is 404 FUNCTION_UNKNOWN', async () => {
    const a = await h2('/function/no-such-function/');
    expect(a.status).toBe(404);
    expect(JSON.parse(a.body.toString())).toMatchObject({ error: { code: 'FUNCTION_UNKNOWN' } });
  });

  it('HTTP/1.1 keeps working on the same port, also while an HTTP/2 session is open', async () => {
    const [viaH2, viaH1] = await Promise.all([h2('/function/h2-plain/'), request(s.server).post('/function/h2-plain/').send('four')]);
    expect([viaH2.status, viaH1.status, viaH1.text, viaH1.headers['x-protocol']]).toEqual([200, 200, '4', '1.1']);
    expect((await request(s.server).get('/healthz')).status).toBe(200);
  });
});

describe('bad paths over HTTP/2', () => {
  const cases: Array<[string, number]> = [
    ['/function/h2-plain/../../etc/passwd', 400],
    ['/function/h2-plain/a/%2e%2e/%2e%2e/x', 400],
    ['/function/%zz/', 400],
    ['/function/', 404],
    ['/healthz', 404],
    ['/system/functions', 404],
  ];
  it.each(cases)('%s is answered %d and reaches no replica', async (path, status) => {
    const before = await hits('h2-plain');
    const a = await h2(path);
    expect(a.status).toBe(status);
    expect(JSON.parse(a.body.toString())).toHaveProperty('error.code');
    expect(await hits('h2-plain')).toBe(before + 0);
  });
});

describe('request bodies over the limit, over HTTP/2', () => {
  it('a declared content-length over the limit is 413 before any replica sees it', async () => {
    const before = await hits('h2-plain');
    const a = await h2('/function/h2-plain/', { method: 'POST', headers: { 'content-length': String(BODY_LIMIT + 1) }, body: Buffer.alloc(BODY_LIMIT + 1) });
    expect(a.status).toBe(413);
    expect(JSON.parse(a.body.toString())).toMatchObject({ error: { code: 'BODY_TOO_LARGE' } });
    expect(await hits('h2-plain')).toBe(before);
  });

  it.each(UPSTREAMS)('a streamed body over the limit is cut with 413 BODY_TOO_LARGE and the slot is given back (%s)', async (name) => {
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': `/function/${name}/` });
      let headers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on('response', (h) => (headers = h));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', () => undefined);
      req.on('close', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks), trailers: null }));
      const piece = Buffer.alloc(16 * 1024, 'b');
      // Four times the limit, unless the gateway answers first.
      let sent = 0;
      const pump = (): void => {
        while (sent < 16 && headers[':status'] === undefined && !req.closed) {
          sent += 1;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
      };
      pump();
      setTimeout(() => reject(new Error('no answer within 10 s')), 10_000).unref();
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ error: { code: 'BODY_TOO_LARGE' } });
    await eventually(() => inFlight(name) === 0, 3000);
    expect((await h2(`/function/${name}/`)).status).toBe(200);
  });
});

describe('clients that reset their stream (RST_STREAM)', () => {
  it.each(UPSTREAMS)('mid-upload: the call is no longer counted in flight, its slot is back, and the session serves the next call (%s)', async (name) => {
    const req = session.request({ ':method': 'POST', ':path': `/function/${name}/` });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(8 * 1024, 'u'));
    await eventually(() => inFlight(name) === 1, 3000);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(() => inFlight(name) === 0, 3000);
    await eventually(async () => (await metric('gateway_function_invocation_inflight', name)) === 0, 3000);
    expect(await metric('gateway_function_invocation_total', name, 499)).toBeGreaterThanOrEqual(1);
    expect((await h2(`/function/${name}/`)).status).toBe(200);
  });

  it.each(UPSTREAMS)('mid-upload with NO_ERROR (the client ends its stream early): the call to the replica is ended too, its slot is back (%s)', async (name) => {
    // The replica answers 5 s after the body's end: Node's http2 may report the client's early end as the end of
    // the body before it reports the reset, and the replica must still be at work when the reset comes.
    const path = `/?rst=${Date.now()}&delayMs=5000`;
    const aborted = async (): Promise<string> => (await h2(`/function/${name}/aborted?url=${encodeURIComponent(path)}`)).body.toString();
    const seen = await hits(name);
    const req = session.request({ ':method': 'POST', ':path': `/function/${name}${path}` });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(8 * 1024, 'u'));
    await eventually(() => inFlight(name) === 1, 3000);
    // The replica has the request (a call ended before it got there has nothing to abort).
    await eventually(async () => (await hits(name)) > seen, 3000);
    req.close(http2.constants.NGHTTP2_NO_ERROR);
    await eventually(async () => (await aborted()) === 'yes', 3000);
    expect(inFlight(name)).toBe(0);
    expect((await h2(`/function/${name}/`)).status).toBe(200);
  });

  it("before its function's first lookup has ended: nothing is counted in flight, no slot is held, and the next call is served", async () => {
    const req = session.request({ ':path': '/function/h2-fresh/' });
    req.on('error', () => undefined);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((r) => setTimeout(r, 300));
    expect(await metric('gateway_function_invocation_inflight', 'h2-fresh')).toBe(0);
    expect(inFlight('h2-fresh')).toBe(0);
    expect((await h2('/function/h2-fresh/')).status).toBe(200);
    expect(await metric('gateway_function_invocation_inflight', 'h2-fresh')).toBe(0);
  });

  it.each(UPSTREAMS)('mid-download: its slot is back and the next call is served (%s)', async (name) => {
    const req = session.request({ ':path': `/function/${name}/stall` });
    req.on('error', () => undefined);
    await new Promise<void>((resolve) => req.once('data', () => resolve()));
    expect(inFlight(name)).toBe(1);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(() => inFlight(name) === 0, 3000);
    expect((await h2(`/function/${name}/`)).status).toBe(200);
  });
});

describe('a 50 MB answer over HTTP/2', () => {
  /** Downloads `path` over h2c in a child process (so only the gateway's memory is in this one); resolves with the byte count. */
  function download(path: string): Promise<number> {
    const script = `const c=require('http2').connect('http://127.0.0.1:${s.port}');const r=c.request({':path':${JSON.stringify(path)}});let n=0;r.on('data',b=>n+=b.length);r.on('end',()=>{console.log(n);c.close()});r.on('error',e=>{console.error(e.message);process.exit(1)});r.end()`;
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

  it.each(UPSTREAMS)("streams through with the gateway's memory flat (%s)", async (name) => {
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
      received = await download(`/function/${name}/big?bytes=${bytes}`);
    } finally {
      clearInterval(sampler);
    }
    const mb = (n: number) => Math.round(n / 1e5) / 10;
    process.stdout.write(`50 MB answer over h2c (${name}): peak heap+buffers +${mb(peak.heap)} MB, peak RSS +${mb(peak.rss)} MB\n`);
    expect(received).toBe(bytes);
    // The same bounds as the HTTP/1.1 test: room for the collector, not for the answer.
    expect(peak.heap).toBeLessThan(45 * 1024 * 1024);
    expect(peak.rss).toBeLessThan(40 * 1024 * 1024);
  });
});

describe('a replica killed mid-answer, over HTTP/2', () => {
  it.each(UPSTREAMS)('the client sees the answer cut (RST_STREAM), never a hang, and once the replica is back the next call is served (%s)', async (name) => {
    const ref = { name, namespace: NS };
    const provider = s.provider as LocalProvider;
    const outcome = await new Promise<string>((resolve) => {
      const req = session.request({ ':path': `/function/${name}/stall` });
      const timer = setTimeout(() => resolve('hang'), 8000);
      req.once('data', () => {
        const victim = provider.replicasOf(ref).find((r) => r.phase === 'ready');
        victim?.kill('SIGKILL');
      });
      req.on('error', (err: Error) => {
        clearTimeout(timer);
        resolve(`error ${err.message}`);
      });
      req.on('end', () => {
        clearTimeout(timer);
        resolve('end');
      });
      req.end();
    });
    expect(outcome).toMatch(/^error /);
    await eventually(() => inFlight(name) === 0, 3000);
    await eventually(async () => (await s.provider.getReplicas(ref)).ready === 1, 20_000);
    await eventually(async () => (await h2(`/function/${name}/`)).status === 200, 10_000);
  });
});

describe('a client that breaks the HTTP/2 protocol', () => {
  it('garbage after the preface, and a connection cut mid-frame, close that connection only: the gateway serves on', async () => {
    for (const tail of [Buffer.alloc(64, 0xff), Buffer.from([0, 0, 40, 1, 4, 0, 0, 0, 1, 0x82])]) {
      const socket = net.connect(s.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), tail]));
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
    }
    expect((await h2('/function/h2-plain/')).status).toBe(200);
    expect((await request(s.server).post('/function/h2-plain/').send('ok')).text).toBe('2');
  });
});

// Last: it stops the gateway.
describe('graceful shutdown with HTTP/2 calls in flight', () => {
  it('a call that ends within the shutdown timeout is answered, one that does not gets 503 SHUTTING_DOWN, and the session is told GOAWAY', async () => {
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    const quick = h2('/function/h2-plain/?delayMs=300');
    const slow = h2('/function/h2-h2c/?delayMs=8000');
    await eventually(() => inFlight('h2-plain') === 1 && inFlight('h2-h2c') === 1, 3000);
    const closing = s.close();
    const [a, b] = await Promise.all([quick, slow]);
    expect([a.status, a.body.toString()]).toEqual([200, '0']);
    expect(b.status).toBe(503);
    expect(JSON.parse(b.body.toString())).toMatchObject({ error: { code: 'SHUTTING_DOWN' } });
    await goaway;
    await closing;
  });
});
