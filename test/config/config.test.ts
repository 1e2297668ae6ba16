import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { loadConfig, resolveBasicAuth } from '../../src/config/index.js';
import { AppError } from '../../src/errors.js';

const noFile = (path: string): string => {
  throw new Error(`ENOENT: ${path}`);
};
const files = (map: Record<string, string>) => (path: string) => {
  const text = map[path];
  if (text === undefined) throw new Error(`ENOENT: ${path}`);
  return text;
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CONFIG_INVALID');
    return (err as AppError).details?.['problems'] as string[];
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  it('an empty environment gives the documented defaults', () => {
    const config = loadConfig({}, noFile);
    expect(config).toMatchObject({
      port: 8080,
      adminPort: 8081,
      provider: 'local',
      stackPath: '',
      bodyLimitBytes: 1_048_576,
      defaultMinReplicas: 1,
      defaultMaxReplicas: 20,
      defaultFactorPercent: 20,
      scaleDownWindowSeconds: 30,
      cooldownSeconds: 10,
      wakeTimeoutMs: 30_000,
      namespaces: ['openfaas-fn'],
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('the file is read and the environment wins over it', () => {
    const config = loadConfig(
      { ALERT_SCALER_CONFIG: '/etc/as.yml', PORT: '9000' },
      files({ '/etc/as.yml': 'port: 7000\ncooldownSeconds: 3\nnamespaces: [a, b]\n' }),
    );
    expect(config.port).toBe(9000);
    expect(config.cooldownSeconds).toBe(3);
    expect(config.namespaces).toEqual(['a', 'b']);
  });

  it('comma-separated namespaces from the environment', () => {
    expect(loadConfig({ ALERT_SCALER_NAMESPACES: 'fn, team-a' }, noFile).namespaces).toEqual(['fn', 'team-a']);
  });

  it('every bad field is named, not just the first', () => {
    const problems = problemsOf(() => loadConfig({ PORT: 'http', ALERT_SCALER_PROVIDER: 'nomad', ALERT_SCALER_COOLDOWN_SECONDS: '-1' }, noFile));
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/PORT/);
    expect(problems.join('\n')).toMatch(/ALERT_SCALER_PROVIDER/);
    expect(problems.join('\n')).toMatch(/ALERT_SCALER_COOLDOWN_SECONDS/);
  });

  it('unknown keys in the file are refused (no silent typo)', () => {
    const problems = problemsOf(() => loadConfig({ ALERT_SCALER_CONFIG: 'c.yml' }, files({ 'c.yml': 'prot: 80\n' })));
    expect(problems.join('\n')).toMatch(/prot/);
  });

  it('a file that is not YAML or not readable is refused', () => {
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_CONFIG: 'c.yml' }, files({ 'c.yml': 'port: [' }))).join()).toMatch(/not valid YAML/);
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_CONFIG: 'missing.yml' }, noFile)).join()).toMatch(/cannot read/);
  });

  it('basic auth needs both a user and a password', () => {
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_BASIC_AUTH_USER: 'am' }, noFile)).join()).toMatch(/PASSWORD/);
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_BASIC_AUTH_PASSWORD: 'x' }, noFile)).join()).toMatch(/USER/);
  });

  it('the password may come from a file', () => {
    const config = loadConfig({ ALERT_SCALER_BASIC_AUTH_USER: 'am', ALERT_SCALER_BASIC_AUTH_PASSWORD_FILE: '/run/secret' }, noFile);
    expect(resolveBasicAuth(config, files({ '/run/secret': 's3cret\n' }))).toEqual({ user: 'am', password: 's3cret' });
    expect(() => resolveBasicAuth(config, files({ '/run/secret': '\n' }))).toThrow(/empty/);
  });

  it('listens on loopback by default while auth is off, on every interface once it is on; a host given wins', () => {
    expect(loadConfig({}, noFile).host).toBe('127.0.0.1');
    expect(loadConfig({ ALERT_SCALER_BASIC_AUTH_USER: 'am', ALERT_SCALER_BASIC_AUTH_PASSWORD: 'pw' }, noFile).host).toBe('0.0.0.0');
    expect(loadConfig({ ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_BASIC_AUTH_USER: 'am', ALERT_SCALER_BASIC_AUTH_PASSWORD: 'pw' }, noFile).host).toBe('127.0.0.1');
    expect(loadConfig({ ALERT_SCALER_HOST: '0.0.0.0' }, noFile).host).toBe('0.0.0.0');
  });

  it('the admin listener has its own port and host, from the environment', () => {
    const config = loadConfig({ ALERT_SCALER_ADMIN_PORT: '9091', ALERT_SCALER_ADMIN_HOST: '127.0.0.1' }, noFile);
    expect(config.adminPort).toBe(9091);
    expect(config.adminHost).toBe('127.0.0.1');
    expect(loadConfig({}, noFile).adminHost).toBeUndefined();
  });

  it('an admin port equal to the function port is refused (0 = any free port is not)', () => {
    expect(problemsOf(() => loadConfig({ PORT: '9000', ALERT_SCALER_ADMIN_PORT: '9000' }, noFile)).join()).toMatch(/ALERT_SCALER_ADMIN_PORT/);
    expect(loadConfig({ PORT: '0', ALERT_SCALER_ADMIN_PORT: '0' }, noFile).adminPort).toBe(0);
  });

  it('a lease renewal at or past the renew deadline (2/3 of the lease) is refused; a bad pod IP too', () => {
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_LEASE_DURATION_SECONDS: '3', ALERT_SCALER_LEASE_RENEW_MS: '2000' }, noFile)).join()).toMatch(/ALERT_SCALER_LEASE_RENEW_MS/);
    expect(loadConfig({ ALERT_SCALER_LEASE_DURATION_SECONDS: '3', ALERT_SCALER_LEASE_RENEW_MS: '1999' }, noFile).leaseRenewMs).toBe(1999);
    expect(problemsOf(() => loadConfig({ POD_IP: 'pod-a' }, noFile)).join()).toMatch(/POD_IP|podIp/);
  });

  it('more than one worker needs the kubernetes provider and no static gateway count', () => {
    expect(loadConfig({}, noFile).workers).toBe(1);
    expect(loadConfig({ ALERT_SCALER_WORKERS: '4', ALERT_SCALER_PROVIDER: 'kubernetes' }, noFile).workers).toBe(4);
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_WORKERS: '2' }, noFile))).toEqual([expect.stringMatching(/^ALERT_SCALER_WORKERS: 2 needs ALERT_SCALER_PROVIDER=kubernetes/)]);
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_WORKERS: '2', ALERT_SCALER_PROVIDER: 'kubernetes', ALERT_SCALER_GATEWAY_COUNT: '2', ALERT_SCALER_GATEWAY_INDEX: '0' }, noFile))).toEqual([expect.stringMatching(/^ALERT_SCALER_WORKERS: 2 cannot go with ALERT_SCALER_GATEWAY_COUNT/)]);
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_WORKERS: '0' }, noFile)).join()).toMatch(/ALERT_SCALER_WORKERS/);
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_WORKERS: '65', ALERT_SCALER_PROVIDER: 'kubernetes' }, noFile)).join()).toMatch(/ALERT_SCALER_WORKERS/);
  });

  it('default min above default max is refused', () => {
    expect(problemsOf(() => loadConfig({ ALERT_SCALER_DEFAULT_MIN_REPLICAS: '5', ALERT_SCALER_DEFAULT_MAX_REPLICAS: '2' }, noFile)).join()).toMatch(/defaultMinReplicas/);
  });
});

describe('the process on a bad configuration', () => {
  const main = join(packageRoot(), 'dist', 'src', 'main.js');
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 15_000 });

  it('exits 2 and names every bad field', () => {
    const result = run({ PORT: 'abc', ALERT_SCALER_PROVIDER: 'nomad' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/PORT/);
    expect(result.stderr).toMatch(/ALERT_SCALER_PROVIDER/);
  });

  it('exits 2 on more than one worker with the local provider, naming the problem', () => {
    const result = run({ ALERT_SCALER_WORKERS: '2', PORT: '0', ALERT_SCALER_ADMIN_PORT: '0' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/ALERT_SCALER_WORKERS: 2 needs ALERT_SCALER_PROVIDER=kubernetes/);
  });

  it('exits 2 on a stack file with a bad function', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-stack-'));
    writeFileSync(join(dir, 'stack.yml'), 'functions:\n  Bad_Name:\n    command: 42\n');
    const result = run({ PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_STACK: join(dir, 'stack.yml') });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/Bad_Name/);
  });
});
