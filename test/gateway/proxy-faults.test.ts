import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler, type TestFunction } from '../support/harness.js';

const RAW = join(packageRoot(), 'test', 'gateway', 'fixtures', 'raw-replica.mjs');
const eventsDir = mkdtempSync(join(tmpdir(), 'alert-scaler-faults-'));
const silentEvents = join(eventsDir, 'silent.events');
const raw = (environment: Record<string, string>): TestFunction => ({ command: [process.execPath, RAW], environment });

const functions: Record<string, TestFunction> = {
  echo: {},
  status099: raw({ MODE: 'status:HTTP/1.1 099 X' }),
  status000: raw({ MODE: 'status:HTTP/1.1 000 X' }),
  status700: raw({ MODE: 'status:HTTP/1.1 700 X' }),
  switch101: raw({ MODE: 'status:HTTP/1.1 101 Switching Protocols' }),
  silent: raw({ MODE: 'silent', EVENTS_FILE: silentEvents }),
};

/** Slots of the function's replicas: still held, and given back (the dispatcher counts each once). */
function slots(name: string): { inFlight: number; served: number } {
  const replicas = s.engine.dispatcher.replicas({ name, namespace: 'openfaas-fn' });
  return { inFlight: replicas.reduce((n, r) => n + r.inFlight, 0), served: replicas.reduce((n, r) => n + r.served, 0) };
}

let s: RunningScaler;
beforeAll(async () => {
  const env = { ALERT_SCALER_REQUEST_TIMEOUT_MS: '400' };
  s = await startTestScaler(functions, env);
  for (const name of Object.keys(functions)) {
    await eventually(async () => (await s.provider.getReplicas({ name, namespace: 'openfaas-fn' })).ready === 1);
  }
});
afterAll(async () => {
  await s.close();
});

describe('a replica that answers with an impossible status line', () => {
  it.each(['status099', 'status000', 'status700'])('%s is a 502 UPSTREAM_FAILED for that call, and the gateway keeps serving', async (name) => {
    const res = await request(s.server).get(`/function/${name}`);
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('UPSTREAM_FAILED');
    const after = await request(s.server).post('/function/echo').send('still up');
    expect(after.status).toBe(200);
    expect(after.text).toBe('still up');
  });

  it('a 101 to a call that asked no upgrade is a 502, not a hung call', async () => {
    const res = await request(s.server).get('/function/switch101').timeout(5000);
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('UPSTREAM_FAILED');
  });

  it('each such call gives its replica slot back', async () => {
    for (const name of ['status099', 'status000', 'status700', 'switch101']) {
      await eventually(() => slots(name).inFlight === 0, 2000);
      expect(slots(name)).toEqual({ inFlight: 0, served: 1 });
    }
  });

  it('is counted as a 502 in the gateway metrics', async () => {
    const text = (await request(s.server).get('/metrics')).text;
    expect(text).toMatch(/^gateway_function_invocation_total\{function_name="status099",code="502"\} 1$/m);
  });
});

describe('a replica that never answers', () => {
  it('gets the request timeout: 504 REQUEST_TIMEOUT, the upstream call aborted, its slot released once', async () => {
    const started = Date.now();
    const res = await request(s.server).get('/function/silent').timeout(10_000);
    const tookMs = Date.now() - started;
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('REQUEST_TIMEOUT');
    expect(tookMs).toBeGreaterThanOrEqual(390);
    expect(tookMs).toBeLessThan(5000);
    // The replica saw its connection closed: the gateway gave up on the call.
    await eventually(() => {
      try {
        return readFileSync(silentEvents, 'utf8').includes('close');
      } catch {
        return false;
      }
    }, 5000);
    await new Promise((r) => setTimeout(r, 100));
    expect(slots('silent')).toEqual({ inFlight: 0, served: 1 });
    const text = (await request(s.server).get('/metrics')).text;
    expect(text).toMatch(/^gateway_function_invocation_total\{function_name="silent",code="504"\} 1$/m);
    expect(text).toMatch(/^gateway_function_invocation_inflight\{function_name="silent"\} 0$/m);
  });
});
