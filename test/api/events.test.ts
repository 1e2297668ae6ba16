import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';

/*
 * The acceptance test of /system/events: the local provider and the real gateway, each
 * source making one change the way it does in production.
 */

const USER = 'admin';
const PASSWORD = 'events-test-password';
const OPT_IN = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '200ms' };
const firing = JSON.parse(readFileSync(join(packageRoot(), 'examples', 'alerts', 'firing-single.json'), 'utf8')) as unknown;

let s: RunningScaler;
beforeAll(async () => {
  s = await startTestScaler(
    { echo: { labels: { 'com.openfaas.scale.max': '10' } }, sleepy: { labels: OPT_IN } },
    { ALERT_SCALER_BASIC_AUTH_USER: USER, ALERT_SCALER_BASIC_AUTH_PASSWORD: PASSWORD },
  );
}, 30_000);
afterAll(async () => {
  await s.close();
});

const get = (path: string) => request(s.adminServer).get(path).auth(USER, PASSWORD);

describe('/system/events', () => {
  it('returns the decisions of an alert, a wake, an idle scale-down and a manual scale with their reasons; CSV form too', async () => {
    // An alert: 1 → 3 (step 20 % of max 10).
    const alert = await request(s.adminServer).post('/system/alert').auth(USER, PASSWORD).send(firing as object);
    expect(alert.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 3 });
    // A wake: the first call to a function at zero.
    const cold = await request(s.server).post('/function/sleepy').send('wake');
    expect([cold.status, cold.text]).toEqual([200, 'wake']);
    // An idle scale-down, by its deadline, once its zero-duration has passed without a call.
    const idled = () => s.engine.events.query({ function: 'sleepy' }).filter((e) => e.source === 'idler').map((e) => e.action);
    await eventually(() => idled().includes('scale_down_complete'), 5000);
    expect(idled()).toEqual(['scale_down', 'drain_start', 'scale_down_complete']);
    // A manual scale: 3 → 2.
    const manual = await request(s.adminServer).post('/system/scale-function/echo').auth(USER, PASSWORD).send({ serviceName: 'echo', replicas: 2 });
    expect(manual.status).toBe(202);
    await eventually(async () => (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).desired === 2, 5000);

    const res = await get('/system/events');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const events = res.body as Array<Record<string, unknown>>;
    const decisions = events.filter((e) => e['replica'] === undefined).map((e) => [e['function'], e['source'], e['action'], e['from'], e['to'], e['reason']]);
    expect(decisions).toEqual([
      ['echo', 'alert', 'scale_up', 1, 3, 'step-up'],
      ['sleepy', 'waker', 'scale_up', 0, 1, 'wake'],
      ['sleepy', 'idler', 'scale_down', 1, 0, 'idle'],
      ['echo', 'api', 'scale_down', 3, 2, 'manual'],
    ]);
    // Each decision says what it looked at, and its time is ISO-8601.
    const alertEvent = events.find((e) => e['source'] === 'alert');
    expect(alertEvent?.['inputs']).toMatchObject({ alerts: 1, alertname: 'APIHighInvocationRate' });
    expect(events.find((e) => e['source'] === 'idler' && e['action'] === 'scale_down')?.['inputs']).toMatchObject({ idleness: 'idle', inFlight: 0 });
    expect(events.find((e) => e['source'] === 'api')?.['inputs']).toEqual({ before: 3, after: 2, requested: 2, maxReplicas: 10 });
    expect(String(events[0]?.['time'])).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // Replica lifecycle events are in the log too: the drained replicas were removed.
    expect(events.filter((e) => e['action'] === 'scale_down_complete').map((e) => e['function'])).toEqual(['sleepy', 'echo']);

    const csv = await get('/system/events').set('Accept', 'text/csv');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe('time,action,target,status,from,to');
    const rows = lines.slice(1).map((l) => l.split(',').slice(1, 4).join(','));
    for (const row of ['scale_up,echo,step-up', 'scale_up,sleepy,wake', 'scale_down,sleepy,idle', 'scale_down,echo,manual']) expect(rows).toContain(row);
    expect((await get('/system/events?format=csv')).text).toBe(csv.text);
  });

  it('a scale-down records each removed replica as drained, never as a replica starting', async () => {
    const scale = (replicas: number) => request(s.adminServer).post('/system/scale-function/echo').auth(USER, PASSWORD).send({ serviceName: 'echo', replicas });
    await scale(3);
    await eventually(async () => (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).ready === 3);
    const since = Date.now();
    await scale(1);
    await eventually(async () => (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).desired === 1);
    const events = (await get(`/system/events?function=echo&since=${since}`)).body as Array<{ action: string; reason: string; replica?: string }>;
    expect(events.filter((e) => e.action === 'scale_down_complete').map((e) => e.reason)).toEqual(['drained', 'drained']);
    expect(events.filter((e) => e.action === 'scale_up_start')).toEqual([]);
  });

  it('filters by function (bare or with its namespace), by time and by count, newest last', async () => {
    const sleepy = (await get('/system/events?function=sleepy')).body as Array<{ function: string }>;
    expect(sleepy.length).toBeGreaterThan(0);
    expect(new Set(sleepy.map((e) => e.function))).toEqual(new Set(['sleepy']));
    expect((await get('/system/events?function=sleepy.openfaas-fn')).body).toEqual(sleepy);
    const all = (await get('/system/events')).body as Array<{ time: string }>;
    const last = (await get('/system/events?limit=1')).body as unknown[];
    expect(last).toEqual([all.at(-1)]);
    const future = new Date(Date.now() + 60_000);
    expect((await get(`/system/events?since=${future.toISOString()}`)).body).toEqual([]);
    expect((await get(`/system/events?since=${future.getTime()}`)).body).toEqual([]);
    expect(((await get('/system/events?since=0')).body as unknown[]).length).toBe(all.length);
  });

  it('lifecycle=false leaves out the routine replica steps; the decisions stay, and the limit counts what is left', async () => {
    const LIFECYCLE = ['scale_up_start', 'scale_up_complete', 'drain_start', 'scale_down_complete'];
    const all = (await get('/system/events?function=echo&limit=10000')).body as Array<{ action: string }>;
    expect(all.some((e) => LIFECYCLE.includes(e.action))).toBe(true);
    const decisions = (await get('/system/events?function=echo&limit=10000&lifecycle=false')).body as Array<{ action: string }>;
    expect(decisions.length).toBeGreaterThan(0);
    expect(decisions).toEqual(all.filter((e) => !LIFECYCLE.includes(e.action)));
    expect((await get('/system/events?function=echo&limit=10000&lifecycle=true')).body).toEqual(all);
    expect((await get('/system/events?function=echo&limit=1&lifecycle=false')).body).toEqual([decisions.at(-1)]);
  });

  it('a function with no event that the provider does not know is a 404, one it knows with no event is an empty list', async () => {
    const unknown = await get('/system/events?function=nope');
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'FUNCTION_UNKNOWN']);
    expect((await get('/system/events?function=echo&since=' + String(Date.now() + 60_000))).body).toEqual([]);
  });

  const bad: Array<[string, string, string]> = [
    ['a limit of 0', 'limit=0', 'limit'],
    ['a limit over the log size', 'limit=10001', 'limit'],
    ['a limit that is not a number', 'limit=ten', 'limit'],
    ['a since that is no date', 'since=yesterday', 'since'],
    ['a since without a zone', 'since=2026-01-02T03:04:05', 'since'],
    ['an unknown format', 'format=xml', 'format'],
    ['a repeated function', 'function=a&function=b', 'function'],
    ['a lifecycle that is not true or false', 'lifecycle=no', 'lifecycle'],
  ];
  it.each(bad)('%s is a 400 that names the parameter', async (_name, query, parameter) => {
    const res = await get(`/system/events?${query}`);
    expect([res.status, res.body.error.code, res.body.error.parameter]).toEqual([400, 'BAD_REQUEST', parameter]);
  });

  it('is behind the same basic auth as /system/*', async () => {
    const res = await request(s.adminServer).get('/system/events');
    expect(res.status).toBe(401);
  });
});
