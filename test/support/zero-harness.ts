import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createLocalProvider, startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { silentLogger } from '../../src/log/logger.js';
import type { LocalProvider } from '../../src/providers/local/index.js';
import type { FunctionRef } from '../../src/providers/types.js';
import { DelegatingProvider } from './delegating-provider.js';
import { testConfig, writeStack, type TestFunction } from './harness.js';

/**
 * Wraps a provider and records every setReplicas and removeReplicas call; `failSetReplicas` makes every call
 * reject with that error instead (the inner provider is then not asked), after
 * `setReplicasDelayMs`.
 */
export class CountingProvider extends DelegatingProvider<LocalProvider> {
  readonly calls: Array<{ readonly ref: FunctionRef; readonly replicas: number }> = [];
  failSetReplicas: Error | undefined;
  /** Delay before each setReplicas call takes effect (or fails), in milliseconds. */
  setReplicasDelayMs = 0;


  /** setReplicas calls for `name` asking for at least one replica. */
  scaleUps(name: string): number {
    return this.calls.filter((c) => c.ref.name === name && c.replicas > 0).length;
  }

  override async setReplicas(ref: FunctionRef, replicas: number): Promise<void> {
    this.calls.push({ ref, replicas });
    if (this.setReplicasDelayMs > 0) await new Promise((r) => setTimeout(r, this.setReplicasDelayMs));
    if (this.failSetReplicas !== undefined) throw this.failSetReplicas;
    await this.inner.setReplicas(ref, replicas);
  }

  /** A removal (a drained scale-down) is recorded as a call with the count it leaves. */
  override async removeReplicas(ref: FunctionRef, ids: readonly string[]): Promise<void> {
    const { desired } = await this.inner.getReplicas(ref);
    const removed = this.inner.listReplicas(ref).filter((r) => ids.includes(r.id)).length;
    this.calls.push({ ref, replicas: Math.max(0, desired - removed) });
    await this.inner.removeReplicas(ref, ids);
  }
}

/** Requests waiting in the function's queue for a replica (a function at zero, waking). */
export function heldCount(running: RunningScaler, name: string): number {
  return running.engine.dispatcher.stats(fnRef(name)).queued.no_replica;
}

export interface ZeroScaler {
  readonly running: RunningScaler;
  readonly provider: CountingProvider;
  close(): Promise<void>;
}

/** Starts a real scaler whose local provider is wrapped in a CountingProvider. */
export async function startZeroScaler(functions: Record<string, TestFunction>, env: Record<string, string> = {}): Promise<ZeroScaler> {
  const config = testConfig(writeStack(functions), env);
  const readFile = (p: string) => readFileSync(p, 'utf8');
  const provider = new CountingProvider(createLocalProvider(config, silentLogger(), readFile));
  const running = await startScaler(config, { logger: silentLogger(), registry: new Registry(), readFile, provider });
  return { running, provider, close: () => running.close() };
}

/** Bare function ref in the default namespace. */
export function fnRef(name: string): FunctionRef {
  return { name, namespace: 'openfaas-fn' };
}

// A replica that echoes the body and appends `<x-request-id>\n` to $REQUEST_LOG for every
// request it receives (health probes excluded), so a test can see what arrived.
const RECORDER_SOURCE = `
import http from 'node:http';
import { appendFileSync } from 'node:fs';
const startDelayMs = Number(process.env.START_DELAY_MS ?? 0);
const responseDelayMs = Number(process.env.RESPONSE_DELAY_MS ?? 0);
const server = http.createServer((req, res) => {
  if (req.url === '/_/health') { res.writeHead(200); res.end('OK'); return; }
  appendFileSync(process.env.REQUEST_LOG, String(req.headers['x-request-id'] ?? '-') + '\\n');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => setTimeout(() => {
    res.writeHead(200, { 'x-echo-pid': String(process.pid) });
    res.end(Buffer.concat(chunks));
  }, responseDelayMs));
});
setTimeout(() => server.listen(Number(process.env.PORT), '127.0.0.1'), startDelayMs);
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); });
`;

/** A recording function: its stack entry and a reader of the request ids it has received. */
export function recorderFunction(environment: Record<string, string> = {}, labels: Record<string, string> = {}): { fn: TestFunction; received: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-zero-'));
  const script = join(dir, 'recorder.mjs');
  const log = join(dir, 'requests.log');
  writeFileSync(script, RECORDER_SOURCE);
  writeFileSync(log, '');
  return {
    fn: { command: [process.execPath, script], environment: { ...environment, REQUEST_LOG: log }, labels },
    received: () => readFileSync(log, 'utf8').split('\n').filter((line) => line.length > 0),
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One HTTP request; resolves with the whole answer. Rejects on socket errors or after timeoutMs. */
export function send(
  url: string,
  options: { method?: string; body?: Buffer | string; headers?: Record<string, string>; agent?: http.Agent; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const headers: Record<string, string> = { ...options.headers };
    if (body !== undefined) headers['content-length'] = String(body.length);
    const req = http.request(url, { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.once('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 20_000, () => req.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 20_000} ms`)));
    req.once('error', reject);
    req.end(body);
  });
}

/** `replicas` and `availableReplicas` from GET /system/function/<name>. */
export async function replicasOf(running: RunningScaler, name: string): Promise<{ replicas: number; availableReplicas: number }> {
  const reply = await send(`${running.adminUrl}/system/function/${name}`);
  if (reply.status !== 200) throw new Error(`GET /system/function/${name} answered ${reply.status}`);
  return JSON.parse(reply.body.toString()) as { replicas: number; availableReplicas: number };
}

/** The value of one sample from GET /metrics, or undefined when absent. */
export async function scrape(running: RunningScaler, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = (await send(`${running.url}/metrics`)).body.toString();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const open = line.indexOf('{');
    const labelText = open === -1 ? '' : line.slice(open + 1, line.lastIndexOf('}'));
    const found = Object.fromEntries([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v) && Object.keys(found).length === Object.keys(labels).length) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

/** The JSON error code of an error answer. */
export function errorCode(reply: Reply): string | undefined {
  try {
    return (JSON.parse(reply.body.toString()) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
