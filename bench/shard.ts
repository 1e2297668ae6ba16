import http from 'node:http';
import { startFakeCluster } from './fake-cluster.js';
import { clockTicks } from './proxy-tools.js';
import { freePort } from '../src/providers/local/replica.js';
import { call, cpuShareOver, rssMb, sleep, startGatewayProcess, until, type GatewayProcess } from './support.js';
import { notification } from './webhook.js';

/*
 * Sharding's share of the work (issue 18): the same 10,000 functions on the fake Kubernetes API
 * (5 ms per call, every Deployment with its pod and EndpointSlice), first one gateway, then three
 * from the same config (no count or index: they find each other through member Leases and split
 * the bucket Leases). Alertmanager's notifications go round robin over the gateways (as a
 * Service spreads them), 200 a second over all functions in turn; each gateway's CPU is read
 * from /proc over the same window. What drops to a third: the webhook work each gateway does
 * (a third of the notifications) plus the policy and idle work of the functions it owns.
 */

export interface ShardRun {
  readonly gateways: number;
  /** `all`: round robin over the gateways; `first`: every notification to the first (the others only watch the writes). */
  readonly receivers: 'all' | 'first';
  /** Start of the gateways → every gateway lists every function and they agree on each sampled owner, ms. */
  readonly settledMs: number;
  /** CPU of each gateway over the idle window, share of one core. */
  readonly idleCpu: readonly number[];
  /** CPU of each gateway while the notifications flow, share of one core. */
  readonly alertCpu: readonly number[];
  readonly rssMb: readonly number[];
  /** Functions owned by each gateway among the sampled ones. */
  readonly owned: readonly number[];
  readonly notifications: number;
  readonly statuses: Record<string, number>;
}

export interface ShardResult {
  readonly name: 'shard';
  readonly functions: number;
  readonly rate: number;
  readonly seconds: number;
  readonly runs: ShardRun[];
}

export interface ShardOptions {
  readonly functions?: number;
  readonly rate?: number;
  readonly seconds?: number;
  readonly idleSeconds?: number;
}

async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The owner each gateway reports for `fn`; null where it reports none. */
async function owners(gateways: readonly GatewayProcess[], fn: string): Promise<Array<string | null>> {
  return Promise.all(
    gateways.map(async (g) => {
      const a = await call(`${g.adminUrl}/system/function/${fn}`, { timeoutMs: 10_000 });
      if (a.status !== 200) return null;
      return (JSON.parse(a.body) as { owner?: string | null }).owner ?? null;
    }),
  );
}

async function listed(g: GatewayProcess): Promise<number> {
  const a = await call(`${g.adminUrl}/system/functions`, { timeoutMs: 60_000 });
  return a.status === 200 ? (JSON.parse(a.body) as unknown[]).length : 0;
}

/** Notifications at `rate`/s for `seconds`, round robin over the gateways, over every function in turn (firing, then resolved on the next round). */
async function alertStream(gateways: readonly GatewayProcess[], functions: number, rate: number, seconds: number): Promise<{ sent: number; statuses: Record<string, number> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.round(rate * seconds);
  const statuses: Record<string, number> = {};
  const pending: Array<Promise<void>> = [];
  const began = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = began + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    const round = Math.floor(i / functions);
    const body = notification(`fn-${i % functions}`, round % 2 === 0, round);
    const g = gateways[i % gateways.length] as GatewayProcess;
    pending.push(call(`${g.adminUrl}/system/alert`, { method: 'POST', body, agent, timeoutMs: 10_000 }).then((a) => {
      const key = a.status === 0 ? `0 ${a.error ?? 'unknown'}` : String(a.status);
      statuses[key] = (statuses[key] ?? 0) + 1;
    }));
  }
  await Promise.all(pending);
  agent.destroy();
  return { sent: total, statuses };
}

async function run(count: number, receivers: 'all' | 'first', options: Required<ShardOptions>): Promise<ShardRun> {
  const echo = await echoServer();
  const cluster = await startFakeCluster({ count: options.functions, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '3' }, latencyMs: 5, podIp: '127.0.0.1', port: echo.port });
  const gateways: GatewayProcess[] = [];
  try {
    const began = performance.now();
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      gateways.push(
        await startGatewayProcess(
          {
            ALERT_SCALER_PROVIDER: 'kubernetes',
            KUBECONFIG: cluster.kubeconfig,
            POD_IP: '127.0.0.1',
            ALERT_SCALER_LEASE_DURATION_SECONDS: '6',
            ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '0',
          },
          port,
          180_000,
        ),
      );
    }
    await until(async () => (await Promise.all(gateways.map(listed))).every((n) => n >= options.functions), `${options.functions} functions listed by every gateway`, 240_000, 1000);
    const sample = Array.from({ length: 30 }, (_, i) => `fn-${Math.floor((i * options.functions) / 30)}`);
    const owned = new Map<string, number>();
    await until(
      async () => {
        owned.clear();
        for (const fn of sample) {
          const seen = await owners(gateways, fn);
          if (seen[0] === null || seen.some((o) => o !== seen[0])) return false;
          owned.set(seen[0] as string, (owned.get(seen[0] as string) ?? 0) + 1);
        }
        return owned.size === count;
      },
      'the gateways to agree on the owners',
      60_000,
      500,
    );
    const settledMs = Math.round(performance.now() - began);
    const ticks = clockTicks();
    const idleCpu = await Promise.all(gateways.map((g) => cpuShareOver(g.pid, ticks, options.idleSeconds * 1000)));
    const during = Promise.all(gateways.map((g) => cpuShareOver(g.pid, ticks, options.seconds * 1000)));
    const stream = await alertStream(receivers === 'all' ? gateways : gateways.slice(0, 1), options.functions, options.rate, options.seconds);
    const alertCpu = await during;
    return {
      gateways: count,
      receivers,
      settledMs,
      idleCpu,
      alertCpu,
      rssMb: gateways.map((g) => rssMb(g.pid)),
      owned: [...owned.values()].sort((a, b) => b - a),
      notifications: stream.sent,
      statuses: stream.statuses,
    };
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await cluster.close();
    await echo.close();
  }
}

/** One gateway, then three, on the same cluster shape and the same notification stream. */
export async function shardBenchmark(opts: ShardOptions = {}): Promise<ShardResult> {
  const options: Required<ShardOptions> = { functions: opts.functions ?? 10_000, rate: opts.rate ?? 200, seconds: opts.seconds ?? 30, idleSeconds: opts.idleSeconds ?? 20 };
  const runs: ShardRun[] = [];
  runs.push(await run(1, 'all', options));
  runs.push(await run(3, 'all', options));
  // What every gateway pays for the others' writes alone: the two that receive nothing.
  runs.push(await run(3, 'first', options));
  return { name: 'shard', functions: options.functions, rate: options.rate, seconds: options.seconds, runs };
}

const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

/** Per-gateway CPU under alerts with three gateways against one. */
export function shardRatio(r: ShardResult): number {
  const one = r.runs.find((x) => x.gateways === 1);
  const three = r.runs.find((x) => x.gateways === 3 && (x.receivers ?? 'all') === 'all');
  return one === undefined || three === undefined ? Number.NaN : mean(three.alertCpu) / Math.max(1e-9, mean(one.alertCpu));
}

export function shardSummary(r: ShardResult): string {
  const lines = [`sharding: ${r.functions} functions (fake API, 5 ms per call), ${r.rate} notifications/s for ${r.seconds} s round robin over the gateways:`];
  for (const x of r.runs) {
    lines.push(
      `  ${x.gateways} gateway(s)${x.receivers === 'first' ? ', every notification to the first' : ''}: settled in ${(x.settledMs / 1000).toFixed(1)} s; CPU under alerts per gateway ${x.alertCpu.map(pct).join(', ')} (mean ${pct(mean(x.alertCpu))}); idle ${x.idleCpu.map(pct).join(', ')}; RSS ${x.rssMb.map((m) => `${m.toFixed(0)} MB`).join(', ')}; sampled owners ${x.owned.join('/')}; answers ${JSON.stringify(x.statuses)}`,
    );
  }
  lines.push(`  per-gateway CPU under alerts, three gateways / one: ${shardRatio(r).toFixed(2)} (goal about 0.33)`);
  const watchOnly = r.runs.find((x) => x.receivers === 'first');
  if (watchOnly !== undefined) lines.push(`  a gateway that receives none of the notifications (it only watches the others' writes): ${watchOnly.alertCpu.slice(1).map(pct).join(', ')}`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('shard.js') === true) {
  const functions = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  shardBenchmark(functions === undefined ? {} : { functions })
    .then((r) => console.log(shardSummary(r)))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}
