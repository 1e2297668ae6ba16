import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { RunningScaler } from '../../src/bootstrap.js';
import type { LocalProvider } from '../../src/providers/local/index.js';
import { eventually, startTestScaler } from '../support/harness.js';

let s: RunningScaler;
beforeAll(async () => {
  s = await startTestScaler(
    {
      echo: { labels: { 'com.openfaas.scale.max': '4' } },
      other: { annotations: { team: 'a' } },
      slow: { environment: { RESPONSE_DELAY_MS: '700' } },
    },
    { ALERT_SCALER_DRAIN_GRACE_MS: '3000' },
  );
  await eventually(async () => (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).ready === 1);
});
afterAll(async () => {
  await s.close();
});

const echoRef = { name: 'echo', namespace: 'openfaas-fn' };

describe('the function proxy', () => {
  it('passes method, path, query, headers, status and body both ways', async () => {
    const res = await request(s.server).put('/function/echo/some/path?x=1&y=2').set('content-type', 'application/x-test').send('hello body');
    expect(res.status).toBe(200);
    expect(res.text).toBe('hello body');
    expect(res.headers['content-type']).toBe('application/x-test');
    expect(res.headers['x-echo-method']).toBe('PUT');
    expect(res.headers['x-echo-path']).toBe('/some/path?x=1&y=2');
    expect(res.headers['x-scale-from-zero']).toBeUndefined();
  });

  it('the name.namespace form reaches the same function', async () => {
    const res = await request(s.server).post('/function/echo.openfaas-fn').send('ns');
    expect(res.text).toBe('ns');
  });

  it('streams a large body intact', async () => {
    const body = Buffer.alloc(900 * 1024, 7);
    body.write('start');
    const res = await request(s.server).post('/function/echo').set('content-type', 'application/octet-stream').send(body);
    expect(res.status).toBe(200);
    expect(Buffer.compare(res.body as Buffer, body)).toBe(0);
  });

  it('a body over the limit is refused with 413', async () => {
    const res = await request(s.server).post('/function/echo').set('content-type', 'application/octet-stream').send(Buffer.alloc(2 * 1024 * 1024));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('BODY_TOO_LARGE');
  });

  it('a chunked body over the limit (no content-length) is cut off, not forwarded whole', async () => {
    const address = s.server.address() as { port: number };
    const status = await new Promise<number>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: address.port, method: 'POST', path: '/function/echo', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(-1));
      for (let i = 0; i < 40; i++) req.write(Buffer.alloc(64 * 1024));
      req.end();
    });
    expect([413, -1]).toContain(status);
  });

  it('an unknown function is 404 with a clear message', async () => {
    const res = await request(s.server).get('/function/nope');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('FUNCTION_UNKNOWN');
    expect(res.body.error.message).toMatch(/nope/);
  });

  it('spreads requests over ready replicas', async () => {
    await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 2 });
    await eventually(async () => (await s.provider.getReplicas(echoRef)).ready === 2);
    const pids = new Set<string>();
    for (let i = 0; i < 10; i++) pids.add(String((await request(s.server).get('/function/echo')).headers['x-echo-pid']));
    expect(pids.size).toBe(2);
    await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 1 });
  });
});

describe('the system API', () => {
  it('lists functions in the OpenFaaS shape with invocation counts', async () => {
    await request(s.server).get('/function/other');
    const res = await request(s.adminServer).get('/system/functions');
    expect(res.status).toBe(200);
    const other = (res.body as Array<Record<string, unknown>>).find((f) => f['name'] === 'other');
    expect(other).toEqual({
      name: 'other',
      namespace: 'openfaas-fn',
      replicas: 1,
      availableReplicas: expect.any(Number),
      invocationCount: 1,
      labels: {},
      annotations: { team: 'a' },
      status: 'ready',
      states: { starting: 0, free: expect.any(Number), busy: 0, draining: 0, stopping: 0 },
      queueLength: 0,
      // Async invocations are on (the embedded queue): the function's stored async calls.
      asyncQueueLength: 0,
    });
  });

  it('GET /system/function/<unknown> is 404', async () => {
    const res = await request(s.adminServer).get('/system/function/nope');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('FUNCTION_UNKNOWN');
  });

  it('manual scaling answers 202; above max is clamped and the answer says so', async () => {
    const res = await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 9 });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ requested: 9, replicas: 4, clamped: true, reason: 'capped-at-max' });
    expect((await s.provider.getReplicas(echoRef)).desired).toBe(4);
    const back = await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 1 });
    expect(back.body).toMatchObject({ from: 4, replicas: 1, clamped: false });
  });

  it('manual scaling to 0 is allowed and the next call wakes the function', async () => {
    const res = await request(s.adminServer).post('/system/scale-function/other').send({ serviceName: 'other', replicas: 0 });
    expect(res.status).toBe(202);
    await eventually(async () => (await s.provider.getReplicas({ name: 'other', namespace: 'openfaas-fn' })).ready === 0);
    const call = await request(s.server).post('/function/other').send('wake up');
    expect(call.status).toBe(200);
    expect(call.text).toBe('wake up');
    expect(call.headers['x-scale-from-zero']).toMatch(/^\d+$/);
    expect((await s.provider.getReplicas({ name: 'other', namespace: 'openfaas-fn' })).desired).toBe(1);
  });

  const bad: Array<[string, unknown, string]> = [
    ['negative replicas', { serviceName: 'echo', replicas: -1 }, 'BAD_REQUEST'],
    ['fractional replicas', { serviceName: 'echo', replicas: 1.5 }, 'BAD_REQUEST'],
    ['a string', { serviceName: 'echo', replicas: 'two' }, 'BAD_REQUEST'],
    ['a mismatched serviceName', { serviceName: 'other', replicas: 2 }, 'BAD_REQUEST'],
  ];
  it.each(bad)('manual scaling with %s is 400 and changes nothing', async (_name, body, code) => {
    const res = await request(s.adminServer).post('/system/scale-function/echo').send(body as object);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect((await s.provider.getReplicas(echoRef)).desired).toBe(1);
  });

  it('healthz, readyz and an unknown route', async () => {
    expect((await request(s.server).get('/healthz')).status).toBe(200);
    expect((await request(s.server).get('/readyz')).body).toEqual({ status: 'ready' });
    expect((await request(s.server).get('/nothing-here')).status).toBe(404);
  });
});

describe('metrics', () => {
  it('/metrics shows the gateway metrics with the right labels after invocations', async () => {
    await request(s.server).post('/function/echo').send('m');
    await request(s.server).get('/function/nope');
    const text = (await request(s.server).get('/metrics')).text;
    expect(text).toMatch(/^gateway_function_invocation_total\{function_name="echo",code="200"\} \d+$/m);
    expect(text).toMatch(/^gateway_function_invocation_started\{function_name="echo"\} \d+$/m);
    expect(text).toMatch(/^gateway_functions_seconds_count\{function_name="echo",code="200"\} \d+$/m);
    expect(text).toMatch(/^gateway_service_count\{function_name="echo"\} 1$/m);
    expect(text).toMatch(/^gateway_function_invocation_inflight\{function_name="echo"\} 0$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).not.toMatch(/function_name="nope"/);
  });
});

describe('the local provider keeps replicas running', () => {
  it('killing a replica process: the provider starts a new one', async () => {
    const provider = s.provider as LocalProvider;
    const [replica] = provider.replicasOf(echoRef);
    const oldPid = replica?.pid;
    expect(oldPid).toBeDefined();
    process.kill(oldPid as number, 'SIGKILL');
    await eventually(() => {
      const now = provider.replicasOf(echoRef);
      return now.length === 1 && now[0]?.pid !== oldPid && now[0]?.phase === 'ready';
    });
    const res = await request(s.server).post('/function/echo').send('after crash');
    expect(res.text).toBe('after crash');
    expect(res.headers['x-echo-pid']).not.toBe(String(oldPid));
  });

  it('scale-down drains: an in-flight request on the removed replica finishes', async () => {
    const slowRef = { name: 'slow', namespace: 'openfaas-fn' };
    const provider = s.provider as LocalProvider;
    await eventually(() => provider.replicasOf(slowRef)[0]?.phase === 'ready');
    const slow = request(s.server).post('/function/slow').send('still here').then((r) => r);
    await eventually(() => s.engine.dispatcher.replicas(slowRef).some((r) => r.inFlight > 0), 5000, 5);
    const [replica] = provider.replicasOf(slowRef);
    const scaled = await request(s.adminServer).post('/system/scale-function/slow').send({ serviceName: 'slow', replicas: 0 });
    expect(scaled.status).toBe(202);
    // The replica takes no new request (draining in the engine, or leaving in the provider).
    const view = s.engine.dispatcher.replicas(slowRef).find((r) => r.id === replica?.id);
    expect(view === undefined || view.draining || view.phase !== 'ready').toBe(true);
    const res = await slow;
    expect(res.status).toBe(200);
    expect(res.text).toBe('still here');
    await eventually(() => replica?.phase === 'exited');
  });
});
