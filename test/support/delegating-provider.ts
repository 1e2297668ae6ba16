import type { FunctionInfo, FunctionRef, ReplicaInfo, ReplicaListener, ReplicaProvider, ReplicaState } from '../../src/providers/types.js';

/** A provider that forwards every call to `inner`; test decorators override what they observe. */
export class DelegatingProvider<P extends ReplicaProvider = ReplicaProvider> implements ReplicaProvider {
  constructor(readonly inner: P) {}

  get kind(): string {
    return this.inner.kind;
  }

  getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    return this.inner.getReplicas(ref);
  }

  setReplicas(ref: FunctionRef, replicas: number): Promise<void> {
    return this.inner.setReplicas(ref, replicas);
  }

  listFunctions(): Promise<FunctionInfo[]> {
    return this.inner.listFunctions();
  }

  listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    return this.inner.listReplicas(ref);
  }

  removeReplicas(ref: FunctionRef, ids: readonly string[]): Promise<void> {
    return this.inner.removeReplicas(ref, ids);
  }

  subscribe(listener: ReplicaListener): () => void {
    return this.inner.subscribe(listener);
  }

  hurry(ref: FunctionRef): void {
    this.inner.hurry?.(ref);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
