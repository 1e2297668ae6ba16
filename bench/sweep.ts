// The longest turn of the event loop while the scalers sweep 10,000 functions (start-up, a new
// leader): memory provider, virtual clock, three policy kinds. Run: `npm run build && node
// dist/bench/sweep.js` (BENCH_SWEEP_FUNCTIONS to change the count). Not a test: nothing is asserted.
import { policyDefaults } from '../src/config/defaults.js';
import { configSchema } from '../src/config/schema.js';
import { VirtualClock } from '../src/core/clock.js';
import { InvocationLog } from '../src/engine/activity.js';
import { createEngine } from '../src/engine/index.js';
import { Scalers } from '../src/engine/scalers.js';
import { silentLogger } from '../src/log/logger.js';
import { createMetrics } from '../src/metrics/registry.js';
import { MemoryProvider } from '../src/providers/memory/index.js';

const NS = 'openfaas-fn';
const L = 'com.openfaas.scale.';
const KINDS: ReadonlyArray<Record<string, string>> = [{ [`${L}type`]: 'queue', [`${L}concurrency`]: '1' }, { [`${L}type`]: 'concurrency', [`${L}target`]: '2' }, { [`${L}max`]: '5' }];

/** Runs `task`, probing the event loop with setImmediate meanwhile; returns its wall time and the longest gap between probes, ms. */
async function probed(task: () => Promise<void>): Promise<{ totalMs: number; longestTurnMs: number }> {
  let longest = 0;
  let last = performance.now();
  let running = true;
  const probe = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(probe);
  };
  setImmediate(probe);
  const began = performance.now();
  await task();
  running = false;
  await new Promise((resolve) => setImmediate(resolve));
  return { totalMs: performance.now() - began, longestTurnMs: longest };
}

const count = Number(process.env['BENCH_SWEEP_FUNCTIONS'] ?? 10_000);
const clock = new VirtualClock(1_000_000);
const provider = new MemoryProvider({ clock, functions: Array.from({ length: count }, (_, i) => ({ name: `f${i}`, namespace: NS, labels: KINDS[i % KINDS.length] ?? {}, replicas: 1 })) });
const metrics = createMetrics();
const engine = createEngine({
  provider,
  clock,
  metrics,
  logger: silentLogger(),
  defaultNamespace: NS,
  policyDefaults: policyDefaults(configSchema.parse({})),
  requestDefaults: { concurrency: 0, maxQueued: 100, requestTimeoutMs: 60_000, maxWaitMs: 60_000 },
  eventLogSize: 100,
  drainTimeoutMs: 30_000,
  shard: { count: 1, index: 0 },
});
await provider.start();
for (let i = 0; i < count; i++) await engine.dispatcher.track({ name: `f${i}`, namespace: NS });
const scalers = new Scalers({ engine, provider, logger: silentLogger(), metrics, defaultNamespace: NS, tickMs: 1000, activity: new InvocationLog(() => clock.now()), idleRecheckMs: 30_000 });
for (const round of ['first (labels parsed)', 'second (labels cached)']) {
  const r = await probed(() => scalers.tick());
  process.stdout.write(`sweep of ${count} functions, ${round}: ${r.totalMs.toFixed(0)} ms, longest turn of the event loop ${r.longestTurnMs.toFixed(0)} ms\n`);
}
engine.close();
