import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../src/bootstrap.js';
import { GATEWAY_NODE_FLAGS } from '../src/bootstrap/node-flags.js';
import { freePort } from '../src/providers/local/replica.js';
import { startFakeCluster, type FakeCluster } from './fake-cluster.js';
import { clockTicks } from './proxy-tools.js';
import { call, cpuShareOver, pool, rssMb, sleep, until } from './support.js';

/*
 * Scale of the Kubernetes caches: N functions on the fake API with FAKE_API_LATENCY_MS added to
 * every call, each Deployment with its pod and its Service's EndpointSlice (pod routing: every
 * pod's address is the one echo server on 127.0.0.1), one gateway process on the Kubernetes
 * provider:
 *   listed   gateway spawn → GET /system/functions lists all N
 *   served   gateway spawn → every function answered one call (32 at a time) with 200
 *   idle     RSS (VmRSS, the median of one sample a second) and CPU share of one core over `idleSeconds`
 * The unrelated-pods row runs the same N twice, without and with M bare pods in the namespace.
 */

/** Latency the fake API adds to every call in these rows, ms (after seeding). */
export const FAKE_API_LATENCY_MS = 5;

/** Test-only echo server on 127.0.0.1; every pod's address. */
export async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A gateway started on a fake cluster, every function listed and served once. */
export interface ServedGateway {
  readonly pid: number;
  readonly url: string;
  readonly adminUrl: string;
  readonly ticks: number;
  readonly listedMs: number;
  readonly servedMs: number;
  stop(): Promise<void>;
}

/** Spawns the gateway (dist/src/main.js, with `nodeArgs` such as `--cpu-prof`) on `cluster`, waits until all `functions` are listed, then calls each once. */
export async function startServedGateway(cluster: FakeCluster, functions: number, extraEnv: Record<string, string> = {}, nodeArgs: readonly string[] = []): Promise<ServedGateway> {
  const ticks = clockTicks();
  const port = await freePort();
  const adminPort = await freePort();
  const began = performance.now();
  const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, ...nodeArgs, join(packageRoot(), 'dist', 'src', 'main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      PORT: String(port),
      ALERT_SCALER_ADMIN_PORT: String(adminPort),
      ALERT_SCALER_HOST: '127.0.0.1',
      ALERT_SCALER_LOG_LEVEL: 'error',
      ALERT_SCALER_PROVIDER: 'kubernetes',
      KUBECONFIG: cluster.kubeconfig,
      ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '0',
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let logs = '';
  child.stderr?.on('data', (c: Buffer) => (logs = (logs + c.toString()).slice(-10_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`footprint bench: gateway exited: ${logs}`);
      return (await call(`${url}/healthz`, { timeoutMs: 2000 })).status === 200;
    }, 'gateway /healthz', 300_000, 50);
    // The Deployments are listed in name order: once the last name is known, one full list
    // confirms them all. Polling the full list (N entries) all along would cost the gateway
    // O(N) per poll for the whole listing, quadratic at 50,000.
    const lastName = Array.from({ length: functions }, (_, i) => `fn-${i}`).sort().at(-1) ?? 'fn-0';
    await until(async () => (await call(`${adminUrl}/system/function/${lastName}`, { timeoutMs: 30_000 })).status === 200, `${lastName} listed`, 300_000, 100);
    await until(async () => {
      const a = await call(`${adminUrl}/system/functions`, { timeoutMs: 30_000 });
      return a.status === 200 && (JSON.parse(a.body) as unknown[]).length >= functions;
    }, `${functions} functions listed`, 300_000, 250);
    const listedMs = Math.round(performance.now() - began);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    let failures = 0;
    await pool(functions, 32, async (i) => {
      for (let attempt = 0; attempt < 50; attempt++) {
        const a = await call(`${url}/function/fn-${i}`, { method: 'POST', body: '{}', agent, timeoutMs: 10_000 });
        if (a.status === 200) return;
        await sleep(100);
      }
      failures += 1;
    });
    agent.destroy();
    if (failures > 0) throw new Error(`footprint bench: ${failures} of ${functions} functions never answered 200`);
    return { pid: child.pid ?? -1, url, adminUrl, ticks, listedMs, servedMs: Math.round(performance.now() - began), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** RSS (median of one sample a second) and CPU share over `seconds` of idling. */
export async function idleOver(pid: number, ticks: number, seconds: number): Promise<{ rssMb: number; cpuShare: number }> {
  const cpu = cpuShareOver(pid, ticks, seconds * 1000);
  const samples: number[] = [];
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    samples.push(rssMb(pid));
  }
  samples.sort((a, b) => a - b);
  return { rssMb: samples[Math.floor(samples.length / 2)] ?? rssMb(pid), cpuShare: await cpu };
}

/**
 * RSS once the process has idled `settleSeconds` (counted from the start of its idle window,
 * `idleAlreadyMs` of which have passed): the median of one sample a second over the last 10 s.
 * V8 collects the garbage of a start-up burst (list pages, first calls) in old space only at
 * its next major GC; with nothing allocating, that is its memory reducer's GC, 60-90 s after the
 * burst on this machine. The RSS a long-idle gateway sits at is this one; the RSS just after the
 * burst (`idleOver`) is reported beside it.
 */
export async function settledRss(pid: number, settleSeconds: number, idleAlreadyMs: number, ticks: number): Promise<SettledIdle> {
  const window = Math.min(10, settleSeconds);
  const cpuWindow = Math.min(SETTLED_CPU_SECONDS, settleSeconds);
  await sleep(Math.max(0, (settleSeconds - cpuWindow) * 1000 - idleAlreadyMs));
  const cpu = cpuShareOver(pid, ticks, cpuWindow * 1000);
  await sleep((cpuWindow - window) * 1000);
  const samples: number[] = [];
  for (let i = 0; i < window; i++) {
    await sleep(1000);
    samples.push(rssMb(pid));
  }
  samples.sort((a, b) => a - b);
  return { rssMb: samples[Math.floor(samples.length / 2)] ?? rssMb(pid), cpuShare: await cpu, cpuSeconds: cpuWindow };
}

/** The settled window's CPU is measured over this many seconds, ending where the settle ends. */
const SETTLED_CPU_SECONDS = 20;

/**
 * A settled gateway: RSS as `settledRss` says, and its CPU share over the last
 * SETTLED_CPU_SECONDS of the settle. The CPU just after the calls (`idleOver`) holds the
 * major GC of the start-up burst when it comes early (1-3 % of a core over 30 s at 10,000
 * functions, or under 1 % when it comes later); the settled figure is the idle gateway's.
 */
export interface SettledIdle {
  readonly rssMb: number;
  readonly cpuShare: number;
  readonly cpuSeconds: number;
}

export interface ScaleRow {
  readonly functions: number;
  readonly unrelatedPods: number;
  readonly latencyMs: number;
  readonly listedMs: number;
  readonly servedMs: number;
  readonly idleRssMb: number;
  readonly idleCpuShare: number;
  readonly idleSeconds: number;
  /** RSS after `settleSeconds` of idling (settledRss); absent in older results. */
  readonly settledRssMb?: number;
  /** CPU share over the last `settledCpuSeconds` of the settle (settledRss); absent in older results. */
  readonly settledCpuShare?: number;
  readonly settledCpuSeconds?: number;
  readonly settleSeconds?: number;
  /** Pod objects the fake API sent the gateway (list pages and watch events). */
  readonly podsSent: number;
}

/** One gateway on `functions` functions (and `unrelatedPods` bare pods beside them): listed, served, idle. */
export async function scaleRow(functions: number, options: { unrelatedPods: number; idleSeconds: number; settleSeconds: number }): Promise<ScaleRow> {
  const echo = await echoServer();
  const cluster = await startFakeCluster({
    count: functions, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' },
    latencyMs: FAKE_API_LATENCY_MS, podIp: '127.0.0.1', port: echo.port, unrelatedPods: options.unrelatedPods,
  });
  try {
    const gateway = await startServedGateway(cluster, functions);
    try {
      const idle = await idleOver(gateway.pid, gateway.ticks, options.idleSeconds);
      const settled = await settledRss(gateway.pid, options.settleSeconds, options.idleSeconds * 1000, gateway.ticks);
      return {
        functions, unrelatedPods: options.unrelatedPods, latencyMs: FAKE_API_LATENCY_MS,
        listedMs: gateway.listedMs, servedMs: gateway.servedMs, idleRssMb: idle.rssMb, idleCpuShare: idle.cpuShare, idleSeconds: options.idleSeconds,
        settledRssMb: settled.rssMb, settledCpuShare: settled.cpuShare, settledCpuSeconds: settled.cpuSeconds, settleSeconds: options.settleSeconds,
        podsSent: cluster.fake.sentCount.get('pods') ?? 0,
      };
    } finally {
      await gateway.stop();
    }
  } finally {
    await cluster.close();
    await echo.close();
  }
}
