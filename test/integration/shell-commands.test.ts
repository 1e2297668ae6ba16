import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { formatDescribe } from '../../src/cli/describe.js';
import { formatWorkers, crashLoopWorker } from '../../src/cli/workers.js';
import type { FunctionBody } from '../../src/cli/context.js';
import { capturingLogger, eventually, startTestScaler, writeStack } from '../support/harness.js';
import { errorCode, send } from '../support/zero-harness.js';
import { alive } from '../support/processes.js';

/*
 * Item 8 of issue 16 with real processes: string commands run as a shell would (exec only for
 * a simple command), the shell's children stop with the replica, and a replica that keeps
 * crashing is visible (warn log with its stderr, replica_crashed event, crash loop in the
 * status API and describe, a held call's 504 naming the cause).
 */

const NODE = process.execPath;

// Writes its pid to $PID_DIR and answers every request (the health path too) with "ok <FN>".
const SERVE = `
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
if (process.env.PID_DIR) writeFileSync(join(process.env.PID_DIR, String(process.pid)), '');
http.createServer((req, res) => { req.resume(); res.end('ok ' + (process.env.FN ?? '-')); }).listen(Number(process.env.PORT), '127.0.0.1');
`;

const leftovers: number[] = [];
afterAll(() => {
  // Only processes this file started: a failing test must not leave them running.
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

describe('string commands run as a shell would', () => {
  let s: RunningScaler | undefined;
  let dir: string;
  let pidDir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'alert-scaler-shell-'));
    pidDir = mkdtempSync(join(tmpdir(), 'alert-scaler-shell-pids-'));
    writeFileSync(join(dir, 'serve.mjs'), SERVE);
    const environment = { PID_DIR: pidDir };
    s = await startTestScaler(
      {
        cd: { command: `cd ${dir} && ${NODE} serve.mjs`, environment },
        assign: { command: `FN=x ${NODE} ${join(dir, 'serve.mjs')}`, environment },
        piped: { command: `${NODE} ${join(dir, 'serve.mjs')} 2>&1 | cat`, environment },
        listed: { command: `true; ${NODE} ${join(dir, 'serve.mjs')}`, environment },
        simple: { command: `${NODE} ${join(dir, 'serve.mjs')}`, environment: { ...environment, FN: 'plain' } },
      },
      { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600', ALERT_SCALER_DRAIN_GRACE_MS: '3000' },
    );
  }, 30_000);
  afterEach(() => {
    leftovers.push(...readdirSync(pidDir).map(Number));
  });
  afterAll(async () => {
    await s?.close();
  }, 30_000);

  it.each([
    ['cd <dir> && node app.js', 'cd', 'ok -'],
    ['FN=x node app.js', 'assign', 'ok x'],
    ['node app.js | cat', 'piped', 'ok -'],
    ['true; node app.js', 'listed', 'ok -'],
    ['node app.js (exec\'d)', 'simple', 'ok plain'],
  ])('%s starts and serves', async (_line, name, answer) => {
    const running = s as RunningScaler;
    await eventually(async () => (await send(`${running.url}/function/${name}`, { body: 'x', timeoutMs: 5000 })).status === 200, 15_000, 100);
    const reply = await send(`${running.url}/function/${name}`, { body: 'x', timeoutMs: 5000 });
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe(answer);
  }, 20_000);

  it('stopping the gateway stops the processes a shell started (the replica is a process group)', async () => {
    const running = s as RunningScaler;
    await eventually(() => readdirSync(pidDir).length === 5, 15_000, 50);
    const pids = readdirSync(pidDir).map(Number);
    leftovers.push(...pids);
    expect(pids.every(alive)).toBe(true);

    await running.close();
    s = undefined;

    await eventually(() => pids.every((pid) => !alive(pid)), 5000, 20);
  }, 30_000);
});

describe('a SIGKILLed gateway takes a compound command line\'s processes with it', () => {
  it('the shell\'s child (which has no parent-death signal of its own) dies with the gateway', async () => {
    const main = join(packageRoot(), 'dist', 'src', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
    const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-shell-kill-'));
    const pidDir = mkdtempSync(join(tmpdir(), 'alert-scaler-shell-kill-pids-'));
    writeFileSync(join(dir, 'serve.mjs'), SERVE);
    const stack = writeStack({ compound: { command: `cd ${dir} && ${NODE} serve.mjs`, environment: { PID_DIR: pidDir } } });
    const gateway = spawn(NODE, [main], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_STACK: stack, ALERT_SCALER_LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => gateway.once('exit', resolve));
    try {
      await eventually(() => readdirSync(pidDir).length === 1, 15_000, 50);
      const pids = readdirSync(pidDir).map(Number);
      leftovers.push(...pids);
      expect(pids.every(alive)).toBe(true);

      gateway.kill('SIGKILL');
      await exited;

      await eventually(() => pids.every((pid) => !alive(pid)), 5000, 20);
    } finally {
      if (gateway.exitCode === null && gateway.signalCode === null) gateway.kill('SIGKILL');
    }
  }, 30_000);
});

describe('a replica that keeps crashing is visible', () => {
  let s: RunningScaler;
  let lines: Array<Record<string, unknown>>;

  beforeAll(async () => {
    const captured = await capturingLogger();
    lines = captured.lines;
    s = await startTestScaler(
      {
        boom: {
          command: `${NODE} -e "console.error('starting'); console.error('boom'); process.exit(3)"`,
          labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.wake-timeout': '2s' },
        },
      },
      { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
      { logger: captured.logger },
    );
  }, 30_000);
  afterAll(async () => {
    await s.close();
  }, 30_000);

  it('a held call gets a 504 naming the cause; the log, the event log, the status API and describe show the crash loop', async () => {
    // The base URL of /system/* (the admin API; the lead repoints it when the admin listener lands).
    const adminUrl = s.adminUrl;
    const started = Date.now();
    const reply = await send(`${s.url}/function/boom`, { body: 'x', timeoutMs: 10_000 });

    expect(reply.status).toBe(504);
    expect(errorCode(reply)).toBe('WAKE_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(8000);
    const error = (JSON.parse(reply.body.toString()) as { error: Record<string, unknown> }).error;
    expect(error['exitCode']).toBe(3);
    expect(error['crashes']).toEqual(expect.any(Number));
    expect(error['lastError']).toBe('replica exited with code 3: boom');
    expect(error['message']).toBe('function boom did not become ready: replica exited with code 3: boom');

    const warned = lines.find((l) => l['message'] === 'replica crashed' && l['function'] === 'boom');
    expect(warned).toMatchObject({ level: 'warn', code: 3, signal: null, reason: 'exited' });
    expect(String(warned?.['stderr'])).toBe('starting\nboom');

    const events = JSON.parse((await send(`${adminUrl}/system/events?function=boom`)).body.toString()) as Array<Record<string, unknown>>;
    const crashed = events.filter((e) => e['action'] === 'replica_crashed');
    expect(crashed.length).toBeGreaterThan(0);
    expect(crashed[0]).toMatchObject({ source: 'provider', reason: 'exited', inputs: expect.objectContaining({ code: 3, signal: null, crashes: 1 }) });
    expect(crashed[0]?.['replica']).toMatch(/^boom-\d+$/);

    const body = JSON.parse((await send(`${adminUrl}/system/function/boom`)).body.toString()) as FunctionBody;
    expect(body.crashLoop).toMatchObject({ state: 'crash-loop', lastError: 'replica exited with code 3: boom', lastExit: { code: 3, signal: null, reason: 'exited' }, stderr: ['starting', 'boom'] });
    expect(body.crashLoop?.crashes).toBeGreaterThanOrEqual(1);
    expect(formatDescribe(body, `${s.url}/function/boom`)).toMatch(/^Crash Loop: +crash-loop: \d+ crash(es)?, .*; last: replica exited with code 3: boom$/m);
    expect(formatWorkers([crashLoopWorker(body.crashLoop) ?? { id: 'none', status: 'RUNNING', detailStatus: null, createdAt: null, deletedAt: null, inFlight: 0, served: null, lastRequestAt: null }], false)).toMatch(
      /CRASH_LOOP[\s\S]*crash-loop, next retry .*; last error: replica exited with code 3: boom/,
    );
  }, 30_000);
});
