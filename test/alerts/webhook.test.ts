import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { capturingLogger, eventually, startTestScaler, type TestFunction } from '../support/harness.js';

interface Alert {
  status: string;
  labels: Record<string, string>;
  fingerprint: string;
  startsAt: string;
  [key: string]: unknown;
}
interface Payload {
  status: string;
  alerts: Alert[];
  [key: string]: unknown;
}

/** Real payloads captured from Alertmanager 0.25. */
function fixture(name: string): Payload {
  return JSON.parse(readFileSync(join(packageRoot(), 'examples', 'alerts', `${name}.json`), 'utf8')) as Payload;
}

function withFunction(payload: Payload, fn: string, patch: Partial<Alert> = {}): Payload {
  return { ...payload, alerts: payload.alerts.map((a) => ({ ...a, labels: { ...a.labels, function_name: fn }, ...patch })) };
}

const AUTH = { ALERT_SCALER_BASIC_AUTH_USER: 'alertmanager', ALERT_SCALER_BASIC_AUTH_PASSWORD: 'test-secret' };
let running: RunningScaler | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(functions: Record<string, TestFunction>, env: Record<string, string> = {}) {
  running = await startTestScaler(functions, { ...AUTH, ALERT_SCALER_DRAIN_GRACE_MS: '2000', ...env });
  return running;
}
const post = (s: RunningScaler, body: unknown) => request(s.adminServer).post('/system/alert').auth('alertmanager', 'test-secret').send(body as object);
const fn = async (s: RunningScaler, name: string) => (await request(s.adminServer).get(`/system/function/${name}`).auth('alertmanager', 'test-secret')).body as { replicas: number; availableReplicas: number };

describe('POST /system/alert with real Alertmanager payloads', () => {
  it('firing steps the function up and availableReplicas follows once the new processes answer health', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '10', 'com.openfaas.scale.factor': '20' } } });
    await eventually(async () => (await fn(s, 'echo')).availableReplicas === 1);

    const res = await post(s, fixture('firing-single'));
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      expect.objectContaining({ function: 'echo', outcome: 'applied', from: 1, to: 3, reason: 'step-up', fingerprint: 'c71c5036c8db20b4' }),
    ]);
    expect((await fn(s, 'echo')).replicas).toBe(3);
    await eventually(async () => (await fn(s, 'echo')).availableReplicas === 3);
  });

  it('answers JSON with the headers res.json gave it: type with charset, exact length', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '10' } } });
    const res = await post(s, fixture('firing-single'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text));
    expect(res.headers['etag']).toBeUndefined();
    expect(res.body).toEqual({ status: 'ok', results: [expect.objectContaining({ function: 'echo', outcome: 'applied' })] });
  });

  it('the same notification delivered twice within the cooldown steps once', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '10' } } });
    const first = await post(s, fixture('firing-single'));
    const second = await post(s, fixture('firing-single'));
    expect(first.body.results[0]).toMatchObject({ outcome: 'applied', to: 3 });
    expect(second.status).toBe(200);
    expect(second.body.results[0]).toMatchObject({ outcome: 'unchanged', reason: 'duplicate', from: 3, to: 3 });
    expect((await fn(s, 'echo')).replicas).toBe(3);
  });

  it('a resend after the cooldown steps again (a long burst keeps stepping)', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '10' } } }, { ALERT_SCALER_COOLDOWN_SECONDS: '0.2' });
    await post(s, fixture('firing-single'));
    await new Promise((r) => setTimeout(r, 300));
    const again = await post(s, fixture('firing-single'));
    expect(again.body.results[0]).toMatchObject({ outcome: 'applied', from: 3, to: 5 });
  });

  it('grouped alerts: each function is handled; the unknown one is skipped with a reason', async () => {
    const s = await start({ echo: {} });
    const res = await post(s, fixture('grouped-firing'));
    expect(res.status).toBe(200);
    const byFn = Object.fromEntries((res.body.results as Array<{ function: string }>).map((r) => [r.function, r]));
    expect(byFn['echo']).toMatchObject({ outcome: 'applied', from: 1, to: 5 });
    expect(byFn['figlet.openfaas-fn']).toMatchObject({ outcome: 'skipped', reason: 'unknown-function' });
  });

  it('resolved returns to min only after the window; a firing inside the window cancels it', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '10', 'com.openfaas.scale.down.window': '600ms' } } });
    await post(s, fixture('firing-single'));
    expect((await fn(s, 'echo')).replicas).toBe(3);

    const resolved = await post(s, fixture('resolved-single'));
    expect(resolved.body.results[0]).toMatchObject({ outcome: 'unchanged', reason: 'scale-down-scheduled' });
    expect((await fn(s, 'echo')).replicas).toBe(3);

    // A new firing occurrence inside the window cancels the pending scale-down.
    await post(s, withFunction(fixture('firing-single'), 'echo', { startsAt: '2026-11-23T19:08:00.000Z' }));
    expect((await fn(s, 'echo')).replicas).toBe(5);
    await new Promise((r) => setTimeout(r, 900));
    expect((await fn(s, 'echo')).replicas).toBe(5);

    await post(s, fixture('resolved-single'));
    await eventually(async () => (await fn(s, 'echo')).replicas === 1, 3000);
  });

  it('bad labels: that function is refused with a reason, other alerts still apply', async () => {
    const s = await start({ echo: {}, broken: { labels: { 'scale.min': 'abc' } }, inverted: { labels: { 'scale.min': '5', 'scale.max': '2' } } });
    const base = fixture('firing-single');
    const payload = {
      ...base,
      alerts: [
        ...withFunction(base, 'broken').alerts,
        ...withFunction(base, 'inverted', { fingerprint: 'aaaa' }).alerts,
        ...withFunction(base, 'echo', { fingerprint: 'bbbb' }).alerts,
      ],
    };
    const res = await post(s, payload);
    expect(res.status).toBe(200);
    const [broken, inverted, echo] = res.body.results;
    expect(broken).toMatchObject({ function: 'broken', outcome: 'skipped', reason: 'invalid-labels' });
    expect(broken.problems.join()).toMatch(/scale\.min/);
    expect(inverted).toMatchObject({ outcome: 'skipped', reason: 'invalid-labels' });
    expect(echo).toMatchObject({ function: 'echo', outcome: 'applied', to: 5 });
    expect((await fn(s, 'broken')).replicas).toBe(1);
  });

  it('min == max is never changed; factor 0 never scales up', async () => {
    const s = await start({ fixed: { labels: { 'scale.min': '2', 'scale.max': '2' } }, frozen: { labels: { 'scale.factor': '0' } } });
    const base = fixture('firing-single');
    const res = await post(s, { ...base, alerts: [...withFunction(base, 'fixed').alerts, ...withFunction(base, 'frozen', { fingerprint: 'cccc' }).alerts] });
    expect(res.body.results.map((r: { reason: string }) => r.reason)).toEqual(['fixed', 'factor-zero']);
    expect((await fn(s, 'fixed')).replicas).toBe(2);
    expect((await fn(s, 'frozen')).replicas).toBe(1);
  });

  it('100 concurrent notifications never exceed max and lose no update', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '6', 'com.openfaas.scale.factor': '20' } } });
    let highest = 0;
    s.provider.subscribe((_ref, state) => {
      highest = Math.max(highest, state.desired);
    });
    const base = fixture('firing-single');
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => post(s, withFunction(base, 'echo', { fingerprint: `fp-${i}` }))),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const applied = responses.map((r) => r.body.results[0]).filter((r: { outcome: string }) => r.outcome === 'applied');
    // step = ceil(6 × 20 / 100) = 2: 1 → 3 → 5 → 6, then at max.
    expect(applied.map((r: { to: number }) => r.to)).toEqual([3, 5, 6]);
    expect(highest).toBe(6);
    expect((await fn(s, 'echo')).replicas).toBe(6);
  });
});

describe('bad input changes nothing', () => {
  const cases: Array<[string, (s: RunningScaler) => request.Test, number, string]> = [
    ['malformed JSON', (s) => request(s.adminServer).post('/system/alert').auth('alertmanager', 'test-secret').set('content-type', 'application/json').send('{"alerts": ['), 400, 'BAD_REQUEST'],
    ['wrong types', (s) => post(s, { ...fixture('firing-single'), alerts: [{ status: 'firing', labels: { function_name: 'echo' }, fingerprint: 7 }] }), 400, 'ALERT_INVALID'],
    ['wrong version', (s) => post(s, { ...fixture('firing-single'), version: '3' }), 400, 'ALERT_INVALID'],
    ['not an object', (s) => post(s, [1, 2, 3]), 400, 'ALERT_INVALID'],
    ['a startsAt that is not a date', (s) => post(s, withFunction(fixture('firing-single'), 'echo', { startsAt: 'not-a-date' })), 400, 'ALERT_INVALID'],
    ['an endsAt that is not a date', (s) => post(s, withFunction(fixture('firing-single'), 'echo', { endsAt: '2026-02-30T00:00:00Z' })), 400, 'ALERT_INVALID'],
    ['a relative externalURL', (s) => post(s, { ...fixture('firing-single'), externalURL: '/alertmanager' }), 400, 'ALERT_INVALID'],
    [
      'a 2 MiB body (the webhook limit set to 1 MiB)',
      (s) => {
        const big = fixture('firing-single');
        big['padding'] = 'x'.repeat(2 * 1024 * 1024);
        return post(s, big);
      },
      413,
      'BODY_TOO_LARGE',
    ],
    ['no credentials', (s) => request(s.adminServer).post('/system/alert').send(fixture('firing-single')), 401, 'UNAUTHORIZED'],
    ['a wrong password', (s) => request(s.adminServer).post('/system/alert').auth('alertmanager', 'wrong').send(fixture('firing-single')), 401, 'UNAUTHORIZED'],
    ['a wrong user', (s) => request(s.adminServer).post('/system/alert').auth('admin', 'test-secret').send(fixture('firing-single')), 401, 'UNAUTHORIZED'],
  ];
  it.each(cases)('%s', async (_name, send, status, code) => {
    const s = await start({ echo: {} }, { ALERT_SCALER_WEBHOOK_BODY_LIMIT_BYTES: String(1024 * 1024) });
    const res = await send(s);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    if (status === 401) expect(res.headers['www-authenticate']).toMatch(/^Basic/);
    expect((await fn(s, 'echo')).replicas).toBe(1);
  });

  it('a bad date is refused with a problem naming its field, so made-up startsAt values cannot step again and again', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '10' } } });
    for (const startsAt of ['not-a-date', 'not-a-date-2']) {
      const res = await post(s, withFunction(fixture('firing-single'), 'echo', { startsAt }));
      expect(res.status).toBe(400);
      expect(res.body.error.problems).toEqual([expect.stringMatching(/^alerts\.0\.startsAt: /)]);
    }
    expect((await fn(s, 'echo')).replicas).toBe(1);
  });

  it('a provider failure answers 503 so Alertmanager retries, and the retry steps once', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '10' } } });
    const provider = s.provider;
    const original = provider.setReplicas.bind(provider);
    let failures = 1;
    provider.setReplicas = async (ref, n) => {
      if (failures-- > 0) {
        const { AppError } = await import('../../src/errors.js');
        throw new AppError('PROVIDER_UNAVAILABLE', 'injected');
      }
      return original(ref, n);
    };
    const first = await post(s, fixture('firing-single'));
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('1');
    expect(first.body.results[0]).toMatchObject({ outcome: 'failed', reason: 'provider-error' });
    expect((await fn(s, 'echo')).replicas).toBe(1);
    const retry = await post(s, fixture('firing-single'));
    expect(retry.status).toBe(200);
    expect(retry.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 3 });
    const duplicate = await post(s, fixture('firing-single'));
    expect(duplicate.body.results[0]).toMatchObject({ reason: 'duplicate' });
  });

  it('each replica change is one log line with function, from, to and reason; no auth logs a warning', async () => {
    const { logger, lines } = await capturingLogger();
    running = await startTestScaler({ echo: {} }, {}, { logger });
    const s = running;
    await request(s.adminServer).post('/system/alert').send(fixture('firing-single'));
    const applied = lines.filter((l) => l['message'] === 'scale applied');
    expect(applied).toEqual([expect.objectContaining({ function: 'echo', from: 1, to: 5, reason: 'step-up', source: 'alert' })]);
    expect(lines.some((l) => l['level'] === 'warn' && /basic auth is off/.test(String(l['message'])))).toBe(true);
  });

  it('a scale-down whose provider call fails stays pending and the next attempt applies it', async () => {
    const s = await start({ echo: { labels: { 'com.openfaas.scale.max': '10', 'com.openfaas.scale.down.window': '100ms' } } });
    await post(s, fixture('firing-single'));
    const provider = s.provider;
    // A scale-down drains the replicas it removes, then removes exactly those.
    const original = provider.removeReplicas.bind(provider);
    let failures = 1;
    provider.removeReplicas = async (ref, ids) => {
      if (failures-- > 0) {
        const { AppError } = await import('../../src/errors.js');
        throw new AppError('PROVIDER_UNAVAILABLE', 'injected');
      }
      return original(ref, ids);
    };
    await post(s, fixture('resolved-single'));
    // The window's timer fires and fails once (retry scheduled in 5 s); drive the retry now.
    await eventually(() => failures === 0, 3000);
    expect((await fn(s, 'echo')).replicas).toBe(3);
    await s.alertScaler.scaleDownDue({ name: 'echo', namespace: 'openfaas-fn' });
    expect((await fn(s, 'echo')).replicas).toBe(1);
    const events = s.engine.events.query({ function: 'echo' }).filter((e) => e.replica === undefined);
    expect(events.map((e) => [e.action, e.reason])).toEqual([
      ['scale_up', 'step-up'],
      ['unchanged', 'scale-down-scheduled'],
      ['scale_down', 'reset-to-min'],
      ['scale_failed', 'PROVIDER_UNAVAILABLE'],
      ['scale_down', 'reset-to-min'],
    ]);
  });

  it('webhook outcomes are counted in metrics', async () => {
    const s = await start({ echo: {} });
    await post(s, fixture('firing-single'));
    await post(s, { nope: true });
    const text = (await request(s.server).get('/metrics')).text;
    expect(text).toMatch(/alert_scaler_webhook_requests_total\{code="200"\} 1/);
    expect(text).toMatch(/alert_scaler_webhook_requests_total\{code="400"\} 1/);
    expect(text).toMatch(/alert_scaler_webhook_alerts_total\{outcome="applied"\} 1/);
    expect(text).toMatch(/alert_scaler_scale_changes_total\{function_name="echo",reason="step-up",source="alert"\} 1/);
    // Desired replicas follow the provider's change notification.
    expect(text).toMatch(/^gateway_service_count\{function_name="echo"\} 5$/m);
  });
});
