import type { KubeConfig } from '@kubernetes/client-node';

/**
 * Makes `kubeConfig` reuse one keep-alive agent for every request: client-node 1.x builds a
 * new agent (so a new TCP connection and, in a cluster, a TLS handshake) per request. The
 * agent keeps the first request's TLS options (CA, client certificate); tokens travel in
 * headers and still refresh. A client-node without the method is left as it is.
 */
export function reuseOneAgent(kubeConfig: KubeConfig): void {
  type Create = (cluster: unknown, options: Record<string, unknown>) => unknown;
  const target = kubeConfig as unknown as { createAgent?: Create };
  const create = target.createAgent;
  if (typeof create !== 'function') return;
  let agent: unknown;
  target.createAgent = (cluster, options) => (agent ??= create.call(kubeConfig, cluster, { ...options, keepAlive: true }));
}
