import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/bootstrap.js';
import { GATEWAY_NODE_FLAGS } from '../src/bootstrap/node-flags.js';
import { freePort } from '../src/providers/local/replica.js';
import { cpuSeconds } from './proxy-tools.js';

/** Where each entry writes `<name>.json`. */
export function resultsDir(): string {
  return join(packageRoot(), 'bench', 'results');
}

/** The machine a run happened on: Node, OS, CPU model from /proc/cpuinfo, cores, memory, load. */
export interface Environment {
  readonly node: string;
  readonly platform: string;
  /** Absent in results written before this field existed. */
  readonly kernel?: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB?: number;
  readonly loadAverage: number[];
  readonly date?: string;
  /** Set by hand when a result file holds parts of more than one run: which part came from where. */
  readonly note?: string;
}

/** Describes this machine now. */
export function environment(): Environment {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux: keep os.cpus()
  }
  return {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    cpus: os.cpus().length,
    cpuModel,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((v) => Math.round(v * 100) / 100),
    date: new Date().toISOString(),
  };
}

/** Writes bench/results/<name>.json as `{ environment, result }`; returns its path. */
export function writeResult(name: string, result: unknown): string {
  mkdirSync(resultsDir(), { recursive: true });
  const path = join(resultsDir(), `${name}.json`);
  writeFileSync(path, JSON.stringify({ environment: environment(), result }, null, 2) + '\n');
  return path;
}

/** Every bench/results/*.json, by file name without `.json`. */
export function readResults(dir = resultsDir()): Map<string, { environment?: Environment; result?: unknown; results?: unknown }> {
  const out = new Map<string, { environment?: Environment; result?: unknown; results?: unknown }>();
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    return out;
  }
  for (const file of files) out.set(file.slice(0, -'.json'.length), JSON.parse(readFileSync(join(dir, file), 'utf8')) as { environment?: Environment; result?: unknown });
  return out;
}

/** Resident set size of a process in MB (VmRSS), NaN when unreadable. */
export function rssMb(pid: number): number {
  try {
    const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return Number.NaN;
  }
}

/** Open file descriptors of a process (entries of /proc/<pid>/fd), NaN when unreadable. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** Share of one core a process used over `ms` (0.01 = 1 %), sampled from /proc. */
export async function cpuShareOver(pid: number, ticks: number, ms: number): Promise<number> {
  const before = cpuSeconds(pid, ticks);
  const began = performance.now();
  await sleep(ms);
  const used = cpuSeconds(pid, ticks) - before;
  return Math.round((used / ((performance.now() - began) / 1000)) * 10_000) / 10_000;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until true; throws naming `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`bench: ${what} not reached within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** One HTTP answer on 127.0.0.1. */
export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
  /** Why there was no answer (status 0): the socket error's code, or `deadline`. */
  readonly error?: string;
}

/** One request (no keep-alive unless `agent` is given), bounded by `timeoutMs`; status 0 on a socket error (named in `error`). */
export function call(url: string, options: { method?: string; body?: string; agent?: http.Agent; timeoutMs?: number; auth?: string } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const started = performance.now();
    const headers: Record<string, string> = options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(options.body)) };
    if (options.auth !== undefined) headers['authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    const req = http.request(url, { method: options.method ?? 'GET', headers, agent: options.agent ?? false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - started }));
      res.once('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, body: text, ms: performance.now() - started, error: err.code ?? err.message }));
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(Object.assign(new Error('deadline'), { code: 'deadline' })));
    req.once('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, body: '', ms: performance.now() - started, error: err.code ?? err.message }));
    req.end(options.body);
  });
}

/** A gateway (`node dist/src/main.js`) in its own process, so its RSS, CPU and fds are its own. */
export interface GatewayProcess {
  /** The function listener. */
  readonly url: string;
  readonly port: number;
  /** The admin listener (`/system/*`, the webhook). */
  readonly adminUrl: string;
  readonly pid: number;
  /** Last 20 KB of its stderr/stdout. */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Starts dist/src/main.js with `env` (PORT, a free admin port and host set here) and waits for
 * /healthz (bounded by `readyTimeoutMs`).
 */
export async function startGatewayProcess(env: Record<string, string>, port: number, readyTimeoutMs = 60_000): Promise<GatewayProcess> {
  const main = join(packageRoot(), 'dist', 'src', 'main.js');
  const adminPort = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, main], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PORT: String(port), ALERT_SCALER_ADMIN_PORT: String(adminPort), ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  const keep = (c: Buffer) => (logs = (logs + c.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`bench: gateway exited: ${logs}`);
      return (await call(`${url}/healthz`, { timeoutMs: 2000 })).status === 200;
    }, 'gateway /healthz', readyTimeoutMs, 50);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, adminUrl: `http://127.0.0.1:${adminPort}`, pid: child.pid ?? -1, logs: () => logs, stop };
}

/** Runs `count` async jobs with at most `concurrency` at once. */
export async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next;
      next += 1;
      await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** Nearest-rank percentile of `values` (ms), rounded to 0.01; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return v === undefined ? Number.NaN : Math.round(v * 100) / 100;
}

/** Reads a number from the environment; undefined when unset. */
export const numberEnv = (name: string): number | undefined => (process.env[name] === undefined || process.env[name] === '' ? undefined : Number(process.env[name]));
