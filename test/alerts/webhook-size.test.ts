/**
 * Issue 16 item 6: a real 10,000-alert notification (about 6 MB) is accepted; the webhook has
 * its own body limit, apart from the function body limit; a 10 MB deeply nested body is a
 * 400 and does not stall the event loop while it is read.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from '@jest/globals';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { startTestScaler } from '../support/harness.js';
import { probeHealth } from '../support/health-probe.js';

const ALERTS = 10_000;
const MiB = 1024 * 1024;
const REF = { name: 'echo', namespace: 'openfaas-fn' };

/**
 * One notification as Alertmanager 0.25 sends it (the captured fixture's shape): `count`
 * firing alerts of one group for echo, each with its own pod and instance labels.
 */
function notification(count: number): string {
  const captured = JSON.parse(readFileSync(join(packageRoot(), 'examples', 'alerts', 'firing-single.json'), 'utf8')) as { alerts: Array<Record<string, unknown>> } & Record<string, unknown>;
  const template = captured.alerts[0] as { labels: Record<string, string>; annotations: Record<string, string> } & Record<string, unknown>;
  const alerts = Array.from({ length: count }, (_, i) => ({
    ...template,
    labels: {
      ...template.labels,
      instance: `10.1.${(i >> 8) & 255}.${i & 255}:8080`,
      job: 'openfaas-gateway',
      kubernetes_namespace: 'openfaas-fn',
      pod: `echo-7d9f8b6c5d-${i.toString(36).padStart(5, 'x')}`,
    },
    annotations: {
      ...template.annotations,
      runbook_url: `http://127.0.0.1:9/runbooks/api-high-invocation-rate?pod=echo-${i}`,
    },
    fingerprint: (0x1000_0000_0000 + i * 7919).toString(16).padStart(16, '0'),
  }));
  return JSON.stringify({ ...captured, alerts });
}

/** POSTs `body` to the webhook on a fresh connection; `chunked` sends no Content-Length. */
function post(port: number, body: string | Buffer, chunked = false): Promise<{ status: number; body: { error?: { code: string }; results?: unknown[] } }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = Buffer.byteLength(body);
    const req = http.request({ host: '127.0.0.1', port, path: '/system/alert', method: 'POST', agent: false, headers, timeout: 60_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { error?: { code: string } } }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
    if (!chunked) {
      req.end(body);
      return;
    }
    // Chunked, a megabyte at a time; a refusal may come (and close) before the last chunk.
    const whole = typeof body === 'string' ? Buffer.from(body) : body;
    for (let at = 0; at < whole.length; at += MiB) req.write(whole.subarray(at, at + MiB));
    req.end();
  });
}

let running: RunningScaler | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** The admin listener: the webhook is served there only. */
const portOf = (s: RunningScaler): number => s.adminPort;
const ECHO = { echo: { labels: { 'com.openfaas.scale.max': '10', 'com.openfaas.scale.factor': '20' } } };

describe('the webhook body limit', () => {
  it('a 10,000-alert notification in Alertmanager 0.25\'s shape (about 6 MB) is accepted with the default limits and its alerts processed', async () => {
    const body = notification(ALERTS);
    expect(Buffer.byteLength(body)).toBeGreaterThan(5 * MiB);
    const s = (running = await startTestScaler(ECHO));
    const res = await post(portOf(s), body);
    expect(res.status).toBe(200);
    expect(res.body.results).toHaveLength(ALERTS);
    // step = ceil(10 × 20 / 100) = 2 per distinct alert: 1 → 10 (capped at max).
    expect((await s.provider.getReplicas(REF)).desired).toBe(10);
  }, 60_000);

  it('a notification over the webhook limit is 413 and changes nothing, even when the function body limit is larger', async () => {
    const body = notification(ALERTS);
    const s = (running = await startTestScaler(ECHO, { ALERT_SCALER_BODY_LIMIT_BYTES: String(16 * MiB), ALERT_SCALER_WEBHOOK_BODY_LIMIT_BYTES: String(2 * MiB) }));
    const declared = await post(portOf(s), body);
    expect([declared.status, declared.body.error?.code]).toEqual([413, 'BODY_TOO_LARGE']);
    const chunked = await post(portOf(s), body, true);
    expect([chunked.status, chunked.body.error?.code]).toEqual([413, 'BODY_TOO_LARGE']);
    expect((await s.provider.getReplicas(REF)).desired).toBe(1);
    expect(s.engine.events.query({ function: 'echo' }).filter((e) => e.source === 'alert')).toEqual([]);
  }, 60_000);

  it('a 10 MB deeply nested body is 400 and the event loop never stalls long while it is read', async () => {
    const depth = 5 * MiB;
    // Encoded up front: the test's own client shares this event loop.
    const body = Buffer.from('['.repeat(depth) + ']'.repeat(depth));
    // A function body limit that lets the old route parse it (it had no limit of its own).
    const s = (running = await startTestScaler(ECHO, { ALERT_SCALER_BODY_LIMIT_BYTES: String(16 * MiB) }));
    const port = portOf(s);
    const delay = monitorEventLoopDelay({ resolution: 5 });
    const probes = probeHealth(port);
    delay.enable();
    const res = await post(port, body);
    delay.disable();
    const times = await probes.stop();
    expect([res.status, res.body.error?.code]).toEqual([400, 'ALERT_INVALID']);
    expect((await s.provider.getReplicas(REF)).desired).toBe(1);
    const stallMs = delay.max / 1e6;
    process.stdout.write(`deep body: event loop delay max ${stallMs.toFixed(1)} ms, ${times.length} healthz probes, slowest ${Math.max(...times).toFixed(1)} ms\n`);
    // Generous (two jest workers on shared CI cores; 17-118 ms seen, /healthz up to 153 ms): the
    // old route blocked the loop for 7-12 s here.
    expect(stallMs).toBeLessThan(1000);
    expect(Math.max(...times)).toBeLessThan(1500);
  }, 60_000);
});
