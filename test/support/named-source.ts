import type { NamedPolicyListener, NamedPolicySource } from '../../src/providers/named-policies.js';

/**
 * Named policies held in memory; `set` edits one as an operator would. Policies given to the
 * constructor are loaded by `start()` without telling listeners, as the stack file and
 * ConfigMap sources load theirs: before it, `get` knows none of them.
 */
export class MemoryPolicySource implements NamedPolicySource {
  private readonly data = new Map<string, Record<string, string>>();
  private readonly listeners = new Set<NamedPolicyListener>();

  constructor(private readonly initial: ReadonlyArray<readonly [namespace: string, name: string, data: Record<string, string>]> = []) {}

  set(namespace: string, name: string, data: Record<string, string> | undefined): void {
    if (data === undefined) this.data.delete(`${namespace}/${name}`);
    else this.data.set(`${namespace}/${name}`, data);
    for (const l of this.listeners) l(namespace, name);
  }

  get(namespace: string, name: string): Readonly<Record<string, string>> | undefined {
    return this.data.get(`${namespace}/${name}`);
  }

  subscribe(listener: NamedPolicyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    for (const [namespace, name, data] of this.initial) this.data.set(`${namespace}/${name}`, data);
  }
  async close(): Promise<void> {}
}
