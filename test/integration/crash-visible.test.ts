import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RunningScaler } from '../../src/bootstrap.js';
import type { FunctionBody } from '../../src/cli/context.js';
import { formatDescribe } from '../../src/cli/describe.js';
import { lastErrorNote } from '../../src/cli/workers.js';
import { capturingLogger, eventually, startTestScaler } from '../support/harness.js';
import { errorCode, send } from '../support/zero-harness.js';

/*
 * Issue 20 items 2 and 3 with real local replicas: a replica that crashes once with a stderr
 * line and then serves keeps its last error visible (status API, describe, workers); a held
 * call whose replica is still starting gets a 504 that says so; a function at zero is
 * "scaled to zero", not "Not Ready".
 */

const NODE = process.execPath;

// Crashes on its first start (a marker file absent) with two stderr lines; serves after that.
const FLAKY = `
import http from 'node:http';
import { existsSync, writeFileSync } from 'node:fs';
const marker = process.env.MARKER;
if (!existsSync(marker)) {
  writeFileSync(marker, '');
  console.error('loading model');
  console.error('ValueError: bad weights');
  process.exit(1);
}
http.createServer((req, res) => { req.resume(); res.end('ok'); }).listen(Number(process.env.PORT), '127.0.0.1');
`;

// Listens only after 20 s: slower than its wake timeout.
const SLOW_START = `
import http from 'node:http';
setTimeout(() => http.createServer((req, res) => { req.resume(); res.end('ok'); }).listen(Number(process.env.PORT), '127.0.0.1'), 20_000);
`;

let s: RunningScaler;
let lines: Array<Record<string, unknown>>;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-crash-'));
  writeFileSync(join(dir, 'flaky.mjs'), FLAKY);
  writeFileSync(join(dir, 'slow.mjs'), SLOW_START);
  const captured = await capturingLogger();
  lines = captured.lines;
  s = await startTestScaler(
    {
      flaky: { command: `${NODE} ${join(dir, 'flaky.mjs')}`, environment: { MARKER: join(dir, 'crashed-once') } },
      slow: { command: `${NODE} ${join(dir, 'slow.mjs')}`, labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.wake-timeout': '1s' } },
    },
    { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
    { logger: captured.logger },
  );
}, 30_000);
afterAll(async () => {
  await s.close();
}, 30_000);

const detail = async (name: string) => JSON.parse((await send(`${s.adminUrl}/system/function/${name}`)).body.toString()) as FunctionBody;

describe('crashes you can see, once the function recovered (issue 20 item 3)', () => {
  it('the last crash stays in the status API, describe and workers after a replica became ready; its stderr was logged at warn', async () => {
    await eventually(async () => (await s.provider.getReplicas({ name: 'flaky', namespace: 'openfaas-fn' })).ready === 1, 20_000);
    const body = await detail('flaky');
    expect(body.status).toBe('ready');
    expect(body.crashLoop).toBeNull();
    expect(body.lastCrash).toMatchObject({ reason: 'exited', code: 1, signal: null, error: 'replica exited with code 1: ValueError: bad weights', stderr: ['loading model', 'ValueError: bad weights'] });
    expect(body.lastCrash?.replica).toMatch(/^flaky-\d+$/);
    const text = formatDescribe(body, `${s.url}/function/flaky`);
    expect(text).toMatch(/^Status: +Ready$/m);
    expect(text).toMatch(/^Last Error: +\S+Z flaky-\d+: replica exited with code 1: ValueError: bad weights$/m);
    expect(lastErrorNote(body)).toMatch(/^last error: \S+Z flaky-\d+: replica exited with code 1: ValueError: bad weights$/);
    const warned = lines.find((l) => l['message'] === 'replica crashed' && l['function'] === 'flaky');
    expect(warned).toMatchObject({ level: 'warn', stderr: 'loading model\nValueError: bad weights' });
  }, 30_000);
});

describe('a function at zero, and a wake slower than its wait', () => {
  it('at zero it is "scaled to zero" in the API and describe, not "Not Ready"', async () => {
    const body = await detail('slow');
    expect([body.replicas, body.status]).toEqual([0, 'scaled-to-zero']);
    expect(formatDescribe(body, `${s.url}/function/slow`)).toMatch(/^Status: +Scaled to zero$/m);
    const list = JSON.parse((await send(`${s.adminUrl}/system/functions`)).body.toString()) as Array<{ name: string; status: string }>;
    expect(list.find((f) => f.name === 'slow')?.status).toBe('scaled-to-zero');
  });

  it('a held call whose replica is still starting gets a 504 that says so', async () => {
    const reply = await send(`${s.url}/function/slow`, { body: 'x', timeoutMs: 15_000 });
    expect([reply.status, errorCode(reply)]).toEqual([504, 'WAKE_TIMEOUT']);
    const error = (JSON.parse(reply.body.toString()) as { error: Record<string, unknown> }).error;
    expect(error['message']).toBe('function slow had no ready replica within 1000 ms: 1 replica was still starting');
    expect(error['starting']).toBe(1);
    expect((await detail('slow')).status).toBe('not-ready');
  }, 30_000);
});
