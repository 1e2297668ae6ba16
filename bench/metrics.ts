import http from 'node:http';
import { readFileSync } from 'node:fs';
import { startFakeCluster } from './fake-cluster.js';
import { echoServer, startServedGateway } from './footprint-scale.js';
import { rssMb, sleep } from './support.js';

/*
 * The cost of a Prometheus scrape at N functions: N Deployments on the fake Kubernetes API (no
 * added latency: the API is not what is measured), the gateway in its own process
 * (dist/src/main.js) with pod routing to one echo server on 127.0.0.1, every function served
 * once (so its invocation series exist: counter per code, the 12-bucket duration histogram,
 * started, in flight, queue, replicas by state, policy settings). Then `scrapes` scrapes of
 * GET /metrics, one a second (the shipped scrape interval), each timed from outside:
 *   wall      request sent → last byte, ms; bytes and lines of the answer
 *   probe     a /healthz request on the same listener, sent again as soon as the last one
 *             answered, for as long as the scrape runs: its slowest answer is the longest time
 *             the gateway's event loop could not answer anything during the render
 *   loop lag  the gateway's own `nodejs_eventloop_lag_max_seconds` (monitorEventLoopDelay,
 *             reset at each scrape): scrape k reports the longest block since scrape k-1, so
 *             scrapes 2..n report the blocks of the renders before them
 *   RSS       VmRSS before the first scrape and after the last; VmHWM (the process's peak RSS)
 *             before and after
 */

/** One scrape as seen from outside. */
export interface Scrape {
  readonly wallMs: number;
  readonly bytes: number;
  readonly lines: number;
  readonly probes: number;
  readonly probeMaxMs: number;
  /** The gateway's event-loop lag max since the previous scrape, ms (NaN when absent). */
  readonly loopLagMaxMs: number;
}

/** One function count's figures. */
export interface MetricsRow {
  readonly functions: number;
  readonly servedMs: number;
  readonly scrapes: readonly Scrape[];
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
  readonly peakRssBeforeMb: number;
  readonly peakRssAfterMb: number;
  /** /healthz answer time with no scrape running (median of 50), ms: what the probe costs by itself. */
  readonly idleProbeMs: number;
}

export interface MetricsBenchResult {
  readonly rows: readonly MetricsRow[];
}

/** VmHWM (peak RSS) of a process in MB, NaN when unreadable. */
function peakRssMb(pid: number): number {
  try {
    const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return Number.NaN;
  }
}

/** GET `url` on `agent`; resolves with the answer's time, bytes and text (bounded by `timeoutMs`). */
function get(url: string, agent: http.Agent, timeoutMs: number): Promise<{ ms: number; body: string; status: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ ms: performance.now() - started, body: Buffer.concat(chunks).toString('utf8'), status: res.statusCode ?? 0 }));
      res.once('error', () => resolve({ ms: performance.now() - started, body: '', status: 0 }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('deadline')));
    req.once('error', () => resolve({ ms: performance.now() - started, body: '', status: 0 }));
  });
}

/** The value of an unlabelled sample in a Prometheus text, NaN when absent. */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/** One scrape of `url`/metrics with /healthz probed back to back while it runs. */
async function scrape(url: string): Promise<Scrape> {
  const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const scrapeAgent = new http.Agent({ keepAlive: false });
  let running = true;
  let probes = 0;
  let probeMaxMs = 0;
  const probing = (async () => {
    while (running) {
      const a = await get(`${url}/healthz`, probeAgent, 30_000);
      probes += 1;
      probeMaxMs = Math.max(probeMaxMs, a.ms);
    }
  })();
  const answer = await get(`${url}/metrics`, scrapeAgent, 60_000);
  running = false;
  await probing;
  probeAgent.destroy();
  scrapeAgent.destroy();
  if (answer.status !== 200) throw new Error(`metrics bench: GET /metrics answered ${answer.status}`);
  let lines = 0;
  for (let i = answer.body.indexOf('\n'); i !== -1; i = answer.body.indexOf('\n', i + 1)) lines += 1;
  return {
    wallMs: round(answer.ms),
    bytes: Buffer.byteLength(answer.body),
    lines,
    probes,
    probeMaxMs: round(probeMaxMs),
    loopLagMaxMs: round(sample(answer.body, 'nodejs_eventloop_lag_max_seconds') * 1000),
  };
}

/** `functions` functions served once, then `scrapes` scrapes one a second. */
export async function metricsRow(functions: number, scrapes: number): Promise<MetricsRow> {
  const echo = await echoServer();
  const cluster = await startFakeCluster({
    count: functions, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' },
    latencyMs: 0, podIp: '127.0.0.1', port: echo.port,
  });
  try {
    const gateway = await startServedGateway(cluster, functions);
    try {
      await sleep(2000);
      const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const idle: number[] = [];
      for (let i = 0; i < 50; i++) idle.push((await get(`${gateway.url}/healthz`, idleAgent, 10_000)).ms);
      idleAgent.destroy();
      idle.sort((a, b) => a - b);
      const rssBeforeMb = rssMb(gateway.pid);
      const peakRssBeforeMb = peakRssMb(gateway.pid);
      const done: Scrape[] = [];
      for (let i = 0; i < scrapes; i++) {
        const began = performance.now();
        done.push(await scrape(gateway.url));
        await sleep(Math.max(0, 1000 - (performance.now() - began)));
      }
      return {
        functions, servedMs: gateway.servedMs, scrapes: done,
        rssBeforeMb, rssAfterMb: rssMb(gateway.pid), peakRssBeforeMb, peakRssAfterMb: peakRssMb(gateway.pid),
        idleProbeMs: round(idle[Math.floor(idle.length / 2)] ?? Number.NaN, 2),
      };
    } finally {
      await gateway.stop();
    }
  } finally {
    await cluster.close();
    await echo.close();
  }
}

/** Each size in turn (default 1,000 and 10,000), `scrapes` scrapes each (default 10). */
export async function metricsBenchmark(opts: { sizes?: readonly number[]; scrapes?: number } = {}): Promise<MetricsBenchResult> {
  const rows: MetricsRow[] = [];
  for (const functions of opts.sizes ?? [1000, 10_000]) rows.push(await metricsRow(functions, opts.scrapes ?? 10));
  return { rows };
}

const median = (v: readonly number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)] ?? Number.NaN;
const max = (v: readonly number[]) => v.reduce((a, b) => (Number.isNaN(b) ? a : Math.max(a, b)), 0);

/** The figures of one row: medians and maxima over its scrapes (lag from the 2nd scrape on). */
export function metricsFigures(row: MetricsRow): { wallMedianMs: number; wallMaxMs: number; probeMaxMs: number; loopLagMaxMs: number; bytes: number; lines: number; rssAddedMb: number; peakAddedMb: number } {
  const s = row.scrapes;
  return {
    wallMedianMs: median(s.map((x) => x.wallMs)),
    wallMaxMs: max(s.map((x) => x.wallMs)),
    probeMaxMs: max(s.map((x) => x.probeMaxMs)),
    loopLagMaxMs: max(s.slice(1).map((x) => x.loopLagMaxMs)),
    bytes: s.at(-1)?.bytes ?? 0,
    lines: s.at(-1)?.lines ?? 0,
    rssAddedMb: round(row.rssAfterMb - row.rssBeforeMb),
    peakAddedMb: round(row.peakRssAfterMb - row.peakRssBeforeMb),
  };
}

/** The figures for humans. */
export function metricsSummary(r: MetricsBenchResult): string {
  return r.rows
    .map((row) => {
      const f = metricsFigures(row);
      return [
        `GET /metrics, ${row.functions} functions served once (${row.scrapes.length} scrapes at 1 s):`,
        `  wall p50 ${f.wallMedianMs.toFixed(1)} ms, max ${f.wallMaxMs.toFixed(1)} ms; ${(f.bytes / 2 ** 20).toFixed(2)} MiB, ${f.lines} lines`,
        `  longest loop block: probe ${f.probeMaxMs.toFixed(1)} ms (idle probe ${row.idleProbeMs} ms), gateway's own lag max ${f.loopLagMaxMs.toFixed(1)} ms`,
        `  RSS ${row.rssBeforeMb} → ${row.rssAfterMb} MB (+${f.rssAddedMb}), peak ${row.peakRssBeforeMb} → ${row.peakRssAfterMb} MB (+${f.peakAddedMb})`,
      ].join('\n');
    })
    .join('\n');
}
