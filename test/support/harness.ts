import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { dump } from 'js-yaml';
import { Registry } from 'prom-client';
import { packageRoot, startScaler, type RunningScaler, type ScalerOverrides } from '../../src/bootstrap.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/logger.js';

/** Absolute path of the example echo function. */
export const ECHO = join(packageRoot(), 'examples', 'functions', 'echo.mjs');

export interface TestFunction {
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly environment?: Record<string, string>;
  /** Defaults to the example echo function. */
  readonly command?: string | string[];
}

/** Writes a stack file with the given functions into a fresh temp folder; returns its path. */
export function writeStack(functions: Record<string, TestFunction>): string {
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-test-'));
  const path = join(dir, 'stack.yml');
  const body = {
    version: 1.0,
    functions: Object.fromEntries(
      Object.entries(functions).map(([name, fn]) => [
        name,
        { command: fn.command ?? [process.execPath, ECHO], labels: fn.labels ?? {}, annotations: fn.annotations ?? {}, environment: fn.environment ?? {} },
      ]),
    ),
  };
  writeFileSync(path, dump(body));
  return path;
}

/** A config for tests: loopback, free ports (function and admin listeners), silent, the given stack and env overrides. */
export function testConfig(stackPath: string, env: Record<string, string> = {}): Config {
  // Each test gateway keeps its async queue beside its stack file (not in a shared ./data/async).
  return loadConfig({ PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_STACK: stackPath, ALERT_SCALER_LOG_LEVEL: 'silent', ALERT_SCALER_ASYNC_DIR: join(dirname(stackPath), 'async'), ...env }, () => {
    throw new Error('no config file in tests');
  });
}

/** Starts a real scaler on 127.0.0.1 with a fresh registry and a silent logger. */
export async function startTestScaler(
  functions: Record<string, TestFunction>,
  env: Record<string, string> = {},
  overrides: ScalerOverrides = {},
): Promise<RunningScaler> {
  const stack = writeStack(functions);
  const { readFileSync } = await import('node:fs');
  return startScaler(testConfig(stack, env), {
    logger: silentLogger(),
    registry: new Registry(),
    readFile: (p) => readFileSync(p, 'utf8'),
    ...overrides,
  });
}

/** Resolves when `check` returns true, polling every `intervalMs`; rejects after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A JSON logger whose lines are collected in `lines` (parsed). */
export async function capturingLogger(): Promise<{ logger: import('../../src/log/logger.js').Logger; lines: Array<Record<string, unknown>> }> {
  const { Writable } = await import('node:stream');
  const winston = (await import('winston')).default;
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}
