import type { FunctionInfo, FunctionRef, ReplicaInfo, ReplicaListener, ReplicaProvider, ReplicaState, ScaleWrite } from '../../src/providers/types.js';

/** A provider that forwards every call to `inner`; test decorators override what they observe. */
export class DelegatingProvider<P extends ReplicaProvider = ReplicaProvider> implements ReplicaProvider {
  constructor(readonly inner: P) {}

  get kind(): string {
    return this.inner.kind;
  }

  getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    return this.inner.getReplicas(ref);
  }

  setReplicas(ref: FunctionRef, replicas: number, write?: ScaleWrite): Promise<void> {
    return this.inner.setReplicas(ref, replicas, write);
  }

  listFunctions(): Promise<FunctionInfo[]> {
    return this.inner.listFunctions();
  }

  listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    return this.inner.listReplicas(ref);
  }

  removeReplicas(ref: FunctionRef, ids: readonly string[], write?: ScaleWrite): Promise<void> {
    return this.inner.removeReplicas(ref, ids, write);
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
