/**
 * The two listeners (issue 16, item 2): the function listener serves /function/*, health and
 * metrics, and answers /system/* and /ui/ with a 404 naming the admin listener; the admin
 * listener serves everything, its function answers forced into a CSP sandbox.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';

// A function that sends its own permissive Content-Security-Policy (an attempt to opt out).
const OWN_CSP_SOURCE = `
import http from 'node:http';
http.createServer((req, res) => {
  if (req.url === '/_/health') { res.end('OK'); return; }
  res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': "default-src *; script-src * 'unsafe-inline'" });
  res.end('<script>1</script>');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

// A function that answers 401 with the request headers it got, a credentials prompt, a cookie and a site-data wipe.
const HEADERS_SOURCE = `
import http from 'node:http';
http.createServer((req, res) => {
  if (req.url === '/_/health') { res.end('OK'); return; }
  res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="alert-scaler"', 'set-cookie': 'session=function', 'clear-site-data': '"*"' });
  res.end(JSON.stringify(req.headers));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

let s: RunningScaler;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-listeners-'));
  writeFileSync(join(dir, 'own-csp.mjs'), OWN_CSP_SOURCE);
  writeFileSync(join(dir, 'headers.mjs'), HEADERS_SOURCE);
  s = await startTestScaler(
    { echo: {}, 'own-csp': { command: [process.execPath, join(dir, 'own-csp.mjs')] }, headers: { command: [process.execPath, join(dir, 'headers.mjs')] } },
    { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
  );
  const ready = async (name: string) => (await s.provider.getReplicas({ name, namespace: 'openfaas-fn' })).ready === 1;
  await eventually(async () => (await ready('echo')) && (await ready('own-csp')) && (await ready('headers')));
}, 30_000);
afterAll(async () => {
  await s.close();
});

/** The values of every Content-Security-Policy line of a supertest answer, in order. */
function policies(res: request.Response): string[] {
  const raw = (res as unknown as { res: { rawHeaders: string[] } }).res.rawHeaders;
  const found: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'content-security-policy') found.push(raw[i + 1] ?? '');
  return found;
}

describe('the two listeners', () => {
  it('listen on different ports', () => {
    expect(s.adminPort).not.toBe(s.port);
    expect(new URL(s.adminUrl).port).toBe(String(s.adminPort));
  });

  it('the function listener answers /system/* and /ui/ with 404 naming the admin listener, and changes nothing', async () => {
    const scale = await request(s.server).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 3 });
    expect([scale.status, scale.body.error.code, scale.body.error.listener]).toEqual([404, 'NOT_FOUND', 'admin']);
    expect((await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).desired).toBe(1);
    for (const path of ['/system/functions', '/system/alert', '/ui/', '/ui', '/ui/app.js', '/system']) {
      const res = await request(s.server).get(path);
      expect([path, res.status, res.body.error?.listener]).toEqual([path, 404, 'admin']);
    }
    expect((await request(s.server).get('/nowhere')).status).toBe(404);
  });

  it('the admin listener serves /system/* and /ui/', async () => {
    expect((await request(s.adminServer).get('/system/functions')).status).toBe(200);
    expect((await request(s.adminServer).get('/ui/')).status).toBe(200);
  });

  it('health, readiness and metrics answer on both', async () => {
    for (const server of [s.server, s.adminServer]) {
      expect((await request(server).get('/healthz')).status).toBe(200);
      expect((await request(server).get('/readyz')).status).toBe(200);
      expect((await request(server).get('/metrics')).text).toContain('gateway_function_invocation_total');
    }
  });

  it('a function answer on the function listener is untouched: no policy added', async () => {
    const res = await request(s.server).post('/function/echo').send('hi');
    expect([res.status, res.text]).toEqual([200, 'hi']);
    expect(policies(res)).toEqual([]);
  });

  it('a function answer on the admin listener carries Content-Security-Policy: sandbox', async () => {
    const res = await request(s.adminServer).post('/function/echo').send('hi');
    expect([res.status, res.text]).toEqual([200, 'hi']);
    expect(policies(res)).toEqual(['sandbox']);
    const ns = await request(s.adminServer).get('/function/echo.openfaas-fn/page');
    expect(policies(ns)).toEqual(['sandbox']);
  });

  it('a function cannot opt out: its own policy is kept and the sandbox is added beside it', async () => {
    const res = await request(s.adminServer).get('/function/own-csp/');
    expect(res.status).toBe(200);
    expect(policies(res)).toEqual(["default-src *; script-src * 'unsafe-inline'", 'sandbox']);
    const direct = await request(s.server).get('/function/own-csp/');
    expect(policies(direct)).toEqual(["default-src *; script-src * 'unsafe-inline'"]);
  });

  it('an error answer of the function route on the admin listener is sandboxed too', async () => {
    const res = await request(s.adminServer).get('/function/nope/');
    expect([res.status, res.body.error.code]).toEqual([404, 'FUNCTION_UNKNOWN']);
    expect(policies(res)).toEqual(['sandbox']);
  });
});

describe("the operator's credentials on the admin listener", () => {
  const credentials = { Authorization: 'Basic b3BlcmF0b3I6czNjcmV0', Cookie: 'admin-session=abc' };

  it('are not forwarded to a function called there; the function\'s credentials prompt, cookies and site-data wipe do not reach the admin origin', async () => {
    const res = await request(s.adminServer).post('/function/headers').set(credentials).send('x');
    expect(res.status).toBe(401);
    const got = JSON.parse(res.text) as Record<string, string>;
    expect(got['authorization']).toBeUndefined();
    expect(got['cookie']).toBeUndefined();
    expect(got['x-forwarded-for']).toBeDefined();
    for (const name of ['www-authenticate', 'set-cookie', 'clear-site-data']) expect(res.headers[name]).toBeUndefined();
  });

  it('on the function listener a caller\'s own credentials and the function\'s answer pass as they are (the function may run its own auth)', async () => {
    const res = await request(s.server).post('/function/headers').set(credentials).send('x');
    const got = JSON.parse(res.text) as Record<string, string>;
    expect([got['authorization'], got['cookie']]).toEqual([credentials.Authorization, credentials.Cookie]);
    expect(res.headers['www-authenticate']).toBe('Basic realm="alert-scaler"');
    expect(res.headers['set-cookie']).toEqual(['session=function']);
  });
});

describe('an admin listener with no basic auth on a loopback address (DNS rebinding)', () => {
  it('answers /system/* and /ui/ only for a local Host: a rebound name, with its own matching Origin, reads and changes nothing', async () => {
    const port = s.adminPort;
    const foreign = `rebind.attacker.example:${port}`;
    const scale = await request(s.adminServer).post('/system/scale-function/echo').set({ Host: foreign, Origin: `http://${foreign}`, 'Content-Type': 'text/plain' }).send(JSON.stringify({ serviceName: 'echo', replicas: 4 }));
    expect([scale.status, scale.body.error?.code]).toEqual([400, 'BAD_REQUEST']);
    expect((await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).desired).toBe(1);
    expect((await request(s.adminServer).get('/system/functions').set('Host', foreign)).status).toBe(400);
    expect((await request(s.adminServer).get('/ui/').set('Host', foreign)).status).toBe(400);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) expect((await request(s.adminServer).get('/system/functions').set('Host', host)).status).toBe(200);
    // Calls, health and metrics are not the admin API: they answer any Host.
    expect((await request(s.adminServer).get('/healthz').set('Host', foreign)).status).toBe(200);
  });
});

