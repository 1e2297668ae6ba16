/**
 * Acceptance of issue 19 point 1: one gateway process with ALERT_SCALER_WORKERS=2 on the fake
 * API (node:cluster: a primary and two workers sharing PORT and the admin port). Each worker is a
 * member of its own with an address of its own; a function of concurrency 1 on one replica is
 * never given two calls at once; /metrics answers for both workers; a killed worker is forked
 * again; SIGTERM stops them all. Leases last 2 s, renewed every 0.5 s. Needs dist/ (`npm run build`).
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../../src/providers/local/replica.js';
import { ADDRESS_ANNOTATION, MEMBER_LABEL } from '../../src/providers/kubernetes/membership.js';
import { FakeApiServer } from './fake-api-server.js';
import { waitFor } from './helpers.js';
import { apiProxy, call, gaugeOf, kubeconfigFor, podServers, startGateway, type Gateway } from './shard-support.js';

const LEASE_MS = 2000;
const RENEW_MS = 500;
const POD = '127.0.0.2';

let fake: FakeApiServer;
let pods: Awaited<ReturnType<typeof podServers>>;
let dir: string;
let gateway: Gateway;
const closers: Array<() => Promise<void>> = [];

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The worker pids: the primary's children, from /proc. */
function workerPids(): number[] {
  const pid = gateway.child.pid as number;
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  } catch {
    return [];
  }
}

/** The member Leases in the fake API: holder identity and advertised address. */
function members(): Array<{ holder: string; address: string }> {
  return fake
    .objects('coordination.k8s.io', 'leases', 'openfaas')
    .filter((l) => (l.metadata as { labels?: Record<string, string> } | undefined)?.labels?.[MEMBER_LABEL] !== undefined)
    .map((l) => ({
      holder: String((l.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? ''),
      address: String((l.metadata as { annotations?: Record<string, string> } | undefined)?.annotations?.[ADDRESS_ANNOTATION] ?? ''),
    }));
}

/** One h2c (HTTP/2 with prior knowledge) GET on 127.0.0.1:`port`: its status, 0 on a failure. */
function h2cStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => resolve(0));
    const timer = setTimeout(() => session.destroy(), 5000);
    const stream = session.request({ ':method': 'GET', ':path': path });
    stream.on('response', (headers) => {
      stream.resume();
      stream.on('end', () => {
        clearTimeout(timer);
        session.close();
        resolve(Number(headers[':status'] ?? 0));
      });
    });
    stream.on('error', () => resolve(0));
    stream.end();
  });
}

/** The sum of `gateway_function_invocation_total` for function `fn` (all codes) on one scrape of `port`. */
async function invocationsOf(port: number, fn: string): Promise<number> {
  const res = await call(port, '/metrics', 'GET', 5000);
  expect(res.status).toBe(200);
  return res.body
    .split('\n')
    .filter((l) => l.startsWith('gateway_function_invocation_total{') && new RegExp(`function_name="${fn}(\\.openfaas-fn)?"`).test(l))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

beforeAll(async () => {
  fake = await FakeApiServer.start({ readyDelayMs: 0 });
  pods = await podServers(2, 3);
  dir = await mkdtemp(join(tmpdir(), 'alert-scaler-workers-'));
  // One replica (pod 127.0.0.2) taking one call at a time: one worker gets the slot, the other forwards.
  fake.addDeployment({
    name: 'one', replicas: 1, port: pods.port,
    labels: { faas_function: 'one', 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' },
  });
  // One replica (pod 127.0.0.3) without a hard limit: each worker serves its own calls, none is forwarded.
  fake.addDeployment({ name: 'many', replicas: 1, port: pods.port, labels: { faas_function: 'many', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' } });
  const proxy = await apiProxy(fake.url);
  closers.push(proxy.close);
  const kubeconfig = await kubeconfigFor(dir, 'g', proxy.url);
  const env = {
    ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: kubeconfig, ALERT_SCALER_LEASE_NAMESPACE: 'openfaas',
    ALERT_SCALER_LEASE_DURATION_SECONDS: String(LEASE_MS / 1000), ALERT_SCALER_LEASE_RENEW_MS: String(RENEW_MS),
    ALERT_SCALER_POLICY_INTERVAL_MS: '250', ALERT_SCALER_LOG_LEVEL: 'warn', ALERT_SCALER_WORKERS: '2',
    ALERT_SCALER_ASYNC_DIR: join(dir, 'async'),
  };
  gateway = startGateway(0, env, { port: await freePort(), adminPort: await freePort() }, proxy.calls);
  await waitFor(async () => (await call(gateway.port, '/readyz', 'GET', 1000)).status === 200, 'the shared port ready', 20_000);
  await waitFor(() => members().length === 2 && members().every((m) => m.address !== ''), 'two member Leases with addresses', 20_000);
  await waitFor(async () => (await gaugeOf(gateway.port, 'alert_scaler_gateway_members')) === 2, 'the workers to count 2 members', 10_000);
}, 60_000);

afterAll(async () => {
  for (const pid of workerPids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (gateway !== undefined && gateway.child.exitCode === null && gateway.child.signalCode === null) {
    const exited = new Promise((r) => gateway.child.once('exit', r));
    gateway.child.kill('SIGKILL');
    await exited;
  }
  for (const close of closers) await close();
  await pods?.close();
  await fake?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('one gateway process with two workers', () => {
  it('two member Leases: distinct holders, distinct addresses of their own (not the shared port), each serving', async () => {
    const seen = members();
    expect(seen).toHaveLength(2);
    expect(new Set(seen.map((m) => m.holder)).size).toBe(2);
    expect(new Set(seen.map((m) => m.address)).size).toBe(2);
    for (const m of seen) {
      const url = new URL(m.address);
      expect(url.hostname).toBe('127.0.0.1');
      expect(Number(url.port)).not.toBe(gateway.port);
      expect(Number(url.port)).not.toBe(gateway.adminPort);
      expect((await call(Number(url.port), '/readyz', 'GET', 2000)).status).toBe(200);
      // h2c too, as on the shared port (a forwarded gRPC call goes over h2c).
      expect(await h2cStatus(Number(url.port), '/function/many')).toBe(200);
    }
    expect(workerPids()).toHaveLength(2);
  });

  it('concurrency 1 on one replica, 10 concurrent calls on the shared port: all 200, the replica never holds 2', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => call(gateway.port, '/function/one?ms=50', 'GET', 20_000)));
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 10 }, () => 200));
    expect(pods.max.get(POD)).toBe(1);
    expect(pods.served.get(POD)).toBe(10);
    // A forwarded call is counted by both workers (as by two gateway pods): more than 10 shows the worker without the slot forwarded.
    expect(await invocationsOf(gateway.port, 'one')).toBeGreaterThan(10);
  }, 30_000);

  it('/metrics on the shared port counts the calls of both workers, the same on two scrapes in a row', async () => {
    // (A forwarded call is counted by both workers, as by two gateway pods: `many` has no hard limit, so none is.)
    const before = await invocationsOf(gateway.port, 'many');
    const served = pods.served.get('127.0.0.3') ?? 0;
    expect(before).toBe(served);
    // 10 calls on each worker's own port (each worker counts its own 10), 10 on the shared one.
    for (const port of [...members().map((m) => Number(new URL(m.address).port)), gateway.port]) {
      const results = await Promise.all(Array.from({ length: 10 }, () => call(port, '/function/many', 'GET', 20_000)));
      expect(results.map((r) => r.status)).toEqual(Array.from({ length: 10 }, () => 200));
    }
    expect(pods.served.get('127.0.0.3')).toBe(served + 30);
    expect(await invocationsOf(gateway.port, 'many')).toBe(before + 30);
    expect(await invocationsOf(gateway.port, 'many')).toBe(before + 30);
    // The admin listener answers for both as well.
    expect(await invocationsOf(gateway.adminPort, 'many')).toBe(before + 30);
  }, 30_000);

  it('a SIGKILLed worker is forked again and calls keep being answered; SIGTERM to the primary ends every process with 0', async () => {
    const [victim, survivor] = workerPids() as [number, number];
    const holders = new Set(members().map((m) => m.holder));
    process.kill(victim, 'SIGKILL');
    await waitFor(() => workerPids().length === 2 && !workerPids().includes(victim), 'a new worker in place of the killed one', 10_000);
    await waitFor(async () => (await call(gateway.port, '/readyz', 'GET', 1000)).status === 200, 'the shared port ready', 10_000);
    const early = await Promise.all(Array.from({ length: 10 }, () => call(gateway.port, '/function/one?ms=20', 'GET', 20_000)));
    // Once the killed worker's Lease has expired: two members again, the new one with an address of its own.
    await waitFor(() => members().length === 2 && members().some((m) => !holders.has(m.holder)) && members().every((m) => m.address !== ''), 'two member Leases again, one new', LEASE_MS * 4 + 5000);
    await waitFor(async () => (await gaugeOf(gateway.port, 'alert_scaler_gateway_members')) === 2, 'the workers to count 2 members', 10_000);
    const late = await Promise.all(Array.from({ length: 10 }, () => call(gateway.port, '/function/one?ms=20', 'GET', 20_000)));
    // Right after the kill the survivor may forward to the killed worker's address while its
    // Lease still counts: the refused call waits, and goes on once the members change.
    expect(early.map((r) => `${r.status}${r.status === 200 ? '' : ` ${r.body}`}`)).toEqual(Array.from({ length: 10 }, () => '200'));
    expect(late.map((r) => r.status)).toEqual(Array.from({ length: 10 }, () => 200));
    expect(pods.max.get(POD)).toBe(1);

    const workers = workerPids();
    expect(workers).toContain(survivor);
    const exited = new Promise<number | null>((resolve) => gateway.child.once('exit', (code) => resolve(code)));
    gateway.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await waitFor(() => workers.every((pid) => !alive(pid)), 'every worker gone', 5000);
    expect(members()).toEqual([]);
  }, 60_000);
});
