import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { packageRoot } from '../src/bootstrap.js';
import { GATEWAY_NODE_FLAGS } from '../src/bootstrap/node-flags.js';
import { freePort } from '../src/providers/local/replica.js';
import { startFakeCluster } from './fake-cluster.js';
import { cpuSeconds, mostRequests, runWrkAsync, startNginx, wrkScript, type Nginx, type WrkResult } from './proxy-tools.js';

/*
 * The proxy section of config `workers` (issue 19): the gateway on the Kubernetes provider
 * against the fake API (bench/fake-cluster.ts, no added latency), one function `fn-0` whose one
 * pod address is ONE echo replica (examples/functions/echo.mjs, started here on 127.0.0.1,
 * no concurrency limit), once per workers value; wrk 1 thread at -c 32/64/128, 64 B and 64 KiB
 * POST bodies; the CPU per call summed over the primary and every worker (/proc of each pid).
 * The same wrk against the echo directly and through nginx (when found) for scale.
 */

export type WorkersTarget = 'direct' | 'nginx' | 'gateway';

export interface WorkersRow {
  readonly target: WorkersTarget;
  /** Gateway processes serving (config `workers`); 0 for direct and nginx. */
  readonly workers: number;
  readonly connections: number;
  readonly bodyBytes: number;
  readonly wrk: WrkResult;
  /** CPU µs per call of the gateway's processes (primary and workers) or nginx's worker; cores they used. */
  readonly cpuUsPerCall?: number;
  readonly cores?: number;
}

export interface WorkersSection {
  /** The machine's cores (os.availableParallelism at the run), shared by wrk, the echo and the gateway. */
  readonly cores: number;
  readonly rows: WorkersRow[];
}

const BODIES = [64, 64 * 1024];
const CONNECTIONS = [32, 64, 128];

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`proxy bench (workers): ${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A process started here, stopped by SIGTERM (SIGKILL after 15 s). */
function processOf(child: ChildProcess): { pid: number; stop(): Promise<void> } {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The pids of a gateway: the primary and its children (the workers). */
function pidsOf(pid: number): number[] {
  try {
    return [pid, ...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((v) => v !== '').map(Number)];
  } catch {
    return [pid];
  }
}

const cpuOf = (pids: readonly number[], ticks: number): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid, ticks), 0);

/** Runs the section; every process it starts is stopped before it returns. */
export async function workersSection(o: { readonly workers: readonly number[]; readonly wrk: string; readonly nginxBin: string | null; readonly dir: string; readonly seconds: number; readonly ticks: number; readonly cores: number }): Promise<WorkersSection> {
  const stops: Array<() => Promise<void>> = [];
  const rows: WorkersRow[] = [];
  try {
    const echoPort = await freePort();
    const echo = processOf(spawn(process.execPath, [join(packageRoot(), 'examples', 'functions', 'echo.mjs')], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PORT: String(echoPort) }, stdio: 'ignore' }));
    stops.push(echo.stop);
    await until('the echo replica', 10_000, async () => (await get(echoPort, '/_/health')).status === 200);
    const cluster = await startFakeCluster({ count: 1, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' }, latencyMs: 0, podIp: '127.0.0.1', port: echoPort });
    stops.push(() => cluster.close());
    let nginx: Nginx | null = null;
    if (o.nginxBin !== null) {
      nginx = await startNginx(o.nginxBin, o.dir, { port: await freePort(), upstreamPort: echoPort, lifetimeMs: 30 * 60_000 });
      stops.push(nginx.stop);
    }
    const fixed: Array<{ target: WorkersTarget; url: string; pids: number[] }> = [
      { target: 'direct', url: `http://127.0.0.1:${echoPort}/function/fn-0`, pids: [] },
      ...(nginx === null ? [] : [{ target: 'nginx' as const, url: `http://127.0.0.1:${nginx.port}/function/fn-0`, pids: [nginx.pid] }]),
    ];
    rows.push(...(await runAll(o, fixed.map((t) => ({ ...t, workers: 0 })))));
    for (const workers of o.workers) {
      const port = await freePort();
      const gateway = processOf(
        spawn(process.execPath, [...GATEWAY_NODE_FLAGS, join(packageRoot(), 'dist', 'src', 'main.js')], {
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin', PORT: String(port), ALERT_SCALER_ADMIN_PORT: String(await freePort()), ALERT_SCALER_HOST: '127.0.0.1',
            ALERT_SCALER_LOG_LEVEL: 'error', ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: cluster.kubeconfig, ALERT_SCALER_WORKERS: String(workers),
            ALERT_SCALER_ASYNC_DIR: join(o.dir, `async-${workers}`), ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600',
          },
          stdio: 'ignore',
        }),
      );
      try {
        await until(`the gateway with ${workers} workers serving`, 30_000, async () => (await get(port, '/function/fn-0')).status === 200);
        // Every worker a member (each its share) before measuring.
        await until(`${workers} members`, 30_000, async () => new RegExp(`^alert_scaler_gateway_members ${workers}$`, 'm').test((await get(port, '/metrics')).body));
        const pids = pidsOf(gateway.pid);
        rows.push(...(await runAll(o, [{ target: 'gateway', workers, url: `http://127.0.0.1:${port}/function/fn-0`, pids }])));
      } finally {
        await gateway.stop();
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
  return { cores: o.cores, rows };
}

/** Per body: a warm-up of each target, then each connection count, the targets one after the other. */
async function runAll(o: { readonly wrk: string; readonly dir: string; readonly seconds: number; readonly ticks: number }, targets: ReadonlyArray<{ target: WorkersTarget; workers: number; url: string; pids: number[] }>): Promise<WorkersRow[]> {
  const rows: WorkersRow[] = [];
  for (const bodyBytes of BODIES) {
    const script = wrkScript(o.dir, bodyBytes);
    for (const t of targets) await runWrkAsync(o.wrk, t.url, { connections: 64, threads: 1, seconds: 2, script });
    for (const connections of CONNECTIONS) {
      for (const t of targets) {
        const before = t.pids.length === 0 ? Number.NaN : cpuOf(t.pids, o.ticks);
        const result = await runWrkAsync(o.wrk, t.url, { connections, threads: 1, seconds: o.seconds, script });
        const cpu = t.pids.length === 0 ? Number.NaN : cpuOf(t.pids, o.ticks) - before;
        const measured = Number.isFinite(cpu) ? { cpuUsPerCall: Math.round((cpu / result.requests) * 1e6 * 10) / 10, cores: Math.round((cpu / o.seconds) * 100) / 100 } : {};
        rows.push({ target: t.target, workers: t.workers, connections, bodyBytes, wrk: result, ...measured });
      }
    }
  }
  return rows;
}

/** The best req/s row of a target and workers value for one body. */
export function bestWorkersRow(rows: readonly WorkersRow[], target: WorkersTarget, workers: number, bodyBytes: number): WorkersRow | undefined {
  return mostRequests(rows, (r) => r.target === target && r.workers === workers && r.bodyBytes === bodyBytes);
}

/** The section's lines for the summary text. */
export function workersTable(section: WorkersSection, seconds: number): string[] {
  const body = (b: number) => (b === 64 ? '64 B' : '64 KiB');
  const lines = [`  workers (Kubernetes provider on the fake API, one echo replica; wrk -t 1, ${seconds} s per run; ${section.cores} cores shared by all):`, '  target   workers conns  body     req/s    p50 ms   p99 ms  errors  µs CPU/call  cores'];
  for (const r of section.rows) {
    lines.push(
      `  ${r.target.padEnd(8)} ${String(r.workers === 0 ? '-' : r.workers).padStart(7)} ${String(r.connections).padStart(5)}  ${body(r.bodyBytes).padEnd(6)} ${r.wrk.requestsPerSec.toFixed(0).padStart(7)}  ${r.wrk.latencyP50Ms.toFixed(2).padStart(7)}  ${r.wrk.latencyP99Ms.toFixed(2).padStart(7)}  ${String(r.wrk.errors).padStart(6)}  ${(r.cpuUsPerCall?.toFixed(1) ?? '-').padStart(11)}  ${(r.cores?.toFixed(2) ?? '-').padStart(5)}`,
    );
  }
  const workers = [...new Set(section.rows.filter((r) => r.target === 'gateway').map((r) => r.workers))];
  for (const b of BODIES) {
    const best = workers.map((w) => bestWorkersRow(section.rows, 'gateway', w, b)).filter((r): r is WorkersRow => r !== undefined);
    lines.push(`  best req/s, ${body(b)}: ${best.map((r) => `${r.workers} worker${r.workers === 1 ? '' : 's'} ${r.wrk.requestsPerSec.toFixed(0)} (-c ${r.connections}, ${r.cpuUsPerCall?.toFixed(1) ?? '-'} µs CPU/call)`).join('; ')}`);
  }
  return lines;
}
