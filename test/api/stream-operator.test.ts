import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { RunningScaler } from '../../src/bootstrap.js';
import type { FunctionSnapshot } from '../../src/api/stream.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { call, notification, OPERATOR_FUNCTIONS } from '../support/operator-fixture.js';
import { openSse, type SseClient } from '../support/sse.js';

/*
 * The operator fields of the status stream (issue 20, item 6), from a real gateway with local
 * replicas and calls sent on 127.0.0.1: kind and bounds, saturation, scaled to zero, 5xx and
 * 504 counts, the p95, firing alerts and holds, and the 15-minute history.
 */

const AUTH = { user: 'admin', password: 'operator-test-password' };
let s: RunningScaler;

beforeAll(async () => {
  s = await startTestScaler(OPERATOR_FUNCTIONS, { ALERT_SCALER_BASIC_AUTH_USER: AUTH.user, ALERT_SCALER_BASIC_AUTH_PASSWORD: AUTH.password, ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' });
}, 30_000);
afterAll(async () => {
  await s?.close();
});

const latest = (c: SseClient, name: string): FunctionSnapshot | undefined =>
  c.events
    .filter((e) => e.event === 'function')
    .map((e) => JSON.parse(e.data) as FunctionSnapshot)
    .filter((f) => f.name === name)
    .at(-1);

describe('the status stream: what an operator reads first', () => {
  it('names the kind and bounds, shows a function at zero as scaled to zero, and a queue at max as saturated', async () => {
    const client = await openSse(`${s.adminUrl}/system/stream`, AUTH);
    try {
      await eventually(() => latest(client, 'zero') !== undefined && latest(client, 'busy')?.availableReplicas === 1, 10_000);
      expect(latest(client, 'zero')).toMatchObject({ kind: 'rps', minReplicas: 0, maxReplicas: 3, scaledToZero: true, saturated: false });
      expect(latest(client, 'busy')).toMatchObject({ kind: 'queue', minReplicas: 1, maxReplicas: 1, scaledToZero: false, saturated: false });
      const calls = [1, 2, 3].map(() => call(`${s.url}/function/busy`));
      await eventually(() => latest(client, 'busy')?.saturated === true, 10_000);
      expect(latest(client, 'busy')?.queueLength).toBeGreaterThan(0);
      expect(await Promise.all(calls)).toEqual([200, 200, 200]);
      await eventually(() => latest(client, 'busy')?.saturated === false, 10_000);
    } finally {
      client.close();
    }
  }, 30_000);

  it('counts 5xx and 504 answers, and gives a p95 once a step has passed', async () => {
    expect(await call(`${s.url}/function/failing`)).toBe(500);
    expect(await call(`${s.url}/function/failing`)).toBe(500);
    expect(await call(`${s.url}/function/slow`)).toBe(504);
    const client = await openSse(`${s.adminUrl}/system/stream`, AUTH);
    try {
      await eventually(() => latest(client, 'failing')?.errors.server === 2 && latest(client, 'slow')?.errors.timeouts === 1, 10_000);
      expect(latest(client, 'slow')?.errors).toEqual({ server: 1, timeouts: 1 });
      expect(latest(client, 'failing')?.errors).toEqual({ server: 2, timeouts: 0 });
      // The history steps every 5 s: the calls fall between two points within a minute.
      await eventually(() => (latest(client, 'slow')?.latencyP95Ms ?? 0) > 0, 15_000, 200);
      expect(latest(client, 'slow')?.latencyP95Ms).toBeGreaterThanOrEqual(500);
      expect(latest(client, 'slow')?.latencyP95Ms).toBeLessThanOrEqual(5000);
    } finally {
      client.close();
    }
  }, 40_000);

  it('shows the firing alerts and the holds of a function', async () => {
    const client = await openSse(`${s.adminUrl}/system/stream`, AUTH);
    try {
      await eventually(() => latest(client, 'slow') !== undefined, 10_000);
      expect(latest(client, 'slow')?.alerts).toEqual({ firing: 0, holds: [], scaleDownAt: null });
      for (const body of [notification('slow'), notification('slow', 'QueueBacklog')]) {
        const res = await request(s.adminServer).post('/system/alert').auth(AUTH.user, AUTH.password).send(body);
        expect(res.status).toBe(200);
      }
      await eventually(() => latest(client, 'slow')?.alerts.holds.length === 1 && latest(client, 'slow')?.alerts.firing === 1, 10_000);
      expect(latest(client, 'slow')?.alerts).toMatchObject({ firing: 1, holds: ['QueueBacklog'] });
    } finally {
      client.close();
    }
  }, 30_000);

  it('sends each function its history on connect, then a point at a step where its counts changed', async () => {
    const client = await openSse(`${s.adminUrl}/system/stream?function=busy`, AUTH);
    try {
      await eventually(() => client.events.some((e) => e.event === 'history'), 10_000);
      const history = JSON.parse(client.events.find((e) => e.event === 'history')?.data ?? '{}') as { name: string; stepMs: number; points: number[][] };
      expect(history).toMatchObject({ name: 'busy', stepMs: 5000 });
      expect(history.points.length).toBeGreaterThan(0);
      expect(history.points.at(-1)?.slice(1, 3)).toEqual([1, 1]);
      const points = () => client.events.filter((e) => e.event === 'point').map((e) => JSON.parse(e.data) as { name: string; point: number[] });
      // A point is sent only when something in it changed, the rate included: the calls of the
      // test before may have left a step at this one call's rate, so wait until the rate is back at 0.
      await eventually(() => ((points().at(-1)?.point ?? history.points.at(-1))?.[4] ?? 0) === 0, 15_000, 200);
      const before = points().length;
      // A call changes its rate: the next step sends a point with a rate above 0.
      expect(await call(`${s.url}/function/busy`)).toBe(200);
      await eventually(() => points().slice(before).some((p) => (p.point[4] ?? 0) > 0), 15_000, 200);
      expect(points().every((p) => p.name === 'busy' && p.point.length === 5)).toBe(true);
      expect(client.events.filter((e) => e.event === 'point' || e.event === 'history').every((e) => (JSON.parse(e.data) as { name: string }).name === 'busy')).toBe(true);
    } finally {
      client.close();
    }
  }, 45_000);
});
