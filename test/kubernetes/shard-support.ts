/**
 * Parts of the three-gateway acceptance test (shard.test.ts): gateways as real Node processes
 * (dist/src/main.js), each talking to the fake API through a recording proxy of its own (so the
 * test knows which gateway made which call), pod stand-ins on 127.0.0.N that count their own
 * concurrent calls, and a Prometheus stand-in whose path names the gateway asking.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../../src/config/package-root.js';

/** One API call a gateway made, as its proxy saw it. */
export interface ProxiedCall {
  readonly method: string;
  readonly path: string;
  readonly at: number;
}

/** A recording HTTP proxy in front of the fake API (watches stream through). */
export async function apiProxy(target: string): Promise<{ url: string; calls: ProxiedCall[]; close(): Promise<void> }> {
  const calls: ProxiedCall[] = [];
  const base = new URL(target);
  const server = http.createServer((req, res) => {
    calls.push({ method: req.method ?? '', path: req.url ?? '', at: Date.now() });
    const up = http.request({ host: base.hostname, port: base.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A kubeconfig pointing at `server`. */
export async function kubeconfigFor(dir: string, name: string, server: string): Promise<string> {
  const file = join(dir, `${name}.kubeconfig`);
  const text = [
    'apiVersion: v1', 'kind: Config', 'preferences: {}', 'current-context: fake',
    'clusters:', '- name: fake', '  cluster:', `    server: ${server}`, '    insecure-skip-tls-verify: true',
    'users:', '- name: fake', '  user: {}',
    'contexts:', '- name: fake', '  context:', '    cluster: fake', '    user: fake', '    namespace: openfaas-fn', '',
  ].join('\n');
  await writeFile(file, text, 'utf8');
  return file;
}

/** Pod stand-ins: one server per address 127.0.0.2 … on one port, each counting its own concurrent calls; `?ms=` delays the answer. */
export async function podServers(first: number, last: number): Promise<{ port: number; max: Map<string, number>; served: Map<string, number>; close(): Promise<void> }> {
  for (let attempt = 0; ; attempt++) {
    const max = new Map<string, number>();
    const served = new Map<string, number>();
    const now = new Map<string, number>();
    const servers: http.Server[] = [];
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const ip = req.socket.localAddress ?? '';
      const current = (now.get(ip) ?? 0) + 1;
      now.set(ip, current);
      max.set(ip, Math.max(max.get(ip) ?? 0, current));
      const ms = Number(new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('ms') ?? '0');
      req.resume();
      setTimeout(() => {
        now.set(ip, (now.get(ip) ?? 1) - 1);
        served.set(ip, (served.get(ip) ?? 0) + 1);
        res.end(ip);
      }, Math.min(ms, 10_000));
    };
    const listen = (host: string, port: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const server = http.createServer(handler);
        servers.push(server);
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      });
    try {
      const port = await listen(`127.0.0.${first}`, 0);
      for (let n = first + 1; n <= last; n++) await listen(`127.0.0.${n}`, port);
      const close = async (): Promise<void> => {
        for (const s of servers) s.closeAllConnections();
        await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      };
      return { port, max, served, close };
    } catch (err) {
      for (const s of servers) s.close();
      if (attempt >= 4) throw err;
    }
  }
}

/** A Prometheus stand-in for the idler's query: `/g<i>/api/v1/query` tells gateway i; `answer` decides each reply. */
export async function fakePrometheus(answer: (gateway: number, query: string, reply: (count: number) => void) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const gateway = Number(/^\/g(\d+)\//.exec(url.pathname)?.[1] ?? '-1');
    answer(gateway, url.searchParams.get('query') ?? '', (count) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, String(count)] }] } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A gateway process. */
export interface Gateway {
  readonly index: number;
  readonly child: ChildProcess;
  readonly port: number;
  readonly adminPort: number;
  /** Its last stderr lines (bounded). */
  readonly stderr: string[];
  /** The API calls it made (its proxy's record). */
  readonly calls: ProxiedCall[];
}

/** Starts `node dist/src/main.js` with `env`; its stderr's last 500 lines are kept. */
export function startGateway(index: number, env: Record<string, string>, ports: { port: number; adminPort: number }, calls: ProxiedCall[]): Gateway {
  const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'src', 'main.js')], {
    env: { PATH: process.env['PATH'] ?? '', PORT: String(ports.port), ALERT_SCALER_ADMIN_PORT: String(ports.adminPort), ALERT_SCALER_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr.push(...chunk.split('\n').filter((l) => l !== ''));
    if (stderr.length > 500) stderr.splice(0, stderr.length - 500);
  });
  return { index, child, ...ports, stderr, calls };
}

/** One HTTP exchange, bounded in time; resolves with the status and body (status 0 on a connection failure). */
export function call(port: number, path: string, method = 'GET', timeoutMs = 30_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

/** The value of an unlabelled gauge on a gateway's /metrics; undefined when unreachable. */
export async function gaugeOf(port: number, name: string): Promise<number | undefined> {
  const res = await call(port, '/metrics', 'GET', 2000);
  const line = res.body.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** `GET /system/function/<name>` on a gateway's admin listener: its owner fields; null when unreachable. */
export async function ownerSeen(adminPort: number, name: string): Promise<{ owner: string | null; ownedHere: boolean } | null> {
  const res = await call(adminPort, `/system/function/${name}`, 'GET', 2000);
  if (res.status !== 200) return null;
  const body = JSON.parse(res.body) as { owner: string | null; ownedHere: boolean };
  return { owner: body.owner, ownedHere: body.ownedHere };
}
