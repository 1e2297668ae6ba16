import { Registry } from 'prom-client';
import { startScaler } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/index.js';
import { systemClock } from '../src/core/clock.js';
import { FunctionMetrics } from '../src/gateway/function-metrics.js';
import { silentLogger } from '../src/log/logger.js';
import { renderMetricsChunks } from '../src/metrics/render.js';
import { MemoryProvider } from '../src/providers/memory/index.js';

/*
 * The two renders of the same registry, A/B in one process: `functions` functions on the memory
 * provider composed by startScaler (so the scalers' and the dispatcher's scrape-time hooks are
 * the gateway's), each with one call recorded through FunctionMetrics (its invocation series
 * exist), then `rounds` rounds of prom-client's `registry.metrics()` and of renderMetricsChunks,
 * alternated. For each: wall ms, and the longest block: a setImmediate chain runs beside the
 * render and the longest gap between two of its turns is the longest time nothing else could run.
 */

/** One render kind's figures over the rounds. */
export interface RenderFigures {
  readonly wallMs: readonly number[];
  readonly longestBlockMs: readonly number[];
  readonly bytes: number;
}

export interface RenderAB {
  readonly functions: number;
  readonly rounds: number;
  readonly promClient: RenderFigures;
  readonly sliced: RenderFigures;
}

const round = (v: number) => Math.round(v * 10) / 10;

/** Runs `render` with a setImmediate chain beside it; the wall time and the chain's longest gap. */
async function timed(render: () => Promise<string | readonly Buffer[]>): Promise<{ wallMs: number; blockMs: number; bytes: number }> {
  let running = true;
  let last = performance.now();
  let longest = 0;
  const turn = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(turn);
  };
  const began = performance.now();
  last = began;
  setImmediate(turn);
  const out = await render();
  const wallMs = performance.now() - began;
  running = false;
  // The gap that ends with the render (the chain's next turn comes after it).
  longest = Math.max(longest, performance.now() - last);
  await new Promise((resolve) => setImmediate(resolve));
  return { wallMs: round(wallMs), blockMs: round(longest), bytes: typeof out === 'string' ? Buffer.byteLength(out) : out.reduce((n, c) => n + c.length, 0) };
}

/** A/B of the two renders at `functions` functions. */
export async function renderAB(functions: number, rounds: number): Promise<RenderAB> {
  const provider = new MemoryProvider({
    clock: systemClock,
    functions: Array.from({ length: functions }, (_, i) => ({ name: `fn-${i}`, namespace: 'openfaas-fn', replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' } })),
  });
  await provider.start();
  const config = loadConfig({ PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_LOG_LEVEL: 'silent' }, () => {
    throw new Error('no config file');
  });
  const registry = new Registry();
  const running = await startScaler(config, { provider, logger: silentLogger(), registry });
  try {
    for (let i = 0; i < functions; i++) {
      const fm = new FunctionMetrics(running.metrics, `fn-${i}`);
      fm.begin();
      fm.end(200, 0.01);
    }
    // A first render sets every scrape-time gauge once (later scrapes set only what changed): not counted.
    await renderMetricsChunks(registry);
    const a = { wallMs: [] as number[], longestBlockMs: [] as number[], bytes: 0 };
    const b = { wallMs: [] as number[], longestBlockMs: [] as number[], bytes: 0 };
    for (let r = 0; r < rounds; r++) {
      for (const [figures, render] of [[a, () => registry.metrics()], [b, () => renderMetricsChunks(registry)]] as const) {
        const t = await timed(render);
        figures.wallMs.push(t.wallMs);
        figures.longestBlockMs.push(t.blockMs);
        figures.bytes = t.bytes;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    return { functions, rounds, promClient: a, sliced: b };
  } finally {
    await running.close();
  }
}
