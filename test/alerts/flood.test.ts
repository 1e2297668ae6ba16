/** Issue 8 item 2: one notification with many distinct alerts must not stop the event loop. */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemoryAlertStateStore } from '../../src/alerts/state-store.js';
import type { RunningScaler } from '../../src/bootstrap.js';
import { ALERT_STATE_MAX_ENTRIES } from '../../src/policy/alert-step.js';
import { startTestScaler } from '../support/harness.js';

const ALERTS = 10_000;

/** One notification with `count` distinct firing alerts for echo (fingerprints f0, f1, ...). */
function flood(count: number, offset = 0): object {
  return {
    version: '4',
    status: 'firing',
    receiver: 'scale-up',
    externalURL: 'http://127.0.0.1:9093',
    alerts: Array.from({ length: count }, (_, i) => ({
      status: 'firing',
      labels: { alertname: 'Flood', function_name: 'echo' },
      startsAt: '2026-11-23T19:07:12.537Z',
      endsAt: '0001-01-01T00:00:00Z',
      fingerprint: `f${offset + i}`,
    })),
  };
}

/** GET /healthz on a fresh connection; resolves with the time it took in ms. */
function healthz(port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('healthz timed out')));
    req.on('error', reject);
  });
}

let running: RunningScaler | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

const ECHO_REF = { name: 'echo', namespace: 'openfaas-fn' };

async function start(store = new MemoryAlertStateStore()): Promise<RunningScaler> {
  running = await startTestScaler(
    { echo: { labels: { 'com.openfaas.scale.max': '10', 'com.openfaas.scale.factor': '20' } } },
    // The 10,000-alert body is about 1.3 MB; the repro sent 930 KB with shorter labels.
    { ALERT_SCALER_BODY_LIMIT_BYTES: String(4 * 1024 * 1024) },
    { store },
  );
  return running;
}

describe('a notification with 10,000 distinct alerts for one function', () => {
  it('is answered while /healthz keeps answering and the event loop is never blocked for long', async () => {
    const s = await start();
    const port = (s.server.address() as { port: number }).port;
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    let handling = true;
    const probes: number[] = [];
    const probing = (async () => {
      await new Promise((r) => setTimeout(r, 20));
      while (handling) probes.push(await healthz(port));
    })();
    const res = await request(s.adminServer).post('/system/alert').send(flood(ALERTS)).timeout(60_000);
    handling = false;
    await probing;
    delay.disable();

    expect(res.status).toBe(200);
    expect(res.body.results).toHaveLength(ALERTS);
    // Generous bounds (the goal, < 100 ms and < 1 s, is measured by `npm run bench`);
    // before the fix the loop was blocked for the whole 10+ s. Seen 330-1,030 ms with jest's two
    // workers sharing 2 cores (this process also builds the 2 MB body and parses the 10,000
    // results itself), so the bound is 3 s: far from the old freeze, clear of the other worker.
    expect(probes.length).toBeGreaterThan(0);
    expect(Math.max(...probes)).toBeLessThan(3000);
    expect(delay.max / 1e6).toBeLessThan(3000);
    process.stdout.write(`flood: ${probes.length} healthz probes, slowest ${Math.max(...probes).toFixed(1)} ms; event loop delay max ${(delay.max / 1e6).toFixed(1)} ms\n`);
  }, 90_000);

  it('steps once per distinct occurrence up to max and keeps the stored state at the cap, counting evictions', async () => {
    const store = new MemoryAlertStateStore();
    const s = await start(store);
    const res = await request(s.adminServer).post('/system/alert').send(flood(ALERTS)).timeout(60_000);
    expect(res.status).toBe(200);
    const results = res.body.results as Array<{ fingerprint: string; outcome: string; from: number; to: number; reason: string }>;
    // Same as one by one: step = ceil(10 × 20 / 100) = 2: 1 → 3 → 5 → 7 → 9 → 10, then at max.
    expect(results.slice(0, 6).map((r) => [r.from, r.to, r.reason])).toEqual([
      [1, 3, 'step-up'],
      [3, 5, 'step-up'],
      [5, 7, 'step-up'],
      [7, 9, 'step-up'],
      [9, 10, 'capped-at-max'],
      [10, 10, 'at-max'],
    ]);
    expect(results.map((r) => r.fingerprint)).toEqual(Array.from({ length: ALERTS }, (_, i) => `f${i}`));
    expect(results.filter((r) => r.outcome === 'applied')).toHaveLength(5);

    const { state } = await store.load(ECHO_REF);
    expect(Object.keys(state.firing)).toHaveLength(ALERT_STATE_MAX_ENTRIES);
    expect(Object.keys(state.steps)).toHaveLength(ALERT_STATE_MAX_ENTRIES);
    // The newest are kept.
    expect(state.firing[`f${ALERTS - 1}`]).toBeDefined();
    expect(state.firing['f0']).toBeUndefined();

    const metrics = (await request(s.server).get('/metrics')).text;
    const evicted = ALERTS - ALERT_STATE_MAX_ENTRIES;
    expect(metrics).toMatch(new RegExp(`^alert_scaler_alert_state_evictions_total\\{function_name="echo",kind="firing"\\} ${evicted}$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^alert_scaler_alert_state_evictions_total\\{function_name="echo",kind="steps"\\} ${evicted}$`, 'm'));
    expect(metrics).toMatch(/^alert_scaler_webhook_alerts_total\{outcome="applied"\} 5$/m);

    // The same notification again (an HA duplicate): the kept occurrences are duplicates,
    // the evicted ones are at max; nothing changes and the state stays at the cap.
    const again = await request(s.adminServer).post('/system/alert').send(flood(ALERTS)).timeout(60_000);
    expect(again.status).toBe(200);
    expect((again.body.results as Array<{ outcome: string }>).every((r) => r.outcome === 'unchanged')).toBe(true);
    const after = await store.load(ECHO_REF);
    expect(Object.keys(after.state.firing)).toHaveLength(ALERT_STATE_MAX_ENTRIES);
  }, 120_000);
});
