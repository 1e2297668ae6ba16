import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../src/bootstrap.js';
import { eventually, writeStack } from './support/harness.js';
import { errorCode, heldCount, recorderFunction, replicasOf, send, startZeroScaler, type ZeroScaler } from './support/zero-harness.js';
import { alive } from './support/processes.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'main.js');

// A replica that starts a child of its own (`sleep`, a grandchild of the gateway) and writes
// "<its pid> <child pid>" to $PID_DIR/<pid>. IGNORE_TERM=1 makes both ignore SIGTERM, so a
// graceful stop has to wait out the drain grace.
const REPLICA_SOURCE = `
import http from 'node:http';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
const stubborn = process.env.IGNORE_TERM === '1';
if (stubborn) process.on('SIGTERM', () => undefined);
const child = stubborn
  ? spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => undefined); setInterval(() => undefined, 60000)'], { stdio: 'ignore' })
  : spawn('sleep', ['300'], { stdio: 'ignore' });
writeFileSync(join(process.env.PID_DIR, String(process.pid)), process.pid + ' ' + child.pid);
http.createServer((req, res) => res.end('OK')).listen(Number(process.env.PORT), '127.0.0.1');
`;

interface Gateway {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Replica pids and their children's pids, once every replica has written its file. */
  readonly pids: () => { replicas: number[]; grandchildren: number[] };
}

const leftovers: number[] = [];
const gateways: ChildProcess[] = [];
let zero: ZeroScaler | undefined;
afterEach(async () => {
  for (const child of gateways.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  // Only processes this file started; a failing test must not leave them running.
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await zero?.close();
  zero = undefined;
});

/** Starts `node dist/src/main.js` on a stack of two functions, 2 replicas each: one argv, one string command. */
async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-shutdown-'));
  const script = join(dir, 'replica.mjs');
  writeFileSync(script, REPLICA_SOURCE);
  const labels = { 'com.openfaas.scale.min': '2' };
  const environment = { PID_DIR: dir, ...env };
  const stack = writeStack({
    argv: { command: [process.execPath, script], labels, environment },
    // Runs as /bin/sh -c "exec node <script>".
    shell: { command: `node ${script}`, labels, environment },
  });
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      PORT: '0',
      ALERT_SCALER_ADMIN_PORT: '0',
      ALERT_SCALER_HOST: '127.0.0.1',
      ALERT_SCALER_STACK: stack,
      ALERT_SCALER_LOG_LEVEL: 'warn',
      ALERT_SCALER_DRAIN_GRACE_MS: '10000',
    },
    stdio: 'ignore',
  });
  gateways.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const read = () => {
    const lines = readdirSync(dir)
      .filter((f) => /^\d+$/.test(f))
      .map((f) => readFileSync(join(dir, f), 'utf8').split(' ').map(Number));
    return { replicas: lines.map((l) => l[0] ?? 0), grandchildren: lines.map((l) => l[1] ?? 0) };
  };
  await eventually(() => read().replicas.length === 4 && read().grandchildren.every((pid) => pid > 0), 15_000, 50);
  const pids = read();
  leftovers.push(...pids.replicas, ...pids.grandchildren);
  return { child, exited, pids: read };
}

describe('shutdown orphans nothing', () => {
  it('a SIGKILLed gateway takes every replica with it, argv and shell commands alike', async () => {
    const gateway = await startGateway();
    const { replicas } = gateway.pids();
    expect(replicas.every(alive)).toBe(true);

    gateway.child.kill('SIGKILL');
    await gateway.exited;

    await eventually(() => replicas.every((pid) => !alive(pid)), 5000, 20);
  }, 30_000);

  it('a second SIGTERM exits at once and kills every replica and the processes they started', async () => {
    // Replicas ignore SIGTERM: the graceful stop would wait out the 10 s drain grace.
    const gateway = await startGateway({ IGNORE_TERM: '1' });
    const { replicas, grandchildren } = gateway.pids();
    gateway.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(gateway.child.exitCode).toBeNull();
    const second = Date.now();

    gateway.child.kill('SIGTERM');

    expect(await gateway.exited).toBe(1);
    expect(Date.now() - second).toBeLessThan(2000);
    await eventually(() => [...replicas, ...grandchildren].every((pid) => !alive(pid)), 3000, 20);
  }, 30_000);

  it('one SIGTERM stops every replica together with the processes it started, and exits 0', async () => {
    const gateway = await startGateway();
    const { replicas, grandchildren } = gateway.pids();

    gateway.child.kill('SIGTERM');

    expect(await gateway.exited).toBe(0);
    await eventually(() => [...replicas, ...grandchildren].every((pid) => !alive(pid)), 3000, 20);
  }, 30_000);

  it('a call still held when the drain time is over gets 503 SHUTTING_DOWN with Retry-After, not a reset', async () => {
    // The replica takes 20 s to listen: the call is held past the 300 ms drain time.
    zero = await startZeroScaler(
      { fn: { labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.wake-timeout': '30s' }, environment: { START_DELAY_MS: '20000' } } },
      { ALERT_SCALER_SHUTDOWN_TIMEOUT_MS: '300', ALERT_SCALER_DRAIN_GRACE_MS: '500' },
    );
    const { running } = zero;
    const held = send(`${running.url}/function/fn`, { body: 'held', timeoutMs: 10_000 });
    await eventually(() => heldCount(running, 'fn') === 1, 5000, 5);

    await running.close();
    const reply = await held;

    expect(reply.status).toBe(503);
    expect(errorCode(reply)).toBe('SHUTTING_DOWN');
    expect(reply.headers['retry-after']).toBe('1');
  }, 30_000);
});

describe('shutdown answers the calls it has to end', () => {
  it('a call still running on its replica at the shutdown deadline gets 503 SHUTTING_DOWN with Retry-After, not a reset', async () => {
    // The replica answers after 20 s: the call is still running when the 300 ms drain time is over.
    const recorder = recorderFunction({ RESPONSE_DELAY_MS: '20000' });
    zero = await startZeroScaler({ slow: recorder.fn }, { ALERT_SCALER_SHUTDOWN_TIMEOUT_MS: '300', ALERT_SCALER_DRAIN_GRACE_MS: '500' });
    const { running } = zero;
    await eventually(async () => (await replicasOf(running, 'slow')).availableReplicas === 1, 10_000, 20);
    const call = send(`${running.url}/function/slow`, { body: 'slow', timeoutMs: 10_000 });
    await eventually(() => recorder.received().length === 1, 5000, 5);

    const started = Date.now();
    await running.close();
    const reply = await call;

    expect(reply.status).toBe(503);
    expect(errorCode(reply)).toBe('SHUTTING_DOWN');
    expect(reply.headers['retry-after']).toBe('1');
    // At the deadline, not after the replica's 20 s.
    expect(Date.now() - started).toBeLessThan(5000);
  }, 30_000);

  it('a call that answers before the deadline gets its answer', async () => {
    const recorder = recorderFunction({ RESPONSE_DELAY_MS: '300' });
    zero = await startZeroScaler({ quick: recorder.fn }, { ALERT_SCALER_SHUTDOWN_TIMEOUT_MS: '5000', ALERT_SCALER_DRAIN_GRACE_MS: '500' });
    const { running } = zero;
    await eventually(async () => (await replicasOf(running, 'quick')).availableReplicas === 1, 10_000, 20);
    const call = send(`${running.url}/function/quick`, { body: 'quick', timeoutMs: 10_000 });
    await eventually(() => recorder.received().length === 1, 5000, 5);

    await running.close();
    const reply = await call;

    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('quick');
  }, 30_000);

  it('both listeners stop', async () => {
    zero = await startZeroScaler({ fn: recorderFunction().fn }, { ALERT_SCALER_SHUTDOWN_TIMEOUT_MS: '300' });
    const { running } = zero;
    await running.close();

    expect(running.server.listening).toBe(false);
    expect(running.adminServer.listening).toBe(false);
    await expect(send(`${running.adminUrl}/healthz`, { timeoutMs: 2000 })).rejects.toThrow();
    await expect(send(`${running.url}/healthz`, { timeoutMs: 2000 })).rejects.toThrow();
  }, 30_000);
});
