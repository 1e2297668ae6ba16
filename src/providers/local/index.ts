import { AppError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import {
  refKey,
  type CrashListener,
  type CrashLoop,
  type FunctionInfo,
  type FunctionRef,
  type ReplicaInfo,
  type ReplicaListener,
  type ReplicaProvider,
  type ReplicaCrash,
  type ReplicaState,
  type ScaleWrite,
} from '../types.js';
import { crashLoopOf, leastUseful, newLocalFunction, restartDelayMs, stateOf, type LocalFunction } from './pool.js';
import { freePort } from './process.js';
import { Replica } from './replica.js';
import type { StackFunction } from './stack.js';

export { restartDelayMs } from './pool.js';

export interface LocalProviderOptions {
  readonly functions: readonly StackFunction[];
  readonly logger: Logger;
  /** Desired replicas at start per function (its min); functions not listed start at 1. */
  readonly initialReplicas: (fn: StackFunction) => number;
  readonly healthPath: string;
  readonly healthIntervalMs: number;
  readonly startTimeoutMs: number;
  readonly drainGraceMs: number;
}

/**
 * The embedded provider: each replica is a child process on its own port (env PORT), ready
 * when its health path answers 200. Keeps the running count equal to the desired count,
 * restarting replicas that die (with backoff), and drains replicas it removes.
 */
export class LocalProvider implements ReplicaProvider {
  readonly kind = 'local';
  private readonly functions = new Map<string, LocalFunction>();
  private readonly listeners = new Set<ReplicaListener>();
  private readonly crashListeners = new Set<CrashListener>();
  private closed = false;
  /** Every replica whose process has not exited yet, whatever its phase or function. */
  private readonly processes = new Set<Replica>();
  /** The turn of the event loop the last spawn waited for (see startReplica). */
  private spawnTurn: Promise<void> = Promise.resolve();
  /** Kills every replica group synchronously when the process exits by any path. */
  private readonly onProcessExit = () => this.killAll();

  constructor(private readonly options: LocalProviderOptions) {
    for (const spec of options.functions) this.functions.set(refKey(spec), newLocalFunction(spec, options.initialReplicas(spec)));
  }

  async start(): Promise<void> {
    process.once('exit', this.onProcessExit);
    for (const fn of this.functions.values()) this.reconcile(fn);
  }

  private find(ref: FunctionRef): LocalFunction {
    const fn = this.functions.get(refKey(ref));
    if (fn === undefined) throw new AppError('FUNCTION_UNKNOWN', `function ${ref.name} not found in namespace ${ref.namespace}`);
    return fn;
  }

  async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    return stateOf(this.find(ref));
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

  async listFunctions(): Promise<FunctionInfo[]> {
    return [...this.functions.values()].map((fn) => ({ ref: { name: fn.spec.name, namespace: fn.spec.namespace }, ...stateOf(fn) }));
  }

  listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    const fn = this.functions.get(refKey(ref));
    if (fn === undefined) return [];
    const all = [...fn.live, ...fn.draining].filter((r) => r.phase !== 'exited');
    return all.map((r) => ({ id: r.id, address: r.url, phase: r.phase === 'exited' ? 'stopping' : r.phase, createdAt: Math.round(r.startedAt) }));
  }

  /**
   * Stops exactly these replicas (the engine drained them first: SIGTERM, then SIGKILL after
   * the drain grace) and lowers desired by the number found, so none is started in their place.
   */
  async removeReplicas(ref: FunctionRef, ids: readonly string[], write?: ScaleWrite): Promise<void> {
    const fn = this.find(ref);
    const wanted = new Set(ids);
    const victims = fn.live.filter((r) => wanted.has(r.id));
    if (victims.length === 0) return;
    write?.fence?.();
    fn.live = fn.live.filter((r) => !wanted.has(r.id));
    fn.desired = Math.max(0, fn.desired - victims.length);
    for (const victim of victims) this.retire(fn, victim);
    this.emit(fn);
  }

  subscribe(listener: ReplicaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Calls wait for the function's first ready replica: its starting replicas (and those it
   * starts next) probe at the fast pace until one is ready. Once per wait, not per queued call:
   * while the function is awaited its replicas already probe at that pace, and each further
   * wake would cut a 1 ms pause short for every replica.
   */
  hurry(ref: FunctionRef): void {
    const fn = this.functions.get(refKey(ref));
    if (fn === undefined || fn.awaited) return;
    fn.awaited = true;
    for (const replica of fn.live) replica.hurry();
  }

  /**
   * The function's crash loop: its replicas crashed (the last crash, how many in a row) and
   * none has become ready since; the next start is due at `nextRetryAt`. Null otherwise.
   */
  crashLoop(ref: FunctionRef): CrashLoop | null {
    const fn = this.functions.get(refKey(ref));
    return fn === undefined ? null : crashLoopOf(fn);
  }

  /** The function's most recent crash, kept after a replica became ready again; null before its first. */
  lastCrash(ref: FunctionRef): ReplicaCrash | null {
    return this.functions.get(refKey(ref))?.recentCrash ?? null;
  }

  onCrash(listener: CrashListener): () => void {
    this.crashListeners.add(listener);
    return () => this.crashListeners.delete(listener);
  }

  /** Replica processes of a function (tests use this to kill one). */
  replicasOf(ref: FunctionRef): readonly Replica[] {
    return [...this.find(ref).live];
  }

  async close(): Promise<void> {
    this.closed = true;
    const stops: Array<Promise<void>> = [];
    for (const fn of this.functions.values()) {
      clearTimeout(fn.restartTimer);
      fn.desired = 0;
      for (const replica of [...fn.live, ...fn.draining]) stops.push(replica.stop(this.options.drainGraceMs));
      fn.live = [];
    }
    await Promise.all(stops);
    process.removeListener('exit', this.onProcessExit);
  }

  /**
   * SIGKILLs every replica's process group now, synchronously (no drain): the last resort
   * when the process exits (a second signal, `process.exit`, an uncaught error).
   */
  killAll(): void {
    for (const fn of this.functions.values()) clearTimeout(fn.restartTimer);
    for (const replica of this.processes) replica.killGroup();
  }

  private emit(fn: LocalFunction): void {
    const state = stateOf(fn);
    const ref = { name: fn.spec.name, namespace: fn.spec.namespace };
    for (const listener of this.listeners) listener(ref, state);
  }

  private reconcile(fn: LocalFunction): void {
    if (this.closed) return;
    while (fn.live.length + fn.pendingStarts > fn.desired && fn.live.length > 0) {
      // Remove the least useful replica first: a starting one, then the newest. (The engine's
      // scale-down drains and removes chosen replicas instead; this is a bare count change.)
      const victim = leastUseful(fn.live) as Replica;
      fn.live = fn.live.filter((r) => r !== victim);
      this.retire(fn, victim);
    }
    const missing = fn.desired - fn.live.length - fn.pendingStarts;
    if (missing <= 0 || fn.restartTimer !== undefined) return;
    for (let i = 0; i < missing; i++) void this.startReplica(fn);
  }

  /** Drains and stops a replica already taken out of `live`. */
  private retire(fn: LocalFunction, replica: Replica): void {
    fn.draining.add(replica);
    void replica.stop(this.options.drainGraceMs).finally(() => fn.draining.delete(replica));
  }

  private async startReplica(fn: LocalFunction): Promise<void> {
    fn.pendingStarts += 1;
    let port: number;
    try {
      port = await freePort();
      // One spawn per turn of the event loop: Node forks and execs on the loop, and nine
      // spawns in one turn held a health check up to 135 ms (webhook-flood bench).
      await (this.spawnTurn = this.spawnTurn.then(() => new Promise<void>((resolve) => setImmediate(resolve))));
    } finally {
      fn.pendingStarts -= 1;
    }
    if (this.closed || fn.live.length >= fn.desired) return;
    const replica = new Replica({
      id: `${fn.spec.name}-${fn.nextId++}`,
      fn: fn.spec,
      port,
      healthPath: this.options.healthPath,
      healthIntervalMs: this.options.healthIntervalMs,
      startTimeoutMs: this.options.startTimeoutMs,
      expectReadyPipe: fn.signalsReady,
      awaited: () => fn.awaited,
      logger: this.options.logger,
      onChange: (r) => this.onReplicaChange(fn, r),
    });
    fn.live.push(replica);
    this.processes.add(replica);
    this.options.logger.info('replica starting', { function: fn.spec.name, replica: replica.id, port, pid: replica.pid });
    this.emit(fn);
  }

  private onReplicaChange(fn: LocalFunction, replica: Replica): void {
    if (replica.phase === 'exited') this.processes.delete(replica);
    if (replica.phase === 'ready') {
      fn.crashes = 0;
      fn.lastCrash = undefined;
      fn.signalsReady = replica.readyBy === 'pipe';
      fn.awaited = false;
      this.options.logger.debug('replica ready', { function: fn.spec.name, port: replica.port, by: replica.readyBy, startMs: Date.now() - replica.startedAt });
    }
    if (replica.phase === 'exited' && fn.live.includes(replica)) {
      fn.live = fn.live.filter((r) => r !== replica);
      const crash = replica.crashReport();
      if (crash !== null && !this.closed) this.crashed(fn, crash);
    }
    this.emit(fn);
  }

  /** A replica crashed: restart after a back-off, tell operators why (its last stderr lines), tell crash listeners. */
  private crashed(fn: LocalFunction, crash: ReplicaCrash): void {
    fn.crashes += 1;
    fn.lastCrash = crash;
    fn.recentCrash = crash;
    const delay = restartDelayMs(fn.crashes);
    if (fn.restartTimer === undefined) {
      fn.restartAt = Date.now() + delay;
      fn.restartTimer = setTimeout(() => {
        fn.restartTimer = undefined;
        this.reconcile(fn);
      }, delay);
      fn.restartTimer.unref();
    }
    const restartInMs = Math.max(0, fn.restartAt - Date.now());
    this.options.logger.warn('replica crashed', {
      function: fn.spec.name,
      replica: crash.replica,
      reason: crash.reason,
      code: crash.code,
      signal: crash.signal,
      crashes: fn.crashes,
      restartInMs,
      error: crash.message,
      stderr: crash.stderr.join('\n'),
    });
    const ref = { name: fn.spec.name, namespace: fn.spec.namespace };
    const loop = this.crashLoop(ref) ?? { crashes: fn.crashes, last: crash, nextRetryAt: null };
    for (const listener of [...this.crashListeners]) {
      try {
        listener(ref, crash, loop);
      } catch (err) {
        this.options.logger.warn('crash listener failed', { function: fn.spec.name, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}
