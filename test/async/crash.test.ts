import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { eventually, writeStack } from '../support/harness.js';
import { send } from '../support/zero-harness.js';
import { freePort, startNats } from './nats-server.js';
import { callbackServer, countingFunction } from './support.js';
import http from 'node:http';

const MAIN = join(packageRoot(), 'dist', 'src', 'main.js');
const children: ChildProcess[] = [];
const pidsToKill: number[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const pid of pidsToKill) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `node dist/src/main.js` on fixed loopback ports; resolves once it answers /readyz (at most 30 s). */
async function gateway(env: Record<string, string>, port: number, adminPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, PORT: String(port), ALERT_SCALER_ADMIN_PORT: String(adminPort), ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_LOG_LEVEL: 'error', ...env },
    stdio: 'ignore',
  });
  children.push(child);
  await eventually(async () => {
    try {
      return (await send(`http://127.0.0.1:${port}/readyz`, { timeoutMs: 1000 })).status === 200;
    } catch {
      return false;
    }
  }, 30_000, 100);
  return child;
}

/** Accepts 1,000 calls on a slow replica, SIGKILLs the gateway, starts it again (fast replica): every call's callback must arrive. */
async function killAndRestart(queueEnv: Record<string, string>): Promise<void> {
    const cb = await callbackServer();
    const asyncDir = mkdtempSync(join(tmpdir(), 'async-crash-'));
    dirs.push(asyncDir);
    const labels = { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1', 'com.openfaas.scale.concurrency': '1' };
    // First run: one slow replica, so almost nothing is delivered before the kill.
    const slow = countingFunction({ DELAY_MS: '500' }, labels);
    const [port, adminPort] = [await freePort(), await freePort()];
    const env = { ALERT_SCALER_ASYNC_DIR: asyncDir, ALERT_SCALER_ASYNC_RETRY_BASE_MS: '20', ...queueEnv };
    const first = await gateway({ ...env, ALERT_SCALER_STACK: writeStack({ fn: slow.fn }) }, port, adminPort);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const ids = new Set<string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 1000) {
          const reply = await send(`http://127.0.0.1:${port}/async-function/fn`, { body: `b-${next++}`, headers: { 'X-Callback-Url': cb.url }, agent });
          expect(reply.status).toBe(202);
          ids.add(String(reply.headers['x-call-id']));
        }
      }),
    );
    agent.destroy();
    expect(ids.size).toBe(1000);
    const gone = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await gone;
    pidsToKill.push(...slow.pids());
    const deliveredBefore = new Set(cb.got.map((g) => g.id)).size;
    expect(deliveredBefore).toBeLessThan(100);
    // Second run on the same queue folder: a fast replica.
    const fast = countingFunction({ DELAY_MS: '1' }, { ...labels, 'com.openfaas.scale.concurrency': '4' });
    const second = await gateway({ ...env, ALERT_SCALER_STACK: writeStack({ fn: fast.fn }) }, port, adminPort);
    await eventually(() => [...ids].every((id) => cb.got.some((g) => g.id === id)), 90_000, 250);
    second.kill('SIGTERM');
    pidsToKill.push(...fast.pids());
    await cb.close();
}

const suite = existsSync(MAIN) ? describe : describe.skip;
suite('SIGKILL with accepted, undelivered calls (dist/src/main.js)', () => {
  it('every one of 1,000 accepted calls is delivered at least once after a restart', async () => {
    await killAndRestart({});
  }, 150_000);

  it('the same on NATS JetStream: calls in delivery at the kill come again after the ack wait', async () => {
    const nats = await startNats();
    try {
      await killAndRestart({ ALERT_SCALER_ASYNC_NATS_URL: nats.url, ALERT_SCALER_ASYNC_ACK_WAIT_MS: '2000' });
    } finally {
      await nats.stop();
    }
  }, 150_000);

  it('a SIGTERM while a call runs: the call finishes (its callback arrives) and is not delivered again after a restart', async () => {
    const cb = await callbackServer();
    const asyncDir = mkdtempSync(join(tmpdir(), 'async-stop-'));
    dirs.push(asyncDir);
    const f = countingFunction({ DELAY_MS: '1500' }, { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' });
    const [port, adminPort] = [await freePort(), await freePort()];
    const env = { ALERT_SCALER_ASYNC_DIR: asyncDir, ALERT_SCALER_ASYNC_RETRY_BASE_MS: '20', ALERT_SCALER_STACK: writeStack({ fn: f.fn }) };
    const first = await gateway(env, port, adminPort);
    const reply = await send(`http://127.0.0.1:${port}/async-function/fn`, { body: 'once', headers: { 'X-Callback-Url': cb.url } });
    expect(reply.status).toBe(202);
    await eventually(() => f.state().calls === 1, 10_000, 20);
    const gone = new Promise((r) => first.once('exit', r));
    first.kill('SIGTERM');
    await gone;
    pidsToKill.push(...f.pids());
    expect(cb.got.map((g) => [g.id, g.status, g.body])).toEqual([[String(reply.headers['x-call-id']), '200', 'once']]);
    // Restarted on the same queue folder: nothing left to deliver.
    const second = await gateway(env, port, adminPort);
    await new Promise((r) => setTimeout(r, 2500));
    expect(f.state().calls).toBe(1);
    const exited = new Promise((r) => second.once('exit', r));
    second.kill('SIGTERM');
    await exited;
    pidsToKill.push(...f.pids());
    await cb.close();
  }, 60_000);
});

