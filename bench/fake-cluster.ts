import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from '../test/kubernetes/fake-api-server.js';

/** The in-repo fake Kubernetes API (test/kubernetes/, compiled into dist/ for the bench) with `count` Deployments. */
export interface FakeCluster {
  readonly fake: FakeApiServer;
  readonly kubeconfig: string;
  close(): Promise<void>;
}

/**
 * Starts the fake API on 127.0.0.1 with Deployments `fn-0` … `fn-<count-1>` in openfaas-fn,
 * each with `replicas` ready pods and `labels`; `latencyMs` is added before every answer
 * (set after seeding, so seeding is not slowed).
 */
export async function startFakeCluster(options: { count: number; replicas: number; labels: Record<string, string>; latencyMs: number }): Promise<FakeCluster> {
  const fake = await FakeApiServer.start({ readyDelayMs: null });
  const dir = await mkdtemp(join(tmpdir(), 'alert-scaler-bench-k8s-'));
  const kubeconfig = await fake.writeKubeconfig(dir);
  for (let i = 0; i < options.count; i++) fake.addDeployment({ name: `fn-${i}`, replicas: options.replicas, labels: { faas_function: `fn-${i}`, ...options.labels } });
  fake.latencyMs = options.latencyMs;
  return {
    fake,
    kubeconfig,
    async close() {
      await fake.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
