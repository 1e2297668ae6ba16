import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import { packageRoot } from '../src/bootstrap.js';
import type { FunctionRef } from '../src/providers/types.js';
import { getJson, startProcess, waitFor, type ManagedProcess } from '../demo/stack.js';
import { startGateway, type RunningScaler } from '../demo/gateway.js';
import { startLoad } from '../demo/load.js';
import { writeMonitoringConfigs, type MonitoringTiming } from '../demo/monitoring-config.js';
import { findTool, freePort } from '../demo/tools.js';
import { sleep } from './support.js';

/*
 * Reaction time with the real Prometheus and Alertmanager (Debian's binaries, as the e2e
 * harness runs them) and the gateway in this process on the local provider. One `echo`
 * function (min 1, max 4, factor 50); a load step of `rate` calls/s (well above the rule's
 * 5/s) starts at t0 and stops `holdAfterUpMs` after the first added replica (t1).
 *   up   = first time the provider's desired count exceeds min − t0
 *   down = first time it is back at min − t1 (the alert resolves, then the gateway's
 *          scale-down window, default 30 s, shipped as is in both settings)
 * Settings:
 *   openfaas  the OpenFaaS stock: its rule (completed 200s, rate[10s] > 5 for 5s), scrape
 *             5 s, evaluation 15 s, group_wait 5 s, group_interval 10 s, repeat 30 s
 *   shipped   deploy/prometheus/prometheus.yml, alert-rules/ and deploy/alertmanager.yml as
 *             they are, read from the files (`shippedSetting`)
 * Prometheus resends firing alerts at its default (1 m) in both.
 * The in-process policy loop is the third row: a `queue` function (concurrency 1, max-queue 0,
 * replies after 50 ms) under the same load step, no Prometheus involved.
 */

/** Prometheus and Alertmanager timing of one setting; evaluation may differ from scrape. */
export interface ReactionSetting {
  readonly name: 'openfaas' | 'shipped';
  readonly scrapeInterval: string;
  readonly evaluationInterval: string;
  readonly rateWindow: string;
  readonly forDuration: string;
  readonly groupWait: string;
  readonly groupInterval: string;
  readonly repeatInterval: string;
  /** Replaces APIHighInvocationRate's expression (OpenFaaS's own rule counts completed 200s); the shipped one when absent. */
  readonly expr?: string;
}

export const OPENFAAS_STOCK: ReactionSetting = {
  name: 'openfaas',
  scrapeInterval: '5s',
  evaluationInterval: '15s',
  rateWindow: '10s',
  forDuration: '5s',
  groupWait: '5s',
  groupInterval: '10s',
  repeatInterval: '30s',
  expr: 'sum by (function_name) (rate(gateway_function_invocation_total{code="200"}[10s])) > 5',
};
/**
 * The shipped setting, read from the files a user runs (deploy/prometheus/prometheus.yml's
 * alert-scaler job, alert-rules/gateway.rules.yml's group and rule, deploy/alertmanager.yml's
 * route), so the bench cannot drift from them.
 */
export async function shippedSetting(root = packageRoot()): Promise<ReactionSetting> {
  const read = async (path: string) => load(await readFile(join(root, path), 'utf8')) as Doc;
  const prometheus = await read('deploy/prometheus/prometheus.yml');
  const global = (prometheus['global'] ?? {}) as Doc;
  const job = ((prometheus['scrape_configs'] ?? []) as Doc[]).find((c) => c['job_name'] === 'alert-scaler') ?? {};
  const [group] = ((await read('alert-rules/gateway.rules.yml'))['groups'] ?? []) as Doc[];
  const rule = ((group?.['rules'] ?? []) as Doc[]).find((r) => r['alert'] === 'APIHighInvocationRate') ?? {};
  const route = ((await read('deploy/alertmanager.yml'))['route'] ?? {}) as Doc;
  const text = (value: unknown, fallback: string) => (typeof value === 'string' ? value : fallback);
  return {
    name: 'shipped',
    scrapeInterval: text(job['scrape_interval'] ?? global['scrape_interval'], '1m'),
    evaluationInterval: text(group?.['interval'] ?? global['evaluation_interval'], '1m'),
    rateWindow: /\[([^\]]+)\]/.exec(text(rule['expr'], ''))?.[1] ?? '',
    forDuration: text(rule['for'], '0s'),
    groupWait: text(route['group_wait'], '30s'),
    groupInterval: text(route['group_interval'], '5m'),
    repeatInterval: text(route['repeat_interval'], '4h'),
  };
}

/** One trial: ms from the load step's start to the first added replica, and from its end back to min. */
export interface ReactionTrial {
  readonly upMs: number;
  readonly downMs: number;
  readonly loadMs: number;
}

export interface ReactionResult {
  readonly name: 'reaction';
  readonly rate: number;
  readonly settings: Array<{ readonly setting: ReactionSetting; readonly trials: ReactionTrial[] }>;
  /** The policy loop (queue kind) under the same step: up only (its scale-down is the idle timeout). */
  readonly policyLoop: { readonly trials: Array<{ readonly upMs: number }> };
  /** Median up of openfaas ÷ median up of shipped. */
  readonly upRatioOpenfaasOverShipped: number;
  readonly skipped: string[];
  readonly durationMs: number;
}

export interface ReactionOptions {
  readonly trials?: number;
  /** Load step in calls/s (default 20). */
  readonly rate?: number;
  /** Keep the load on this long after the first added replica (default 5 s). */
  readonly holdAfterUpMs?: number;
  /** Bounds of one trial's phases. */
  readonly upTimeoutMs?: number;
  readonly downTimeoutMs?: number;
}

const REF: FunctionRef = { name: 'echo', namespace: 'openfaas-fn' };
const AUTH = { user: 'admin', password: 'bench-secret' } as const;

type Doc = Record<string, unknown>;

async function retime(path: string, edit: (doc: Doc) => Doc): Promise<void> {
  await writeFile(path, dump(edit(load(await readFile(path, 'utf8')) as Doc), { lineWidth: -1, noRefs: true }));
}

/** Starts Alertmanager and Prometheus for `setting`: scraping `gateway`, the webhook to `admin` (host:port each); returns their stop. */
async function startMonitoringFor(setting: ReactionSetting, gateway: string, admin: string, dir: string, bins: { prometheus: string; alertmanager: string }): Promise<() => Promise<void>> {
  const [prometheusPort, alertmanagerPort] = [await freePort(), await freePort()];
  const timing: MonitoringTiming = { scrapeInterval: setting.scrapeInterval, rateWindow: setting.rateWindow, forDuration: setting.forDuration, groupWait: setting.groupWait, groupInterval: setting.groupInterval, repeatInterval: setting.repeatInterval };
  const files = await writeMonitoringConfigs(dir, { gateway, admin, prometheusPort, alertmanagerPort, basicAuth: AUTH }, timing);
  // writeMonitoringConfigs evaluates at the scrape interval; OpenFaaS's stock evaluates every 15 s.
  await retime(files.prometheusConfig, (doc) => ({ ...doc, global: { ...(doc['global'] as Doc), evaluation_interval: setting.evaluationInterval } }));
  for (const rules of files.ruleFiles) {
    const expr = (rule: Doc): Doc => (setting.expr !== undefined && rule['alert'] === 'APIHighInvocationRate' ? { ...rule, expr: setting.expr } : rule);
    await retime(rules, (doc) => ({ ...doc, groups: (doc['groups'] as Doc[]).map((g) => ({ ...g, interval: setting.evaluationInterval, rules: (g['rules'] as Doc[]).map(expr) })) }));
  }
  await mkdir(join(dir, 'am-data'), { recursive: true });
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    await Promise.all(processes.map((p) => p.stop()));
  };
  try {
    const am = `http://127.0.0.1:${alertmanagerPort}`;
    const prom = `http://127.0.0.1:${prometheusPort}`;
    processes.push(await startProcess('alertmanager', bins.alertmanager, [`--config.file=${files.alertmanagerConfig}`, `--storage.path=${join(dir, 'am-data')}`, `--web.listen-address=127.0.0.1:${alertmanagerPort}`, `--web.external-url=${am}`, '--cluster.listen-address=', '--log.level=warn']));
    processes.push(await startProcess('prometheus', bins.prometheus, [`--config.file=${files.prometheusConfig}`, `--storage.tsdb.path=${join(dir, 'prom-data')}`, `--web.listen-address=127.0.0.1:${prometheusPort}`, '--log.level=warn']));
    await waitFor('alertmanager ready', async () => ((await fetch(`${am}/-/ready`)).ok ? true : undefined), 20_000);
    await waitFor('prometheus scraping the gateway', async () => {
      const t = await getJson<{ data: { activeTargets: Array<{ health: string }> } }>(`${prom}/api/v1/targets`);
      return (t?.data.activeTargets.length ?? 0) > 0 && t?.data.activeTargets.every((x) => x.health === 'up') === true ? true : undefined;
    }, 30_000, 200);
  } catch (err) {
    const logs = processes.map((p) => `--- ${p.name} ---\n${p.output()}`).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
  return stop;
}

/** Polls the desired count every 20 ms and times one load step. */
async function trial(gateway: RunningScaler, ref: FunctionRef, min: number, options: Required<Omit<ReactionOptions, 'trials'>>): Promise<ReactionTrial> {
  const desired = async () => (await gateway.provider.getReplicas(ref)).desired;
  const load = startLoad({ url: `${gateway.url}/function/${ref.name}`, ratePerSecond: options.rate, maxRequests: Math.ceil((options.rate * (options.upTimeoutMs + options.holdAfterUpMs)) / 1000) });
  const t0 = performance.now();
  let upAt = Number.NaN;
  try {
    await waitFor('a replica added', async () => ((await desired()) > min ? true : undefined), options.upTimeoutMs, 20);
    upAt = performance.now();
    await sleep(options.holdAfterUpMs);
  } finally {
    await load.stop();
  }
  const t1 = performance.now();
  await waitFor('back to min', async () => ((await desired()) === min ? true : undefined), options.downTimeoutMs, 20);
  return { upMs: Math.round(upAt - t0), downMs: Math.round(performance.now() - t1), loadMs: Math.round(t1 - t0) };
}

async function writeStack(dir: string): Promise<string> {
  const echo = join(packageRoot(), 'examples', 'functions', 'echo.mjs');
  const stack = join(dir, 'stack.yml');
  await writeFile(
    stack,
    [
      'functions:',
      '  echo:',
      `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(echo)}]`,
      '    labels: { com.openfaas.scale.min: "1", com.openfaas.scale.max: "4", com.openfaas.scale.factor: "50" }',
      '  queued:',
      `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(echo)}]`,
      '    environment: { RESPONSE_DELAY_MS: "50" }',
      '    labels: { com.openfaas.scale.type: queue, com.openfaas.scale.max-queue: "0", com.openfaas.scale.concurrency: "1", com.openfaas.scale.min: "1", com.openfaas.scale.max: "4", com.openfaas.scale.idle-timeout: "5s" }',
      '',
    ].join('\n'),
  );
  return stack;
}

const median = (values: readonly number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] ?? Number.NaN);
};

/** Runs the reaction trials; every process it starts is stopped before it returns. */
export async function reactionBenchmark(options: ReactionOptions = {}): Promise<ReactionResult> {
  const began = performance.now();
  const opts = { rate: options.rate ?? 20, holdAfterUpMs: options.holdAfterUpMs ?? 5000, upTimeoutMs: options.upTimeoutMs ?? 120_000, downTimeoutMs: options.downTimeoutMs ?? 180_000 };
  const trials = options.trials ?? 1;
  const skipped: string[] = [];
  const prometheus = findTool('prometheus');
  const alertmanager = findTool('alertmanager');
  if (prometheus === null || alertmanager === null) {
    skipped.push('prometheus or alertmanager not found on PATH (apt-get install prometheus prometheus-alertmanager): NO ALERT-DRIVEN REACTION ROWS');
    process.stderr.write(`reaction bench: SKIPPING: ${skipped[0] ?? ''}\n`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'alert-scaler-reaction-'));
  const settings: ReactionResult['settings'] = [];
  const policyTrials: Array<{ upMs: number }> = [];
  try {
    const stackPath = await writeStack(dir);
    const gateway = await startGateway({ stackPath, basicAuth: AUTH });
    try {
      await waitFor('echo and queued ready', async () => ((await gateway.provider.getReplicas(REF)).ready === 1 && (await gateway.provider.getReplicas({ ...REF, name: 'queued' })).ready === 1 ? true : undefined), 30_000);
      for (let i = 0; i < trials; i++) policyTrials.push({ upMs: (await trial(gateway, { ...REF, name: 'queued' }, 1, { ...opts, holdAfterUpMs: 500, downTimeoutMs: 60_000 })).upMs });
      if (prometheus !== null && alertmanager !== null) {
        for (const setting of [OPENFAAS_STOCK, await shippedSetting()]) {
          const stop = await startMonitoringFor(setting, new URL(gateway.url).host, new URL(gateway.adminUrl).host, join(dir, setting.name), { prometheus, alertmanager });
          const rows: ReactionTrial[] = [];
          try {
            for (let i = 0; i < trials; i++) rows.push(await trial(gateway, REF, 1, opts));
          } finally {
            await stop();
          }
          settings.push({ setting, trials: rows });
        }
      }
    } finally {
      await gateway.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const up = (name: string) => median(settings.find((s) => s.setting.name === name)?.trials.map((t) => t.upMs) ?? []);
  return {
    name: 'reaction',
    rate: opts.rate,
    settings,
    policyLoop: { trials: policyTrials },
    upRatioOpenfaasOverShipped: Math.round((up('openfaas') / up('shipped')) * 100) / 100,
    skipped,
    durationMs: Math.round(performance.now() - began),
  };
}

/** The result for humans. */
export function reactionSummary(r: ReactionResult): string {
  const lines = [`reaction to a load step of ${r.rate} calls/s (real Prometheus + Alertmanager, local provider):`];
  for (const s of r.settings) {
    lines.push(`  ${s.setting.name.padEnd(9)} up ${s.trials.map((t) => `${(t.upMs / 1000).toFixed(1)} s`).join(', ')}; back to min ${s.trials.map((t) => `${(t.downMs / 1000).toFixed(1)} s`).join(', ')}`);
  }
  lines.push(`  policy loop (queue kind) up ${r.policyLoop.trials.map((t) => `${t.upMs} ms`).join(', ')}`);
  lines.push(`  openfaas stock ÷ shipped (median up): ${r.upRatioOpenfaasOverShipped}x`);
  for (const s of r.skipped) lines.push(`  SKIPPED: ${s}`);
  return lines.join('\n');
}
