import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/bootstrap.js';
import { GATEWAY_NODE_FLAGS } from '../src/bootstrap/node-flags.js';
import { freePort } from '../src/providers/local/replica.js';
import { pacedRounds, type PacedResult } from './paced.js';
import { clockTicks, cpuSeconds, findTool, mostRequests, runClientTool, runWrk, startNginx, wrkScript, type ClientToolResult, type Nginx, type WrkResult } from './proxy-tools.js';
import { workersSection, workersTable, type WorkersSection } from './proxy-workers.js';
import { startFloorRelay } from './relay-floor.js';

/*
 * Proxy overhead: one echo replica (examples/functions/echo.mjs, started by the gateway's
 * local provider), reached three ways on 127.0.0.1: directly, through nginx (a plain reverse
 * proxy with a keep-alive upstream) and through the gateway (built dist/, its own process).
 *   - max throughput: wrk, closed loop, -c 32, 64 and 128, with 1 and with 2 wrk threads, small
 *     and 64 KiB POST bodies; the best of the three connection counts is compared. The CPU per
 *     call of the gateway process and of nginx's one worker process (master_process off: the
 *     process is the worker) from /proc/<pid>/stat over the same run;
 *   - the floor (bench/relay-floor.ts): a bare Node relay, no checks, no metrics, one write each
 *     way per call, in the same wrk runs with its CPU per call: what any Node proxy pays here;
 *   - latency at a fixed rate: an open-loop paced client (paced.ts), direct and gateway
 *     interleaved over PACED_ROUNDS rounds, each target's median round by p99 compared.
 *   - the clients others publish figures with, same three targets: `hey -n 21000 -c 3 -m POST
 *     -d TEST` (the OpenFaaS lab's command) and `ab` with the same count and concurrency;
 * BENCH_PROXY_BASELINE=<path to another build's dist/src/main.js> adds a second gateway
 * (e.g. the previous commit) to the same run, side by side.
 *   - workers (bench/proxy-workers.ts): the gateway on the Kubernetes provider with config
 *     `workers` 1, 2, ... (BENCH_PROXY_WORKERS), CPU summed over all its processes.
 * BENCH_PROXY_MAIN=0 skips everything above the workers section.
 */

/** The targets compared. */
export type Target = 'direct' | 'nginx' | 'gateway' | 'baseline' | 'floor';

export interface ThroughputRow {
  readonly target: Target;
  readonly connections: number;
  /** wrk threads (-t). */
  readonly threads: number;
  readonly bodyBytes: number;
  readonly wrk: WrkResult;
  /** Gateway and nginx targets: CPU time of that process per call (µs) and cores used. */
  readonly cpuUsPerCall?: number;
  readonly cores?: number;
}

export interface PacedRow {
  readonly target: Target;
  readonly bodyBytes: number;
  /** The round with the median p99 (the only run in results written before rounds). */
  readonly result: PacedResult;
  /** Every round, in the order run (absent in results written before rounds). */
  readonly rounds?: readonly PacedResult[];
}

/** One hey or ab run against one target. */
export interface ClientRow {
  readonly target: Target;
  readonly result: ClientToolResult;
}

export interface ProxyResult {
  readonly name: 'proxy';
  readonly seconds: number;
  readonly pacedRate: number;
  readonly throughput: ThroughputRow[];
  readonly paced: PacedRow[];
  /** hey and ab rows (empty when the tool is missing: see `skipped`). */
  readonly clients: ClientRow[];
  /**
   * Per body and wrk thread count (`t1/small`): gateway ÷ nginx of the best req/s over the
   * connection counts, and of the CPU µs per call (each at its best connection count); gateway
   * p99 − direct p99 per body at the fixed rate.
   */
  readonly summary: { readonly throughputVsNginx: Record<string, number>; readonly cpuVsNginx: Record<string, number>; readonly addedP99Ms: Record<string, number>; readonly floorCpuVsNginx?: Record<string, number> };
  readonly skipped: string[];
  /** The workers section (absent in results written before it, or when skipped). */
  readonly workers?: WorkersSection;
}

export interface ProxyBenchOptions {
  /** wrk seconds per run (default 5). */
  readonly seconds?: number;
  /** Paced client: seconds and calls per second (default 10 s at 500/s). */
  readonly pacedSeconds?: number;
  readonly pacedRate?: number;
  /** dist/src/main.js of another build, measured as `baseline`. */
  readonly baselineMain?: string;
  /** When set, the gateway runs under `node --cpu-prof` and writes its profile here. */
  readonly cpuProfDir?: string;
  /** Requests of each hey and ab run (default 21,000, as the OpenFaaS lab; 3 workers). */
  readonly clientRequests?: number;
  /** wrk thread counts, each a full set of runs (default 1 and 2). */
  readonly wrkThreads?: readonly number[];
  /** false: only the workers section (the direct/nginx/gateway comparison, hey, ab and paced runs skipped). */
  readonly main?: boolean;
  /** Workers values of the workers section (default 1 and 2); empty skips it. */
  readonly workers?: readonly number[];
}

const BODIES = [64, 64 * 1024];
const CONNECTIONS = [32, 64, 128];

interface Gateway {
  readonly port: number;
  readonly pid: number;
  readonly replicaPort: number;
  stop(): Promise<void>;
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Starts a gateway process on the local provider with one `bench` function (the echo example). */
async function startGateway(main: string, dir: string, cpuProfDir: string | undefined): Promise<Gateway> {
  const echo = join(packageRoot(), 'examples', 'functions', 'echo.mjs');
  const stack = join(dir, `stack-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(stack, `functions:\n  bench:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(echo)}]\n    labels:\n      com.openfaas.scale.min: "1"\n      com.openfaas.scale.max: "1"\n`);
  const port = await freePort();
  const flags = cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`];
  const child: ChildProcess = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, ...flags, main], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PORT: String(port), ALERT_SCALER_ADMIN_PORT: String(await freePort()), ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_STACK: stack, ALERT_SCALER_LOG_LEVEL: 'info', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let logs = '';
  child.stderr?.on('data', (c: Buffer) => (logs = (logs + c.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const replicaPort = Number(/"message":"replica starting"[^\n]*"port":(\d+)/.exec(logs)?.[1] ?? /"port":(\d+)[^\n]*"message":"replica starting"/.exec(logs)?.[1] ?? Number.NaN);
    if (Number.isFinite(replicaPort) && (await get(port, '/function/bench')) === 200) return { port, pid: child.pid ?? -1, replicaPort, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`proxy bench: gateway ${main} not serving within 20 s: ${logs}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const key = (threads: number, bodyBytes: number) => `t${threads}/${bodyBytes === 64 ? 'small' : '64KiB'}`;

/** Runs the proxy benchmark; every process it starts is stopped before it returns. */
export async function proxyBenchmark(options: ProxyBenchOptions = {}): Promise<ProxyResult> {
  const seconds = options.seconds ?? 5;
  const pacedSeconds = options.pacedSeconds ?? 10;
  const pacedRate = options.pacedRate ?? 500;
  const skipped: string[] = [];
  const wrk = findTool(['/usr/bin/wrk', '/usr/local/bin/wrk']);
  const nginxBin = findTool(['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx']);
  if (wrk === null) skipped.push('wrk not found (/usr/bin/wrk): NO THROUGHPUT RUNS');
  if (nginxBin === null) skipped.push('nginx not found (/usr/sbin/nginx): NO NGINX COMPARISON');
  const hey = findTool(['/usr/bin/hey', '/usr/local/bin/hey']);
  const ab = findTool(['/usr/bin/ab', '/usr/local/bin/ab']);
  if (hey === null) skipped.push('hey not found (/usr/bin/hey, Debian package hey): NO HEY ROWS');
  if (ab === null) skipped.push('ab not found (/usr/bin/ab, Debian package apache2-utils): NO AB ROWS');
  for (const s of skipped) process.stderr.write(`proxy bench: SKIPPING: ${s}\n`);

  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-proxy-bench-'));
  const ticks = clockTicks();
  const main = join(packageRoot(), 'dist', 'src', 'main.js');
  const stops: Array<() => Promise<void>> = [];
  const throughput: ThroughputRow[] = [];
  const paced: PacedRow[] = [];
  const clients: ClientRow[] = [];
  const clientRequests = options.clientRequests ?? 21_000;
  let workers: WorkersSection | undefined;
  try {
    const workerCounts = options.workers ?? [1, 2];
    if (wrk !== null && workerCounts.length > 0) workers = await workersSection({ workers: workerCounts, wrk, nginxBin, dir, seconds, ticks, cores: availableParallelism() });
    if (options.main === false) return { name: 'proxy', seconds, pacedRate, throughput, paced, clients, summary: { throughputVsNginx: {}, cpuVsNginx: {}, addedP99Ms: {} }, skipped, ...(workers === undefined ? {} : { workers }) };
    if (options.cpuProfDir !== undefined) mkdirSync(options.cpuProfDir, { recursive: true });
    const gateway = await startGateway(main, dir, options.cpuProfDir);
    stops.push(gateway.stop);
    const baseline = options.baselineMain === undefined ? null : await startGateway(options.baselineMain, dir, undefined);
    if (baseline !== null) stops.push(baseline.stop);
    let nginx: Nginx | null = null;
    if (nginxBin !== null) {
      nginx = await startNginx(nginxBin, dir, { port: await freePort(), upstreamPort: gateway.replicaPort, lifetimeMs: 30 * 60_000 });
      stops.push(nginx.stop);
    }
    const floor = await startFloorRelay(gateway.replicaPort);
    stops.push(floor.stop);
    const targets: Array<{ target: Target; url: string; pid: number | null }> = [
      { target: 'direct', url: `http://127.0.0.1:${gateway.replicaPort}/function/bench`, pid: null },
      ...(nginx === null ? [] : [{ target: 'nginx' as const, url: `http://127.0.0.1:${nginx.port}/function/bench`, pid: nginx.pid }]),
      { target: 'gateway', url: `http://127.0.0.1:${gateway.port}/function/bench`, pid: gateway.pid },
      ...(baseline === null ? [] : [{ target: 'baseline' as const, url: `http://127.0.0.1:${baseline.port}/function/bench`, pid: baseline.pid }]),
      { target: 'floor', url: `http://127.0.0.1:${floor.port}/function/bench`, pid: floor.pid },
    ];
    // The floor is measured for throughput and CPU only: it is a yardstick, not a proxy users run.
    const proxies = targets.filter((t) => t.target !== 'floor');

    if (wrk !== null) throughput.push(...throughputRuns(wrk, dir, targets, { seconds, ticks, threads: options.wrkThreads ?? [1, 2] }));
    for (const [tool, bin] of [['hey', hey], ['ab', ab]] as const) {
      if (bin === null) continue;
      for (const t of proxies) clients.push({ target: t.target, result: runClientTool(tool, bin, t.url, { requests: clientRequests, concurrency: 3, dir, timeoutSeconds: 300 }) });
    }
    for (const bodyBytes of BODIES) paced.push(...(await pacedRounds(proxies.filter((x) => x.target !== 'nginx'), { rate: pacedRate, seconds: pacedSeconds, bodyBytes })));
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const throughputVsNginx: Record<string, number> = {};
  const cpuVsNginx: Record<string, number> = {};
  const floorCpuVsNginx: Record<string, number> = {};
  const round2 = (v: number) => Math.round(v * 100) / 100;
  for (const threads of new Set(throughput.map((r) => r.threads))) {
    for (const bodyBytes of BODIES) {
      const gateway = bestOf(throughput, 'gateway', threads, bodyBytes);
      const nginx = bestOf(throughput, 'nginx', threads, bodyBytes);
      if (gateway === undefined || nginx === undefined) continue;
      throughputVsNginx[key(threads, bodyBytes)] = round2(gateway.wrk.requestsPerSec / nginx.wrk.requestsPerSec);
      if (gateway.cpuUsPerCall !== undefined && nginx.cpuUsPerCall !== undefined) cpuVsNginx[key(threads, bodyBytes)] = round2(gateway.cpuUsPerCall / nginx.cpuUsPerCall);
      const floor = bestOf(throughput, 'floor', threads, bodyBytes);
      if (floor?.cpuUsPerCall !== undefined && nginx.cpuUsPerCall !== undefined) floorCpuVsNginx[key(threads, bodyBytes)] = round2(floor.cpuUsPerCall / nginx.cpuUsPerCall);
    }
  }
  const addedP99Ms: Record<string, number> = {};
  for (const bodyBytes of BODIES) {
    const direct = paced.find((r) => r.target === 'direct' && r.bodyBytes === bodyBytes);
    const gateway = paced.find((r) => r.target === 'gateway' && r.bodyBytes === bodyBytes);
    if (direct !== undefined && gateway !== undefined) addedP99Ms[bodyBytes === 64 ? 'small' : '64KiB'] = Math.round((gateway.result.latencyMs.p99 - direct.result.latencyMs.p99) * 100) / 100;
  }
  return { name: 'proxy', seconds, pacedRate, throughput, paced, clients, summary: { throughputVsNginx, cpuVsNginx, addedP99Ms, floorCpuVsNginx }, skipped, ...(workers === undefined ? {} : { workers }) };
}

/** The row with the most req/s of a target over the connection counts, for one thread count and body. */
export function bestOf(rows: readonly ThroughputRow[], target: Target, threads: number, bodyBytes: number): ThroughputRow | undefined {
  return mostRequests(rows, (r) => r.target === target && r.threads === threads && r.bodyBytes === bodyBytes);
}

/**
 * Every wrk run: per body, after a warm-up of each target (JIT, keep-alive pools), per thread
 * count and connection count, the targets one after the other (close in time, so a change in
 * the machine's other load touches them alike); the CPU of the target's process (gateway,
 * nginx) read around each run.
 */
function throughputRuns(wrk: string, dir: string, targets: ReadonlyArray<{ target: Target; url: string; pid: number | null }>, o: { seconds: number; ticks: number; threads: readonly number[] }): ThroughputRow[] {
  const rows: ThroughputRow[] = [];
  for (const bodyBytes of BODIES) {
    const script = wrkScript(dir, bodyBytes);
    for (const t of targets) runWrk(wrk, t.url, { connections: 64, threads: 2, seconds: 2, script });
    for (const threads of o.threads) {
      for (const connections of CONNECTIONS) {
        for (const t of targets) {
          const cpuBefore = t.pid === null ? Number.NaN : cpuSeconds(t.pid, o.ticks);
          const result = runWrk(wrk, t.url, { connections, threads, seconds: o.seconds, script });
          const cpu = t.pid === null ? Number.NaN : cpuSeconds(t.pid, o.ticks) - cpuBefore;
          const measured = Number.isFinite(cpu) ? { cpuUsPerCall: Math.round((cpu / result.requests) * 1e6 * 10) / 10, cores: Math.round((cpu / o.seconds) * 100) / 100 } : {};
          rows.push({ target: t.target, connections, threads, bodyBytes, wrk: result, ...measured });
        }
      }
    }
  }
  return rows;
}

/** The result as a table for humans. */
export function proxyTable(result: ProxyResult): string {
  const body = (b: number) => (b === 64 ? '64 B' : '64 KiB');
  const lines = [`proxy overhead (wrk ${result.seconds} s per run; paced ${result.pacedRate}/s):`, '  target    thr conns  body     req/s    p50 ms   p99 ms  errors  µs CPU/call  cores'];
  for (const r of result.throughput) {
    lines.push(
      `  ${r.target.padEnd(9)} ${String(r.threads).padStart(3)} ${String(r.connections).padStart(5)}  ${body(r.bodyBytes).padEnd(6)} ${r.wrk.requestsPerSec.toFixed(0).padStart(7)}  ${r.wrk.latencyP50Ms.toFixed(2).padStart(7)}  ${r.wrk.latencyP99Ms.toFixed(2).padStart(7)}  ${String(r.wrk.errors).padStart(6)}  ${(r.cpuUsPerCall?.toFixed(1) ?? '-').padStart(11)}  ${(r.cores?.toFixed(2) ?? '-').padStart(5)}`,
    );
  }
  lines.push(`  at ${result.pacedRate} req/s (open loop; * the median round by p99, compared):`, '  target    body   round   p50 ms   p99 ms   max ms  errors  client late max ms');
  for (const r of result.paced) {
    (r.rounds ?? [r.result]).forEach((run, i) => {
      const l = run.latencyMs;
      lines.push(`  ${r.target.padEnd(9)} ${body(r.bodyBytes).padEnd(6)} ${`${i + 1}${run === r.result ? '*' : ' '}`.padStart(5)} ${l.p50.toFixed(2).padStart(8)} ${l.p99.toFixed(2).padStart(8)} ${l.max.toFixed(2).padStart(8)}  ${String(run.errors).padStart(6)}  ${run.maxSendLateMs.toFixed(2).padStart(8)}`);
    });
  }
  if (result.clients.length > 0) lines.push('  hey / ab, 3 workers, 4-byte POST:', '  tool  target    requests    req/s    p50 ms   p99 ms  errors');
  for (const r of result.clients) {
    const c = r.result;
    lines.push(`  ${c.tool.padEnd(5)} ${r.target.padEnd(9)} ${String(c.requests).padStart(8)} ${c.requestsPerSec.toFixed(0).padStart(8)}  ${c.latencyP50Ms.toFixed(2).padStart(7)}  ${c.latencyP99Ms.toFixed(2).padStart(7)}  ${String(c.errors).padStart(6)}`);
  }
  lines.push(
    `  gateway / nginx, best req/s of -c ${CONNECTIONS.join('/')} (t<wrk threads>/<body>): ${JSON.stringify(result.summary.throughputVsNginx)}`,
    `  gateway / nginx CPU µs per call at each one's best: ${JSON.stringify(result.summary.cpuVsNginx)}`,
    `  floor (bare Node relay) / nginx CPU µs per call at each one's best: ${JSON.stringify(result.summary.floorCpuVsNginx ?? {})}`,
    `  gateway p99 − direct p99 at ${result.pacedRate}/s (ms): ${JSON.stringify(result.summary.addedP99Ms)}`,
  );
  if (result.workers !== undefined) lines.push(...workersTable(result.workers, result.seconds));
  for (const s of result.skipped) lines.push(`  SKIPPED: ${s}`);
  return lines.join('\n');
}
