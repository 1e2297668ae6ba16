// Heap the Kubernetes provider's caches keep per function: N Deployments (each with its pod and
// EndpointSlice) on the fake API in this process, the provider started against it, heap after a
// full GC against the same before. Run: `npm run build && node --expose-gc dist/bench/cache-heap.js`
// (BENCH_CACHE_FUNCTIONS to change the count, default 10,000). Not a test: nothing is asserted.
import { silentLogger } from '../src/log/logger.js';
import { createKubernetesProvider } from '../src/providers/kubernetes/index.js';
import { startFakeCluster } from './fake-cluster.js';

const functions = Number(process.env['BENCH_CACHE_FUNCTIONS'] ?? 10_000);
const collect = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  if (collect === undefined) throw new Error('run with node --expose-gc');
  const cluster = await startFakeCluster({ count: functions, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' }, latencyMs: 0, podIp: '127.0.0.1', port: 8080 });
  try {
    collect();
    const before = process.memoryUsage().heapUsed;
    const provider = createKubernetesProvider({ kubeconfig: cluster.kubeconfig, logger: silentLogger() });
    const began = performance.now();
    await provider.start();
    const startMs = Math.round(performance.now() - began);
    // The fake keeps the sorted pages of the lists it served; that is the fake's memory, not the provider's.
    cluster.fake.forgetListSnapshots();
    collect();
    const bytes = process.memoryUsage().heapUsed - before;
    process.stdout.write(`${functions} functions: provider started in ${startMs} ms; caches ${(bytes / 1e6).toFixed(1)} MB of heap, ${Math.round(bytes / functions)} B per function\n`);
    await provider.close();
  } finally {
    await cluster.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cache-heap failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
