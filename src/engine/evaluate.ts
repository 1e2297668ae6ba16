import type { Clock } from '../core/clock.js';
import { decide, type PolicyInput, type PolicyMemory, type PolicySpec, type QueueLengths } from '../policy/index.js';
import { holdAfterTakeover, type Takeover } from '../policy/takeover.js';
import type { FunctionRef } from '../core/ref.js';
import type { Changer } from './changer.js';
import type { Dispatcher } from './dispatcher.js';
import type { ReplicaView } from './replicas.js';
import { queuedWithRemote, replicasWithRemote, type RemoteSignals } from './signals.js';

/** What one evaluation decided: the count before and after, and the reason word. */
export interface Evaluation {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  /** False when nothing changed, or in a dry run. */
  readonly changed: boolean;
}

/** Where a policy evaluation reads its inputs and applies its decision. */
export interface EvaluateContext {
  readonly dispatcher: Dispatcher;
  readonly changer: Changer;
  readonly clock: Clock;
  /** A queue the gateway cannot see (a firing alert's `value`), added to `queue` kinds' busy queue. */
  readonly externalQueue?: (ref: FunctionRef) => number | null | Promise<number | null>;
  /** The other gateways' load, added to this gateway's view (several gateways, Prometheus). */
  readonly remote?: RemoteSignals;
  /** Stored asynchronous calls not yet in delivery (src/async): waiting requests for `queue` and `concurrency` kinds. */
  readonly asyncBacklog?: (ref: FunctionRef) => number;
}

/** An evaluation's outcome, the memory to keep, and whether the function is quiet. */
export interface EvaluationResult {
  readonly evaluation: Evaluation;
  readonly memory: PolicyMemory;
  /**
   * Nothing will change without a new input: no request present here or elsewhere, and the
   * policy decides the same count far in the future on the same state (no window, delay or
   * idle time still running). A quiet function is not looked at again until an event.
   */
  readonly quiet: boolean;
}

/** The takeover guard of an evaluation: until when a scale-down is held, and whether to record that it was. */
export interface TakeoverGate extends Takeover {
  /** True to record the hold as an event (the first time in a takeover). */
  readonly record: boolean;
}

/** Far enough ahead that every window, delay and idle time of a policy has run out (30 days). */
export const QUIET_HORIZON_MS = 30 * 24 * 3_600_000;

/**
 * Runs one function's policy: reads the dispatcher's replica table and queue (plus the
 * external and remote load), decides with the pure switch, and applies a change through
 * the change cycle (source `policy`), deciding again under its lock on the state it read.
 * A per-replica removal names exactly the replicas that go.
 */
export async function evaluatePolicy(ctx: EvaluateContext, ref: FunctionRef, label: string, spec: PolicySpec, providerDesired: number, memory: PolicyMemory, takeover: TakeoverGate | null = null): Promise<EvaluationResult> {
  const { dispatcher, changer, clock } = ctx;
  // Read first (it may read the stored alert state): the replica table below is then current.
  const external = spec.kind === 'queue' ? ((await ctx.externalQueue?.(ref)) ?? null) : null;
  const stats = dispatcher.stats(ref);
  const leaving = stats.replicas.filter((r) => r.draining).length;
  const desired = Math.max(0, providerDesired - leaving);
  // At zero with requests held here the waker has it (raised with the first one): deciding too
  // would race the wake and log an `unchanged` policy event beside it.
  if (desired === 0 && stats.queued.no_replica > 0) return { evaluation: { from: 0, to: 0, reason: 'waking', changed: false }, memory, quiet: false };
  const remote = ctx.remote?.load(label) ?? null;
  const backlog = spec.kind === 'queue' || spec.kind === 'concurrency' ? (ctx.asyncBacklog?.(ref) ?? 0) : 0;
  const hidden = (external ?? 0) + backlog;
  const local: QueueLengths = hidden === 0 ? stats.queued : { ...stats.queued, busy: stats.queued.busy + hidden };
  const queued = queuedWithRemote(local, remote);
  const extra: Record<string, number> = {
    ...(external === null ? {} : { alertQueue: external }),
    ...(backlog === 0 ? {} : { asyncBacklog: backlog }),
    ...(remote === null ? {} : { remoteInFlight: remote.present, remoteQueued: remote.queued.busy + remote.queued.no_replica }),
  };
  const withExtra = <D extends { readonly inputs: Readonly<Record<string, unknown>> }>(decision: D): D =>
    Object.keys(extra).length === 0 ? decision : { ...decision, inputs: { ...decision.inputs, ...extra } };
  // Local and remote requests held, integrated over time (the `concurrency` kind's average).
  const observed = () => {
    const own = dispatcher.concurrencyIntegral(ref);
    return { sum: own.sum + (ctx.remote?.integral(label, own.at) ?? 0), at: own.at };
  };
  const replicasOf = (rows: readonly ReplicaView[]) => replicasWithRemote(rows, remote);
  const input: PolicyInput = { replicas: replicasOf(stats.replicas), queued, desired, now: clock.now(), observed: observed() };
  // A new decider lowers nothing for one window (src/policy/takeover.ts); quiet is judged without it.
  const decideHeld = (at: PolicyInput) => {
    const raw = decide(spec, at, memory);
    return { ...raw, decision: holdAfterTakeover(raw.decision, spec, at.desired, at.now, takeover) };
  };
  const out = decideHeld(input);
  const remove = out.decision.remove ?? [];
  if (remove.length > 0) {
    // Exactly the replicas the policy chose; the cycle drops any that took a request meanwhile.
    const done = await changer.change(ref, 'policy', () => withExtra(out.decision));
    return { evaluation: { from: done.from, to: done.to, reason: done.reason, changed: done.changed }, memory: out.memory, quiet: false };
  }
  if (out.decision.replicas !== desired) {
    // Decide again under the changer's lock, on the state it read; keep that memory.
    let kept = out.memory;
    const done = await changer.change(ref, 'policy', ({ state, now }) => {
      const again = decideHeld({ replicas: replicasOf(state.replicas), queued, desired: state.desired, now, observed: observed() });
      kept = again.memory;
      return withExtra(again.decision);
    });
    return { evaluation: { from: done.from, to: done.to, reason: done.reason, changed: done.changed }, memory: kept, quiet: false };
  }
  // Recorded once per takeover (an `unchanged` event with reason `takeover-hold`), so events show why.
  if (out.decision.reason === 'takeover-hold' && takeover?.record === true) await changer.change(ref, 'policy', ({ state }) => withExtra({ ...out.decision, replicas: state.desired }));
  const quiet = isQuiet(spec, input, out.memory, remote === null ? 0 : remote.present);
  return { evaluation: { from: desired, to: desired, reason: out.decision.reason, changed: false }, memory: out.memory, quiet };
}

/**
 * True when no request is present (here or at another gateway) and the policy, asked again
 * QUIET_HORIZON_MS later on the same state with nothing observed meanwhile, keeps the count:
 * then only an event (a request, a replica change, an alert, an edit) can change it.
 */
function isQuiet(spec: PolicySpec, input: PolicyInput, memory: PolicyMemory, remotePresent: number): boolean {
  if (remotePresent > 0 || input.queued.busy + input.queued.no_replica > 0) return false;
  if (input.replicas.some((r) => r.inFlight > 0 || r.phase === 'starting')) return false;
  const later = input.now + QUIET_HORIZON_MS;
  const observed = input.observed === undefined ? undefined : { sum: input.observed.sum, at: input.observed.at + QUIET_HORIZON_MS };
  const probe = decide(spec, { ...input, now: later, ...(observed === undefined ? {} : { observed }) }, memory);
  return probe.decision.replicas === input.desired && (probe.decision.remove ?? []).length === 0;
}
