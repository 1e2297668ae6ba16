import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dump } from 'js-yaml';
import { Registry } from 'prom-client';
import request from 'supertest';
import { requestDefaults, specDefaults, startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { silentLogger } from '../../src/log/logger.js';
import { ECHO, eventually, testConfig } from '../support/harness.js';

// `echo` lives in the default namespace, `worker` in team-a: a request that loses its
// namespace on the way scales the wrong function or none.
let s: RunningScaler;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-ns-'));
  const stack = join(dir, 'stack.yml');
  writeFileSync(
    stack,
    dump({
      version: 1.0,
      functions: {
        echo: { command: [process.execPath, ECHO], labels: { 'com.openfaas.scale.max': '4' } },
        worker: { command: [process.execPath, ECHO], namespace: 'team-a', labels: { 'com.openfaas.scale.max': '3' } },
      },
    }),
  );
  s = await startScaler(testConfig(stack), { logger: silentLogger(), registry: new Registry(), readFile: (p) => readFileSync(p, 'utf8') });
  await eventually(async () => (await s.provider.getReplicas({ name: 'worker', namespace: 'team-a' })).ready === 1);
});
afterAll(async () => {
  await s.close();
});

const echoRef = { name: 'echo', namespace: 'openfaas-fn' };
const workerRef = { name: 'worker', namespace: 'team-a' };

async function desired(ref: { name: string; namespace: string }): Promise<number> {
  return (await s.provider.getReplicas(ref)).desired;
}

describe('the system API and namespaces', () => {
  it('a body namespace scales the function in that namespace', async () => {
    const res = await request(s.adminServer).post('/system/scale-function/worker').send({ serviceName: 'worker', namespace: 'team-a', replicas: 2 });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ function: 'worker', namespace: 'team-a', replicas: 2 });
    expect(await desired(workerRef)).toBe(2);
    await request(s.adminServer).post('/system/scale-function/worker?namespace=team-a').send({ serviceName: 'worker', replicas: 1 });
    // A scale-down answers at once; the count follows once the removed replica has drained.
    await eventually(async () => (await desired(workerRef)) === 1, 5000);
  });

  it('a serviceName in the name.namespace form scales the function in that namespace', async () => {
    const res = await request(s.adminServer).post('/system/scale-function/worker').send({ serviceName: 'worker.team-a', replicas: 2 });
    expect(res.status).toBe(202);
    expect(await desired(workerRef)).toBe(2);
    await request(s.adminServer).post('/system/scale-function/worker.team-a').send({ serviceName: 'worker', replicas: 1 });
    // A scale-down answers at once; the count follows once the removed replica has drained.
    await eventually(async () => (await desired(workerRef)) === 1, 5000);
  });

  it('a serviceName naming kube-system does not scale the default namespace\'s function of that name', async () => {
    const res = await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo.kube-system', replicas: 3 });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('FUNCTION_UNKNOWN');
    expect(await desired(echoRef)).toBe(1);
  });

  const conflicts: Array<[string, string, Record<string, unknown>, string[]]> = [
    ['?namespace and the body namespace', '/system/scale-function/echo?namespace=openfaas-fn', { serviceName: 'echo', namespace: 'team-a', replicas: 2 }, ['openfaas-fn', 'team-a']],
    ['the path and the body serviceName', '/system/scale-function/echo.openfaas-fn', { serviceName: 'echo.kube-system', replicas: 2 }, ['kube-system', 'openfaas-fn']],
    ['the body namespace and the body serviceName', '/system/scale-function/echo', { serviceName: 'echo.openfaas-fn', namespace: 'team-a', replicas: 2 }, ['openfaas-fn', 'team-a']],
  ];
  it.each(conflicts)('a conflict between %s is a 400 that names both namespaces and changes nothing', async (_name, path, body, named) => {
    const res = await request(s.adminServer).post(path).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_REQUEST');
    expect(Object.values(res.body.error.namespaces as Record<string, string>).sort()).toEqual(named);
    expect(await desired(echoRef)).toBe(1);
  });

  it('GET /system/function/<name>?namespace= reads that namespace', async () => {
    const res = await request(s.adminServer).get('/system/function/worker?namespace=team-a');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'worker', namespace: 'team-a' });
    expect((await request(s.adminServer).get('/system/function/worker.team-a?namespace=openfaas-fn')).status).toBe(400);
  });

  it('GET /system/functions?namespace= lists only that namespace', async () => {
    const teamA = await request(s.adminServer).get('/system/functions?namespace=team-a');
    expect(teamA.status).toBe(200);
    expect((teamA.body as Array<{ name: string; namespace: string }>).map((f) => `${f.name}.${f.namespace}`)).toEqual(['worker.team-a']);
    const byDefault = await request(s.adminServer).get('/system/functions?namespace=openfaas-fn');
    expect((byDefault.body as Array<{ name: string; namespace: string }>).map((f) => `${f.name}.${f.namespace}`)).toEqual(['echo.openfaas-fn']);
    const all = await request(s.adminServer).get('/system/functions');
    expect((all.body as unknown[]).length).toBe(2);
  });

  it('GET /system/functions for a namespace the gateway does not manage is a 400 listing the ones it does', async () => {
    const res = await request(s.adminServer).get('/system/functions?namespace=kube-system');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_REQUEST');
    expect(res.body.error.namespaces).toEqual(['openfaas-fn', 'team-a']);
  });

  it('replicas above 10,000 are clamped to the function\'s max, not refused', async () => {
    const res = await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 50_000 });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ requested: 50_000, replicas: 4, clamped: true, reason: 'capped-at-max' });
    expect(await desired(echoRef)).toBe(4);
    await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 1 });
    expect(await desired(echoRef)).toBe(1);
  });

  it('replicas beyond the safe integer range are a 400', async () => {
    const res = await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 2 ** 53 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_REQUEST');
    expect(await desired(echoRef)).toBe(1);
  });
});

describe('a configured namespace with no functions', () => {
  it('lists as an empty array, not as unmanaged', async () => {
    const { default: express } = await import('express');
    const { LocalProvider } = await import('../../src/providers/local/index.js');
    const { createEngine } = await import('../../src/engine/index.js');
    const { systemClock } = await import('../../src/core/clock.js');
    const { systemRouter } = await import('../../src/api/system.js');
    const { createMetrics } = await import('../../src/metrics/registry.js');
    const { policyDefaults } = await import('../../src/bootstrap.js');
    const logger = silentLogger();
    const provider = new LocalProvider({ functions: [], logger, initialReplicas: () => 0, healthPath: '/_/health', healthIntervalMs: 5, startTimeoutMs: 1000, drainGraceMs: 100 });
    const metrics = createMetrics(new Registry());
    const config = testConfig('unused.yml');
    const engine = createEngine({
      provider,
      clock: systemClock,
      metrics,
      logger,
      defaultNamespace: 'openfaas-fn',
      policyDefaults: policyDefaults(config),
      requestDefaults: requestDefaults(config),
      eventLogSize: config.eventLogSize,
      drainTimeoutMs: config.drainTimeoutMs,
      shard: { count: 1, index: 0 },
    });
    const app = express().use('/system', systemRouter({ provider, changer: engine.changer, dispatcher: engine.dispatcher, specDefaults: specDefaults(config), metrics, defaultNamespace: 'openfaas-fn', namespaces: ['openfaas-fn', 'team-empty'] }));
    const empty = await request(app).get('/system/functions?namespace=team-empty');
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual([]);
    const other = await request(app).get('/system/functions?namespace=kube-system');
    expect(other.status).toBe(400);
    engine.close();
    await provider.close();
  });
});
