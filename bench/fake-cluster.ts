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

export interface FakeClusterOptions {
  readonly count: number;
  readonly replicas: number;
  readonly labels: Record<string, string>;
  /** Added before every answer, ms (set after seeding, so seeding is not slowed). */
  readonly latencyMs: number;
  /** Every pod's IP (one local server answers for all); default distinct 127.0.0.N addresses. */
  readonly podIp?: string;
  /** The pods' `http` container port (and so their EndpointSlice port); default 8080. */
  readonly port?: number;
  /** Bare pods without any opt-in label in the same namespace (another team's workloads); default 0. */
  readonly unrelatedPods?: number;
}

/**
 * Starts the fake API on 127.0.0.1 with Deployments `fn-0` … `fn-<count-1>` in openfaas-fn, as a
 * cluster has them: each with `replicas` ready pods (labelled `faas_function`, as faas-netes
 * labels them) and the EndpointSlice of its Service (labelled the same, as the EndpointSlice
 * controller copies the Service's labels). The seeding history is compacted away (a watch
 * resumes only from after it), so the fake keeps one copy of each object.
 */
export async function startFakeCluster(options: FakeClusterOptions): Promise<FakeCluster> {
  const fake = await FakeApiServer.start({ readyDelayMs: null, podIp: options.podIp ?? null });
  const dir = await mkdtemp(join(tmpdir(), 'alert-scaler-bench-k8s-'));
  const kubeconfig = await fake.writeKubeconfig(dir);
  for (let i = 0; i < options.count; i++) {
    fake.addDeployment({ name: `fn-${i}`, replicas: options.replicas, labels: { faas_function: `fn-${i}`, ...options.labels }, ...(options.port === undefined ? {} : { port: options.port }) });
  }
  if ((options.unrelatedPods ?? 0) > 0) fake.addPods(options.unrelatedPods ?? 0, { prefix: 'unrelated', labels: { app: 'unrelated' } });
  fake.compact();
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
