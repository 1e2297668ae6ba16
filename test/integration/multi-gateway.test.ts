import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { RunningScaler } from '../../src/bootstrap.js';
import { PrometheusRemoteLoad } from '../../src/engine/signals-prometheus.js';
import { isAppError } from '../../src/errors.js';
import { findTool, freePort, startProcess, waitFor, type ManagedProcess } from '../../demo/stack.js';
import { FakePrometheus } from '../support/fake-prometheus.js';
import { capturingLogger, eventually, startTestScaler, type TestFunction } from '../support/harness.js';

/*
 * Several gateways: the leader adds the other gateways' load, read from Prometheus with one
 * query per tick, to its own view. First against a fake Prometheus on 127.0.0.1, then against
 * the real Prometheus binary scraping two gateways.
 */

type Row = { function_name: string; reason: string; value: string };
type Answer = Row[] | 'error' | 'hang' | 'matrix';

/** What the fake answers to every query. */
let answer: Answer = [];
const prometheus = new FakePrometheus(() =>
  typeof answer === 'string' ? answer : answer.map((r) => ({ metric: { function_name: r.function_name, reason: r.reason }, value: r.value })),
);
beforeAll(() => prometheus.start());
afterAll(() => prometheus.stop());
afterEach(() => {
  prometheus.queries.length = 0;
  answer = [];
});

const rows = (fn: string, values: Record<string, number | string>): Row[] => Object.entries(values).map(([reason, value]) => ({ function_name: fn, reason, value: String(value) }));

describe('PrometheusRemoteLoad', () => {
  it('reads every function\'s queue, requests held and started count from one query that leaves this gateway\'s target out', async () => {
    answer = [...rows('q', { busy: 3, no_replica: 1, in_flight: 6, started: 40 }), ...rows('r.team-a', { in_flight: 2, started: 'NaN' })];
    const loads = await new PrometheusRemoteLoad(prometheus.url, 2).read(AbortSignal.timeout(2000));

    expect(Object.fromEntries(loads)).toEqual({
      q: { present: 6, queued: { busy: 3, no_replica: 1 }, started: 40 },
      'r.team-a': { present: 2, queued: { busy: 0, no_replica: 0 }, started: 0 },
    });
    expect(prometheus.queries).toHaveLength(1);
    expect(prometheus.queries[0]).toContain('unless on (instance) alert_scaler_gateway_info{gateway_index="2"}');
    expect(prometheus.queries[0]).toContain('sum by (function_name, reason)');
  });

  it.each<[string, Answer]>([
    ['a 500 answer', 'error'],
    ['an answer that is not an instant vector', 'matrix'],
  ])('%s rejects with METRICS_UNAVAILABLE', async (_name, failing) => {
    answer = failing;
    const failure = await new PrometheusRemoteLoad(prometheus.url, 0).read(AbortSignal.timeout(2000)).catch((err: unknown) => err);
    expect(isAppError(failure) && failure.code).toBe('METRICS_UNAVAILABLE');
  });
});

const QUEUE_FN: Record<string, TestFunction> = {
  q: { labels: { 'com.openfaas.scale.type': 'queue', 'com.openfaas.scale.max-queue': '1', 'com.openfaas.scale.max': '4', 'com.openfaas.scale.concurrency': '2' } },
};

describe('the gateway with several gateway replicas and a (fake) Prometheus', () => {
  let scaler: RunningScaler | undefined;
  afterEach(async () => {
    await scaler?.close();
    scaler = undefined;
  });

  const desiredOf = async (s: RunningScaler, name: string) => (await s.provider.getReplicas({ name, namespace: 'openfaas-fn' })).desired;

  it('the leader scales a function up from another gateway\'s queue though no request came through it, and exports its ordinal', async () => {
    answer = rows('q', { busy: 3, in_flight: 5, started: 9 });
    scaler = await startTestScaler(QUEUE_FN, { ALERT_SCALER_GATEWAY_COUNT: '2', ALERT_SCALER_GATEWAY_INDEX: '1', ALERT_SCALER_PROMETHEUS_URL: prometheus.url, ALERT_SCALER_POLICY_INTERVAL_MS: '200' });
    const s = scaler;

    await eventually(async () => (await desiredOf(s, 'q')) >= 2, 5_000);
    const up = s.engine.events.query().find((e) => e.source === 'policy' && e.action === 'scale_up');
    expect(up?.inputs).toMatchObject({ queuedBusy: 3, remoteQueued: 3, remoteInFlight: 5 });
    expect(new Set(prometheus.queries).size).toBe(1);
    expect(prometheus.queries[0]).toContain('gateway_index="1"');
    const metrics = await (await fetch(`${s.url}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
    expect(metrics).toContain('alert_scaler_gateway_info{gateway_index="1"} 1');
  });

  it('a Prometheus that does not answer within half a tick leaves the local view, keeps the ticks going and warns once', async () => {
    answer = 'hang';
    const { logger, lines } = await capturingLogger();
    scaler = await startTestScaler(QUEUE_FN, { ALERT_SCALER_GATEWAY_COUNT: '2', ALERT_SCALER_PROMETHEUS_URL: prometheus.url, ALERT_SCALER_POLICY_INTERVAL_MS: '200' }, { logger });

    // Ticks every 200 ms with a 100 ms timeout: a blocked loop would ask once.
    await eventually(() => prometheus.queries.length >= 5, 5_000);
    expect(await desiredOf(scaler, 'q')).toBe(1);
    expect(lines.filter((l) => l['message'] === 'remote load unavailable')).toHaveLength(1);
    expect(lines.find((l) => l['message'] === 'remote load unavailable')?.['error']).toContain('100 ms');
  });

  it('a single gateway asks Prometheus nothing, and several gateways without Prometheus warn that they decide on their own load', async () => {
    scaler = await startTestScaler(QUEUE_FN, { ALERT_SCALER_PROMETHEUS_URL: prometheus.url, ALERT_SCALER_POLICY_INTERVAL_MS: '100' });
    await new Promise((r) => setTimeout(r, 500));
    expect(prometheus.queries).toEqual([]);
    await scaler.close();

    const { logger, lines } = await capturingLogger();
    scaler = await startTestScaler(QUEUE_FN, { ALERT_SCALER_GATEWAY_COUNT: '3' }, { logger });
    expect(lines.filter((l) => l['message'] === 'the policy loop sees only this gateway\'s load')).toHaveLength(1);
  });
});

describe('two gateways scraped by the real Prometheus', () => {
  const bin = findTool('prometheus');
  const maybe = bin === null ? it.skip : it;
  let a: RunningScaler | undefined;
  let b: RunningScaler | undefined;
  let prom: ManagedProcess | undefined;
  afterEach(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await prom?.stop();
  });

  maybe(
    'each gateway\'s query sees only the other\'s load, and the leader scales up from the queue of the gateway that got the requests',
    async () => {
      const slow: Record<string, TestFunction> = { q: { labels: QUEUE_FN['q']?.labels ?? {}, environment: { RESPONSE_DELAY_MS: '4000' } } };
      const env = { ALERT_SCALER_GATEWAY_COUNT: '2', ALERT_SCALER_POLICY_INTERVAL_MS: '250' };
      const port = await freePort();
      const promUrl = `http://127.0.0.1:${port}`;
      a = await startTestScaler(slow, { ...env, ALERT_SCALER_GATEWAY_INDEX: '0', ALERT_SCALER_PROMETHEUS_URL: promUrl });
      b = await startTestScaler(slow, { ...env, ALERT_SCALER_GATEWAY_INDEX: '1', ALERT_SCALER_PROMETHEUS_URL: promUrl }, { ownership: { self: 'b', owns: () => false, ownerOf: () => 'a', onChange: () => () => undefined } });
      const dir = mkdtempSync(join(tmpdir(), 'multigw-prom-'));
      const targets = [a, b].map((s) => `127.0.0.1:${s.port}`);
      writeFileSync(join(dir, 'prometheus.yml'), `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: gateways\n    static_configs:\n      - targets: [${targets.map((t) => `"${t}"`).join(', ')}]\n`);
      prom = await startProcess('prometheus', bin ?? 'prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn']);
      await waitFor('prometheus up', async () => ((await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok ? true : undefined), 20_000, 200);
      const readyA = a;
      const readyB = b;
      await eventually(() => [readyA, readyB].every((s) => s.provider.listReplicas({ name: 'q', namespace: 'openfaas-fn' }).some((r) => r.phase === 'ready')), 10_000);

      // One slow call on A; four on B, whose single replica holds 1 (its share of 2), so 3 wait busy.
      await waitFor(
        'prometheus to scrape both gateways',
        async () => {
          const answer = (await (await fetch(`${promUrl}/api/v1/targets`, { signal: AbortSignal.timeout(2_000) })).json()) as { data: { activeTargets: Array<{ health: string }> } };
          const active = answer.data.activeTargets;
          return active.length === 2 && active.every((t) => t.health === 'up') ? true : undefined;
        },
        20_000,
        200,
      );
      const call = (s: RunningScaler) => fetch(`${s.url}/function/q`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(30_000) }).then((r) => r.status);
      const calls = [call(readyA), ...Array.from({ length: 4 }, () => call(readyB))];
      const seen = await waitFor(
        'each gateway\'s load in Prometheus',
        async () => {
          const fromA = (await new PrometheusRemoteLoad(promUrl, 0).read(AbortSignal.timeout(2_000))).get('q');
          const fromB = (await new PrometheusRemoteLoad(promUrl, 1).read(AbortSignal.timeout(2_000))).get('q');
          return fromA?.queued.busy === 3 && fromB?.present === 1 ? { fromA, fromB } : undefined;
        },
        10_000,
        200,
      );
      // A's query counts B's four calls (one on its replica, three waiting) and not its own one.
      expect(seen.fromA.present).toBe(4);
      expect(seen.fromB).toMatchObject({ present: 1, queued: { busy: 0, no_replica: 0 } });

      // A, the leader, got one call and has a free slot, yet adds a replica for B's queue.
      await eventually(async () => (await readyA.provider.getReplicas({ name: 'q', namespace: 'openfaas-fn' })).desired >= 2, 5_000);
      const up = readyA.engine.events.query().find((e) => e.source === 'policy' && e.action === 'scale_up');
      expect(up?.inputs['remoteQueued']).toBe(3);
      expect((await readyB.provider.getReplicas({ name: 'q', namespace: 'openfaas-fn' })).desired).toBe(1);
      expect(await Promise.all(calls)).toEqual([200, 200, 200, 200, 200]);
    },
    60_000,
  );
});
