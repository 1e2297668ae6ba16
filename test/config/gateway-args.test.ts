import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { GATEWAY_USAGE, parseGatewayArgs } from '../../src/bootstrap/args.js';
import { eventually, writeStack } from '../support/harness.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'main.js');

describe('parseGatewayArgs: the gateway command line', () => {
  it.each([
    ['nothing: run with the environment', [], { kind: 'run', env: {} }],
    ['--stack FILE', ['--stack', 'my.yml'], { kind: 'run', env: { ALERT_SCALER_STACK: 'my.yml' } }],
    ['--stack=FILE', ['--stack=my.yml'], { kind: 'run', env: { ALERT_SCALER_STACK: 'my.yml' } }],
    ['--help', ['--help'], { kind: 'help' }],
    ['-h after other arguments', ['--stack', 'a.yml', '-h'], { kind: 'help' }],
    ['--stack without a file', ['--stack'], { kind: 'usage-error', message: '--stack needs a file' }],
    ['--stack followed by an option', ['--stack', '--help'], { kind: 'usage-error', message: '--stack needs a file' }],
    ['an unknown argument', ['--port', '1'], { kind: 'usage-error', message: 'unknown argument "--port"' }],
  ])('%s', (_name, argv, expected) => {
    expect(parseGatewayArgs(argv)).toEqual(expected);
  });
});

/** Runs `node dist/src/main.js` with `args`; resolves its exit code and output (bounded: 20 s). */
function runMain(args: string[], env: Record<string, string> = {}): { done: Promise<{ code: number | null; out: string; err: string }>; kill(): void } {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    }),
  );
  return { done, kill: () => child.kill('SIGTERM') };
}

describe('the gateway command', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('--help prints the usage and exits 0 without starting anything', async () => {
    const { code, out } = await runMain(['--help']).done;
    expect(code).toBe(0);
    expect(out).toBe(GATEWAY_USAGE);
    expect(out).toMatch(/--stack FILE/);
  });

  it('an unknown argument is a usage error (exit 2) naming it', async () => {
    const { code, err } = await runMain(['--bogus']).done;
    expect(code).toBe(2);
    expect(err).toMatch(/unknown argument "--bogus"/);
  });

  it('--stack FILE runs that stack (over ALERT_SCALER_STACK)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-args-'));
    dirs.push(dir);
    const mark = join(dir, 'started');
    const stack = writeStack({
      marker: { command: [process.execPath, '-e', "require('fs').writeFileSync(process.env.MARK, 'x'); setInterval(() => {}, 1000)"], labels: { 'com.openfaas.scale.min': '1' }, environment: { MARK: mark } },
    });
    const run = runMain(['--stack', stack], { ALERT_SCALER_STACK: '/nonexistent/stack.yml', ALERT_SCALER_START_TIMEOUT_MS: '60000' });
    try {
      await eventually(() => existsSync(mark), 15_000, 50);
    } finally {
      run.kill();
    }
    expect(existsSync(mark)).toBe(true);
    expect((await run.done).code).toBe(0);
  }, 30_000);
});
