import { fileURLToPath } from 'node:url';
import { AppError } from '../../src/errors.js';
import type { FunctionRef } from '../../src/providers/types.js';
import { DelegatingProvider } from '../support/delegating-provider.js';
import { FAST_TIMING, functionStatus, getJson, startStack, toolsOrSkip, type Stack } from '../../demo/stack.js';

export { startLoad, waitFor, type Load, type Stack } from '../../demo/stack.js';

/** Credentials of the gateway's /system/* (and so of the Alertmanager webhook). */
export const AUTH = { user: 'admin', password: 'e2e-secret' } as const;

/** The e2e stack file: echo (min 1, max 4, factor 50) and fixed (min == max == 2). */
export const STACK_FILE = fileURLToPath(new URL('./fixtures/stack.yml', import.meta.url));

/** Scale-down window of the scenario, in seconds. */
export const SCALE_DOWN_WINDOW_SECONDS = 2;

/** Binaries of the suite, or null (with a loud warning) when missing outside CI. */
export function e2eTools(): Record<'prometheus' | 'alertmanager', string> | null {
  return toolsOrSkip(['prometheus', 'alertmanager'], 'end-to-end autoscale suite');
}

/** One setReplicas call seen by the FlakyProvider. */
export interface SetCall {
  readonly name: string;
  readonly replicas: number;
  readonly ok: boolean;
  readonly at: number;
}

/**
 * Test decorator around a real provider: records every setReplicas and removeReplicas call,
 * and when armed fails the next ones with PROVIDER_UNAVAILABLE (a transient provider outage) before they
 * reach the provider.
 */
export class FlakyProvider extends DelegatingProvider {
  readonly calls: SetCall[] = [];
  private failures = 0;



  /** The next `count` setReplicas calls throw PROVIDER_UNAVAILABLE. */
  failNext(count = 1): void {
    this.failures = count;
  }


  override async setReplicas(ref: FunctionRef, replicas: number): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      this.calls.push({ name: ref.name, replicas, ok: false, at: Date.now() });
      throw new AppError('PROVIDER_UNAVAILABLE', 'injected provider outage');
    }
    await this.inner.setReplicas(ref, replicas);
    this.calls.push({ name: ref.name, replicas, ok: true, at: Date.now() });
  }

  /** A removal (a drained scale-down) is recorded, and fails when armed, as a call with the count it leaves. */
  override async removeReplicas(ref: FunctionRef, ids: readonly string[]): Promise<void> {
    const { desired } = await this.inner.getReplicas(ref);
    const replicas = Math.max(0, desired - this.inner.listReplicas(ref).filter((r) => ids.includes(r.id)).length);
    if (this.failures > 0) {
      this.failures -= 1;
      this.calls.push({ name: ref.name, replicas, ok: false, at: Date.now() });
      throw new AppError('PROVIDER_UNAVAILABLE', 'injected provider outage');
    }
    await this.inner.removeReplicas(ref, ids);
    this.calls.push({ name: ref.name, replicas, ok: true, at: Date.now() });
  }





}

/** The running e2e stack with its fault-injecting provider. */
export interface E2EStack extends Stack {
  readonly provider: FlakyProvider;
}

/** Gateway (echo + fixed, 2 s scale-down window), Prometheus and Alertmanager on loopback. */
export async function startE2EStack(): Promise<E2EStack> {
  let flaky: FlakyProvider | undefined;
  const stack = await startStack({
    stackPath: STACK_FILE,
    basicAuth: AUTH,
    env: { ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: String(SCALE_DOWN_WINDOW_SECONDS) },
    wrapProvider: (inner) => (flaky = new FlakyProvider(inner)),
    timing: FAST_TIMING,
  });
  if (flaky === undefined) throw new Error('provider was not wrapped');
  return { ...stack, provider: flaky };
}

/** Desired replicas of `name`, read through the gateway's system API. */
export async function replicasOf(stack: Stack, name: string): Promise<number> {
  return (await functionStatus(stack.gateway.adminUrl, name, AUTH)).replicas;
}

/** Sum of a counter (or gauge) of the gateway's registry over the series matching `labels`. */
export async function metricValue(stack: Stack, metric: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  const found = await stack.gateway.metrics.registry.getSingleMetric(metric)?.get();
  if (found === undefined) throw new Error(`metric ${metric} is not registered`);
  return found.values
    .filter((value) => Object.entries(labels).every(([key, wanted]) => String(value.labels[key as keyof typeof value.labels]) === wanted))
    .reduce((sum, value) => sum + value.value, 0);
}

interface PrometheusAlerts {
  data: { alerts: Array<{ labels: Record<string, string>; state: string }> };
}

/** Functions with a firing APIHighInvocationRate alert in Prometheus right now. */
export async function firingFunctions(stack: Stack): Promise<string[]> {
  const alerts = await getJson<PrometheusAlerts>(`${stack.monitoring.prometheusUrl}/api/v1/alerts`);
  return (alerts?.data.alerts ?? [])
    .filter((alert) => alert.labels['alertname'] === 'APIHighInvocationRate' && alert.state === 'firing')
    .map((alert) => alert.labels['function_name'] ?? '')
    .sort();
}

/** Samples desired replicas of `names` every `intervalMs` (to prove a count never moved). */
export function sampleReplicas(stack: Stack, names: readonly string[], intervalMs = 200): { samples: Map<string, Set<number>>; stop(): void } {
  const samples = new Map(names.map((name) => [name, new Set<number>()]));
  const timer = setInterval(() => {
    for (const name of names) {
      replicasOf(stack, name)
        .then((replicas) => samples.get(name)?.add(replicas))
        .catch(() => undefined);
    }
  }, intervalMs);
  return { samples, stop: () => clearInterval(timer) };
}

/** Seconds since `start` (ms), rounded to 0.1 s, for the timing report. */
export function secondsSince(start: number): number {
  return Math.round((Date.now() - start) / 100) / 10;
}
