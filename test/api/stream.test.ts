import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { packageRoot, specDefaults, type RunningScaler } from '../../src/bootstrap.js';
import { StatusStream } from '../../src/api/stream.js';
import { silentLogger } from '../../src/log/logger.js';
import { eventually, startTestScaler, testConfig } from '../support/harness.js';
import { openSse, type SseClient } from '../support/sse.js';

const AUTH = { user: 'admin', password: 'stream-test-password' };
const firing = JSON.parse(readFileSync(join(packageRoot(), 'examples', 'alerts', 'firing-single.json'), 'utf8')) as object;

let s: RunningScaler;
beforeAll(async () => {
  s = await startTestScaler(
    { echo: { labels: { 'com.openfaas.scale.max': '10' } }, other: {} },
    { ALERT_SCALER_BASIC_AUTH_USER: AUTH.user, ALERT_SCALER_BASIC_AUTH_PASSWORD: AUTH.password, ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600', ALERT_SCALER_SHUTDOWN_TIMEOUT_MS: '20000' },
  );
}, 30_000);
afterAll(async () => {
  await s.close();
});

const functionEvents = (c: SseClient, name: string) => c.events.filter((e) => e.event === 'function').map((e) => JSON.parse(e.data) as { name: string; replicas: number; availableReplicas: number; instances: unknown[] }).filter((f) => f.name === name);

/** A stream of its own (small limits) on the running gateway's parts, on a server of its own. */
async function ownStream(options: { heartbeatMs?: number; maxBufferedBytes?: number }): Promise<{ stream: StatusStream; url: string; server: http.Server }> {
  const stream = new StatusStream({
    provider: s.provider,
    dispatcher: s.engine.dispatcher,
    events: s.engine.events,
    metrics: s.metrics,
    specDefaults: specDefaults(testConfig('unused.yml')),
    defaultNamespace: 'openfaas-fn',
    logger: silentLogger(),
    ...options,
  });
  const server = http.createServer(express().get('/stream', stream.handle));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { stream, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream` };
}

describe('GET /system/stream', () => {
  it('is behind the same basic auth as /system/*', async () => {
    const res = await request(s.adminServer).get('/system/stream');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Basic/);
  });

  it('sends every function on connect, then the engine event and the new snapshot when an alert scales one', async () => {
    const client = await openSse(`${s.adminUrl}/system/stream`, AUTH);
    try {
      expect(client.status).toBe(200);
      expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
      await eventually(() => functionEvents(client, 'echo').length > 0 && functionEvents(client, 'other').length > 0, 5000);
      expect(functionEvents(client, 'echo')[0]).toMatchObject({ replicas: 1 });

      const alert = await request(s.adminServer).post('/system/alert').auth(AUTH.user, AUTH.password).send(firing);
      expect(alert.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 3 });
      await eventually(() => client.events.some((e) => e.event === 'engine' && (JSON.parse(e.data) as { action: string; source: string }).source === 'alert'), 5000);
      const engine = client.events.filter((e) => e.event === 'engine').map((e) => JSON.parse(e.data) as Record<string, unknown>);
      expect(engine.find((e) => e['source'] === 'alert')).toMatchObject({ function: 'echo', action: 'scale_up', from: 1, to: 3, reason: 'step-up' });
      await eventually(() => functionEvents(client, 'echo').some((f) => f.replicas === 3 && f.availableReplicas === 3 && f.instances.length === 3), 10_000);
    } finally {
      client.close();
    }
  }, 20_000);

  it('with ?function= sends only that function and its events', async () => {
    const client = await openSse(`${s.adminUrl}/system/stream?function=other`, AUTH);
    try {
      await eventually(() => functionEvents(client, 'other').length > 0, 5000);
      const scaled = await request(s.adminServer).post('/system/scale-function/echo').auth(AUTH.user, AUTH.password).send({ serviceName: 'echo', replicas: 2 });
      expect(scaled.status).toBe(202);
      await request(s.adminServer).post('/system/scale-function/other').auth(AUTH.user, AUTH.password).send({ serviceName: 'other', replicas: 1 });
      await eventually(() => client.events.some((e) => e.event === 'engine'), 5000);
      const names = client.events.map((e) => (JSON.parse(e.data) as { name?: string; function?: string }).name ?? (JSON.parse(e.data) as { function?: string }).function);
      expect(new Set(names)).toEqual(new Set(['other']));
    } finally {
      client.close();
    }
  }, 20_000);

  it('sends a heartbeat comment when nothing else was sent for a while', async () => {
    const own = await ownStream({ heartbeatMs: 100 });
    const client = await openSse(own.url);
    try {
      await eventually(() => client.comments.includes('heartbeat'), 3000);
    } finally {
      client.close();
      own.stream.close();
      own.server.close();
    }
  });

  it('sends each client its own heartbeat: one following a quiet function gets it while another function keeps the stream busy', async () => {
    const own = await ownStream({ heartbeatMs: 300 });
    const all = await openSse(own.url);
    const quiet = await openSse(`${own.url}?function=other`);
    const busy = setInterval(() => s.engine.events.record({ time: Date.now(), function: 'echo', source: 'api', action: 'unchanged', from: 1, to: 1, reason: 'test', inputs: {} }), 50);
    try {
      await eventually(() => quiet.comments.includes('heartbeat'), 5000);
      expect(all.events.some((e) => e.event === 'engine')).toBe(true);
    } finally {
      clearInterval(busy);
      all.close();
      quiet.close();
      own.stream.close();
      own.server.close();
    }
  });

  it('drops a client that stops reading once its unread bytes pass the limit, and keeps nothing for it', async () => {
    const own = await ownStream({ maxBufferedBytes: 64 * 1024 });
    const client = await openSse(own.url);
    try {
      await eventually(() => own.stream.size === 1, 3000);
      client.response.pause();
      const reason = 'x'.repeat(32 * 1024);
      // Far more than the kernel's socket buffers hold: the server side has to buffer the rest.
      for (let i = 0; i < 1000 && own.stream.size > 0; i++) {
        s.engine.events.record({ time: Date.now(), function: 'echo', source: 'api', action: 'unchanged', from: 1, to: 1, reason, inputs: {} });
        await new Promise((r) => setImmediate(r));
      }
      expect(own.stream.size).toBe(0);
    } finally {
      client.close();
      own.stream.close();
      own.server.close();
    }
  }, 20_000);

  it('ends open streams on shutdown, so the gateway closes without waiting for them', async () => {
    const client = await openSse(`${s.adminUrl}/system/stream`, AUTH);
    await eventually(() => client.events.length > 0, 5000);
    const started = Date.now();
    await s.close();
    await client.ended;
    // The shutdown timeout is 20 s: a stream holding the close would take that long.
    expect(Date.now() - started).toBeLessThan(5000);
  }, 30_000);
});
