import { configSchema, type Config } from '../config/schema.js';
import type { EngineEvent } from '../engine/events.js';
import { AlertPath, webhookAlert } from './alert-path.js';
import { AsyncReplay, type AsyncSummary } from './async-replay.js';
import { TraceFeed } from './feed.js';
import { functionRuns, resolveScaleCalls, rpsFunctions, type FunctionRun } from './functions.js';
import { composeSimGateway, type SimGateway } from './gateway.js';
import { fleetState, observeRun, sampleReplicas, type ReplicaSample } from './observe.js';
import { flush } from './pending.js';
import { Replay, replayToEnd } from './replay.js';
import type { FunctionSummary } from './stats.js';
import { scheduleScaleCalls, type ScaleCall } from './scale-calls.js';
import type { SimStack } from './stack.js';
import { Timeline, type TimelinePoint } from './timeline.js';
import type { Trace } from './trace.js';

export type { ReplicaSample } from './observe.js';

export interface RunOptions {
  readonly stack: SimStack;
  readonly trace: Trace;
  readonly seed: number;
  /** Length of the run, ms; the trace's own end when null. */
  readonly durationMs: number | null;
  /** Keep every engine event in the result (for `--out`); else they are only counted. */
  readonly keepEvents: boolean;
  /** The gateway's configuration; its schema defaults when absent. */
  readonly config?: Config;
  /** Calls of the manual scale API at fixed times (none when absent). */
  readonly scaleCalls?: readonly ScaleCall[];
  /** Also sample every function's listed replicas this often, ms (`RunResult.samples`); not when absent. */
  readonly sampleEveryMs?: number;
}

/** A function's figures plus when the alert path reacted to its load. */
export interface FunctionResult extends FunctionSummary {
  /**
   * From the start of the first 10-second window whose calls exceed the alert threshold to
   * the first alert scale-up after it, ms; null when either never happened.
   */
  readonly reactionMs: number | null;
  /** Firing notifications delivered to it (0 for a function off the alert path). */
  readonly alertsFired: number;
  /** True when its calls passed the rule's threshold in some 10-second window. */
  readonly overloaded: boolean;
  /** True when the alert path watches it (an alert-driven kind). */
  readonly onAlertPath: boolean;
  /** Its async calls; absent when the trace has none for it. */
  readonly async?: AsyncSummary;
}

export interface RunResult {
  readonly stack: string;
  readonly alerting: string;
  readonly trace: string;
  readonly notes: readonly string[];
  readonly seed: number;
  readonly endMs: number;
  readonly functions: readonly FunctionResult[];
  readonly events: readonly EngineEvent[];
  readonly timeline: readonly TimelinePoint[];
  /** Replica counts every `sampleEveryMs` from 0 to the end; empty when not asked for. */
  readonly samples: readonly ReplicaSample[];
}

/**
 * Replays `trace` through the gateway's own engine and scalers (src/compose/scaler.ts, as
 * src/compose/gateway.ts composes them) on a VirtualClock and a MemoryProvider built from the
 * stack: each call takes a slot from the dispatcher (or waits in its queue) and gives it back
 * after its service time; the modelled Prometheus and Alertmanager (src/sim/alert-path.ts)
 * deliver notifications to the gateway's webhook logic; waking, idling and every policy kind
 * run exactly as on the gateway; async calls are stored and delivered by the async pool
 * (src/sim/async-replay.ts), their backlog read by the scalers. Time jumps from event to event. Same stack, trace, seed →
 * the same result. Throws TRACE_INVALID from the trace, CONFIG_INVALID for a scale call
 * naming no function of the stack.
 */
export async function simulate(options: RunOptions): Promise<RunResult> {
  const { stack, trace } = options;
  const config = options.config ?? configSchema.parse({});
  // The scalers read the async replay's backlog; it is built on the gateway they are part of.
  const stored: { replay?: AsyncReplay } = {};
  const gw = composeSimGateway(stack, config, options.seed, (ref) => stored.replay?.waiting(ref) ?? 0);
  const fns = functionRuns(stack, config, gw.root);
  const asyncReplay = (stored.replay = new AsyncReplay({ gw, stack, fns, config }));
  const rps = rpsFunctions(stack, gw.engine);
  const scaleCalls = resolveScaleCalls(options.scaleCalls ?? [], fns);
  const feed = new TraceFeed(trace, options.durationMs);
  const events = observeRun(gw, fns, feed.endMs, options.keepEvents);
  const alertPath = deliveringAlertPath(stack, gw, fns, rps, feed.endMs);
  const timeline = new Timeline(gw.clock, () => fleetState(gw.engine.dispatcher, fns), feed.endMs);
  const replay = new Replay({ gw, stack, fns, alertPath, timeline, async: asyncReplay });
  const samples: ReplicaSample[] = [];

  await gw.provider.start();
  for (const f of fns) await gw.engine.dispatcher.track(f.ref);
  for (const f of fns) f.counters.setReplicas(gw.engine.dispatcher.replicaCount(f.ref), 0, feed.endMs());
  alertPath.start();
  timeline.start();
  await gw.scaler.start();
  scheduleScaleCalls({ calls: scaleCalls, clock: gw.clock, changer: gw.engine.changer, track: gw.pending.track });
  if (options.sampleEveryMs !== undefined) sampleReplicas(gw, fns, options.sampleEveryMs, feed.endMs, samples);

  await replayToEnd(gw, feed, replay);
  await stopRun(gw);
  const end = Number.isFinite(feed.endMs()) ? feed.endMs() : gw.clock.now();
  return {
    stack: stack.path,
    alerting: stack.alerting.name,
    trace: trace.description,
    notes: trace.notes,
    seed: options.seed,
    endMs: end,
    functions: fns.map((f) => ({ ...f.counters.summary(f.label, end), reactionMs: f.reactionMs, alertsFired: f.alertsFired, overloaded: f.overloadAt !== null, onAlertPath: rps.includes(f.index), ...asyncOf(asyncReplay, f.index) })),
    events,
    timeline: timeline.result(),
    samples,
  };
}

/** `{ async }` for a function with async calls in the trace, else nothing (a sync-only report is unchanged). */
function asyncOf(replay: AsyncReplay, index: number): { async?: AsyncSummary } {
  const counters = replay.counters[index];
  return counters === undefined || counters.accepted === 0 ? {} : { async: counters.summary() };
}

/** The modelled Prometheus and Alertmanager watching the `rps` functions; a notification reaches the gateway's own webhook logic. */
function deliveringAlertPath(stack: SimStack, gw: SimGateway, fns: readonly FunctionRun[], rps: readonly number[], endMs: () => number): AlertPath {
  return new AlertPath({
    model: stack.alerting,
    clock: gw.clock,
    functions: rps,
    names: fns.map((f) => f.label),
    waiting: (index) => {
      const f = fns[index];
      return f === undefined ? 0 : gw.engine.dispatcher.queued(f.ref).busy;
    },
    endMs,
    deliver: (index, signal) => {
      const f = fns[index];
      if (f !== undefined && signal.status === 'firing') f.alertsFired += 1;
      gw.pending.track(gw.scaler.alerts.applyAll([webhookAlert(f?.label ?? '', signal)]));
    },
  });
}

/** Lets the last callbacks run, stops the scalers and the engine; throws the first failure of tracked work. */
async function stopRun(gw: SimGateway): Promise<void> {
  await flush();
  await gw.scaler.stop();
  gw.engine.close();
  if (gw.pending.failure !== undefined) throw gw.pending.failure;
}
