import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { packageRoot } from '../src/bootstrap.js';
import { freePort } from '../src/providers/local/replica.js';
import { clockTicks, cpuSeconds } from './proxy-tools.js';
import { percentile, startGatewayProcess, until, type GatewayProcess } from './support.js';

/*
 * HTTP/2 and gRPC through the gateway (issue 19 item 3), on 127.0.0.1. One gateway process
 * (dist/) on the local provider with three functions: `h1` and `h2c` on the HTTP/2 test replica
 * (test/gateway/fixtures/h2-replica.mjs, HTTP/1.1 and h2c on one port; `h2c` has the label
 * com.openfaas.protocol=h2c) and `grpc` on the gRPC test replica (grpc-replica.mjs, grpc-js).
 *   - h2c closed loop from this process (one session, `streams` streams in flight, 64 B POST):
 *     direct to the replica, gateway → replica over HTTP/1.1, gateway → replica over h2c;
 *     calls/s, p50/p99, the gateway's CPU µs per call (/proc); and HTTP/1.1 through the gateway
 *     from the same client side (a keep-alive agent, `streams` connections) for comparison;
 *   - gRPC unary, a grpc-js client with `streams` calls in flight, direct and through the gateway;
 *   - a streamed answer (20 calls, a chunk every 100 ms, 5 each): the delay from the replica
 *     writing a chunk to the client reading it, on timestamps the replica puts in the chunks.
 * The load client shares the machine's cores with the gateway and the replicas: the figures
 * compare targets within one run, they are not the gateway's ceiling.
 */

export interface H2LoadRow {
  readonly target: 'gateway HTTP/1.1 → HTTP/1.1' | 'direct h2c' | 'gateway h2c → HTTP/1.1' | 'gateway h2c → h2c' | 'direct gRPC' | 'gateway gRPC';
  readonly calls: number;
  readonly errors: number;
  readonly callsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Gateway targets: its CPU time per call (µs). */
  readonly cpuUsPerCall?: number;
}

export interface H2Result {
  readonly name: 'h2';
  readonly seconds: number;
  readonly streams: number;
  readonly rows: H2LoadRow[];
  /** Replica write → client read of each chunk of a streamed answer through the gateway (ms), over `chunks` chunks. */
  readonly chunkDelayMs: { readonly chunks: number; readonly p50: number; readonly p99: number; readonly max: number };
}

export interface H2BenchOptions {
  /** Seconds of each closed-loop run (default 5). */
  readonly seconds?: number;
  /** Calls in flight at once (default 64). */
  readonly streams?: number;
}

const fixture = (name: string): string => join(packageRoot(), 'test', 'gateway', 'fixtures', name);

/** The port the local provider gave the replica of `fn`, read from the gateway's log. */
function replicaPort(gateway: GatewayProcess, fn: string): number {
  for (const line of gateway.logs().split('\n')) {
    if (line.includes('"replica starting"') && line.includes(`"function":"${fn}"`)) return Number(/"port":(\d+)/.exec(line)?.[1] ?? Number.NaN);
  }
  return Number.NaN;
}

/** Closed loop for `seconds`: `streams` calls in flight, each started as the one before it ends. */
async function closedLoop(seconds: number, streams: number, one: () => Promise<boolean>): Promise<{ calls: number; errors: number; latencies: number[]; ms: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t = performance.now();
      const ok = await one().catch(() => false);
      if (ok) latencies.push(performance.now() - t);
      else {
        errors += 1;
        // A failing target fails at once: give the loop a turn, and give up on it past 1,000.
        await new Promise((r) => setImmediate(r));
        if (errors > 1000) return;
      }
    }
  };
  await Promise.all(Array.from({ length: streams }, worker));
  return { calls: latencies.length, errors, latencies, ms: performance.now() - started };
}

/** One h2c POST of `body` on `session`; true on a 200 answer. */
function h2Post(session: http2.ClientHttp2Session, path: string, body: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/octet-stream' });
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('error', () => resolve(false));
    req.on('end', () => resolve(status === 200));
    req.resume();
    req.end(body);
  });
}

/** One HTTP/1.1 POST of `body` on a keep-alive `agent`; true on a 200 answer (the same client side as h2Post, for comparison). */
function h1Post(agent: http.Agent, port: number, path: string, body: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

type Echo = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function grpcClient(address: string, prefix: string): Echo {
  const id = (b: Buffer): Buffer => b;
  const Ctor = grpc.makeGenericClientConstructor(
    { Unary: { path: `${prefix}/test.Echo/Unary`, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
    'Echo',
  );
  return new Ctor(address, grpc.credentials.createInsecure()) as Echo;
}

function grpcUnary(client: Echo, body: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    client['Unary']?.(body, (err: Error | null) => resolve(err === null));
  });
}

/** Reads `/ticks` through the gateway `calls` times; each chunk's replica-write → client-read delay. */
async function chunkDelays(session: http2.ClientHttp2Session, calls: number): Promise<number[]> {
  const delays: number[] = [];
  for (let i = 0; i < calls; i++) {
    await new Promise<void>((resolve) => {
      const req = session.request({ ':path': '/function/h1/ticks?n=5&everyMs=100' });
      let pending = '';
      req.setEncoding('utf8');
      req.on('data', (text: string) => {
        const now = Date.now();
        pending += text;
        let nl: number;
        while ((nl = pending.indexOf('\n')) !== -1) {
          delays.push(now - Number(pending.slice(0, nl).split(' ')[1]));
          pending = pending.slice(nl + 1);
        }
      });
      req.on('end', () => resolve());
      req.on('error', () => resolve());
      req.end();
    });
  }
  return delays;
}

/** Runs the HTTP/2 benchmark; every process it starts is stopped before it returns. */
export async function h2Benchmark(options: H2BenchOptions = {}): Promise<H2Result> {
  const seconds = options.seconds ?? 5;
  const streams = options.streams ?? 64;
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-h2-bench-'));
  const stack = join(dir, 'stack.yml');
  const node = JSON.stringify(process.execPath);
  const h2Replica = JSON.stringify(fixture('h2-replica.mjs'));
  writeFileSync(
    stack,
    `functions:\n  h1:\n    command: [${node}, ${h2Replica}]\n  h2c:\n    command: [${node}, ${h2Replica}]\n    labels:\n      com.openfaas.protocol: h2c\n  grpc:\n    command: [${node}, ${JSON.stringify(fixture('grpc-replica.mjs'))}]\n    labels:\n      com.openfaas.protocol: h2c\n`,
  );
  const gateway = await startGatewayProcess({ ALERT_SCALER_STACK: stack, ALERT_SCALER_LOG_LEVEL: 'info', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' }, await freePort());
  const sessions: http2.ClientHttp2Session[] = [];
  const clients: Echo[] = [];
  try {
    await until(() => ['h1', 'h2c', 'grpc'].every((fn) => Number.isFinite(replicaPort(gateway, fn))), 'replicas started', 20_000);
    const connect = (port: number): http2.ClientHttp2Session => {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on('error', () => undefined);
      sessions.push(s);
      return s;
    };
    const viaGateway = connect(gateway.port);
    await until(async () => (await h2Post(viaGateway, '/function/h1/', Buffer.from('x'))) && (await h2Post(viaGateway, '/function/h2c/', Buffer.from('x'))), 'h2 functions answering', 20_000);
    // Connected once the replica answers through the gateway (it listens by then).
    const direct = connect(replicaPort(gateway, 'h2c'));
    const grpcDirect = grpcClient(`127.0.0.1:${replicaPort(gateway, 'grpc')}`, '');
    const grpcGateway = grpcClient(`127.0.0.1:${gateway.port}`, '/function/grpc');
    clients.push(grpcDirect, grpcGateway);
    await until(() => grpcUnary(grpcGateway, Buffer.from('x')), 'gRPC function answering', 20_000);
    const body = Buffer.alloc(64, 97);
    const ticks = clockTicks();
    const agent = new http.Agent({ keepAlive: true, maxSockets: streams });
    const targets: Array<{ target: H2LoadRow['target']; gateway: boolean; one: () => Promise<boolean> }> = [
      { target: 'gateway HTTP/1.1 → HTTP/1.1', gateway: true, one: () => h1Post(agent, gateway.port, '/function/h1/', body) },
      { target: 'direct h2c', gateway: false, one: () => h2Post(direct, '/', body) },
      { target: 'gateway h2c → HTTP/1.1', gateway: true, one: () => h2Post(viaGateway, '/function/h1/', body) },
      { target: 'gateway h2c → h2c', gateway: true, one: () => h2Post(viaGateway, '/function/h2c/', body) },
      { target: 'direct gRPC', gateway: false, one: () => grpcUnary(grpcDirect, body) },
      { target: 'gateway gRPC', gateway: true, one: () => grpcUnary(grpcGateway, body) },
    ];
    const rows: H2LoadRow[] = [];
    for (const t of targets) {
      await closedLoop(1, streams, t.one); // warm-up (JIT, sessions)
      const cpuBefore = cpuSeconds(gateway.pid, ticks);
      const run = await closedLoop(seconds, streams, t.one);
      const cpu = cpuSeconds(gateway.pid, ticks) - cpuBefore;
      rows.push({
        target: t.target,
        calls: run.calls,
        errors: run.errors,
        callsPerSec: Math.round((run.calls / run.ms) * 1000),
        p50Ms: percentile(run.latencies, 50),
        p99Ms: percentile(run.latencies, 99),
        ...(t.gateway ? { cpuUsPerCall: Math.round((cpu / Math.max(1, run.calls)) * 1e7) / 10 } : {}),
      });
    }
    agent.destroy();
    const delays = await chunkDelays(viaGateway, 20);
    return { name: 'h2', seconds, streams, rows, chunkDelayMs: { chunks: delays.length, p50: percentile(delays, 50), p99: percentile(delays, 99), max: Math.max(...delays) } };
  } finally {
    for (const c of clients) c.close();
    for (const s of sessions) s.destroy();
    await gateway.stop();
  }
}

/** The result for humans. */
export function h2Summary(r: H2Result): string {
  const lines = r.rows.map((row) => `  ${row.target.padEnd(24)} ${String(row.callsPerSec).padStart(6)} calls/s  p50 ${row.p50Ms.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms  errors ${row.errors}${row.cpuUsPerCall === undefined ? '' : `  gateway ${row.cpuUsPerCall} µs CPU/call`}`);
  const c = r.chunkDelayMs;
  return [
    `HTTP/2 and gRPC, ${r.streams} calls in flight, ${r.seconds} s each, 64 B bodies (the load client shares the cores):`,
    ...lines,
    `  streamed answer through the gateway: replica write → client read p50 ${c.p50} ms, p99 ${c.p99} ms, max ${c.max} ms over ${c.chunks} chunks`,
  ].join('\n');
}
