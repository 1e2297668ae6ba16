import type { FunctionInfo, FunctionRef, ReplicaInfo, ReplicaListener, ReplicaProvider, ReplicaState } from '../../src/providers/types.js';

/** A replica as a test states it: an id, where it listens (or null), and its phase. */
export interface StaticReplica {
  readonly id: string;
  readonly address: string | null;
  readonly phase?: ReplicaInfo['phase'];
}

/**
 * A provider whose replicas are exactly what the test says, for every function it is asked
 * about: nothing starts or stops by itself, so a dead replica stays listed `ready` until the
 * test reports otherwise (the moment between a death and a provider noticing, held open).
 */
export class StaticProvider implements ReplicaProvider {
  readonly kind = 'static';
  private replicas: ReplicaInfo[] = [];
  private readonly listeners = new Set<ReplicaListener>();

  constructor(
    replicas: readonly StaticReplica[] = [],
    /** The labels every function has. */
    private readonly labels: Readonly<Record<string, string>> = {},
  ) {
    this.replicas = replicas.map(toInfo);
  }

  /** Replaces the replica list of every function and tells the listeners about `ref`. */
  set(ref: FunctionRef, replicas: readonly StaticReplica[]): void {
    this.replicas = replicas.map(toInfo);
    const state = this.state();
    for (const listener of [...this.listeners]) listener(ref, state);
  }

  async getReplicas(): Promise<ReplicaState> {
    return this.state();
  }

  async setReplicas(): Promise<void> {}

  async listFunctions(): Promise<FunctionInfo[]> {
    return [];
  }

  listReplicas(): readonly ReplicaInfo[] {
    return this.replicas;
  }

  async removeReplicas(): Promise<void> {}

  subscribe(listener: ReplicaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {}

  private state(): ReplicaState {
    const ready = this.replicas.filter((r) => r.phase === 'ready').length;
    return { desired: Math.max(1, this.replicas.length), ready, labels: { ...this.labels }, annotations: {} };
  }
}

function toInfo(r: StaticReplica): ReplicaInfo {
  return { id: r.id, address: r.address === null ? null : new URL(r.address), phase: r.phase ?? 'ready', createdAt: 0 };
}
