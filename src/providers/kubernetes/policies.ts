import type { Logger } from 'winston';
import type { NamedPolicyListener, NamedPolicySource } from '../named-policies.js';
import type { KubeApi } from './client.js';
import type { ConfigMapLike } from './objects.js';
import { Informer } from './informer.js';
import type { CachedFacts, InformerOptions, ListWatchSource } from './list-watch.js';

/** What a named policy keeps of a ConfigMap: its key and its `data`. */
export interface ConfigMapFacts extends CachedFacts {
  readonly data: Readonly<Record<string, string>>;
}

/** The ConfigMaps of a namespace, reduced to their data. */
export function configMapSource(api: KubeApi): ListWatchSource<ConfigMapLike, ConfigMapFacts> {
  return {
    resource: 'configmaps',
    // Any ConfigMap may be a named policy: no selector.
    selectors: [''],
    list: (ns, options) => api.listConfigMaps(ns, options),
    watch: (ns, selector, rv, onEvent, onDone) => api.watchConfigMaps(ns, rv, onEvent, onDone, selector),
    facts: (c) => ({
      name: c.metadata?.name ?? '',
      namespace: c.metadata?.namespace ?? '',
      resourceVersion: c.metadata?.resourceVersion ?? '',
      data: { ...(c.data ?? {}) },
    }),
  };
}

/**
 * Named policies on Kubernetes: a ConfigMap named as the policy, in the function's namespace
 * (EverAI's placeholders: `kubectl create configmap <name> --from-literal min_workers=1 ...`).
 * A list+watch cache of the ConfigMaps of the managed namespaces; RBAC get/list/watch configmaps.
 */
export class ConfigMapPolicySource implements NamedPolicySource {
  private readonly listeners = new Set<NamedPolicyListener>();
  private readonly informer: Informer<ConfigMapLike, ConfigMapFacts>;

  constructor(api: KubeApi, namespaces: readonly string[], logger: Logger, options: InformerOptions) {
    this.informer = new Informer(configMapSource(api), namespaces, (previous, next) => {
      const facts = next ?? previous;
      if (facts === null) return;
      if (previous !== null && next !== null && JSON.stringify(previous.data) === JSON.stringify(next.data)) return;
      for (const listener of [...this.listeners]) listener(facts.namespace, facts.name);
    }, logger.child({ component: 'named-policies' }), options);
  }

  get(namespace: string, name: string): Readonly<Record<string, string>> | undefined {
    return this.informer.get(namespace, name)?.data;
  }

  subscribe(listener: NamedPolicyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  close(): Promise<void> {
    return this.informer.stop();
  }
}
