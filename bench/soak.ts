import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/bootstrap.js';
import { freePort } from '../src/providers/local/replica.js';
import { clockTicks, cpuSeconds } from './proxy-tools.js';
import { call, openFds, rssMb, sleep, startGatewayProcess, type GatewayProcess } from './support.js';
import { notification } from './webhook.js';

/*
 * Soak: a gateway process (local provider, the echo example, min 0, max 3, scale.zero with a
 * 5 s zero-duration and a 1 s idler) driven in 30 s cycles for `minutes`:
 *   0-15 s   traffic, 50 calls/s (the first call of a cycle wakes the function from zero);
 *            at 3 s a firing notification (steps up), at 10 s its resolved one
 *   15-30 s  nothing: the idler takes the function back to zero
 * Every 5 s: the gateway's RSS (VmRSS), open fds (/proc/<pid>/fd) and CPU. The first 20 % of
 * the run is warm-up; RSS growth compares the median of the first three samples after it with
 * the median of the last three. Targets: growth < 10 %, fds flat (max − min after warm-up
 * within a handful: keep-alive sockets come and go with traffic).
 */

export interface SoakSample {
  readonly atS: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly cpuS: number;
}

export interface SoakResult {
  readonly name: 'soak';
  readonly minutes: number;
  readonly cycles: number;
  readonly calls: { readonly sent: number; readonly ok: number; readonly failed: Record<string, number> };
  readonly alerts: number;
  readonly wakes: number;
  readonly samples: SoakSample[];
  readonly warmupS: number;
  readonly rssAfterWarmupMb: number;
  readonly rssEndMb: number;
  readonly rssGrowthPercent: number;
  readonly fdsAfterWarmup: { readonly min: number; readonly max: number; readonly first: number; readonly last: number };
}

const median = (v: readonly number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)] ?? Number.NaN;

async function traffic(gateway: GatewayProcess, seconds: number, rate: number, counts: { sent: number; ok: number; failed: Record<string, number> }): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const pending: Array<Promise<void>> = [];
  const began = performance.now();
  for (let i = 0; i < seconds * rate; i++) {
    const wait = began + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    counts.sent += 1;
    pending.push(
      call(`${gateway.url}/function/echo`, { method: 'POST', body: '{}', agent, timeoutMs: 30_000 }).then((a) => {
        if (a.status === 200) counts.ok += 1;
        else counts.failed[String(a.status)] = (counts.failed[String(a.status)] ?? 0) + 1;
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
}

/** Runs the soak for `minutes` (bounded: it stops by itself); the gateway is stopped before it returns. */
export async function soakBenchmark(options: { minutes?: number } = {}): Promise<SoakResult> {
  const minutes = options.minutes ?? 10;
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-soak-'));
  const stack = join(dir, 'stack.yml');
  const echo = join(packageRoot(), 'examples', 'functions', 'echo.mjs');
  writeFileSync(stack, `functions:\n  echo:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(echo)}]\n    labels: { com.openfaas.scale.min: "0", com.openfaas.scale.max: "3", com.openfaas.scale.zero: "true", com.openfaas.scale.zero-duration: "5s" }\n`);
  const gateway = await startGatewayProcess({ ALERT_SCALER_STACK: stack, ALERT_SCALER_IDLER_INTERVAL_SECONDS: '1', ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '2', ALERT_SCALER_COOLDOWN_SECONDS: '1' }, await freePort());
  const ticks = clockTicks();
  const samples: SoakSample[] = [];
  const began = performance.now();
  const sample = () => samples.push({ atS: Math.round((performance.now() - began) / 100) / 10, rssMb: rssMb(gateway.pid), fds: openFds(gateway.pid), cpuS: Math.round(cpuSeconds(gateway.pid, ticks) * 100) / 100 });
  sample();
  const sampler = setInterval(sample, 5000);
  const counts = { sent: 0, ok: 0, failed: {} as Record<string, number> };
  let alerts = 0;
  let cycles = 0;
  let metrics = '';
  try {
    const end = began + minutes * 60_000;
    while (performance.now() + 30_000 <= end + 1000 || cycles === 0) {
      const cycleStart = performance.now();
      const alerting = (async () => {
        await sleep(3000);
        await call(`${gateway.adminUrl}/system/alert`, { method: 'POST', body: notification('echo', true, cycles) });
        await sleep(7000);
        await call(`${gateway.adminUrl}/system/alert`, { method: 'POST', body: notification('echo', false, cycles) });
        alerts += 2;
      })();
      await traffic(gateway, 15, 50, counts);
      await alerting;
      await sleep(Math.max(0, cycleStart + 30_000 - performance.now()));
      cycles += 1;
    }
    sample();
  } finally {
    clearInterval(sampler);
    metrics = (await call(`${gateway.url}/metrics`)).body;
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const wakes = [...metrics.matchAll(/^alert_scaler_cold_starts_total\{[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
  const warmupS = (minutes * 60) / 5;
  const after = samples.filter((s) => s.atS >= warmupS);
  const rssAfterWarmupMb = median(after.slice(0, 3).map((s) => s.rssMb));
  const rssEndMb = median(after.slice(-3).map((s) => s.rssMb));
  const fds = after.map((s) => s.fds);
  return {
    name: 'soak',
    minutes,
    cycles,
    calls: counts,
    alerts,
    wakes,
    samples,
    warmupS,
    rssAfterWarmupMb,
    rssEndMb,
    rssGrowthPercent: Math.round(((rssEndMb - rssAfterWarmupMb) / rssAfterWarmupMb) * 1000) / 10,
    fdsAfterWarmup: { min: Math.min(...fds), max: Math.max(...fds), first: fds[0] ?? Number.NaN, last: fds.at(-1) ?? Number.NaN },
  };
}

/** The result for humans. */
export function soakSummary(r: SoakResult): string {
  return [
    `soak, ${r.minutes} min, ${r.cycles} cycles (traffic, alerts, idle to zero, wake):`,
    `  calls ${r.calls.sent} sent, ${r.calls.ok} ok, failed ${JSON.stringify(r.calls.failed)}; ${r.alerts} notifications; ${r.wakes} wakes from zero`,
    `  RSS after warm-up (${r.warmupS} s) ${r.rssAfterWarmupMb} MB -> end ${r.rssEndMb} MB: ${r.rssGrowthPercent} %`,
    `  open fds after warm-up: first ${r.fdsAfterWarmup.first}, last ${r.fdsAfterWarmup.last}, min ${r.fdsAfterWarmup.min}, max ${r.fdsAfterWarmup.max}`,
  ].join('\n');
}
