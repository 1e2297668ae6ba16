/**
 * Property-based fuzz of POST /system/alert, in process against createApp: 5,000 seeded
 * payloads, valid and invalid (bad dates, bad URLs, odd fingerprints, floods of distinct
 * alerts, junk shapes, bodies over the limit). Invariants: no crash; the answer is 200, 400,
 * 413 or 503 with its JSON shape; replicas stay within [min, max]; a 400 changes nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TimerHeap } from '../../src/core/timers.js';
import { AlertScaler } from '../../src/alerts/alert-scaler.js';
import { MemoryAlertStateStore } from '../../src/alerts/state-store.js';
import { policyDefaults } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/index.js';
import { systemClock } from '../../src/core/clock.js';
import { createEngine } from '../../src/engine/index.js';
import { AppError } from '../../src/errors.js';
import { InvocationLog } from '../../src/engine/activity.js';
import { silentLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/registry.js';
import type { FunctionInfo, FunctionRef, ReplicaInfo, ReplicaListener, ReplicaProvider, ReplicaState } from '../../src/providers/types.js';
import { refKey } from '../../src/providers/types.js';
import { createApp } from '../../src/server.js';
import { Random } from '../../src/sim/random.js';
import { postJson } from '../support/post-json.js';

const PAYLOADS = 5000;
const SEED = 20_261_123;
const BODY_LIMIT = 256 * 1024;
const NS = 'openfaas-fn';

/** Functions and their bounds; `broken` has invalid labels and is never scaled. */
const FUNCTIONS: Record<string, { labels: Record<string, string>; min: number; max: number }> = {
  echo: { labels: { 'com.openfaas.scale.max': '10' }, min: 1, max: 10 },
  wide: { labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '50', 'com.openfaas.scale.factor': '5' }, min: 0, max: 50 },
  jump: { labels: { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '4', 'com.openfaas.scale.factor': '100', 'com.openfaas.scale.down.window': '0s' }, min: 2, max: 4 },
  fixed: { labels: { 'scale.min': '3', 'scale.max': '3' }, min: 3, max: 3 },
  frozen: { labels: { 'scale.factor': '0' }, min: 1, max: 20 },
  broken: { labels: { 'scale.min': 'abc' }, min: 1, max: 1 },
};

/** An in-memory provider; `failNext` makes the next setReplicas fail as a provider outage. */
class MemoryProvider implements ReplicaProvider {
  readonly kind = 'memory';
  readonly desired = new Map<string, number>();
  failNext = false;
  private readonly listeners = new Set<ReplicaListener>();

  constructor() {
    for (const [name, fn] of Object.entries(FUNCTIONS)) this.desired.set(name, fn.min);
  }

  private known(ref: FunctionRef): { labels: Record<string, string>; desired: number } {
    const desired = ref.namespace === NS ? this.desired.get(ref.name) : undefined;
    const fn = FUNCTIONS[ref.name];
    if (desired === undefined || fn === undefined) throw new AppError('FUNCTION_UNKNOWN', `no function ${refKey(ref)}`);
    return { labels: fn.labels, desired };
  }

  async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    const { labels, desired } = this.known(ref);
    return { desired, ready: desired, labels, annotations: {} };
  }

  async setReplicas(ref: FunctionRef, replicas: number): Promise<void> {
    this.known(ref);
    if (this.failNext) {
      this.failNext = false;
      throw new AppError('PROVIDER_UNAVAILABLE', 'injected outage');
    }
    this.desired.set(ref.name, replicas);
    for (const listener of this.listeners) listener(ref, { desired: replicas, ready: replicas, labels: {}, annotations: {} });
  }

  async listFunctions(): Promise<FunctionInfo[]> {
    return Promise.all([...this.desired.keys()].map(async (name) => ({ ref: { name, namespace: NS }, ...(await this.getReplicas({ name, namespace: NS })) })));
  }

  /** The fuzz never routes a request: no replica records, only counts. */
  listReplicas(): readonly ReplicaInfo[] {
    return [];
  }

  async removeReplicas(ref: FunctionRef, ids: readonly string[]): Promise<void> {
    const { desired } = this.known(ref);
    await this.setReplicas(ref, Math.max(0, desired - ids.length));
  }

  subscribe(listener: ReplicaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}
}

/** The simulator's seeded generator: every run checks the same cases. */
function random(seed: number): () => number {
  const rng = new Random(seed);
  return () => rng.next();
}

const VALID_DATES = ['2026-11-23T19:07:12.537Z', '2026-11-23T20:12:52.615103424Z', '2026-11-23T21:00:00+05:30', '2024-02-29T00:00:00Z', '0001-01-01T00:00:00Z'];
const BAD_DATES: unknown[] = ['not-a-date', '', '2026-02-30T00:00:00Z', '2026-11-23', '2026-11-23T19:07:12', '1700000000', 1_700_000_000, null, '2026-11-23T19:07:12.1234567890Z', '2026-11-23T25:00:00Z'];
const NAMES = ['echo', 'echo.openfaas-fn', 'wide', 'jump', 'fixed', 'frozen', 'broken', 'ghost', 'echo.other-ns', 'a.b.c', '.', 'ünïcødé'];
const FINGERPRINTS = ['c71c5036c8db20b4', '67545f7bc400f52c', 'fp-1', 'fp-2', '__proto__', 'constructor', 'toString', 'hasOwnProperty'];
const BAD_FINGERPRINTS: unknown[] = ['', 'has space', 'q"uote', 'back\\slash', 'x'.repeat(33), 7, null, {}, 'ü'];

type Body = { kind: 'json'; value: unknown; valid: boolean } | { kind: 'raw'; text: string };

function generator(next: () => number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const chance = (p: number) => next() < p;

  const alert = (): Record<string, unknown> => {
    const labels: Record<string, string> = { alertname: pick(['APIHighInvocationRate', 'Queue', 'x']) };
    if (!chance(0.05)) labels['function_name'] = pick(NAMES);
    if (chance(0.05)) labels['__proto__'] = 'polluted';
    const a: Record<string, unknown> = {
      status: pick(['firing', 'firing', 'resolved']),
      labels,
      annotations: {},
      startsAt: pick(VALID_DATES),
      fingerprint: pick(FINGERPRINTS),
    };
    if (chance(0.8)) a['endsAt'] = pick(VALID_DATES);
    if (chance(0.3)) a['generatorURL'] = 'http://127.0.0.1:9090/graph';
    return a;
  };

  const flood = (count: number): Array<Record<string, unknown>> => {
    const name = pick(['echo', 'wide', 'jump']);
    const offset = Math.floor(next() * 1e6);
    return Array.from({ length: count }, (_, i) => ({
      status: chance(0.9) ? 'firing' : 'resolved',
      labels: { alertname: 'Flood', function_name: name },
      startsAt: VALID_DATES[0],
      fingerprint: `f${offset + i}`,
    }));
  };

  const envelope = (alerts: unknown[]): Record<string, unknown> => {
    const p: Record<string, unknown> = { version: '4', status: pick(['firing', 'resolved']), receiver: 'scale', groupKey: '{}', alerts };
    if (chance(0.7)) p['externalURL'] = pick(['http://127.0.0.1:9093', 'https://alertmanager.example.com/am']);
    if (chance(0.2)) p['truncatedAlerts'] = 0;
    return p;
  };

  /** One mutation that makes a valid payload invalid. */
  const breakIt = (p: Record<string, unknown>): void => {
    const alerts = p['alerts'] as Array<Record<string, unknown>>;
    const target = alerts.length > 0 ? pick(alerts) : undefined;
    const mutations: Array<() => void> = [
      () => (p['version'] = pick(['3', 4, '', null])),
      () => (p['status'] = pick(['pending', '', 1])),
      () => (p['externalURL'] = pick(['/relative', 'ftp://am', '', 'not a url', 42])),
      () => (p['alerts'] = pick([null, 'alerts', 7, { 0: {} }])),
      () => target === undefined ? (p['alerts'] = [null]) : (target['startsAt'] = pick(BAD_DATES)),
      () => target === undefined ? (p['alerts'] = [1]) : (target['endsAt'] = pick(BAD_DATES)),
      () => target === undefined ? (p['alerts'] = ['x']) : (target['fingerprint'] = pick(BAD_FINGERPRINTS)),
      () => target === undefined ? (p['alerts'] = [[]]) : (target['status'] = pick(['pending', null, 0])),
      () => target === undefined ? (p['alerts'] = [{}]) : (target['labels'] = pick([null, 'x', { function_name: 3 }, ['echo']])),
      () => target === undefined ? (p['alerts'] = [true]) : delete target[pick(['status', 'labels', 'startsAt', 'fingerprint'])],
    ];
    pick(mutations)();
  };

  return (): Body => {
    const roll = next();
    if (roll < 0.03) return { kind: 'raw', text: pick(['{"alerts": [', 'null', '[]', '"text"', '42', '{}', '{"version":"4"', '\u0000']) };
    if (roll < 0.06) return { kind: 'json', value: pick([[1, 2, 3], 'x', 7, null, true, { nope: 1 }]), valid: false };
    const count = roll < 0.08 ? 500 + Math.floor(next() * 1500) : Math.floor(next() * 6);
    const p = envelope(roll < 0.08 ? flood(count) : Array.from({ length: count }, alert));
    if (roll < 0.085) p['padding'] = 'x'.repeat(BODY_LIMIT);
    const valid = !chance(0.45);
    if (!valid) breakIt(p);
    return { kind: 'json', value: p, valid };
  };
}

describe('webhook fuzz', () => {
  const provider = new MemoryProvider();
  const store = new MemoryAlertStateStore();
  const config = loadConfig({}, () => {
    throw new Error('no config file');
  });
  const metrics = createMetrics();
  const logger = silentLogger();
  let clock = 1_764_000_000_000;
  const engine = createEngine({
    provider,
    clock: { ...systemClock, now: () => clock },
    metrics,
    logger,
    defaultNamespace: NS,
    policyDefaults: policyDefaults(config),
    requestDefaults: { concurrency: 0, maxQueued: 10, requestTimeoutMs: config.requestTimeoutMs, maxWaitMs: config.wakeTimeoutMs },
    eventLogSize: config.eventLogSize,
    drainTimeoutMs: config.drainTimeoutMs,
    shard: { count: 1, index: 0 },
  });
  const alertScaler = new AlertScaler({ changer: engine.changer, clock: engine.clock, timers: new TimerHeap(engine.clock), store, logger, metrics, timing: { cooldownMs: 10_000, firingStaleMs: 21_600_000 }, defaultNamespace: NS });
  const app = createApp({ provider, engine, dispatcher: engine.dispatcher, invocations: new InvocationLog(), metrics, logger, defaultNamespace: NS, bodyLimitBytes: BODY_LIMIT, webhookBodyLimitBytes: BODY_LIMIT, trustedProxies: config.trustedProxies, alertScaler, auth: undefined, isReady: () => true, specDefaults: { minReplicas: 1, maxReplicas: 20, maxReplicasCeiling: 20 } });
  const server = http.createServer(app.admin);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let port = 0;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    alertScaler.stop();
    engine.close();
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (text: string) => postJson(port, '/system/alert', text, agent, 10_000);

  async function snapshot(): Promise<string> {
    const states = await Promise.all(Object.keys(FUNCTIONS).map(async (name) => (await store.load({ name, namespace: NS })).state));
    return JSON.stringify({ desired: [...provider.desired], states });
  }

  it(`${PAYLOADS} seeded payloads: no crash, a known answer with its shape, replicas within bounds, a 400 changes nothing`, async () => {
    const next = random(SEED);
    const generate = generator(next);
    const seen = new Map<number, number>();
    let floods = 0;
    for (let n = 0; n < PAYLOADS; n++) {
      clock += Math.floor(next() * 15_000);
      // An outage waits for the next replica change, whichever payload brings it.
      if (next() < 0.02) provider.failNext = true;
      const body = generate();
      const text = body.kind === 'raw' ? body.text : JSON.stringify(body.value);
      if (text.includes('"Flood"')) floods += 1;
      // Only a payload built to be invalid may get a 400 (asserted below), so only those need a snapshot.
      const invalid = body.kind === 'raw' || !body.valid;
      const before = invalid ? await snapshot() : '';
      const res = await post(text);
      const where = `payload ${n}: ${text.slice(0, 300)}`;
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);

      expect([where, [200, 400, 413, 503].includes(res.status)]).toEqual([where, true]);
      if (res.status === 200 || res.status === 503) {
        const answer = res.body as { status: string; results: Array<{ outcome: string; reason: string }> };
        const alerts = (body.kind === 'json' ? (body.value as { alerts: unknown[] }).alerts : []).length;
        expect([where, answer.status, answer.results.length]).toEqual([where, res.status === 200 ? 'ok' : 'retry', alerts]);
        expect(answer.results.every((r) => ['applied', 'unchanged', 'skipped', 'failed'].includes(r.outcome) && typeof r.reason === 'string')).toBe(true);
        if (body.kind === 'json') expect([where, body.valid]).toEqual([where, true]);
      } else {
        const error = (res.body as { error: { code: string; message: string } }).error;
        expect([where, typeof error.code, typeof error.message]).toEqual([where, 'string', 'string']);
        if (res.status === 400) expect([where, invalid, await snapshot()]).toEqual([where, true, before]);
        if (body.kind === 'json' && body.valid) expect([where, res.status]).toEqual([where, 413]);
      }
      for (const [name, fn] of Object.entries(FUNCTIONS)) {
        const desired = provider.desired.get(name) ?? Number.NaN;
        expect([where, name, desired >= fn.min && desired <= fn.max]).toEqual([where, name, true]);
      }
    }
    // The generator reaches every kind of answer.
    expect([...seen.keys()].sort()).toEqual([200, 400, 413, 503]);
    expect(floods).toBeGreaterThan(50);
    expect(provider.desired.get('wide')).toBeGreaterThan(0);
  }, 120_000);
});
