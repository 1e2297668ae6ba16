import type { Clock, TimerHandle } from '../../core/clock.js';
import { AppError } from '../../errors.js';
import {
  refKey,
  type FunctionInfo,
  type FunctionRef,
  type ReplicaInfo,
  type ReplicaListener,
  type ReplicaPhase,
  type ReplicaProvider,
  type ReplicaState,
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
  /** Every replica that exists, in creation order. */
  replicas: MemoryReplica[];
  nextId: number;
}

/**
 * A provider that runs nothing: replicas are records whose phases follow a modelled start
 * and stop time on the injected clock. Addresses are `http://127.0.0.1:9/<fn>/<id>` and
 * are never dialled. Unit tests and the simulator drive it with a VirtualClock.
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
      this.functions.set(refKey(ref), { ref, spec, model: spec.model ?? fallback, desired: Math.max(0, spec.replicas ?? 0), replicas: [], nextId: 1 });
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const fn of this.functions.values()) {
      this.reconcile(fn);
      if (fn.replicas.length > 0) this.emit(fn);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const fn of this.functions.values()) {
      for (const replica of fn.replicas) this.clock.clearTimeout(replica.timer);
      fn.replicas = [];
    }
  }

  async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    return this.stateOf(this.find(ref));
  }

  async listFunctions(): Promise<FunctionInfo[]> {
    return [...this.functions.values()].map((fn) => ({ ref: fn.ref, ...this.stateOf(fn) }));
  }

  async setReplicas(ref: FunctionRef, replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new AppError('BAD_REQUEST', `replicas must be a non-negative integer, got ${replicas}`);
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'provider is shutting down');
    const fn = this.find(ref);
    if (fn.desired === replicas) return;
    fn.desired = replicas;
    this.reconcile(fn);
    this.emit(fn);
  }

  async removeReplicas(ref: FunctionRef, ids: readonly string[]): Promise<void> {
    const fn = this.find(ref);
    const wanted = new Set(ids);
    const victims = fn.replicas.filter((r) => wanted.has(r.id) && r.phase !== 'stopping');
    if (victims.length === 0) return;
    fn.desired = Math.max(0, fn.desired - victims.length);
    for (const victim of victims) this.stop(fn, victim);
    this.emit(fn);
  }

  listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    const fn = this.functions.get(refKey(ref));
    if (fn === undefined) return [];
    return fn.replicas.map((r) => ({ id: r.id, address: r.address, phase: r.phase, createdAt: r.createdAt }));
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
      ready: fn.replicas.filter((r) => r.phase === 'ready').length,
      labels: fn.spec.labels ?? {},
      annotations: fn.spec.annotations ?? {},
    };
  }

  /** Starts or stops replicas until the live ones (starting or ready) match desired. */
  private reconcile(fn: MemoryFunction): void {
    if (!this.started || this.closed) return;
    const live = fn.replicas.filter((r) => r.phase === 'starting' || r.phase === 'ready');
    // A plain setReplicas down removes the least useful first: starting, then the newest.
    const surplus = live.length - fn.desired;
    if (surplus > 0) {
      // `live` is in creation order, so its reverse puts the newest first; the sort is stable.
      const order = [...live].reverse().sort((a, b) => (a.phase === b.phase ? 0 : a.phase === 'starting' ? -1 : 1));
      for (const victim of order.slice(0, surplus)) this.stop(fn, victim);
    }
    for (let i = live.length; i < fn.desired; i++) this.create(fn);
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
      replica.phase = 'ready';
      this.emit(fn);
    }, fn.model.nextStartMs?.() ?? fn.model.startMs);
    fn.replicas.push(replica);
  }

  private stop(fn: MemoryFunction, replica: MemoryReplica): void {
    this.clock.clearTimeout(replica.timer);
    replica.phase = 'stopping';
    replica.timer = this.clock.setTimeout(() => {
      fn.replicas = fn.replicas.filter((r) => r !== replica);
      this.emit(fn);
    }, fn.model.stopMs);
  }

  private emit(fn: MemoryFunction): void {
    const state = this.stateOf(fn);
    for (const listener of [...this.listeners]) listener(fn.ref, state);
  }
}
