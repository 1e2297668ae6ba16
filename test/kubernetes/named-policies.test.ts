import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/index.js';
import type { FakeApiServer } from './fake-api-server.js';
import { capturingLogger } from '../support/harness.js';
import { startFake, waitFor } from './helpers.js';

/*
 * Acceptance (issue 10, item 4) on Kubernetes: a named policy is a ConfigMap in the
 * function's namespace, made and edited with the real kubectl against the fake API server
 * while the gateway runs. kubectl create sends protobuf, kubectl edit a strategic merge
 * patch, kubectl apply JSON; each change reaches the gateway through its ConfigMap watch.
 */

const onPath = (tool: string): boolean => (process.env['PATH'] ?? '').split(delimiter).some((d) => {
  try {
    accessSync(join(d, tool), constants.X_OK);
    return true;
  } catch {
    return false;
  }
});
const haveKubectl = onPath('kubectl');
if (!haveKubectl && process.env['CI'] !== 'true') process.stderr.write('\n*** kubectl not found on PATH: SKIPPING test/kubernetes/named-policies.test.ts ***\n\n');
const describeKubectl = !haveKubectl && process.env['CI'] !== 'true' ? describe.skip : describe;

describeKubectl('named policies as ConfigMaps, made with the real kubectl, while the gateway runs', () => {
  let env: Awaited<ReturnType<typeof startFake>>;
  let fake: FakeApiServer;
  let dir: string;
  let s: RunningScaler;
  let lines: Array<Record<string, unknown>>;

  function kubectl(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn('kubectl', ['--cache-dir', join(dir, 'cache'), '-n', 'openfaas-fn', ...args], {
        env: { PATH: process.env['PATH'] ?? '', HOME: dir, KUBECONFIG: env.kubeconfig, ...extraEnv },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  beforeAll(async () => {
    env = await startFake({ readyDelayMs: 20 });
    fake = env.fake;
    dir = await mkdtemp(join(tmpdir(), 'named-policies-k8s-'));
    fake.addDeployment({ name: 'get-start', replicas: 1, labels: { faas_function: 'get-start', 'com.openfaas.scale.policy': 'get-start-configmap' } });
    const captured = await capturingLogger();
    lines = captured.lines;
    const config = loadConfig({
      PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: env.kubeconfig,
      ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600', ALERT_SCALER_LEASE_DURATION_SECONDS: '2',
    }, () => '');
    s = await startScaler(config, { logger: captured.logger, registry: new Registry() });
  }, 30_000);

  afterAll(async () => {
    await s.close();
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });

  const replicas = (): number | undefined => fake.replicasOf('get-start');

  it('kubectl create configmap (protobuf) gives the function its policy', async () => {
    const run = await kubectl(['create', 'configmap', 'get-start-configmap', '--from-literal', 'min_workers=1', '--from-literal', 'max_workers=5',
      '--from-literal', 'max_queue_size=2', '--from-literal', 'scale_up_step=1', '--from-literal', 'max_idle_time=60']);
    expect(run.stdout).toContain('configmap/get-start-configmap created');
    expect(fake.requests.find((r) => r.method === 'POST' && r.resource === 'configmaps')?.contentType).toBe('application/vnd.kubernetes.protobuf');
    const ref = { name: 'get-start', namespace: 'openfaas-fn' };
    await waitFor(async () => (await s.provider.getReplicas(ref)).labels['com.openfaas.scale.max'] === '5', 'the policy in the gateway', 5000);
    expect((await s.provider.getReplicas(ref)).labels).toMatchObject({ 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max-queue': '2', 'com.openfaas.scale.idle-timeout': '60' });
    expect(replicas()).toBe(1);
  });

  it('kubectl edit min_workers 1 -> 2 scales the Deployment to 2', async () => {
    const editor = join(dir, 'edit.sh');
    await writeFile(editor, '#!/bin/sh\nsed -i \'s/min_workers: "1"/min_workers: "2"/\' "$1"\n');
    await chmod(editor, 0o755);
    const run = await kubectl(['edit', 'configmap', 'get-start-configmap'], { KUBE_EDITOR: editor });
    expect(run.stdout).toContain('edited');
    await waitFor(() => replicas() === 2, 'the Deployment scaled to 2', 5000);
    // The fake API holds the new count as soon as it answers the write; the cycle records its
    // event when that answer is back in the gateway, a moment later on a loaded machine.
    const scaled = () => s.engine.events.query().find((e) => e.action === 'scale_up' && e.source === 'policy');
    await waitFor(() => scaled() !== undefined, 'the scale_up event', 5000);
    expect(scaled()).toMatchObject({ from: 1, to: 2, reason: 'reset-to-min' });
  });

  it('kubectl apply of an invalid value is refused: still 2, the key named in the log and the event log', async () => {
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: get-start-configmap\n  namespace: openfaas-fn\ndata:\n'
      + '  min_workers: "2"\n  max_workers: "five"\n  max_queue_size: "2"\n  scale_up_step: "1"\n  max_idle_time: "60"\n');
    const run = await kubectl(['apply', '-f', file]);
    expect(run.stdout).toContain('configmap/get-start-configmap configured');
    await waitFor(() => s.engine.events.query().some((e) => e.action === 'policy_invalid'), 'the refusal', 5000);
    expect(s.engine.events.query().find((e) => e.action === 'policy_invalid')).toMatchObject({
      function: 'get-start', reason: 'kept-last-good', inputs: { policy: 'get-start-configmap', keys: ['max_workers'] },
    });
    expect(lines.find((l) => l['message'] === 'named policy invalid')).toMatchObject({ keys: ['max_workers'] });
    expect(replicas()).toBe(2);
    expect((await s.provider.getReplicas({ name: 'get-start', namespace: 'openfaas-fn' })).labels['com.openfaas.scale.max']).toBe('5');
  });
});
