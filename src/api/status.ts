import type { Dispatcher, QueueReason } from '../engine/dispatcher.js';
import type { ReplicaView } from '../engine/replicas.js';
import { parsePolicySpec, policySettings, type PolicyKind, type SpecDefaults } from '../policy/spec.js';
import { policyWarnings } from '../policy/warnings.js';
import type { CrashLoop, FunctionRef, ReplicaCrash, ReplicaProvider, ReplicaState } from '../providers/types.js';

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

/**
 * A function's scale policy: its kind, the settings worth a gauge and the warnings about
 * settings under which its signal cannot move (src/policy/warnings.ts; empty when none,
 * absent from older gateways); or
 * its label problems.
 */
export type PolicyView =
  | { readonly type: PolicyKind; readonly settings: Readonly<Record<string, number>>; readonly warnings?: readonly string[] }
  | { readonly type: null; readonly problems: readonly string[] };

/** Replica counts by state; every state present (0 when none). */
export type StateCounts = Readonly<Record<InstanceState, number>>;

/**
 * A function's status in one word: `ready` (a replica is ready), `crash-loop` (none is, and
 * its replicas keep crashing), `scaled-to-zero` (none is wanted: the first request wakes it),
 * `not-ready` (replicas are wanted, none is ready yet). The page shows `scaled-to-zero` as
 * "scaled to zero".
 */
export type FunctionStatus = 'ready' | 'crash-loop' | 'scaled-to-zero' | 'not-ready';

/** The status of a function with `desired` replicas wanted and `ready` ready. Pure. */
export function functionStatus(desired: number, ready: number, crashLooping: boolean): FunctionStatus {
  if (ready > 0) return 'ready';
  if (crashLooping) return 'crash-loop';
  return desired === 0 ? 'scaled-to-zero' : 'not-ready';
}

/**
 * What `GET /system/functions` adds to each function: its status, counts by state, the queue
 * length, and with async invocations on its stored async calls (accepted, not yet delivered
 * nor dead-lettered; a call being delivered also counts in the queue or in flight).
 */
export interface FunctionSummary {
  readonly status: FunctionStatus;
  readonly states: StateCounts;
  readonly queueLength: number;
  /** Stored async calls (the gauge `gateway_function_async_queue_length`); absent when async invocations are off. */
  readonly asyncQueueLength?: number;
}

/**
 * A function's most recent replica crash, kept after a replica became ready again: the
 * replica, why it ended, exit code or signal, when (ISO-8601 UTC), the cause line (`error`)
 * and its last stderr lines (bounded).
 */
export interface LastCrashView {
  readonly replica: string;
  readonly reason: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: string;
  readonly error: string;
  readonly stderr: readonly string[];
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
  /** Its most recent crash, also once it recovered; null when none (or the provider reports none). */
  readonly lastCrash: LastCrashView | null;
}

/** What the status views read: the dispatcher (engine counters), the provider (its facts), policy defaults. */
export interface StatusSource {
  readonly dispatcher: Pick<Dispatcher, 'replicas' | 'stats' | 'waiting'>;
  readonly provider: Pick<ReplicaProvider, 'listReplicas' | 'crashLoop' | 'lastCrash'>;
  readonly specDefaults: SpecDefaults;
  /** A function's stored async calls; absent when async invocations are off. */
  readonly asyncBacklog?: ((ref: FunctionRef) => number) | undefined;
}

/** `{ asyncQueueLength }` when the source has async invocations, else nothing. */
function asyncField(source: StatusSource, ref: FunctionRef): { asyncQueueLength?: number } {
  return source.asyncBacklog === undefined ? {} : { asyncQueueLength: source.asyncBacklog(ref) };
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

/** The cheap per-function fields of the list: status, counts by state and the queue length. */
export function functionSummary(source: StatusSource, ref: FunctionRef, counts: Pick<ReplicaState, 'desired' | 'ready'>): FunctionSummary {
  const { queued } = source.dispatcher.stats(ref);
  const status = functionStatus(counts.desired, counts.ready, counts.ready === 0 && (source.provider.crashLoop?.(ref) ?? null) !== null);
  return { status, states: countStates(replicasOf(source, ref)), queueLength: queued.no_replica + queued.busy, ...asyncField(source, ref) };
}

/** The policy a function's labels (then annotations, then defaults) resolve to. */
export function policyView(state: Pick<ReplicaState, 'labels' | 'annotations'>, defaults: SpecDefaults): PolicyView {
  const result = parsePolicySpec(state.labels, state.annotations, defaults);
  return result.ok ? { type: result.spec.kind, settings: policySettings(result.spec), warnings: policyWarnings(result.spec) } : { type: null, problems: result.problems };
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

/** A provider's last crash as the API shows it; null stays null. Pure. */
export function lastCrashView(crash: ReplicaCrash | null): LastCrashView | null {
  if (crash === null) return null;
  return { replica: crash.replica, reason: crash.reason, code: crash.code, signal: crash.signal, at: new Date(crash.at).toISOString(), error: crash.message, stderr: crash.stderr };
}

/** One function's live detail: status, replicas, queue (with the first waiters), counts, policy, crash loop and last crash. */
export function functionDetail(source: StatusSource, ref: FunctionRef, state: Pick<ReplicaState, 'labels' | 'annotations' | 'desired' | 'ready'>): FunctionDetail {
  const replicas = replicasOf(source, ref);
  const crashLoop = crashLoopView(source.provider.crashLoop?.(ref) ?? null);
  const stats = source.dispatcher.stats(ref);
  const waiting = source.dispatcher.waiting(ref, WAITING_LISTED).map((w, index): WaitingView => ({ index, arrivedAt: new Date(w.arrivedAt).toISOString(), reason: w.reason }));
  return {
    status: functionStatus(state.desired, state.ready, crashLoop !== null),
    states: countStates(replicas),
    queueLength: stats.queued.no_replica + stats.queued.busy,
    ...asyncField(source, ref),
    queue: { noReplica: stats.queued.no_replica, busy: stats.queued.busy, oldestWaitMs: stats.oldestWaitMs, waiting },
    instances: replicas.map((r) => {
      const last = r.lastRequestStart === null && r.lastRequestEnd === null ? null : Math.max(r.lastRequestStart ?? 0, r.lastRequestEnd ?? 0);
      return { id: r.id, state: instanceState(r), inFlight: r.inFlight, createdAt: new Date(r.createdAt).toISOString(), lastRequestAt: iso(last), served: r.served };
    }),
    policy: policyView(state, source.specDefaults),
    crashLoop,
    lastCrash: lastCrashView(source.provider.lastCrash?.(ref) ?? null),
  };
}
