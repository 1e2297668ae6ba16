import { spawn } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { startFakeCluster } from './fake-cluster.js';
import { renderAB, type RenderAB } from './metrics-render.js';
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
 *   probe     a /healthz request on the same listener, from a process of its own, sent again
 *             as soon as the last one answered, for as long as the scrape runs: its slowest
 *             answer is the longest time the gateway's event loop could not answer anything
 *   loop lag  the gateway's own `nodejs_eventloop_lag_max_seconds` is kept in the results but
 *             not reported: prom-client's monitor samples every 100 ms and reports a 200 ms
 *             block as about 102 ms (checked with monitorEventLoopDelay on Node 20)
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
  /** The two renders A/B in one process (bench/metrics-render.ts); absent in results written before. */
  readonly renders?: readonly RenderAB[];
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

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/*
 * The probe runs in a process of its own, so the bench process's work (the fake API, reading
 * the 20 MB answer) never delays it: on `start` it sends GET /healthz back to back on one
 * keep-alive connection; on `stop` it answers with the count and the slowest answer, ms.
 */
const PROBE = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let running = false, probes = 0, max = 0, loop = Promise.resolve();
const once = (url) => new Promise((resolve) => {
  const t = performance.now();
  const req = http.get(url, { agent }, (res) => { res.resume(); res.once('end', () => resolve(performance.now() - t)); });
  req.setTimeout(30000, () => req.destroy(new Error('deadline')));
  req.once('error', () => resolve(performance.now() - t));
});
process.on('message', async (m) => {
  if (m.start !== undefined) {
    running = true; probes = 0; max = 0;
    loop = (async () => { while (running) { max = Math.max(max, await once(m.start)); probes += 1; } })();
  } else if (m.stop) {
    running = false; await loop; process.send({ probes, max });
  } else process.exit(0);
});`;

/** A probe process: `start(url)`, then `stop()` gives what it measured. */
interface Probe {
  start(url: string): void;
  stop(): Promise<{ probes: number; max: number }>;
  close(): void;
}

function startProbe(): Probe {
  const child = spawn(process.execPath, ['-e', PROBE], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return {
    start: (url) => child.send({ start: `${url}/healthz` }),
    stop: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as { probes: number; max: number }));
        child.send({ stop: true });
      }),
    close: () => child.kill(),
  };
}

/** Newlines in `chunks`, and the value of the unlabelled sample `name` (NaN when absent), read without building the text. */
function scanned(chunks: readonly Buffer[], name: string): { lines: number; value: number } {
  let lines = 0;
  let value = Number.NaN;
  const needle = Buffer.from(`\n${name} `);
  for (const chunk of chunks) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
    const at = chunk.indexOf(needle);
    if (at !== -1 && Number.isNaN(value)) value = Number(chunk.subarray(at + needle.length, chunk.indexOf(10, at + 1)).toString());
  }
  return { lines, value };
}

/** One scrape of `url`/metrics with /healthz probed back to back (from `probe`'s process) while it runs. */
async function scrape(url: string, probe: Probe): Promise<Scrape> {
  const agent = new http.Agent({ keepAlive: false });
  probe.start(url);
  const answer = await new Promise<{ ms: number; chunks: Buffer[]; status: number }>((resolve) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    const req = http.get(`${url}/metrics`, { agent }, (res) => {
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ ms: performance.now() - started, chunks, status: res.statusCode ?? 0 }));
      res.once('error', () => resolve({ ms: performance.now() - started, chunks, status: 0 }));
    });
    req.setTimeout(60_000, () => req.destroy(new Error('deadline')));
    req.once('error', () => resolve({ ms: performance.now() - started, chunks, status: 0 }));
  });
  const probed = await probe.stop();
  agent.destroy();
  if (answer.status !== 200) throw new Error(`metrics bench: GET /metrics answered ${answer.status}`);
  const { lines, value } = scanned(answer.chunks, 'nodejs_eventloop_lag_max_seconds');
  return {
    wallMs: round(answer.ms),
    bytes: answer.chunks.reduce((n, c) => n + c.length, 0),
    lines,
    probes: probed.probes,
    probeMaxMs: round(probed.max),
    loopLagMaxMs: round(value * 1000),
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
      const probe = startProbe();
      try {
        for (let i = 0; i < scrapes; i++) {
          const began = performance.now();
          done.push(await scrape(gateway.url, probe));
          await sleep(Math.max(0, 1000 - (performance.now() - began)));
        }
      } finally {
        probe.close();
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

/** Each size in turn (default 1,000 and 10,000): the in-process A/B (`rounds` each, default 5), then the gateway scraped `scrapes` times (default 10). */
export async function metricsBenchmark(opts: { sizes?: readonly number[]; scrapes?: number; rounds?: number } = {}): Promise<MetricsBenchResult> {
  const sizes = opts.sizes ?? [1000, 10_000];
  const renders: RenderAB[] = [];
  for (const functions of sizes) renders.push(await renderAB(functions, opts.rounds ?? 5));
  const rows: MetricsRow[] = [];
  for (const functions of sizes) rows.push(await metricsRow(functions, opts.scrapes ?? 10));
  return { rows, renders };
}

const median = (v: readonly number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)] ?? Number.NaN;
const max = (v: readonly number[]) => v.reduce((a, b) => (Number.isNaN(b) ? a : Math.max(a, b)), 0);

/** The figures of one row: medians and maxima over its scrapes (lag from the 2nd scrape on). */
export function metricsFigures(row: MetricsRow): { wallMedianMs: number; wallMaxMs: number; probeMaxMs: number; probeMedianMs: number; loopLagMaxMs: number; bytes: number; lines: number; rssAddedMb: number; peakAddedMb: number } {
  const s = row.scrapes;
  return {
    wallMedianMs: median(s.map((x) => x.wallMs)),
    wallMaxMs: max(s.map((x) => x.wallMs)),
    probeMaxMs: max(s.map((x) => x.probeMaxMs)),
    probeMedianMs: median(s.map((x) => x.probeMaxMs)),
    loopLagMaxMs: max(s.slice(1).map((x) => x.loopLagMaxMs)),
    bytes: s.at(-1)?.bytes ?? 0,
    lines: s.at(-1)?.lines ?? 0,
    rssAddedMb: round(row.rssAfterMb - row.rssBeforeMb),
    peakAddedMb: round(row.peakRssAfterMb - row.peakRssBeforeMb),
  };
}

/** The figures for humans. */
export function metricsSummary(r: MetricsBenchResult): string {
  const ab = (r.renders ?? []).map((x) =>
    [
      `render A/B in one process, ${x.functions} functions (${x.rounds} rounds each; p50 / max):`,
      `  prom-client registry.metrics(): wall ${median(x.promClient.wallMs).toFixed(1)} / ${max(x.promClient.wallMs).toFixed(1)} ms, longest block ${median(x.promClient.longestBlockMs).toFixed(1)} / ${max(x.promClient.longestBlockMs).toFixed(1)} ms`,
      `  sliced render:                  wall ${median(x.sliced.wallMs).toFixed(1)} / ${max(x.sliced.wallMs).toFixed(1)} ms, longest block ${median(x.sliced.longestBlockMs).toFixed(1)} / ${max(x.sliced.longestBlockMs).toFixed(1)} ms`,
    ].join('\n'),
  );
  return [...ab, ...r.rows
    .map((row) => {
      const f = metricsFigures(row);
      return [
        `GET /metrics, ${row.functions} functions served once (${row.scrapes.length} scrapes at 1 s):`,
        `  wall p50 ${f.wallMedianMs.toFixed(1)} ms, max ${f.wallMaxMs.toFixed(1)} ms; ${(f.bytes / 2 ** 20).toFixed(2)} MiB, ${f.lines} lines`,
        `  longest loop block (slowest /healthz probe during a scrape) ${f.probeMaxMs.toFixed(1)} ms, p50 of the scrapes' slowest ${f.probeMedianMs.toFixed(1)} ms (idle probe ${row.idleProbeMs} ms)`,
        `  RSS ${row.rssBeforeMb} → ${row.rssAfterMb} MB (+${f.rssAddedMb}), peak ${row.peakRssBeforeMb} → ${row.peakRssAfterMb} MB (+${f.peakAddedMb})`,
      ].join('\n');
    })].join('\n');
}
