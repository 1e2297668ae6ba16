import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startScaler, type RunningScaler } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log/logger.js';
import type { LocalProvider } from '../src/providers/local/index.js';
import { freePort } from '../src/providers/local/replica.js';

/*
 * Cold-start overhead: what the gateway adds on top of the time the function itself needs
 * to start.
 *
 * Each wake: scale the function to 0 (POST /system/scale-function), wait until it reports no
 * replicas and the old process has exited, then send one request over a fresh connection.
 * `total` is the client's time from sending that request to the end of its answer.
 *
 * The replica's own start-to-ready time is measured by the replica itself, on its own clock:
 * it answers with `x-process-start-ms` (performance.timeOrigin, the moment Node began
 * starting this process) and `x-ready-ms`: the moment it finished its first health answer.
 * Right after listening it probes itself, so `x-ready-ms` is when a perfect prober (zero
 * interval, zero distance) would have seen 200, whoever asked first. Both times come from
 * the same process, so no clock is compared across processes.
 *   overhead = total − (ready − processStart)
 * Overhead therefore holds everything that is not the function's own start: the waker
 * holding the request, the scale call, port allocation, fork/exec up to Node's time origin,
 * the gap between readiness and the gateway's first passing health probe (probe interval),
 * dispatch and the proxied round trip.
 *
 * As an independent cross-check, the same script is also spawned directly (no gateway),
 * once before each wake while the function is at zero: spawn → the `listening` line it
 * prints on stdout from its listen callback is `directSpawnToReadyMs` (no probe loop, so no
 * probe load and no probe-interval rounding). `p50(total) − p50(directSpawnToReady)` is then
 * the gateway's cost over a bare spawn, exec and Node start-up included.
 */

const FUNCTION_SOURCE = `
import http from 'node:http';
const processStartMs = performance.timeOrigin;
const nowMs = () => performance.timeOrigin + performance.now();
let listeningMs = 0;
let readyMs = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/_/health') {
    res.once('finish', () => { if (readyMs === 0) readyMs = nowMs(); });
    res.writeHead(200); res.end('OK'); return;
  }
  const arrivedMs = nowMs();
  req.resume();
  req.on('end', () => {
    res.writeHead(200, {
      'x-arrived-ms': String(arrivedMs),
      'x-process-start-ms': String(processStartMs),
      'x-listening-ms': String(listeningMs),
      'x-ready-ms': String(readyMs),
      'x-echo-pid': String(process.pid),
    });
    res.end('ok');
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  listeningMs = nowMs();
  process.stdout.write('listening\\n');
  // Probe itself at once, as a perfect prober would: the first answer of a fresh Node server
  // costs a few ms of lazy start-up that belongs to the replica, not to the gateway.
  http.get({ host: '127.0.0.1', port: Number(process.env.PORT), path: '/_/health', agent: false }, (r) => r.resume());
});
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); });
`;

export interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
}

export interface ColdStartResult {
  readonly name: 'cold-start';
  readonly wakes: number;
  readonly totalMs: Percentiles;
  readonly replicaStartToReadyMs: Percentiles;
  readonly overheadMs: Percentiles;
  /** fork/exec: the gateway's spawn call to the replica's Node time origin. */
  readonly spawnToProcessStartMs: Percentiles;
  /** overhead − spawnToProcessStart: what the gateway itself adds (hold, scale, probe, proxy). */
  readonly overheadWithoutExecMs: Percentiles;
  /** The call sent → the gateway's spawn call (the hold, the scale, the port). */
  readonly sendToSpawnMs: Percentiles;
  /** The replica ready (its own clock) → the held call arriving at it (the probe's lag, the dispatch, the connection). */
  readonly readyToArrivalMs: Percentiles;
  readonly directSpawnToReadyMs: Percentiles;
  /** p50(total) − p50(directSpawnToReady). */
  readonly overheadOverDirectSpawnP50Ms: number;
  /** A request to the already-running replica, right after each wake. */
  readonly warmMs: Percentiles;
  /** `heldCalls` calls sent at once to the function at zero: all held by the waker, then answered. */
  readonly held: HeldResult;
  readonly durationMs: number;
}

/** The held-calls run: every call sent at once while the function is at zero. */
export interface HeldResult {
  readonly calls: number;
  /** Answered 200. */
  readonly ok: number;
  /** Other statuses and socket errors, by status (`0` = no answer). */
  readonly failed: Record<string, number>;
  /** First send to the last answer. */
  readonly totalMs: number;
  /** The replica ready (its own clock, x-ready-ms) to the last answer: the queue drained. */
  readonly drainMs: number;
  readonly latencyMs: Percentiles;
}

export interface ColdStartOptions {
  /** Measured wakes (two more run first as warm-up). */
  readonly wakes?: number;
  /** Extra gateway environment, e.g. ALERT_SCALER_HEALTH_INTERVAL_MS to compare probe intervals. */
  readonly env?: Record<string, string>;
  /** Calls held at zero at once (default 1,000, the default ALERT_SCALER_MAX_QUEUED); 0 skips. */
  readonly heldCalls?: number;
}

/** Nearest-rank percentiles, rounded to 0.01 ms. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
  const round = (v: number) => Math.round(v * 100) / 100;
  return { p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), min: round(sorted[0] ?? Number.NaN), max: round(sorted[sorted.length - 1] ?? Number.NaN) };
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly ms: number;
  /** Wall clock (high resolution) when the request was sent. */
  readonly sentAt: number;
}

function request(url: string, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const sentAt = performance.timeOrigin + started;
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, ms: performance.now() - started, sentAt }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.once('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`cold-start bench: ${what} not reached within ${timeoutMs} ms`);
    await sleep(2);
  }
}

async function scaleToZero(running: RunningScaler, lastPid: number | undefined): Promise<void> {
  const scaled = await request(`${running.adminUrl}/system/scale-function/bench`, 'POST', JSON.stringify({ replicas: 0 }));
  if (scaled.status !== 202) throw new Error(`cold-start bench: scale to 0 answered ${scaled.status}: ${scaled.body}`);
  await until(async () => {
    const info = JSON.parse((await request(`${running.adminUrl}/system/function/bench`)).body) as { replicas: number; availableReplicas: number };
    return info.replicas === 0 && info.availableReplicas === 0;
  }, 'zero replicas');
  if (lastPid !== undefined) await until(() => !alive(lastPid), `exit of pid ${lastPid}`);
}

/** One wake through the gateway: the first answer's time and the replica's own start-to-ready. */
async function wakeOnce(running: RunningScaler): Promise<{ total: number; replica: number; exec: number; toSpawn: number; readyToArrival: number; warm: number; pid: number }> {
  const first = await request(`${running.url}/function/bench`, 'POST', '{}');
  if (first.status !== 200 || first.headers['x-scale-from-zero'] === undefined) {
    throw new Error(`cold-start bench: first request answered ${first.status} (from zero: ${String(first.headers['x-scale-from-zero'])})`);
  }
  const replica = Number(first.headers['x-ready-ms']) - Number(first.headers['x-process-start-ms']);
  // Spawn call (gateway clock) → Node's time origin (replica clock): both are this machine's
  // wall clock in high resolution; this is fork/exec and Node's own loading.
  const spawned = (running.provider as LocalProvider).replicasOf({ name: 'bench', namespace: 'openfaas-fn' })[0]?.startedAt ?? Number.NaN;
  const exec = Number(first.headers['x-process-start-ms']) - spawned;
  // The gateway's own parts, each on one clock or on this machine's shared wall clock.
  const toSpawn = spawned - first.sentAt;
  const readyToArrival = Number(first.headers['x-arrived-ms']) - Number(first.headers['x-ready-ms']);
  const warm = await request(`${running.url}/function/bench`, 'POST', '{}');
  if (warm.status !== 200) throw new Error(`cold-start bench: warm request answered ${warm.status}`);
  return { total: first.ms, replica, exec, toSpawn, readyToArrival, warm: warm.ms, pid: Number(first.headers['x-echo-pid']) };
}

/** Sends `calls` requests at once to the function at zero (one connection each) and waits for every answer. */
async function heldCalls(running: RunningScaler, calls: number): Promise<HeldResult> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const failed: Record<string, number> = {};
  const latencies: number[] = [];
  let readyAt = Number.NaN;
  const began = performance.now();
  const one = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const req = http.request(`${running.url}/function/bench`, { method: 'POST', agent, headers: { 'content-length': '2' } }, (res) => {
        res.resume();
        res.once('end', () => {
          if (res.statusCode === 200) {
            latencies.push(performance.now() - started);
            if (Number.isNaN(readyAt)) readyAt = Number(res.headers['x-ready-ms']) - performance.timeOrigin;
          } else failed[String(res.statusCode)] = (failed[String(res.statusCode)] ?? 0) + 1;
          resolve();
        });
      });
      req.setTimeout(60_000, () => req.destroy(new Error('deadline')));
      req.once('error', () => {
        failed['0'] = (failed['0'] ?? 0) + 1;
        resolve();
      });
      req.end('{}');
    });
  await Promise.all(Array.from({ length: calls }, one));
  const last = performance.now();
  agent.destroy();
  return { calls, ok: latencies.length, failed, totalMs: Math.round(last - began), drainMs: Math.round(last - readyAt), latencyMs: percentiles(latencies) };
}

/** Spawns the function directly: spawn → the `listening` line on its stdout. */
async function directSpawn(script: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [script], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PORT: String(port) }, stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    return await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('listening')) resolve(performance.now() - started);
      });
      child.once('exit', () => reject(new Error('cold-start bench: direct spawn exited before listening')));
      setTimeout(() => reject(new Error('cold-start bench: direct spawn not listening within 10 s')), 10_000).unref();
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** Runs the cold-start benchmark against a real gateway on 127.0.0.1 with the local provider. */
export async function coldStartBenchmark(options: ColdStartOptions = {}): Promise<ColdStartResult> {
  const wakes = options.wakes ?? 100;
  const began = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-bench-'));
  const script = join(dir, 'bench-function.mjs');
  const stack = join(dir, 'stack.yml');
  writeFileSync(script, FUNCTION_SOURCE);
  writeFileSync(stack, `functions:\n  bench:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}]\n    labels:\n      com.openfaas.scale.min: "0"\n`);
  const env = { PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_STACK: stack, ALERT_SCALER_LOG_LEVEL: 'silent', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600', ...options.env };
  const readFile = (p: string) => readFileSync(p, 'utf8');
  const config = loadConfig(env, readFile);
  const running = await startScaler(config, { logger: silentLogger(), registry: new Registry(), readFile });

  const totals: number[] = [];
  const replicas: number[] = [];
  const overheads: number[] = [];
  const execs: number[] = [];
  const toSpawns: number[] = [];
  const readyToArrivals: number[] = [];
  const withoutExec: number[] = [];
  const warms: number[] = [];
  const direct: number[] = [];
  let held: HeldResult = { calls: 0, ok: 0, failed: {}, totalMs: Number.NaN, drainMs: Number.NaN, latencyMs: percentiles([]) };
  try {
    let lastPid: number | undefined;
    for (let i = -2; i < wakes; i++) {
      if (i > -2) await scaleToZero(running, lastPid);
      if (i >= 0) direct.push(await directSpawn(script));
      const wake = await wakeOnce(running);
      lastPid = wake.pid;
      if (i < 0) continue;
      totals.push(wake.total);
      replicas.push(wake.replica);
      overheads.push(wake.total - wake.replica);
      execs.push(wake.exec);
      toSpawns.push(wake.toSpawn);
      readyToArrivals.push(wake.readyToArrival);
      withoutExec.push(wake.total - wake.replica - wake.exec);
      warms.push(wake.warm);
    }
    const calls = options.heldCalls ?? 1000;
    if (calls > 0) {
      await scaleToZero(running, lastPid);
      held = await heldCalls(running, calls);
    }
  } finally {
    await running.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const totalMs = percentiles(totals);
  const directSpawnToReadyMs = percentiles(direct);
  return {
    name: 'cold-start',
    wakes,
    totalMs,
    replicaStartToReadyMs: percentiles(replicas),
    overheadMs: percentiles(overheads),
    spawnToProcessStartMs: percentiles(execs),
    overheadWithoutExecMs: percentiles(withoutExec),
    sendToSpawnMs: percentiles(toSpawns),
    readyToArrivalMs: percentiles(readyToArrivals),
    directSpawnToReadyMs,
    overheadOverDirectSpawnP50Ms: Math.round((totalMs.p50 - directSpawnToReadyMs.p50) * 100) / 100,
    warmMs: percentiles(warms),
    held,
    durationMs: Math.round(performance.now() - began),
  };
}
