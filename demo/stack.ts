import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMonitoringConfigs, type MonitoringFiles, type MonitoringTiming } from './monitoring-config.js';
import { startGateway, type GatewayOptions, type RunningScaler } from './gateway.js';
import { findTool, freePort } from './tools.js';

export { FAST_TIMING, type MonitoringTiming } from './monitoring-config.js';
export { findTool, freePort, repoRoot, runTool, toolsOrSkip } from './tools.js';
export { functionStatus, startGateway, type FunctionStatus, type GatewayOptions, type RunningScaler } from './gateway.js';
export { startLoad, type Load, type LoadStats } from './load.js';

/** A child process we started; `stop()` ends exactly this PID. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** The last few KB of its stdout and stderr, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_LIMIT = 16 * 1024;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Last resort: a crashing parent still kills the children it started, by PID. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Starts `file args` without a shell, capturing its output. Throws when it cannot start. */
export async function startProcess(name: string, file: string, args: readonly string[]): Promise<ManagedProcess> {
  installExitHook();
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await new Promise<void>((done, fail) => {
    child.once('spawn', () => done());
    child.once('error', fail);
  });
  running.add(child);
  void exited.then(() => running.delete(child));
  const pid = child.pid ?? -1;
  return {
    name,
    pid,
    output: () => output,
    async stop(graceMs = 5_000): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` every `intervalMs` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((done) => setTimeout(done, intervalMs));
  }
}

/** GET `url` as JSON with a 2 s timeout; undefined on a non-2xx answer. */
export async function getJson<T>(url: string): Promise<T | undefined> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  if (!response.ok) return undefined;
  return (await response.json()) as T;
}

interface PrometheusTargets {
  data: { activeTargets: Array<{ health: string; scrapeUrl: string }> };
}
interface PrometheusAlertmanagers {
  data: { activeAlertmanagers: Array<{ url: string }> };
}

/** Prometheus and Alertmanager on loopback, with their fresh data in `workDir`. */
export interface Monitoring {
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  readonly workDir: string;
  readonly files: MonitoringFiles;
  readonly processes: readonly ManagedProcess[];
  /** Stops both processes and removes `workDir`. */
  close(): Promise<void>;
}

export interface MonitoringOptions {
  /** `host:port` of the gateway's function listener (Prometheus scrapes its /metrics). */
  readonly gateway: string;
  /** `host:port` of the gateway's admin listener (Alertmanager's webhook). */
  readonly admin: string;
  readonly basicAuth: { readonly user: string; readonly password: string } | null;
  readonly timing: MonitoringTiming;
  /** How long to wait for a scraped target and a discovered Alertmanager (ms). */
  readonly readyTimeoutMs?: number;
}

/**
 * Starts Alertmanager and Prometheus with copies of the repo's configs (see
 * writeMonitoringConfigs) and resolves once Prometheus has scraped the gateway and found the
 * Alertmanager. On any failure everything started so far is stopped again.
 */
export async function startMonitoring(options: MonitoringOptions): Promise<Monitoring> {
  const prometheusBin = findTool('prometheus');
  const alertmanagerBin = findTool('alertmanager');
  if (prometheusBin === null || alertmanagerBin === null) throw new Error('prometheus and alertmanager must be on PATH');
  const workDir = await mkdtemp(join(tmpdir(), 'alert-scaler-monitoring-'));
  const processes: ManagedProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(processes.map((child) => child.stop()));
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    const [prometheusPort, alertmanagerPort] = [await freePort(), await freePort()];
    const files = await writeMonitoringConfigs(workDir, { gateway: options.gateway, admin: options.admin, prometheusPort, alertmanagerPort, basicAuth: options.basicAuth }, options.timing);
    const alertmanagerUrl = `http://127.0.0.1:${alertmanagerPort}`;
    const prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
    await mkdir(join(workDir, 'alertmanager-data'));
    processes.push(
      await startProcess('alertmanager', alertmanagerBin, [
        `--config.file=${files.alertmanagerConfig}`,
        `--storage.path=${join(workDir, 'alertmanager-data')}`,
        `--web.listen-address=127.0.0.1:${alertmanagerPort}`,
        `--web.external-url=${alertmanagerUrl}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ]),
    );
    processes.push(
      await startProcess('prometheus', prometheusBin, [
        `--config.file=${files.prometheusConfig}`,
        `--storage.tsdb.path=${join(workDir, 'prometheus-data')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
        // Re-send firing alerts to Alertmanager every evaluation, not every minute.
        `--rules.alert.resend-delay=${options.timing.scrapeInterval}`,
        '--log.level=warn',
      ]),
    );
    const timeoutMs = options.readyTimeoutMs ?? 20_000;
    await waitFor('alertmanager ready', async () => ((await fetch(`${alertmanagerUrl}/-/ready`)).ok ? true : undefined), timeoutMs);
    await waitFor(
      'prometheus to scrape the gateway',
      async () => {
        const targets = await getJson<PrometheusTargets>(`${prometheusUrl}/api/v1/targets`);
        const active = targets?.data.activeTargets ?? [];
        return active.length > 0 && active.every((target) => target.health === 'up') ? true : undefined;
      },
      timeoutMs,
      200,
    );
    await waitFor(
      'prometheus to discover alertmanager',
      async () => ((await getJson<PrometheusAlertmanagers>(`${prometheusUrl}/api/v1/alertmanagers`))?.data.activeAlertmanagers.length ?? 0) > 0 || undefined,
      timeoutMs,
      200,
    );
    return { prometheusUrl, alertmanagerUrl, workDir, files, processes, close };
  } catch (err) {
    const logs = processes.map((child) => `--- ${child.name} (pid ${child.pid}) ---\n${child.output()}`).join('\n');
    await close();
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
}

/** The gateway plus the monitoring that drives it. */
export interface Stack {
  readonly gateway: RunningScaler;
  readonly monitoring: Monitoring;
  /** Stops Prometheus and Alertmanager first (no more webhooks), then the gateway. */
  close(): Promise<void>;
}

/** Starts a gateway (see startGateway) and then Prometheus and Alertmanager pointed at it. */
export async function startStack(options: GatewayOptions & { readonly timing: MonitoringTiming }): Promise<Stack> {
  const gateway = await startGateway(options);
  let monitoring: Monitoring;
  try {
    monitoring = await startMonitoring({ gateway: new URL(gateway.url).host, admin: new URL(gateway.adminUrl).host, basicAuth: options.basicAuth, timing: options.timing });
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return {
    gateway,
    monitoring,
    async close(): Promise<void> {
      await monitoring.close();
      await gateway.close();
    },
  };
}
