/**
 * Property-based fuzz of POST /system/scale-function/<name>, in process against createApp:
 * 2,500 seeded requests (valid bodies, mutated bodies, junk text, odd names and namespaces,
 * bodies over the limit). RELIABILITY_SEED replays a run. Invariants: every answer is 202 or
 * a 4xx with the JSON error shape, never a 5xx; the server stays up; replicas change only for
 * a valid request of a known function with valid labels (one `api` decision recorded per 202,
 * none per 4xx), and end at the requested count capped at the function's max.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TimerHeap } from '../../src/core/timers.js';
import { AlertScaler } from '../../src/alerts/alert-scaler.js';
import { MemoryAlertStateStore } from '../../src/alerts/state-store.js';
import { policyDefaults, requestDefaults, specDefaults } from '../../src/bootstrap.js';
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
import { eventually } from '../support/harness.js';
import { Draw, suiteSeed, withSeed } from '../support/seed.js';
import { postJson } from '../support/post-json.js';

const REQUESTS = 2500;
const SEED = suiteSeed(20_261_208);
const BODY_LIMIT = 16 * 1024;
const NS = 'openfaas-fn';

interface Fn {
  readonly namespace: string;
  readonly labels: Record<string, string>;
  readonly max: number;
  /** Labels the change cycle refuses (LABELS_INVALID). */
  readonly broken?: boolean;
}

const FUNCTIONS: Record<string, Fn> = {
  echo: { namespace: NS, labels: { 'com.openfaas.scale.max': '10' }, max: 10 },
  wide: { namespace: NS, labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '50' }, max: 50 },
  fixed: { namespace: NS, labels: { 'scale.min': '3', 'scale.max': '3' }, max: 3 },
  broken: { namespace: NS, labels: { 'scale.min': '9', 'scale.max': '2' }, max: 1, broken: true },
  team: { namespace: 'team-a', labels: {}, max: 20 },
};

/** Counts only (no replica records); counts every write so a 4xx can be shown to write nothing. */
class CountingProvider implements ReplicaProvider {
  readonly kind = 'memory';
  readonly desired = new Map<string, number>();
  writes = 0;
  private readonly listeners = new Set<ReplicaListener>();

  constructor() {
    for (const [name, fn] of Object.entries(FUNCTIONS)) this.desired.set(refKey({ name, namespace: fn.namespace }), 1);
  }

  private known(ref: FunctionRef): { fn: Fn; desired: number } {
    const fn = FUNCTIONS[ref.name];
    const desired = this.desired.get(refKey(ref));
    if (fn === undefined || desired === undefined || !Object.hasOwn(FUNCTIONS, ref.name)) throw new AppError('FUNCTION_UNKNOWN', `no function ${refKey(ref)}`);
    return { fn, desired };
  }

  async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    const { fn, desired } = this.known(ref);
    return { desired, ready: desired, labels: fn.labels, annotations: {} };
  }

  async setReplicas(ref: FunctionRef, replicas: number): Promise<void> {
    this.known(ref);
    this.writes += 1;
    this.desired.set(refKey(ref), replicas);
    for (const listener of this.listeners) listener(ref, { desired: replicas, ready: replicas, labels: {}, annotations: {} });
  }

  async removeReplicas(ref: FunctionRef, ids: readonly string[]): Promise<void> {
    const { desired } = this.known(ref);
    await this.setReplicas(ref, Math.max(0, desired - ids.length));
  }

  async listFunctions(): Promise<FunctionInfo[]> {
    return Promise.all(Object.entries(FUNCTIONS).map(async ([name, fn]) => ({ ref: { name, namespace: fn.namespace }, ...(await this.getReplicas({ name, namespace: fn.namespace })) })));
  }

  listReplicas(): readonly ReplicaInfo[] {
    return [];
  }

  subscribe(listener: ReplicaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}
}

/** One generated request and what the API must answer. */
interface Case {
  readonly path: string;
  readonly text: string;
  /** 202 with this count, or one of these 4xx statuses. */
  readonly expect: { readonly status: 202; readonly ref: FunctionRef; readonly replicas: number } | { readonly status: readonly number[] };
}

const NAMES = ['echo', 'wide', 'fixed', 'broken', 'team', 'ghost', 'Echo', 'constructor', '__proto__', 'x'.repeat(200)];
const NAMESPACES = [NS, 'team-a', 'other', 'kube-system'];
const REPLICAS: unknown[] = [0, 1, 2, 3, 5, 9, 10, 11, 49, 50, 51, 10_000, Number.MAX_SAFE_INTEGER];
const BAD_REPLICAS: unknown[] = [-1, 1.5, '3', null, true, [], {}, 'NaN', 2 ** 53, 1e300];

function generator(draw: Draw): () => Case {
  const valid = (): Case => {
    const name = draw.pick(NAMES);
    const fn = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
    // Where the namespace is named: nowhere, the path, the query, the body, serviceName (agreeing or not).
    const namespace = draw.chance(0.7) && fn !== undefined ? fn.namespace : draw.pick(NAMESPACES);
    const places = { path: draw.chance(0.3), query: draw.chance(0.2), body: draw.chance(0.2), serviceName: draw.chance(0.2) };
    const conflict = draw.chance(0.1);
    const other = draw.pick(NAMESPACES.filter((n) => n !== namespace));
    const named: string[] = [];
    const nsFor = (place: keyof typeof places): string | undefined => {
      if (!places[place]) return undefined;
      const value = conflict && named.length > 0 ? other : namespace;
      named.push(value);
      return value;
    };
    const pathNs = nsFor('path');
    const queryNs = nsFor('query');
    const bodyNs = nsFor('body');
    const serviceNs = nsFor('serviceName');
    const serviceMismatch = draw.chance(0.05);
    const body: Record<string, unknown> = { replicas: draw.pick(REPLICAS) };
    if (draw.chance(0.8) || serviceNs !== undefined || serviceMismatch) body['serviceName'] = `${serviceMismatch ? 'someone-else' : name}${serviceNs === undefined ? '' : `.${serviceNs}`}`;
    if (bodyNs !== undefined) body['namespace'] = bodyNs;
    const path = `/system/scale-function/${encodeURIComponent(name)}${pathNs === undefined ? '' : `.${pathNs}`}${queryNs === undefined ? '' : `?namespace=${queryNs}`}`;
    const agreed = new Set(named);
    if (serviceMismatch || agreed.size > 1) return { path, text: JSON.stringify(body), expect: { status: [400] } };
    const resolved = agreed.size === 1 ? [...agreed][0] ?? NS : NS;
    if (fn === undefined || fn.namespace !== resolved) return { path, text: JSON.stringify(body), expect: { status: [404] } };
    if (fn.broken === true) return { path, text: JSON.stringify(body), expect: { status: [400] } };
    const requested = body['replicas'] as number;
    return { path, text: JSON.stringify(body), expect: { status: 202, ref: { name, namespace: fn.namespace }, replicas: Math.min(requested, fn.max) } };
  };

  return (): Case => {
    const base = valid();
    const roll = draw.next();
    if (roll < 0.5) return base;
    const body = JSON.parse(base.text) as Record<string, unknown>;
    const bad = (text: string, status: readonly number[] = [400]): Case => ({ path: base.path, text, expect: { status } });
    const mutations: Array<() => Case> = [
      () => bad(JSON.stringify({ ...body, replicas: draw.pick(BAD_REPLICAS) })),
      () => bad(JSON.stringify({ serviceName: body['serviceName'] })),
      () => bad(JSON.stringify({ ...body, [draw.pick(['extra', 'constructor', 'Replicas', 'labels'])]: 1 })),
      () => bad(`{"__proto__": {"replicas": 2}, "serviceName": "echo"}`),
      () => bad(JSON.stringify({ ...body, serviceName: draw.pick(['', 5, null, ['echo']]) })),
      () => bad(JSON.stringify({ ...body, namespace: draw.pick(['', 0, {}]) })),
      () => bad(draw.pick(['', 'null', '[]', '"echo"', '7', '{', '{"replicas": 1,}', '{"replicas": 01}', '\u0000', 'replicas=3', '{"replicas": NaN}', '{"replicas": 1e999}'])),
      () => bad('['.repeat(5000) + ']'.repeat(5000)),
      () => bad(JSON.stringify({ ...body, padding: 'x'.repeat(BODY_LIMIT) }), [413]),
      () => ({ path: `${base.path.split('?')[0] ?? ''}?namespace=${NS}&namespace=${NS}`, text: base.text, expect: { status: [400] } }),
      () => ({ path: draw.pick(['/system/scale-function/', '/system/scale-function/%', '/system/scale-function/a%2Fb', '/system/scale-function/..%2F..%2Fx', '/system/scale-function/%00']), text: base.text, expect: { status: [400, 404] } }),
    ];
    return draw.pick(mutations)();
  };
}

describe('scale API fuzz', () => {
  const provider = new CountingProvider();
  const config = loadConfig({}, () => {
    throw new Error('no config file');
  });
  const metrics = createMetrics();
  const logger = silentLogger();
  const engine = createEngine({
    provider,
    clock: systemClock,
    metrics,
    logger,
    defaultNamespace: NS,
    policyDefaults: policyDefaults(config),
    requestDefaults: requestDefaults(config),
    eventLogSize: 1000,
    drainTimeoutMs: config.drainTimeoutMs,
    shard: { count: 1, index: 0 },
  });
  const alertScaler = new AlertScaler({ changer: engine.changer, clock: engine.clock, timers: new TimerHeap(engine.clock), store: new MemoryAlertStateStore(), logger, metrics, timing: { cooldownMs: 10_000, firingStaleMs: 60_000 }, defaultNamespace: NS });
  const app = createApp({ provider, engine, dispatcher: engine.dispatcher, invocations: new InvocationLog(), metrics, logger, defaultNamespace: NS, bodyLimitBytes: BODY_LIMIT, webhookBodyLimitBytes: BODY_LIMIT, trustedProxies: undefined, alertScaler, auth: undefined, isReady: () => true, specDefaults: specDefaults(config) });
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

  const post = (path: string, text: string) => postJson(port, path, text, agent, 5000);

  let decisionCount = 0;
  engine.events.addSink((e) => {
    if (e.source === 'api' && ['scale_up', 'scale_down', 'unchanged', 'scale_failed'].includes(e.action)) decisionCount += 1;
  });
  const apiDecisions = (): number => decisionCount;

  it(`${REQUESTS} seeded requests: 202 or a 4xx with its JSON shape, and replicas change only for a valid request of a known function`, async () => {
    await withSeed(SEED, async () => {
      const generate = generator(new Draw(SEED));
      const seen = new Map<number, number>();
      for (let n = 0; n < REQUESTS; n++) {
        const c = generate();
        const where = `request ${n}: POST ${c.path.slice(0, 120)} ${c.text.slice(0, 200)}`;
        const writes = provider.writes;
        const decisions = apiDecisions();
        const before = JSON.stringify([...provider.desired]);
        const res = await post(c.path, c.text);
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        if (c.expect.status === 202) {
          const answer = res.body as { replicas: number; requested: number };
          expect([where, res.status, answer.replicas]).toEqual([where, 202, c.expect.replicas]);
          expect([where, apiDecisions() - decisions]).toEqual([where, 1]);
          const ref = c.expect.ref;
          const target = c.expect.replicas;
          // A scale-down settles after the answer (drain, then removal): bounded wait.
          await eventually(() => provider.desired.get(refKey(ref)) === target, 2000, 2);
        } else {
          expect([where, c.expect.status.includes(res.status)]).toEqual([where, true]);
          const error = (res.body as { error?: { code?: unknown; message?: unknown } }).error;
          expect([where, typeof error?.code, typeof error?.message]).toEqual([where, 'string', 'string']);
          expect([where, provider.writes - writes, apiDecisions() - decisions, JSON.stringify([...provider.desired])]).toEqual([where, 0, 0, before]);
        }
        for (const [name, fn] of Object.entries(FUNCTIONS)) {
          const desired = provider.desired.get(refKey({ name, namespace: fn.namespace })) ?? Number.NaN;
          expect([where, name, desired >= 0 && desired <= Math.max(1, fn.max)]).toEqual([where, name, true]);
        }
      }
      // The generator reaches every kind of answer.
      expect([...seen.keys()].sort()).toEqual([202, 400, 404, 413]);
      expect(seen.get(202)).toBeGreaterThan(REQUESTS / 10);
    });
  }, 60_000);
});
