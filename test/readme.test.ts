import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../src/bootstrap.js';
import { ENV_KEYS, configSchema } from '../src/config/schema.js';
import { freePort } from '../src/providers/local/replica.js';
import { eventually, writeStack } from './support/harness.js';

const root = packageRoot();
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function call(port: number, path: string, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: body === '' ? 'GET' : 'POST', agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
const up = (port: number) => () => call(port, '/function/echo', 'ping').then((r) => r.status === 200, () => false);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
});

describe('README', () => {
  it('states the two fresh-machine commands, and .ci/run runs exactly the test one', () => {
    expect(readme).toMatch(/^ {4}npm ci && npm start$/m);
    expect(readme).toMatch(/^ {4}npm ci && npm test$/m);
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8').trim().split('\n');
    expect(ci[ci.length - 1]).toBe('npm ci && npm test');
  });

  it('documents every environment variable with its default', () => {
    const defaults = configSchema.parse({}) as Record<string, unknown>;
    for (const [env, key] of Object.entries(ENV_KEYS)) {
      const value = defaults[key];
      const shown = value === undefined ? '(unset)' : Array.isArray(value) ? value.join(',') : value === '' ? '(example stack)' : String(value);
      expect(readme).toContain(`| \`${env}\` | \`${key}\` | \`${shown}\` |`);
    }
  });

  it('`npm start` serves /function/echo on the example stack, and the CLI lists it through the admin listener', async () => {
    const port = await freePort();
    const adminPort = await freePort();
    const child = spawn('npm', ['start'], { cwd: root, env: { ...process.env, PORT: String(port), ALERT_SCALER_ADMIN_PORT: String(adminPort), ALERT_SCALER_HOST: '127.0.0.1' }, detached: true, stdio: 'ignore' });
    started.push(child);
    await eventually(up(port), 60_000, 100);
    const res = await call(port, '/function/echo', 'hello from the README');
    expect(res).toEqual({ status: 200, body: 'hello from the README' });

    const list = spawnSync(process.execPath, [join(root, 'bin', 'alert-scaler.js'), 'list', '--gateway', `http://127.0.0.1:${adminPort}`], { encoding: 'utf8', timeout: 15_000 });
    expect(list.status).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Function\s+Invocations\s+Replicas$/);
    expect(lines[1]).toMatch(/^echo\s+2\s+1$/);
  }, 90_000);
});

describe('graceful shutdown', () => {
  it('SIGTERM finishes the in-flight request, stops the replicas and exits 0', async () => {
    const port = await freePort();
    const stack = writeStack({ echo: { environment: { RESPONSE_DELAY_MS: '800' } } });
    const child = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js')], {
      env: { PATH: process.env['PATH'] ?? '', PORT: String(port), ALERT_SCALER_ADMIN_PORT: String(await freePort()), ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_STACK: stack, ALERT_SCALER_LOG_LEVEL: 'info' },
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    started.push(child);
    let logs = '';
    child.stderr?.on('data', (c: Buffer) => (logs += c.toString()));
    await eventually(up(port), 20_000, 50);
    const replicaPids = [...logs.matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1]));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const inflight = call(port, '/function/echo', 'in flight');
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    await expect(inflight).resolves.toEqual({ status: 200, body: 'in flight' });
    expect(await exited).toBe(0);
    expect(logs).toMatch(/"message":"stopped"/);
    for (const pid of replicaPids) expect(alive(pid)).toBe(false);
  }, 30_000);
});
