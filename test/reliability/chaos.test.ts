/**
 * Chaos, bounded in time and seeded (RELIABILITY_SEED replays the schedule; timing still
 * varies): traffic, alerts, idle/wake cycles and faults at random, then the invariants. Every
 * call gets an answer; a 5xx is only one of the documented 502/503/504 cases with its code;
 * the desired count stays within [min, max] whenever it is sampled; after shutdown no replica
 * process is left (local). Faults: replica processes SIGKILLed (local); the fake API answering
 * 500 and 409, slowly, and dropping watches (Kubernetes).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { packageRoot, startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/logger.js';
import type { LocalProvider } from '../../src/providers/local/index.js';
import { startFake } from '../kubernetes/helpers.js';
import { alertLoop, alive, call, describeTally, repeat, undocumented, type ChaosRecord } from '../support/chaos.js';
import { eventually, startTestScaler, type TestFunction } from '../support/harness.js';
import { Draw, suiteSeed, withSeed } from '../support/seed.js';

const SEED = suiteSeed(20_261_209);
const LOCAL_RUN_MS = 10_000;
const KUBERNETES_RUN_MS = 8_000;
const NS = 'openfaas-fn';
const STREAM = join(packageRoot(), 'test', 'reliability', 'fixtures', 'stream-replica.mjs');

/** Bounds of the functions under chaos: `napper` idles to zero, `steady` never does. */
const BOUNDS: Record<string, { min: number; max: number }> = { steady: { min: 1, max: 4 }, napper: { min: 0, max: 3 } };
const LABELS: Record<string, Record<string, string>> = {
  steady: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '4', 'com.openfaas.scale.factor': '50', 'com.openfaas.scale.down.window': '1s' },
  napper: {
    'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '3', 'com.openfaas.scale.factor': '50', 'com.openfaas.scale.down.window': '1s',
    'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1s',
  },
};

const newRecord = (): ChaosRecord => ({ answers: new Map(), lost: [], outOfBounds: [] });

/** Napper's desired count went to zero (idled) this many times, and back up (woke). */
const cycles = { idled: 0, woke: 0 };

/** Samples desired replicas every 25 ms until `until`; a count outside [min, max] is recorded. */
function boundsSampler(read: (name: string) => Promise<number>, record: ChaosRecord, until: number): Promise<void> {
  cycles.idled = 0;
  cycles.woke = 0;
  let last = -1;
  return repeat(until, () => 25, async () => {
    for (const [name, { min, max }] of Object.entries(BOUNDS)) {
      const desired = await read(name);
      if (name === 'napper' && desired !== last) {
        if (desired === 0) cycles.idled += 1;
        else if (last === 0) cycles.woke += 1;
        last = desired;
      }
      if (!(desired >= min && desired <= max)) record.outOfBounds.push(`${name}: ${desired} at ${new Date().toISOString()}`);
    }
  });
}

/** Traffic: `workers` loops of calls with a short random delay; napper's traffic pauses so it idles. */
function traffic(port: number, draw: Draw, record: ChaosRecord, until: number, workers: number): Promise<void> {
  const napperAwake = (): boolean => Math.floor(Date.now() / 2500) % 2 === 0;
  return Promise.all(
    Array.from({ length: workers }, () =>
      repeat(until, () => draw.int(0, 30), () => {
        const fn = napperAwake() && draw.chance(0.4) ? 'napper' : 'steady';
        return call(port, 'POST', `/function/${fn}?delayMs=${draw.int(0, 40)}`, 'chaos', record, 15_000);
      }),
    ),
  ).then(() => undefined);
}

/** The invariants of a run; `cycles` also asks that napper idled and woke at least once. */
function expectInvariants(record: ChaosRecord, label: string, requireCycles: boolean): void {
  const summary = `${label}, napper idled ${cycles.idled}× and woke ${cycles.woke}×: ${describeTally(record.answers)}`;
  process.stdout.write(`${summary}\n`);
  expect([summary, record.lost.slice(0, 5)]).toEqual([summary, []]);
  expect([summary, undocumented(record.answers)]).toEqual([summary, []]);
  expect([summary, record.outOfBounds.slice(0, 5)]).toEqual([summary, []]);
  expect(record.answers.get(200)?.get('-') ?? 0).toBeGreaterThan(100);
  if (requireCycles) expect(Math.min(cycles.idled, cycles.woke)).toBeGreaterThan(0);
}

describe('chaos on the local provider', () => {
  let s: RunningScaler | undefined;
  afterAll(async () => {
    await s?.close();
  });

  it(`${LOCAL_RUN_MS / 1000} s of traffic, alerts, idle/wake cycles and killed replicas: every call answered, only documented 5xx, replicas within bounds, no process left`, async () => {
    await withSeed(SEED, async () => {
      const fn = (name: string): TestFunction => ({ command: [process.execPath, STREAM], labels: LABELS[name] ?? {} });
      const running = await startTestScaler({ steady: fn('steady'), napper: fn('napper') }, {
        ALERT_SCALER_IDLER_INTERVAL_SECONDS: '0.25', ALERT_SCALER_COOLDOWN_SECONDS: '0', ALERT_SCALER_REQUEST_TIMEOUT_MS: '5000',
        ALERT_SCALER_WAKE_TIMEOUT_MS: '8000', ALERT_SCALER_DRAIN_GRACE_MS: '500', ALERT_SCALER_DRAIN_TIMEOUT_MS: '2000',
      });
      s = running;
      const provider = running.provider as LocalProvider;
      await eventually(async () => (await provider.getReplicas({ name: 'steady', namespace: NS })).ready === 1);
      const draw = new Draw(SEED);
      const record = newRecord();
      const pids = new Set<number>();
      let kills = 0;
      const until = Date.now() + LOCAL_RUN_MS;
      await Promise.all([
        traffic(running.port, draw, record, until, 4),
        alertLoop(running.adminPort, Object.keys(BOUNDS), draw, record, until),
        boundsSampler(async (name) => (await provider.getReplicas({ name, namespace: NS })).desired, record, until),
        repeat(until, () => 20, () => {
          for (const name of Object.keys(BOUNDS)) for (const r of provider.replicasOf({ name, namespace: NS })) if (r.pid !== undefined) pids.add(r.pid);
        }),
        repeat(until, () => draw.int(300, 900), () => {
          const replicas = provider.replicasOf({ name: draw.pick(Object.keys(BOUNDS)), namespace: NS }).filter((r) => r.phase === 'ready');
          if (replicas.length === 0) return;
          draw.pick(replicas).kill('SIGKILL');
          kills += 1;
        }),
      ]);
      expectInvariants(record, `local, ${kills} replicas killed, ${pids.size} replica processes`, true);
      expect(kills).toBeGreaterThan(5);
      await running.close();
      s = undefined;
      await eventually(() => [...pids].every((pid) => !alive(pid)), 5000);
      expect([...pids].filter(alive)).toEqual([]);
    });
  }, LOCAL_RUN_MS + 40_000);
});

describe('chaos on the Kubernetes provider against the fake API', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it(`${KUBERNETES_RUN_MS / 1000} s of traffic, alerts and idle/wake cycles while the API answers 500, 409, slowly and drops watches: every call answered, only documented 5xx, replicas within bounds`, async () => {
    await withSeed(SEED, async () => {
      const env = await startFake({ readyDelayMs: 20 });
      cleanups.push(() => env.close());
      const { fake } = env;
      for (const [name, { min }] of Object.entries(BOUNDS)) fake.addDeployment({ name, replicas: Math.max(min, 1), labels: { faas_function: name, ...LABELS[name] } });
      // The functions' Service: one echo server, after a random short delay.
      const service = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => setTimeout(() => res.end('ok'), 5));
      });
      await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => {
        service.closeAllConnections();
        service.close(() => resolve());
      }));
      const config = loadConfig({
        PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: env.kubeconfig, ALERT_SCALER_LOG_LEVEL: 'silent',
        ALERT_SCALER_KUBERNETES_ROUTING: 'service', ALERT_SCALER_FUNCTION_URL_TEMPLATE: `http://127.0.0.1:${(service.address() as AddressInfo).port}`,
        ALERT_SCALER_IDLER_INTERVAL_SECONDS: '0.25', ALERT_SCALER_COOLDOWN_SECONDS: '0', ALERT_SCALER_WAKE_TIMEOUT_MS: '8000', ALERT_SCALER_REQUEST_TIMEOUT_MS: '5000',
      }, () => '');
      const running = await startScaler(config, { logger: silentLogger(), registry: new Registry() });
      cleanups.push(() => running.close());

      const draw = new Draw(SEED ^ 0x6b8);
      const record = newRecord();
      const faults = { '500': 0, '409': 0, slow: 0, drops: 0 };
      let turn = 0;
      const until = Date.now() + KUBERNETES_RUN_MS;
      await Promise.all([
        traffic(running.port, draw, record, until, 3),
        alertLoop(running.adminPort, Object.keys(BOUNDS), draw, record, until),
        boundsSampler(async (name) => fake.replicasOf(name) ?? Number.NaN, record, until),
        // The kinds take turns (their sizes are drawn), so every kind is injected in every run
        // however many turns the time allows; a slow turn is slow until the next slow turn.
        repeat(until, () => draw.int(150, 500), () => {
          const kind = (['500', '409', 'slow', 'drops'] as const)[turn++ % 4];
          if (kind === '500') fake.failNext({ path: /\/deployments\//, status: 500, count: draw.int(1, 3) });
          else if (kind === '409') fake.conflictNextScaleWrites(draw.int(1, 3));
          else if (kind === 'slow') fake.latencyMs = fake.latencyMs > 0 ? 0 : draw.pick([50, 200]);
          else fake.dropWatches(draw.chance(0.5));
          if (kind !== undefined) faults[kind] += 1;
        }),
      ]);
      fake.clearFaults();
      // Idle/wake cycles run here too, but a faulty API may refuse every idle scale-down of a run: not required.
      expectInvariants(record, `kubernetes, faults ${JSON.stringify(faults)}`, false);
      expect(Object.values(faults).every((n) => n > 0)).toBe(true);
    });
  }, KUBERNETES_RUN_MS + 40_000);
});
