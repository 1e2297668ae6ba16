// Asynchronous invocations: accepted calls/s and p99 accept latency (POST /async-function to
// 202), delivered calls/s (first accept to the last callback), for the embedded log and for
// NATS JetStream (Debian's nats-server, started here on a free 127.0.0.1 port; skipped when
// missing). One gateway in-process, a local echo function (min 1, concurrency 16).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startScaler } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log/logger.js';

export interface AsyncEngineResult {
  readonly engine: 'embedded' | 'jetstream';
  readonly calls: number;
  readonly acceptedPerSecond: number;
  readonly deliveredPerSecond: number;
  readonly acceptP50Ms: number;
  readonly acceptP99Ms: number;
}
export interface AsyncBenchResult {
  readonly calls: number;
  readonly connections: number;
  readonly engines: AsyncEngineResult[];
}

const ECHO = `import http from 'node:http';
http.createServer((req, res) => { if (req.url === '/_/health') { res.end('OK'); return; } const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => res.end(Buffer.concat(c))); }).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;

async function runEngine(engine: 'embedded' | 'jetstream', calls: number, connections: number, natsUrl?: string): Promise<AsyncEngineResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-async-'));
  const script = join(dir, 'echo.mjs');
  writeFileSync(script, ECHO);
  const stack = join(dir, 'stack.yml');
  writeFileSync(stack, `functions:\n  echo:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}]\n    labels:\n      com.openfaas.scale.min: "1"\n      com.openfaas.scale.max: "1"\n      com.openfaas.scale.concurrency: "16"\n`);
  const env: Record<string, string> = { PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_STACK: stack, ALERT_SCALER_LOG_LEVEL: 'silent', ALERT_SCALER_ASYNC_DIR: join(dir, 'async') };
  if (natsUrl !== undefined) env['ALERT_SCALER_ASYNC_NATS_URL'] = natsUrl;
  const readFile = (p: string) => readFileSync(p, 'utf8');
  const running = await startScaler(loadConfig(env, readFile), { logger: silentLogger(), registry: new Registry(), readFile });
  let delivered = 0;
  let lastAt = 0;
  const cb = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      delivered += 1;
      lastAt = performance.now();
      res.end();
    });
  });
  await new Promise<void>((r) => cb.listen(0, '127.0.0.1', r));
  const cbUrl = `http://127.0.0.1:${(cb.address() as AddressInfo).port}/cb`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const t = performance.now();
      const body = `call-${i}`;
      const req = http.request(`${running.url}/async-function/echo`, { method: 'POST', agent, headers: { 'X-Callback-Url': cbUrl, 'Content-Length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - t);
          if (res.statusCode === 202) resolve();
          else reject(new Error(`accept answered ${res.statusCode}`));
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error('accept timed out')));
      req.on('error', reject);
      req.end(body);
    });
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next < calls) await one(next++);
  }));
  const acceptedMs = performance.now() - start;
  const until = Date.now() + 300_000;
  while (delivered < calls && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const deliveredMs = lastAt - start;
  agent.destroy();
  cb.closeAllConnections();
  cb.close();
  await running.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return { engine, calls, acceptedPerSecond: Math.round((calls / acceptedMs) * 1000), deliveredPerSecond: delivered < calls ? 0 : Math.round((calls / deliveredMs) * 1000), acceptP50Ms: r3(pct(latencies, 0.5)), acceptP99Ms: r3(pct(latencies, 0.99)) };
}

/** Runs both engines (JetStream only where nats-server is installed). */
export async function asyncBenchmark(options: { calls?: number; connections?: number } = {}): Promise<AsyncBenchResult> {
  const calls = options.calls ?? 5000;
  const connections = options.connections ?? 32;
  const engines: AsyncEngineResult[] = [await runEngine('embedded', calls, connections)];
  const bin = process.env['NATS_SERVER'] ?? '/usr/sbin/nats-server';
  if (existsSync(bin)) {
    const port = await freePort();
    const store = mkdtempSync(join(tmpdir(), 'bench-nats-'));
    const child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      engines.push(await runEngine('jetstream', calls, connections, `nats://127.0.0.1:${port}`));
    } finally {
      child.kill('SIGKILL');
      rmSync(store, { recursive: true, force: true });
    }
  }
  return { calls, connections, engines };
}

/** The lines `npm run bench -- async` prints. */
export function asyncSummary(r: AsyncBenchResult): string {
  return [`async invocations, ${r.calls} calls over ${r.connections} connections:`, ...r.engines.map((e) => `  ${e.engine}: accepted ${e.acceptedPerSecond}/s (p50 ${e.acceptP50Ms} ms, p99 ${e.acceptP99Ms} ms), delivered ${e.deliveredPerSecond}/s`)].join('\n');
}
