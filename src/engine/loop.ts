import type { Gauge } from 'prom-client';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { decide, EMPTY_POLICY_MEMORY, type PolicyMemory, type QueueLengths } from '../policy/index.js';
import { parsePolicySpec, policySettings, type PolicyKind, type PolicySpec, type SpecDefaults } from '../policy/spec.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import type { Changer } from './changer.js';
import type { Dispatcher } from './dispatcher.js';
import { isLeaving } from './drain.js';
import type { ReplicaView } from './replicas.js';
import { queuedWithRemote, replicasWithRemote, type RemoteSignals } from './signals.js';

/** Default time between two policy passes, ms (issue 10: a short tick). */
export const DEFAULT_TICK_MS = 1000;

export interface PolicyLoopOptions {
  readonly provider: ReplicaProvider;
  readonly dispatcher: Dispatcher;
  readonly changer: Changer;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly defaultNamespace: string;
  /** Min, max and the ceiling `max=0` stands for, for functions without the labels. */
  readonly defaults: SpecDefaults;
  /** Time between passes, ms; DEFAULT_TICK_MS when absent. */
  readonly tickMs?: number;
  /** Whether this gateway decides (the leader); always when absent. Gauges are set either way. */
  readonly isLeader?: () => boolean;
  /**
   * Requests waiting in a queue the gateway cannot see (a broker's depth, from a firing
   * alert's `value` annotation); null when none is known. Added to the busy queue of `queue` kinds.
   */
  readonly externalQueue?: (ref: FunctionRef) => number | null;
  /**
   * The other gateways' load (several gateways, Prometheus configured): refreshed at the
   * start of each leader pass and added to this gateway's view before deciding
   * (src/engine/signals.ts). This gateway's view only when absent.
   */
  readonly remote?: RemoteSignals;
}

/** A function's policy kind, or why its labels are invalid. */
export type KindResult = { readonly ok: true; readonly kind: PolicyKind } | { readonly ok: false; readonly problems: readonly string[] };

/** What one evaluation decided: the count before and after, and the reason word. */
export interface Evaluation {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  /** False when nothing changed, or in a dry run. */
  readonly changed: boolean;
}

type State = 'starting' | 'free' | 'busy' | 'draining';
const STATES: readonly State[] = ['starting', 'free', 'busy', 'draining'];

interface Entry {
  readonly ref: FunctionRef;
  readonly label: string;
  memory: PolicyMemory;
  running: boolean;
  /** An evaluation was asked for while one ran: run once more after it. */
  again: boolean;
  /** The last problems logged, so an invalid spec is logged once per change. */
  problems: string;
  readonly replicaGauges: Readonly<Record<State, Gauge.Internal<'function_name' | 'state'>>>;
  settings: Map<string, Gauge.Internal<'function_name' | 'setting'>>;
}

/** Counts a function's replicas by state: starting, free (usable, nothing in flight), busy, draining. */
export function replicaStates(replicas: readonly ReplicaView[]): Record<State, number> {
  const counts: Record<State, number> = { starting: 0, free: 0, busy: 0, draining: 0 };
  for (const r of replicas) {
    if (isLeaving(r)) counts.draining += 1;
    else if (r.phase === 'starting') counts.starting += 1;
    else if (r.inFlight > 0) counts.busy += 1;
    else counts.free += 1;
  }
  return counts;
}

/**
 * The leader-only policy loop: every tick, for each function whose kind is not `rps`, it
 * reads the dispatcher's replica table and queue, calls `decide`, and applies a change
 * through the changer (source `policy`); a per-replica idle removal names exactly the
 * replicas that go (`Decision.remove`). Decisions that change nothing are not recorded (one
 * per function per tick would flood the event log). `evaluateNow` runs one function's
 * decision at once (a firing alert, a request that had to queue). Every tick also sets the
 * replica-state and policy-setting gauges, on every gateway.
 */
export class PolicyLoop {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly pending = new Map<string, Promise<Evaluation | null>>();
  private timer: TimerHandle | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = true;

  constructor(private readonly options: PolicyLoopOptions) {
    this.log = options.logger.child({ component: 'policy-loop' });
  }

  /** Starts ticking on the clock. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops ticking; resolves once a pass under way has finished. */
  stop(): Promise<void> {
    this.stopped = true;
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    return this.ticking ?? Promise.resolve();
  }

  /** One pass over every function: gauges everywhere, decisions when leader. Never throws. */
  tick(): Promise<void> {
    if (this.ticking !== undefined) return this.ticking;
    this.ticking = this.pass().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    try {
      const leader = this.options.isLeader?.() ?? true;
      // Bounded by its own timeout (below the tick); a failure leaves the local view.
      const [functions] = await Promise.all([this.options.provider.listFunctions(), leader ? this.options.remote?.refresh() : undefined]);
      const seen = new Set<string>();
      const work: Array<Promise<unknown>> = [];
      for (const fn of functions) {
        const entry = this.entry(fn.ref);
        seen.add(refKey(fn.ref));
        const spec = this.specOf(entry, fn.labels, fn.annotations);
        this.report(entry, spec);
        if (leader && spec !== null && spec.kind !== 'rps') work.push(this.evaluate(entry, spec, fn.desired));
      }
      for (const [key, entry] of this.entries) if (!seen.has(key)) this.forget(key, entry);
      await Promise.all(work);
    } catch (err) {
      this.log.error('policy tick failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * Evaluates one function's policy now instead of at the next tick (when leader and its
   * kind is not `rps`). Debounced per function: calls made before the evaluation has read
   * the function share it (a burst of queued requests is one evaluation). Resolves when
   * the decision is applied (not when a drain ends), with what it decided; null when
   * nothing was evaluated (not leader, `rps`, invalid labels, an error, which is logged).
   */
  evaluateNow(ref: FunctionRef): Promise<Evaluation | null> {
    const key = refKey(ref);
    const pending = this.pending.get(key);
    if (pending !== undefined) return pending;
    const run = this.evaluateOnce(ref, key);
    this.pending.set(key, run);
    return run;
  }

  /** The policy kind of `ref` from its labels, or their problems. Provider errors propagate. */
  async kindOf(ref: FunctionRef): Promise<KindResult> {
    const state = await this.options.provider.getReplicas(ref);
    const result = parsePolicySpec(state.labels, state.annotations, this.options.defaults);
    return result.ok ? { ok: true, kind: result.spec.kind } : result;
  }

  private async evaluateOnce(ref: FunctionRef, key: string): Promise<Evaluation | null> {
    // One turn first, so requests queued in the same burst join this evaluation.
    await Promise.resolve();
    try {
      let state;
      try {
        if (!(this.options.isLeader?.() ?? true)) return null;
        state = await this.options.provider.getReplicas(ref);
      } finally {
        // From here on a new request asks for a new evaluation (run after this one: `again`).
        this.pending.delete(key);
      }
      const entry = this.entry(ref);
      const spec = this.specOf(entry, state.labels, state.annotations);
      if (spec === null || spec.kind === 'rps') return null;
      return await this.evaluate(entry, spec, state.desired);
    } catch (err) {
      this.log.error('policy evaluation failed', { function: functionLabel(ref, this.options.defaultNamespace), error: err instanceof Error ? err.message : String(err) });
      return null;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    const tickMs = this.options.tickMs ?? DEFAULT_TICK_MS;
    this.timer = this.options.clock.setTimeout(() => {
      this.schedule();
      void this.tick();
    }, tickMs);
    this.timer.unref();
  }

  private async evaluate(entry: Entry, spec: PolicySpec, providerDesired: number): Promise<Evaluation | null> {
    if (entry.running) {
      entry.again = true;
      return null;
    }
    entry.running = true;
    let result: Evaluation | null = null;
    try {
      const { dispatcher, changer, clock } = this.options;
      const { ref } = entry;
      const stats = dispatcher.stats(ref);
      const leaving = stats.replicas.filter((r) => r.draining).length;
      const desired = Math.max(0, providerDesired - leaving);
      const external = spec.kind === 'queue' ? (this.options.externalQueue?.(ref) ?? null) : null;
      const remote = this.options.remote?.load(entry.label) ?? null;
      const local: QueueLengths = external === null ? stats.queued : { ...stats.queued, busy: stats.queued.busy + external };
      const queued = queuedWithRemote(local, remote);
      const extra: Record<string, number> = {
        ...(external === null ? {} : { alertQueue: external }),
        ...(remote === null ? {} : { remoteInFlight: remote.present, remoteQueued: remote.queued.busy + remote.queued.no_replica }),
      };
      const withExternal = <D extends { readonly inputs: Readonly<Record<string, unknown>> }>(decision: D): D =>
        Object.keys(extra).length === 0 ? decision : { ...decision, inputs: { ...decision.inputs, ...extra } };
      // Local and remote requests held, integrated over time (the `concurrency` kind's average).
      const observed = () => {
        const own = dispatcher.concurrencyIntegral(ref);
        return { sum: own.sum + (this.options.remote?.integral(entry.label, own.at) ?? 0), at: own.at };
      };
      const replicasOf = (rows: readonly ReplicaView[]) => replicasWithRemote(rows, remote);
      const out = decide(spec, { replicas: replicasOf(stats.replicas), queued, desired, now: clock.now(), observed: observed() }, entry.memory);
      const remove = out.decision.remove ?? [];
      if (remove.length > 0) {
        // Exactly the replicas the policy chose; the cycle drops any that took a request meanwhile.
        entry.memory = out.memory;
        const done = await changer.change(ref, 'policy', () => withExternal(out.decision));
        result = { from: done.from, to: done.to, reason: done.reason, changed: done.changed };
      } else if (out.decision.replicas !== desired) {
        // Decide again under the changer's lock, on the state it read; keep that memory.
        let memory = out.memory;
        const prior = entry.memory;
        const done = await changer.change(ref, 'policy', ({ state, now }) => {
          const again = decide(spec, { replicas: replicasOf(state.replicas), queued, desired: state.desired, now, observed: observed() }, prior);
          memory = again.memory;
          return withExternal(again.decision);
        });
        entry.memory = memory;
        result = { from: done.from, to: done.to, reason: done.reason, changed: done.changed };
      } else {
        entry.memory = out.memory;
        result = { from: desired, to: desired, reason: out.decision.reason, changed: false };
      }
    } catch (err) {
      this.log.error('policy evaluation failed', { function: entry.label, error: err instanceof Error ? err.message : String(err) });
    } finally {
      entry.running = false;
    }
    if (entry.again) {
      entry.again = false;
      await this.evaluateNow(entry.ref);
    }
    return result;
  }

  private specOf(entry: Entry, labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): PolicySpec | null {
    const result = parsePolicySpec(labels, annotations, this.options.defaults);
    if (result.ok) {
      entry.problems = '';
      return result.spec;
    }
    const problems = result.problems.join('; ');
    if (problems !== entry.problems) this.log.warn('policy labels invalid', { function: entry.label, problems: result.problems });
    entry.problems = problems;
    return null;
  }

  private report(entry: Entry, spec: PolicySpec | null): void {
    const { starting, free, busy, draining, stopping } = this.options.dispatcher.replicaCounts(entry.ref);
    const counts: Record<State, number> = { starting, free, busy, draining: draining + stopping };
    for (const state of STATES) entry.replicaGauges[state].set(counts[state]);
    const settings = spec === null ? {} : policySettings(spec);
    const { policySetting } = this.options.metrics;
    for (const name of [...entry.settings.keys()]) {
      if (name in settings) continue;
      policySetting.remove({ function_name: entry.label, setting: name });
      entry.settings.delete(name);
    }
    for (const [name, value] of Object.entries(settings)) {
      let gauge = entry.settings.get(name);
      if (gauge === undefined) {
        gauge = policySetting.labels({ function_name: entry.label, setting: name });
        entry.settings.set(name, gauge);
      }
      gauge.set(value);
    }
  }

  private entry(ref: FunctionRef): Entry {
    const key = refKey(ref);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const label = functionLabel(ref, this.options.defaultNamespace);
      const { replicasByState } = this.options.metrics;
      const gauge = (state: State) => replicasByState.labels({ function_name: label, state });
      entry = {
        ref: { name: ref.name, namespace: ref.namespace },
        label,
        memory: EMPTY_POLICY_MEMORY,
        running: false,
        again: false,
        problems: '',
        replicaGauges: { starting: gauge('starting'), free: gauge('free'), busy: gauge('busy'), draining: gauge('draining') },
        settings: new Map(),
      };
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** A function that is gone: its memory and its series go too. */
  private forget(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.options.remote?.forget(entry.label);
    const { replicasByState, policySetting } = this.options.metrics;
    for (const state of STATES) replicasByState.remove({ function_name: entry.label, state });
    for (const name of entry.settings.keys()) policySetting.remove({ function_name: entry.label, setting: name });
  }
}
