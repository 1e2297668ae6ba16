import { VirtualClock } from '../../../src/core/clock.js';
import { Dispatcher, type DispatcherOptions } from '../../../src/engine/dispatcher.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import type { RequestLimits } from '../../../src/policy/labels.js';
import { MemoryProvider, type MemoryFunctionSpec } from '../../../src/providers/memory/index.js';

export const NS = 'openfaas-fn';
export const START_MS = 100;
export const STOP_MS = 10;
export const LIMITS: RequestLimits = { concurrency: 0, maxQueued: 100, requestTimeoutMs: 300_000, maxWaitMs: 30_000 };

/** A virtual clock, a memory provider with one function `fn`, metrics and a dispatcher over them. */
export interface Engine {
  readonly clock: VirtualClock;
  readonly provider: MemoryProvider;
  readonly metrics: Metrics;
  readonly dispatcher: Dispatcher;
  readonly ref: { readonly name: string; readonly namespace: string };
}

/** Starts the provider and lets `fn`'s replicas become ready (START_MS of virtual time). */
export async function engine(fn: Partial<MemoryFunctionSpec> = {}, options: Partial<DispatcherOptions> = {}): Promise<Engine> {
  const clock = new VirtualClock(1_000_000);
  const ref = { name: 'fn', namespace: NS };
  const provider = new MemoryProvider({ clock, defaultModel: { startMs: START_MS, stopMs: STOP_MS }, functions: [{ ...ref, replicas: 1, ...fn }] });
  const metrics = createMetrics();
  const dispatcher = new Dispatcher({ provider, clock, metrics, defaultNamespace: NS, defaults: LIMITS, ...options });
  await provider.start();
  await dispatcher.track(ref);
  clock.advance(START_MS);
  return { clock, provider, metrics, dispatcher, ref };
}

/** The value of one gauge series on the registry. */
export async function gauge(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  const found = metric?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return found?.value;
}

/** Lets settled promises run their callbacks (no time passes). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The value of one counter series on the registry (undefined when it was never counted). */
export async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return gauge(metrics, name, labels);
}

/** The observation count of one histogram series. */
export async function histogramCount(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  const values: ReadonlyArray<{ readonly metricName?: string; readonly labels: Partial<Record<string, string | number>>; readonly value: number }> = metric?.values ?? [];
  const found = values.find((v) => v.metricName === `${name}_count` && Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return found?.value;
}
