import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Registry } from 'prom-client';
import { startScaler, type RunningScaler } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log/logger.js';
import type { LocalProvider } from '../src/providers/local/index.js';
import { replicaCommand } from '../src/providers/local/process.js';
import { READY_FD_ENV } from '../src/providers/local/ready-pipe.js';
import { freePort } from '../src/providers/local/replica.js';
import type { StackFunction } from '../src/providers/local/stack.js';

/*
 * Cold-start overhead: what a wake through the gateway costs beyond starting the same
 * replica directly, like for like.
 *
 * Each wake: scale the function to 0 (POST /system/scale-function), wait until it reports no
 * replicas and the old process has exited; then
 * - direct: spawn the same replica command (the provider's own, setpriv included, same
 *   environment) on a port chosen beforehand, wait for the `listening` line it prints on
 *   stdout from its listen callback (a perfect readiness signal: no probe, no interval), send
 *   it the same call over a fresh connection; `directMs` = spawn → its answer.
 * - gateway: send the call to the function at zero over a fresh connection; `totalMs` = call
 *   sent → its answer.
 * Both runs fork from this process (the gateway runs in it), so fork/exec costs the same.
 *
 * Fork/exec and Node's start vary a lot on a shared VM (tens of ms between two spawns in a
 * row), far more than the gateway's part, so the overhead subtracts, per wake and on each
 * side, the replica's own start: spawn call → the replica's listen callback (spawn on this
 * process's clock, listening on the replica's; both are this machine's wall clock in high
 * resolution). What remains on each side is the part the two starts do not share:
 *   overhead = (total − gwSpawnToListening) − (direct − directSpawnToListening)
 *            = (call sent → spawn) + (listening → answer via the gateway) − (listening → answer, direct)
 * `rawOverheadP50Ms` = p50(total) − p50(direct) is the same comparison without the
 * subtraction (noisier); a gateway that slowed the replica's own start (probe load on the
 * cores) shows there and in the two spawn → listening rows.
 *
 * The replica no longer probes itself after listening (the previous definition of "ready"):
 * that request competed with the gateway's call for the fresh process's loop (it took the
 * replica ~5 ms to get to the call; see BENCHMARKS.md).
 */

const FUNCTION_SOURCE = `
import http from 'node:http';
import { closeSync, writeSync } from 'node:fs';
const processStartMs = performance.timeOrigin;
const nowMs = () => performance.timeOrigin + performance.now();
let listeningMs = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/_/health') { res.writeHead(200); res.end('OK'); return; }
  const arrivedMs = nowMs();
  req.resume();
  req.on('end', () => {
    res.writeHead(200, {
      'x-arrived-ms': String(arrivedMs),
      'x-process-start-ms': String(processStartMs),
      'x-listening-ms': String(listeningMs),
      'x-echo-pid': String(process.pid),
    });
    res.end('ok');
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  listeningMs = nowMs();
  process.stdout.write('listening\\n');
  // The gateway's readiness pipe, when it gives one (unless BENCH_READY_FD=0: the probes alone).
  const fd = Number(process.env.${READY_FD_ENV});
  if (process.env.BENCH_READY_FD !== '0' && Number.isInteger(fd) && fd > 2) {
    try { writeSync(fd, 'ready\\n'); closeSync(fd); } catch { /* no pipe: the probes find it */ }
  }
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
  /** The function wrote `ready` on the gateway's readiness pipe (false: found by the health probes alone). */
  readonly readyPipe: boolean;
  /** Gateway: the call sent to the function at zero → its answer. */
  readonly totalMs: Percentiles;
  /** Direct: spawn of the same command → `listening` on its stdout → the same call → its answer. */
  readonly directMs: Percentiles;
  /** Per wake, each side without the replica's own start (spawn → listening): see the file's comment. */
  readonly overheadMs: Percentiles;
  /** p50(total) − p50(direct), nothing subtracted. */
  readonly rawOverheadP50Ms: number;
  /** The call sent → the gateway's spawn call (the hold, the scale, the port). */
  readonly sendToSpawnMs: Percentiles;
  /** Spawn call → the replica's listen callback, started by the gateway (fork/exec, Node's start, the function's own). */
  readonly spawnToListeningMs: Percentiles;
  /** The same, started directly. */
  readonly directSpawnToListeningMs: Percentiles;
  /** Of which spawn call → Node's time origin (fork/exec), by the gateway. */
  readonly spawnToProcessStartMs: Percentiles;
  /** The replica listening → the gateway's call at it (readiness signal or probe, dispatch, connect). */
  readonly listeningToArrivalMs: Percentiles;
  /** The replica listening → the direct call at it (stdout line, connect). */
  readonly directListeningToArrivalMs: Percentiles;
  /** A request to the already-running replica through the gateway, right after each wake. */
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
  /** The replica listening (its own clock, x-listening-ms) to the last answer: the queue drained. */
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
  /** The function signals readiness on the gateway's pipe (default true); false: the health probes alone. */
  readonly readyPipe?: boolean;
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
  /** Wall clock (high resolution) when the answer ended. */
  readonly endAt: number;
}

const wallNow = () => performance.timeOrigin + performance.now();

function request(url: string, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const sentAt = performance.timeOrigin + started;
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.once('end', () => {
        const ended = performance.now();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, ms: ended - started, sentAt, endAt: performance.timeOrigin + ended });
      });
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

/** One start, gateway or direct: its total and its parts, each on one clock or on this machine's shared wall clock. */
interface Start {
  readonly total: number;
  /** Spawn call → listen callback. */
  readonly toListening: number;
  /** Spawn call → Node's time origin. */
  readonly exec: number;
  /** Listen callback → the call at the replica. */
  readonly listeningToArrival: number;
  /** The call sent → spawn call (gateway only; 0 direct). */
  readonly toSpawn: number;
  readonly pid: number;
}

function startOf(answer: Answer, spawnedAt: number, total: number): Start {
  const header = (name: string) => Number(answer.headers[name]);
  return {
    total,
    toListening: header('x-listening-ms') - spawnedAt,
    exec: header('x-process-start-ms') - spawnedAt,
    listeningToArrival: header('x-arrived-ms') - header('x-listening-ms'),
    toSpawn: Math.max(0, spawnedAt - answer.sentAt),
    pid: header('x-echo-pid'),
  };
}

/** One wake through the gateway, then one warm call. */
async function wakeOnce(running: RunningScaler): Promise<{ start: Start; warm: number }> {
  const first = await request(`${running.url}/function/bench`, 'POST', '{}');
  if (first.status !== 200 || first.headers['x-scale-from-zero'] === undefined) {
    throw new Error(`cold-start bench: first request answered ${first.status} (from zero: ${String(first.headers['x-scale-from-zero'])})`);
  }
  // Replica.startedAt is taken right before its spawn call, as `spawnedAt` in directStart.
  const spawned = (running.provider as LocalProvider).replicasOf({ name: 'bench', namespace: 'openfaas-fn' })[0]?.startedAt ?? Number.NaN;
  const warm = await request(`${running.url}/function/bench`, 'POST', '{}');
  if (warm.status !== 200) throw new Error(`cold-start bench: warm request answered ${warm.status}`);
  return { start: startOf(first, spawned, first.ms), warm: warm.ms };
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
            if (Number.isNaN(readyAt)) readyAt = Number(res.headers['x-listening-ms']) - performance.timeOrigin;
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

/** Spawns the function directly as the provider would (same command, setpriv included): spawn → `listening` → one call → its answer. */
async function directStart(script: string): Promise<Start> {
  const port = await freePort();
  const cwd = dirname(script);
  const fn: StackFunction = { name: 'bench', namespace: 'openfaas-fn', argv: [process.execPath, script], cwd, labels: {}, annotations: {}, environment: {} };
  const { file, args } = replicaCommand(fn, silentLogger());
  const spawnedAt = wallNow();
  const child = spawn(file, args, { cwd, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', PORT: String(port) }, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('listening')) resolve();
      });
      child.once('exit', () => reject(new Error('cold-start bench: direct start exited before listening')));
      setTimeout(() => reject(new Error('cold-start bench: direct start not listening within 10 s')), 10_000).unref();
    });
    const answer = await request(`http://127.0.0.1:${port}/`, 'POST', '{}');
    if (answer.status !== 200) throw new Error(`cold-start bench: direct call answered ${answer.status}`);
    return startOf(answer, spawnedAt, answer.endAt - spawnedAt);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** Runs the cold-start benchmark against a real gateway on 127.0.0.1 with the local provider. */
export async function coldStartBenchmark(options: ColdStartOptions = {}): Promise<ColdStartResult> {
  const wakes = options.wakes ?? 100;
  const readyPipe = options.readyPipe ?? true;
  const began = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-bench-'));
  const script = join(dir, 'bench-function.mjs');
  const stack = join(dir, 'stack.yml');
  writeFileSync(script, FUNCTION_SOURCE);
  const fnEnv = readyPipe ? '' : '    environment:\n      BENCH_READY_FD: "0"\n';
  writeFileSync(stack, `functions:\n  bench:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}]\n${fnEnv}    labels:\n      com.openfaas.scale.min: "0"\n`);
  const env = { PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_STACK: stack, ALERT_SCALER_LOG_LEVEL: 'silent', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600', ...options.env };
  const readFile = (p: string) => readFileSync(p, 'utf8');
  const config = loadConfig(env, readFile);
  const running = await startScaler(config, { logger: silentLogger(), registry: new Registry(), readFile });

  const gateway: Start[] = [];
  const direct: Start[] = [];
  const warms: number[] = [];
  let held: HeldResult = { calls: 0, ok: 0, failed: {}, totalMs: Number.NaN, drainMs: Number.NaN, latencyMs: percentiles([]) };
  try {
    let lastPid: number | undefined;
    for (let i = -2; i < wakes; i++) {
      if (i > -2) await scaleToZero(running, lastPid);
      const bare = await directStart(script);
      const wake = await wakeOnce(running);
      lastPid = wake.start.pid;
      if (i < 0) continue;
      direct.push(bare);
      gateway.push(wake.start);
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

  const of = (starts: readonly Start[], part: (s: Start) => number) => percentiles(starts.map(part));
  const totalMs = of(gateway, (s) => s.total);
  const directMs = of(direct, (s) => s.total);
  const overheads = gateway.map((g, i) => {
    const d = direct[i] as Start;
    return g.total - g.toListening - (d.total - d.toListening);
  });
  return {
    name: 'cold-start',
    wakes,
    readyPipe,
    totalMs,
    directMs,
    overheadMs: percentiles(overheads),
    rawOverheadP50Ms: Math.round((totalMs.p50 - directMs.p50) * 100) / 100,
    sendToSpawnMs: of(gateway, (s) => s.toSpawn),
    spawnToListeningMs: of(gateway, (s) => s.toListening),
    directSpawnToListeningMs: of(direct, (s) => s.toListening),
    spawnToProcessStartMs: of(gateway, (s) => s.exec),
    listeningToArrivalMs: of(gateway, (s) => s.listeningToArrival),
    directListeningToArrivalMs: of(direct, (s) => s.listeningToArrival),
    warmMs: percentiles(warms),
    held,
    durationMs: Math.round(performance.now() - began),
  };
}
