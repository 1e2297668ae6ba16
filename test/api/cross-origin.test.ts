import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { RunningScaler } from '../../src/bootstrap.js';
import { startTestScaler } from '../support/harness.js';

/*
 * A browser that logged in to /ui/ sends the basic auth credentials with every request to
 * the gateway, also one that another site's page makes it send: a change from another origin
 * is refused.
 */

const AUTH = { user: 'admin', password: 'origin-test-password' };
let s: RunningScaler;
beforeAll(async () => {
  s = await startTestScaler({ echo: {} }, { ALERT_SCALER_BASIC_AUTH_USER: AUTH.user, ALERT_SCALER_BASIC_AUTH_PASSWORD: AUTH.password, ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' });
}, 30_000);
afterAll(async () => {
  await s.close();
});

const scale = (replicas: number, origin?: string) => {
  const req = request(s.adminServer).post('/system/scale-function/echo').auth(AUTH.user, AUTH.password).set('Content-Type', 'text/plain');
  return (origin === undefined ? req : req.set('Origin', origin)).send(JSON.stringify({ serviceName: 'echo', replicas }));
};

describe('changes from another origin', () => {
  it('a scale sent by a page of another site is a 400 and changes nothing', async () => {
    const res = await scale(2, 'http://example.com');
    expect([res.status, res.body.error.code]).toEqual([400, 'BAD_REQUEST']);
    expect((await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).desired).toBe(1);
  });

  it('the page itself (same origin) and clients that send no Origin may scale', async () => {
    const host = new URL(s.adminUrl).host;
    expect((await scale(1, `http://${host}`)).status).toBe(202);
    expect((await scale(1)).status).toBe(202);
  });

  it('reads from another origin stay allowed (the answers are not readable cross-site anyway)', async () => {
    const res = await request(s.adminServer).get('/system/functions').auth(AUTH.user, AUTH.password).set('Origin', 'http://example.com');
    expect(res.status).toBe(200);
  });
});
