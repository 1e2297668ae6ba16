import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import winston from 'winston';
import { loadConfig, type Config } from '../../src/config/index.js';
import { AppError, type ErrorCode } from '../../src/errors.js';
import { FakeApiServer, type FakeApiServerOptions } from './fake-api-server.js';

/** A winston logger that writes nothing. */
export function quietLogger(): winston.Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/** The config of a gateway on the Kubernetes provider at `kubeconfig`, on loopback with free ports and no logs; `extra` adds or overrides settings. */
export function kubernetesConfig(kubeconfig: string, extra: Record<string, string> = {}): Config {
  const env = { PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: kubeconfig, ALERT_SCALER_LOG_LEVEL: 'silent' };
  return loadConfig({ ...env, ...extra }, () => '');
}

/** A fake API server plus a kubeconfig file pointing at it. */
export async function startFake(options: FakeApiServerOptions = {}): Promise<{ fake: FakeApiServer; kubeconfig: string; close(): Promise<void> }> {
  const fake = await FakeApiServer.start(options);
  const dir = await mkdtemp(join(tmpdir(), 'alert-scaler-k8s-'));
  const kubeconfig = await fake.writeKubeconfig(dir);
  return {
    fake,
    kubeconfig,
    async close() {
      await fake.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `predicate` every 10 ms until true; throws after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The AppError code a promise rejects with (fails if it resolves or rejects with something else). */
export async function codeOf(promise: Promise<unknown>): Promise<ErrorCode> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  throw new Error('expected a rejection');
}
