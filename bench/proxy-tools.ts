import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The first of `candidates` that exists, or null (the caller says loudly what it skips). */
export function findTool(candidates: readonly string[]): string | null {
  return candidates.find((path) => existsSync(path)) ?? null;
}

/** One wrk run, parsed. */
export interface WrkResult {
  readonly requests: number;
  readonly requestsPerSec: number;
  /** Non-2xx answers plus socket errors (connect, read, write, timeout). */
  readonly errors: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

/** Parses wrk's text output (with --latency). */
export function parseWrk(text: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
  const latency = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m === null ? Number.NaN : toMs(m[1] ?? '', m[2] ?? 'ms');
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, v) => sum + Number(v), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: num(/(\d+) requests in/),
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    errors: socketErrors + Number(non2xx?.[1] ?? 0),
    latencyP50Ms: latency('50'),
    latencyP99Ms: latency('99'),
  };
}

/** Writes a wrk Lua script that POSTs `bodyBytes` bytes; returns its path. */
export function wrkScript(dir: string, bodyBytes: number): string {
  const path = join(dir, `post-${bodyBytes}.lua`);
  writeFileSync(path, `wrk.method = "POST"\nwrk.body = string.rep("a", ${bodyBytes})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  return path;
}

/** Runs wrk for `seconds` with `connections` and `threads`; bounded by a hard kill at seconds + 15 s. */
export function runWrk(wrk: string, url: string, options: { connections: number; threads: number; seconds: number; script: string }): WrkResult {
  const args = ['-t', String(Math.min(options.threads, options.connections)), '-c', String(options.connections), '-d', `${options.seconds}s`, '--timeout', '5s', '--latency', '-s', options.script, url];
  const run = spawnSync(wrk, args, { encoding: 'utf8', timeout: (options.seconds + 15) * 1000 });
  if (run.status !== 0) throw new Error(`proxy bench: wrk ${args.join(' ')} failed (${String(run.status ?? run.signal)}): ${run.stderr}`);
  return parseWrk(run.stdout);
}

/** The row with the most req/s among those `keep` takes; undefined when none. */
export function mostRequests<R extends { readonly wrk: WrkResult }>(rows: readonly R[], keep: (row: R) => boolean): R | undefined {
  let best: R | undefined;
  for (const r of rows) if (keep(r) && (best === undefined || r.wrk.requestsPerSec > best.wrk.requestsPerSec)) best = r;
  return best;
}

/** runWrk without blocking this process (where the fake API it measures against may run): rejects as runWrk throws. */
export function runWrkAsync(wrk: string, url: string, options: { connections: number; threads: number; seconds: number; script: string }): Promise<WrkResult> {
  const args = ['-t', String(Math.min(options.threads, options.connections)), '-c', String(options.connections), '-d', `${options.seconds}s`, '--timeout', '5s', '--latency', '-s', options.script, url];
  return new Promise((resolve, reject) => {
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (options.seconds + 15) * 1000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`proxy bench: wrk ${args.join(' ')} failed (${String(code ?? signal)}): ${err}`));
      else resolve(parseWrk(out));
    });
  });
}

/** A running nginx and how to stop it. */
export interface Nginx {
  readonly port: number;
  /** The nginx process (master_process off: the one worker). */
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts nginx as a plain reverse proxy (one worker, keep-alive upstream, no access log) in
 * front of `upstreamPort`, under its own prefix in `dir`, as the current user, in the
 * foreground. Killed after `lifetimeMs` at the latest.
 */
export async function startNginx(nginx: string, dir: string, options: { port: number; upstreamPort: number; lifetimeMs: number }): Promise<Nginx> {
  const prefix = join(dir, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    [
      'worker_processes 1;',
      'daemon off;',
      'master_process off;',
      `pid ${join(prefix, 'nginx.pid')};`,
      `error_log ${join(prefix, 'logs', 'error.log')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(prefix, t)};`),
      '  client_max_body_size 2m;',
      '  client_body_buffer_size 128k;',
      '  proxy_buffer_size 16k;',
      '  proxy_buffers 16 16k;',
      `  upstream replica.local { server 127.0.0.1:${options.upstreamPort}; keepalive 128; }`,
      `  server { listen 127.0.0.1:${options.port}; location / { proxy_pass http://replica.local; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_request_buffering off; } }`,
      '}',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(nginx, ['-p', prefix, '-c', conf, '-e', join(prefix, 'logs', 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), options.lifetimeMs);
  killer.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  // Ready when it answers on its port.
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`proxy bench: nginx exited: ${stderr}${readLog(prefix)}`);
    if (await answers(options.port)) return { port: options.port, pid: child.pid ?? -1, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`proxy bench: nginx not answering within 5 s: ${stderr}${readLog(prefix)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readLog(prefix: string): string {
  try {
    return readFileSync(join(prefix, 'logs', 'error.log'), 'utf8');
  } catch {
    return '';
  }
}

async function answers(port: number): Promise<boolean> {
  const http = await import('node:http');
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/_/health', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** CPU time (user + system) of a process so far, in seconds, from /proc; NaN when unreadable. */
export function cpuSeconds(pid: number, ticksPerSecond: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command name start at field 3 (state); utime is field 14, stime 15.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}

/** The kernel's clock ticks per second (getconf CLK_TCK), 100 when unknown. */
export function clockTicks(): number {
  const run = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 });
  const n = Number(run.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}

/** One run of hey or ab, parsed; `command` is what was run (the URL included). */
export interface ClientToolResult {
  readonly tool: 'hey' | 'ab';
  readonly command: string;
  readonly requests: number;
  readonly requestsPerSec: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** Non-2xx answers plus failed requests. */
  readonly errors: number;
}

/** Parses hey's summary (latency distribution in seconds, status code distribution). */
export function parseHey(text: string): Omit<ClientToolResult, 'tool' | 'command'> {
  const pct = (p: number) => Number(new RegExp(`^\\s+${p}%%? in ([\\d.]+) secs`, 'm').exec(text)?.[1] ?? Number.NaN) * 1000;
  let ok = 0;
  let other = 0;
  for (const m of text.matchAll(/^\s+\[(\d+)\]\s+(\d+) responses/gm)) {
    if ((m[1] ?? '').startsWith('2')) ok += Number(m[2]);
    else other += Number(m[2]);
  }
  const errorSection = /Error distribution:\n([\s\S]*)$/.exec(text)?.[1] ?? '';
  const failed = [...errorSection.matchAll(/^\s+\[(\d+)\]/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  return { requests: ok + other + failed, requestsPerSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? Number.NaN), latencyP50Ms: pct(50), latencyP99Ms: pct(99), errors: other + failed };
}

/** Parses ab's report (percentiles in whole ms, failed and non-2xx counts). */
export function parseAb(text: string): Omit<ClientToolResult, 'tool' | 'command'> {
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
  const pct = (p: number) => num(new RegExp(`^\\s+${p}%\\s+(\\d+)`, 'm'));
  return {
    requests: num(/Complete requests:\s+(\d+)/),
    requestsPerSec: num(/Requests per second:\s+([\d.]+)/),
    latencyP50Ms: pct(50),
    latencyP99Ms: pct(99),
    errors: num(/Failed requests:\s+(\d+)/) + Number(/Non-2xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0),
  };
}

/**
 * `hey -n <n> -c 3 -m POST -d TEST <url>` (the OpenFaaS lab's command) or `ab -n <n> -c 3 -p
 * <file with TEST> -T text/plain <url>` (ab has no inline body; HTTP/1.0 without keep-alive, as
 * ab runs by default). Bounded by a hard kill after `timeoutSeconds`.
 */
export function runClientTool(tool: 'hey' | 'ab', bin: string, url: string, options: { requests: number; concurrency: number; dir: string; timeoutSeconds: number }): ClientToolResult {
  let args: string[];
  if (tool === 'hey') args = ['-n', String(options.requests), '-c', String(options.concurrency), '-m', 'POST', '-d', 'TEST', url];
  else {
    const body = join(options.dir, 'ab-body.txt');
    writeFileSync(body, 'TEST');
    args = ['-q', '-n', String(options.requests), '-c', String(options.concurrency), '-p', body, '-T', 'text/plain', url];
  }
  const run = spawnSync(bin, args, { encoding: 'utf8', timeout: options.timeoutSeconds * 1000, maxBuffer: 16 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`proxy bench: ${tool} ${args.join(' ')} failed (${String(run.status ?? run.signal)}): ${run.stderr}`);
  const command = `${tool} ${args.join(' ')}`;
  return { tool, command, ...(tool === 'hey' ? parseHey(run.stdout) : parseAb(run.stdout)) };
}
