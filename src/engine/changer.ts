import type { Clock } from '../core/clock.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { parseScalingPolicy, type PolicyDefaults, type ScalingPolicy } from '../policy/labels.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { KeyedMutex } from '../scaling/keyed-mutex.js';
import type { Dispatcher } from './dispatcher.js';
import { chooseVictims, isLeaving, type Drainer } from './drain.js';
import type { EventAction, EventLog, EventSource } from './events.js';
import type { ReplicaView } from './replicas.js';

/** What a decision sees: counts without the replicas being drained, and the replica table. */
export interface ChangeState {
  /** Desired replicas, not counting those the engine is draining. */
  readonly desired: number;
  readonly ready: number;
  readonly replicas: readonly ReplicaView[];
}

/** A pure decision: new count, a reason word, and what it looked at (bounded, JSON-safe). */
export interface Decision {
  readonly replicas: number;
  readonly reason: string;
  readonly inputs?: Readonly<Record<string, unknown>>;
}

/** A pure function of state, policy and time (`now`, epoch ms): no I/O, no clock reads. */
export type Decide = (input: { readonly state: ChangeState; readonly policy: ScalingPolicy; readonly now: number }) => Decision;

/** What one change did; `settled` resolves when a scale-down's drain and removal are done. */
export interface ChangeOutcome {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  readonly changed: boolean;
  readonly settled: Promise<void>;
}

export interface ChangerOptions {
  readonly provider: ReplicaProvider;
  readonly dispatcher: Dispatcher;
  readonly drainer: Drainer;
  readonly clock: Clock;
  readonly events: EventLog;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly defaults: PolicyDefaults;
  readonly defaultNamespace: string;
}

/**
 * The one change cycle: lock → read → decide (pure) → record → apply. Up: take back
 * draining replicas first, then raise the provider's count. Down: choose victims, drain
 * them (outside the lock, so a scale-up can take them back), then remove exactly those
 * under the lock. Every decision is an event, unchanged ones too; so is each replica's
 * start, readiness, drain and removal.
 */
export class Changer {
  private readonly mutex = new KeyedMutex();
  /** Replica ids seen per function, and whether each was ready, for lifecycle events. */
  private readonly seen = new Map<string, Map<string, boolean>>();
  private readonly lastSource = new Map<string, EventSource>();
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ChangerOptions) {
    this.unsubscribe = options.provider.subscribe((ref) => this.observe(ref));
  }

  close(): void {
    this.unsubscribe();
  }

  /** Runs one change cycle for `ref`. Provider errors are recorded (`scale_failed`) and propagate. */
  change(ref: FunctionRef, source: EventSource, decide: Decide): Promise<ChangeOutcome> {
    return this.mutex.run(refKey(ref), async () => {
      const { provider, dispatcher, clock } = this.options;
      const state = await provider.getReplicas(ref);
      const policy = parseScalingPolicy(state.labels, state.annotations, this.options.defaults);
      if (!policy.ok) throw new AppError('LABELS_INVALID', `function ${ref.name} has invalid scale labels: ${policy.problems.join('; ')}`);
      dispatcher.sync(ref, state);
      this.observe(ref);
      const replicas = dispatcher.replicas(ref);
      const leaving = replicas.filter((r) => r.draining).length;
      const from = Math.max(0, state.desired - leaving);
      const now = clock.now();
      const decision = decide({ state: { desired: from, ready: state.ready, replicas }, policy: policy.policy, now });
      const to = Math.max(0, decision.replicas);
      const action: EventAction = to > from ? 'scale_up' : to < from ? 'scale_down' : 'unchanged';
      this.record(ref, source, action, from, to, decision.reason, decision.inputs ?? {});
      if (action === 'unchanged') return { from, to, reason: decision.reason, changed: false, settled: Promise.resolve() };
      this.lastSource.set(refKey(ref), source);
      try {
        let settled = Promise.resolve();
        if (action === 'scale_up') await this.up(ref, state.desired, to - from);
        else settled = this.down(ref, source, from, to, replicas);
        this.options.metrics.scaleChanges.inc({ function_name: this.label(ref), reason: decision.reason, source });
        this.options.logger.info('scale applied', { function: this.label(ref), from, to, reason: decision.reason, source });
        return { from, to, reason: decision.reason, changed: true, settled };
      } catch (err) {
        this.record(ref, source, 'scale_failed', from, to, err instanceof AppError ? err.code : 'error', {});
        throw err;
      }
    });
  }

  /** Draining replicas still count in the provider's desired, so taking one back needs no new one. */
  private async up(ref: FunctionRef, providerDesired: number, more: number): Promise<void> {
    const takenBack = this.options.drainer.takeBack(ref, more).length;
    const target = providerDesired + (more - takenBack);
    if (target !== providerDesired) await this.options.provider.setReplicas(ref, target);
  }

  private down(ref: FunctionRef, source: EventSource, from: number, to: number, replicas: readonly ReplicaView[]): Promise<void> {
    const victims = chooseVictims(
      replicas.filter((r) => !isLeaving(r)),
      from - to,
    );
    for (const id of victims) this.record(ref, source, 'drain_start', from, to, 'scale-down', {}, id);
    return this.options.drainer.drain(ref, victims).then(async (outcomes) => {
      const remove = [...outcomes].filter(([, o]) => o === 'drained' || o === 'drain-timeout');
      if (remove.length === 0) return;
      await this.mutex.run(refKey(ref), () => this.options.provider.removeReplicas(ref, remove.map(([id]) => id)));
      for (const [id, outcome] of remove) this.record(ref, source, 'scale_down_complete', from, to, outcome, {}, id);
    }).catch((err: unknown) => {
      this.options.logger.error('drain failed', { function: this.label(ref), error: err instanceof Error ? err.message : String(err) });
      this.record(ref, source, 'scale_failed', from, to, err instanceof AppError ? err.code : 'error', {});
    });
  }

  /** Records replicas that appeared (`scale_up_start`) or became ready (`scale_up_complete`). */
  private observe(ref: FunctionRef): void {
    const key = refKey(ref);
    const known = this.seen.get(key) ?? new Map<string, boolean>();
    const first = !this.seen.has(key);
    this.seen.set(key, known);
    const source = this.lastSource.get(key) ?? 'policy';
    const listed = this.options.provider.listReplicas(ref);
    for (const replica of listed) {
      const ready = replica.phase === 'ready';
      const was = known.get(replica.id);
      if (was === undefined && !first) this.record(ref, source, 'scale_up_start', 0, 0, replica.phase, {}, replica.id);
      if (ready && was === false) this.record(ref, source, 'scale_up_complete', 0, 0, 'ready', {}, replica.id);
      known.set(replica.id, ready || (was ?? false));
    }
    const ids = new Set(listed.map((r) => r.id));
    for (const id of [...known.keys()]) if (!ids.has(id)) known.delete(id);
  }

  private record(ref: FunctionRef, source: EventSource, action: EventAction, from: number, to: number, reason: string, inputs: Readonly<Record<string, unknown>>, replica?: string): void {
    const base = { time: this.options.clock.now(), function: this.label(ref), source, action, from, to, reason, inputs };
    this.options.events.record(replica === undefined ? base : { ...base, replica });
  }

  private label(ref: FunctionRef): string {
    return functionLabel(ref, this.options.defaultNamespace);
  }
}
