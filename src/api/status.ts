import type { Dispatcher, QueueReason } from '../engine/dispatcher.js';
import type { ReplicaView } from '../engine/replicas.js';
import { parsePolicySpec, policySettings, type PolicyKind, type SpecDefaults } from '../policy/spec.js';
import type { CrashLoop, FunctionRef, ReplicaProvider, ReplicaState } from '../providers/types.js';

/** Waiting requests listed one by one in a function's detail; the counts cover them all. */
export const WAITING_LISTED = 100;

/** A replica's state as operators read it (EverAI's DETAIL_STATUS plus the lifecycle ends). */
export type InstanceState = 'starting' | 'free' | 'busy' | 'draining' | 'stopping';

/** Every instance state, in lifecycle order. */
export const INSTANCE_STATES: readonly InstanceState[] = ['starting', 'free', 'busy', 'draining', 'stopping'];

/** One replica in `GET /system/function/<name>`; times are ISO-8601 UTC. */
export interface InstanceView {
  readonly id: string;
  readonly state: InstanceState;
  readonly inFlight: number;
  readonly createdAt: string;
  /** When a request last started or finished on it; null before its first. */
  readonly lastRequestAt: string | null;
  /** Requests it has finished. */
  readonly served: number;
}

/** One waiting request: its place (0 is served next), arrival time and why it waits now. */
export interface WaitingView {
  readonly index: number;
  readonly arrivedAt: string;
  readonly reason: QueueReason;
}

/** A function's queue: lengths by reason, the oldest wait (ms; 0 when empty), the first waiters. */
export interface QueueView {
  readonly noReplica: number;
  readonly busy: number;
  readonly oldestWaitMs: number;
  /** At most WAITING_LISTED, head first. */
  readonly waiting: readonly WaitingView[];
}

/** A function's scale policy: its kind and the settings worth a gauge; or its label problems. */
export type PolicyView =
  | { readonly type: PolicyKind; readonly settings: Readonly<Record<string, number>> }
  | { readonly type: null; readonly problems: readonly string[] };

/** Replica counts by state; every state present (0 when none). */
export type StateCounts = Readonly<Record<InstanceState, number>>;

/** What `GET /system/functions` adds to each function: counts by state and the queue length. */
export interface FunctionSummary {
  readonly states: StateCounts;
  readonly queueLength: number;
}

/**
 * A function whose replicas keep crashing (`state` is always `crash-loop`): crashes in a row
 * since one last became ready, when the next one starts (null while one is starting again,
 * or when none is wanted), and the last crash: its replica, exit code or signal, the cause
 * line and its last stderr lines (bounded). Times ISO-8601 UTC.
 */
export interface CrashLoopView {
  readonly state: 'crash-loop';
  readonly crashes: number;
  readonly nextRetryAt: string | null;
  readonly lastError: string;
  readonly lastExit: {
    readonly replica: string;
    readonly reason: string;
    readonly code: number | null;
    readonly signal: string | null;
    readonly at: string;
  };
  readonly stderr: readonly string[];
}

/** What `GET /system/function/<name>` adds: the summary plus queue, instances, policy and crash loop. */
export interface FunctionDetail extends FunctionSummary {
  readonly queue: QueueView;
  readonly instances: readonly InstanceView[];
  readonly policy: PolicyView;
  /** Null unless the function's replicas keep crashing (a provider that reports crashes: local). */
  readonly crashLoop: CrashLoopView | null;
}

/** What the status views read: the dispatcher (engine counters), the provider (its facts), policy defaults. */
export interface StatusSource {
  readonly dispatcher: Pick<Dispatcher, 'replicas' | 'stats' | 'waiting'>;
  readonly provider: Pick<ReplicaProvider, 'listReplicas' | 'crashLoop'>;
  readonly specDefaults: SpecDefaults;
}

/** The operator state of one replica: leaving ones first, then starting, then busy or free by in-flight. */
export function instanceState(replica: ReplicaView): InstanceState {
  if (replica.phase === 'stopping') return 'stopping';
  if (replica.draining || replica.phase === 'draining') return 'draining';
  if (replica.phase === 'starting') return 'starting';
  return replica.inFlight > 0 ? 'busy' : 'free';
}

/** ISO-8601 UTC of epoch ms; null stays null. */
function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * The engine's replica table of `ref`, or, for a function the dispatcher has not seen yet,
 * the provider's list with zero counters.
 */
function replicasOf(source: StatusSource, ref: FunctionRef): readonly ReplicaView[] {
  const engine = source.dispatcher.replicas(ref);
  if (engine.length > 0) return engine;
  return source.provider.listReplicas(ref).map((r) => ({ ...r, inFlight: 0, lastRequestStart: null, lastRequestEnd: null, served: 0, draining: false }));
}

/** Counts replicas by instance state. Pure. */
export function countStates(replicas: readonly ReplicaView[]): StateCounts {
  const counts: Record<InstanceState, number> = { starting: 0, free: 0, busy: 0, draining: 0, stopping: 0 };
  for (const r of replicas) counts[instanceState(r)] += 1;
  return counts;
}

/** The cheap per-function fields of the list: counts by state and the queue length. */
export function functionSummary(source: StatusSource, ref: FunctionRef): FunctionSummary {
  const { queued } = source.dispatcher.stats(ref);
  return { states: countStates(replicasOf(source, ref)), queueLength: queued.no_replica + queued.busy };
}

/** The policy a function's labels (then annotations, then defaults) resolve to. */
export function policyView(state: Pick<ReplicaState, 'labels' | 'annotations'>, defaults: SpecDefaults): PolicyView {
  const result = parsePolicySpec(state.labels, state.annotations, defaults);
  return result.ok ? { type: result.spec.kind, settings: policySettings(result.spec) } : { type: null, problems: result.problems };
}

/** A provider's crash loop as the API shows it; null stays null. Pure. */
export function crashLoopView(loop: CrashLoop | null): CrashLoopView | null {
  if (loop === null) return null;
  const { last } = loop;
  return {
    state: 'crash-loop',
    crashes: loop.crashes,
    nextRetryAt: iso(loop.nextRetryAt),
    lastError: last.message,
    lastExit: { replica: last.replica, reason: last.reason, code: last.code, signal: last.signal, at: new Date(last.at).toISOString() },
    stderr: last.stderr,
  };
}

/** One function's live detail: replicas, queue (with the first waiters), counts, policy and crash loop. */
export function functionDetail(source: StatusSource, ref: FunctionRef, state: Pick<ReplicaState, 'labels' | 'annotations'>): FunctionDetail {
  const replicas = replicasOf(source, ref);
  const stats = source.dispatcher.stats(ref);
  const waiting = source.dispatcher.waiting(ref, WAITING_LISTED).map((w, index): WaitingView => ({ index, arrivedAt: new Date(w.arrivedAt).toISOString(), reason: w.reason }));
  return {
    states: countStates(replicas),
    queueLength: stats.queued.no_replica + stats.queued.busy,
    queue: { noReplica: stats.queued.no_replica, busy: stats.queued.busy, oldestWaitMs: stats.oldestWaitMs, waiting },
    instances: replicas.map((r) => {
      const last = r.lastRequestStart === null && r.lastRequestEnd === null ? null : Math.max(r.lastRequestStart ?? 0, r.lastRequestEnd ?? 0);
      return { id: r.id, state: instanceState(r), inFlight: r.inFlight, createdAt: new Date(r.createdAt).toISOString(), lastRequestAt: iso(last), served: r.served };
    }),
    policy: policyView(state, source.specDefaults),
    crashLoop: crashLoopView(source.provider.crashLoop?.(ref) ?? null),
  };
}
