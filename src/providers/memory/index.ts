import type { Clock, TimerHandle } from '../../core/clock.js';
import { AppError } from '../../errors.js';
import {
  refKey,
  type FunctionInfo,
  type FunctionRef,
  type ReplicaChanges,
  type ReplicaInfo,
  type ReplicaListener,
  type ReplicaPhase,
  type ReplicaProvider,
  type ReplicaState,
  type ScaleWrite,
} from '../types.js';

/** How long a modelled replica takes to start and to stop, in milliseconds of the clock. */
export interface ReplicaModel {
  /** From creation (`starting`) to `ready`. */
  readonly startMs: number;
  /** From `stopping` to gone. */
  readonly stopMs: number;
  /** When given, each new replica's start time is drawn from it instead (the simulator's distributions). */
  readonly nextStartMs?: () => number;
}

/** One function of the memory provider. */
export interface MemoryFunctionSpec {
  readonly name: string;
  readonly namespace: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Desired replicas at start; 0 when absent. */
  readonly replicas?: number;
  /** Start and stop times; the provider's default model when absent. */
  readonly model?: ReplicaModel;
}

export interface MemoryProviderOptions {
  readonly clock: Clock;
  readonly functions: readonly MemoryFunctionSpec[];
  /** Model for functions without one; `{startMs: 0, stopMs: 0}` when absent (ready on the next timer). */
  readonly defaultModel?: ReplicaModel;
}

interface MemoryReplica {
  readonly id: string;
  readonly address: URL;
  readonly createdAt: number;
  phase: ReplicaPhase;
  timer: TimerHandle | undefined;
}

interface MemoryFunction {
  readonly ref: FunctionRef;
  readonly spec: MemoryFunctionSpec;
  readonly model: ReplicaModel;
  desired: number;
  /** Every replica that exists, by id, in creation order. */
  readonly replicas: Map<string, MemoryReplica>;
  /** Replicas `starting` or `ready`, and those `ready` (counters, so no change recounts the list). */
  live: number;
  ready: number;
  /** What changed since the last notification: replicas added or changed, ids gone. */
  readonly changed: Set<MemoryReplica>;
  readonly removed: string[];
  nextId: number;
}

/**
 * A provider that runs nothing: replicas are records whose phases follow a modelled start
 * and stop time on the injected clock. Addresses are `http://127.0.0.1:9/<fn>/<id>` and
 * are never dialled. Unit tests and the simulator drive it with a VirtualClock. Each
 * notification carries its `ReplicaChanges`, and a replica's start, readiness or removal
 * costs O(1): a function of 100,000 replicas is never relisted per change.
 */
export class MemoryProvider implements ReplicaProvider {
  readonly kind = 'memory';
  private readonly functions = new Map<string, MemoryFunction>();
  private readonly listeners = new Set<ReplicaListener>();
  private readonly clock: Clock;
  private started = false;
  private closed = false;

  constructor(options: MemoryProviderOptions) {
    this.clock = options.clock;
    const fallback = options.defaultModel ?? { startMs: 0, stopMs: 0 };
    for (const spec of options.functions) {
      const ref = { name: spec.name, namespace: spec.namespace };
      this.functions.set(refKey(ref), {
        ref,
        spec,
        model: spec.model ?? fallback,
        desired: Math.max(0, spec.replicas ?? 0),
        replicas: new Map(),
        live: 0,
        ready: 0,
        changed: new Set(),
        removed: [],
        nextId: 1,
      });
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const fn of this.functions.values()) {
      this.reconcile(fn);
      if (fn.replicas.size > 0) this.emit(fn);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const fn of this.functions.values()) {
      for (const replica of fn.replicas.values()) this.clock.clearTimeout(replica.timer);
      fn.replicas.clear();
      fn.changed.clear();
      fn.removed.length = 0;
      fn.live = 0;
      fn.ready = 0;
    }
  }

  async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    return this.stateOf(this.find(ref));
  }

  async listFunctions(): Promise<FunctionInfo[]> {
    return [...this.functions.values()].map((fn) => ({ ref: fn.ref, ...this.stateOf(fn) }));
  }

  async setReplicas(ref: FunctionRef, replicas: number, write?: ScaleWrite): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new AppError('BAD_REQUEST', `replicas must be a non-negative integer, got ${replicas}`);
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'provider is shutting down');
    const fn = this.find(ref);
    if (fn.desired === replicas) return;
    write?.fence?.();
    fn.desired = replicas;
    this.reconcile(fn);
    this.emit(fn);
  }

  async removeReplicas(ref: FunctionRef, ids: readonly string[], write?: ScaleWrite): Promise<void> {
    const fn = this.find(ref);
    const victims = new Set<MemoryReplica>();
    for (const id of ids) {
      const replica = fn.replicas.get(id);
      if (replica !== undefined && replica.phase !== 'stopping') victims.add(replica);
    }
    if (victims.size === 0) return;
    write?.fence?.();
    fn.desired = Math.max(0, fn.desired - victims.size);
    for (const victim of victims) this.stop(fn, victim);
    this.emit(fn);
  }

  listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    const fn = this.functions.get(refKey(ref));
    if (fn === undefined) return [];
    return [...fn.replicas.values()].map(infoOf);
  }

  subscribe(listener: ReplicaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private find(ref: FunctionRef): MemoryFunction {
    const fn = this.functions.get(refKey(ref));
    if (fn === undefined) throw new AppError('FUNCTION_UNKNOWN', `function ${ref.name} not found in namespace ${ref.namespace}`);
    return fn;
  }

  private stateOf(fn: MemoryFunction): ReplicaState {
    return {
      desired: fn.desired,
      ready: fn.ready,
      labels: fn.spec.labels ?? {},
      annotations: fn.spec.annotations ?? {},
    };
  }

  /** Starts or stops replicas until the live ones (starting or ready) match desired. */
  private reconcile(fn: MemoryFunction): void {
    if (!this.started || this.closed) return;
    // A plain setReplicas down removes the least useful first: starting, then the newest.
    const surplus = fn.live - fn.desired;
    if (surplus > 0) {
      // Creation order reversed puts the newest first; the sort is stable.
      const live = [...fn.replicas.values()].filter((r) => r.phase === 'starting' || r.phase === 'ready');
      const order = live.reverse().sort((a, b) => (a.phase === b.phase ? 0 : a.phase === 'starting' ? -1 : 1));
      for (const victim of order.slice(0, surplus)) this.stop(fn, victim);
    }
    while (fn.live < fn.desired) this.create(fn);
  }

  private create(fn: MemoryFunction): void {
    const id = `${fn.ref.name}-${fn.nextId++}`;
    const replica: MemoryReplica = {
      id,
      address: new URL(`http://127.0.0.1:9/${encodeURIComponent(fn.ref.name)}/${id}`),
      createdAt: this.clock.now(),
      phase: 'starting',
      timer: undefined,
    };
    replica.timer = this.clock.setTimeout(() => {
      replica.timer = undefined;
      if (replica.phase !== 'starting') return;
      this.setPhase(fn, replica, 'ready');
      this.emit(fn);
    }, fn.model.nextStartMs?.() ?? fn.model.startMs);
    fn.replicas.set(id, replica);
    fn.live += 1;
    fn.changed.add(replica);
  }

  private stop(fn: MemoryFunction, replica: MemoryReplica): void {
    this.clock.clearTimeout(replica.timer);
    this.setPhase(fn, replica, 'stopping');
    replica.timer = this.clock.setTimeout(() => {
      fn.replicas.delete(replica.id);
      fn.changed.delete(replica);
      fn.removed.push(replica.id);
      this.emit(fn);
    }, fn.model.stopMs);
  }

  /** Moves a replica to `phase`, keeping the live and ready counters and the pending changes. */
  private setPhase(fn: MemoryFunction, replica: MemoryReplica, phase: ReplicaPhase): void {
    const wasLive = replica.phase === 'starting' || replica.phase === 'ready';
    const isLive = phase === 'starting' || phase === 'ready';
    fn.live += Number(isLive) - Number(wasLive);
    fn.ready += Number(phase === 'ready') - Number(replica.phase === 'ready');
    replica.phase = phase;
    fn.changed.add(replica);
  }

  /** Tells listeners the function's state and what changed in its list since the last time. */
  private emit(fn: MemoryFunction): void {
    const state = this.stateOf(fn);
    const changes: ReplicaChanges = { upserted: [...fn.changed].map(infoOf), removed: [...fn.removed] };
    fn.changed.clear();
    fn.removed.length = 0;
    for (const listener of [...this.listeners]) listener(fn.ref, state, changes);
  }
}

function infoOf(replica: MemoryReplica): ReplicaInfo {
  return { id: replica.id, address: replica.address, phase: replica.phase, createdAt: replica.createdAt };
}
