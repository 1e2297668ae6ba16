import { AlertSignals } from '../alerts/signals.js';
import { MemoryAlertStateStore } from '../alerts/state-store.js';
import { createScaler } from '../compose/scaler.js';
import { policyDefaults, requestDefaults as requestDefaultsOf } from '../config/defaults.js';
import { configSchema, type Config } from '../config/schema.js';
import { VirtualClock } from '../core/clock.js';
import { InvocationLog } from '../engine/activity.js';
import { createEngine } from '../engine/index.js';
import type { Slot } from '../engine/dispatcher.js';
import type { EngineEvent } from '../engine/events.js';
import { AppError, isAppError } from '../errors.js';
import { silentLogger } from '../log/logger.js';
import { createMetrics } from '../metrics/registry.js';
import { parseRequestLimits, parseScalingPolicy, type RequestLimits } from '../policy/labels.js';
import { MemoryProvider } from '../providers/memory/index.js';
import { functionLabel, type FunctionRef } from '../providers/types.js';
import { AlertPath, webhookAlert } from './alert-path.js';
import { sample } from './distribution.js';
import { Random } from './random.js';
import { FunctionCounters, type FunctionSummary } from './stats.js';
import { scheduleScaleCalls, type ScaleCall } from './scale-calls.js';
import type { SimStack } from './stack.js';
import { Timeline, type TimelinePoint } from './timeline.js';
import type { Arrival, Trace } from './trace.js';

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

/** Every function's listed replicas (any phase) at `t`, in stack order. */
export interface ReplicaSample {
  readonly t: number;
  readonly replicas: readonly number[];
}

/** A function's figures plus when the alert path reacted to its load. */
export interface FunctionResult extends FunctionSummary {
  /**
   * From the start of the first 10-second window whose calls exceed the alert threshold to
   * the first alert scale-up after it, ms; null when either never happened.
   */
  readonly reactionMs: number | null;
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

/** Window over which a function's calls are compared with the alert threshold for `reactionMs`. */
const OVERLOAD_WINDOW_MS = 10_000;

interface FunctionRun {
  readonly index: number;
  readonly ref: FunctionRef;
  readonly label: string;
  readonly wakeTimeoutMs: number;
  readonly limits: RequestLimits;
  readonly serviceRandom: Random;
  readonly counters: FunctionCounters;
  overloadWindow: number;
  overloadCount: number;
  overloadAt: number | null;
  reactionMs: number | null;
}

/** Lets every queued promise callback run; no virtual time passes. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The stack's functions on a MemoryProvider on `clock`, each at its min, starts sampled from its model. */
function stackProvider(stack: SimStack, clock: VirtualClock, root: Random, config: Config): MemoryProvider {
  const defaults = policyDefaults(config);
  return new MemoryProvider({
    clock,
    functions: stack.functions.map((fn, i) => {
      const startRandom = root.fork(20_000 + i);
      const policy = parseScalingPolicy(fn.labels, fn.annotations, defaults);
      return {
        name: fn.name,
        namespace: fn.namespace,
        labels: fn.labels,
        annotations: fn.annotations,
        replicas: policy.ok ? policy.policy.minReplicas : 0,
        model: { startMs: 0, stopMs: fn.stopMs, nextStartMs: () => sample(fn.start, startRandom) },
      };
    }),
  });
}

/** Work the run waits for before moving the clock: promises in flight and the first failure. */
class Pending {
  count = 0;
  failure: unknown;
  readonly track = (work: Promise<unknown>): void => {
    this.count += 1;
    work.then(
      () => (this.count -= 1),
      (err: unknown) => {
        this.count -= 1;
        this.failure ??= err;
      },
    );
  };
}

/**
 * Replays `trace` through the gateway's own engine and scalers (src/compose/scaler.ts, as
 * src/bootstrap.ts composes them) on a VirtualClock and a MemoryProvider built from the
 * stack: each call takes a slot from the dispatcher (or waits in its queue) and gives it back
 * after its service time; the modelled Prometheus and Alertmanager (src/sim/alert-path.ts)
 * deliver notifications to the gateway's webhook logic; waking, idling and every policy kind
 * run exactly as on the gateway. Time jumps from event to event. Same stack, trace, seed →
 * the same result. Throws TRACE_INVALID from the trace, CONFIG_INVALID for a scale call
 * naming no function of the stack.
 */
export async function simulate(options: RunOptions): Promise<RunResult> {
  const { stack, trace } = options;
  const config = options.config ?? configSchema.parse({});
  const requestDefaults: RequestLimits = requestDefaultsOf(config);
  const root = new Random(options.seed);
  const clock = new VirtualClock(0);
  const provider = stackProvider(stack, clock, root, config);
  const metrics = createMetrics();
  const signals = new AlertSignals(clock, config.firingStaleSeconds * 1000);
  const engine = createEngine({
    provider,
    clock,
    metrics,
    logger: silentLogger(),
    defaultNamespace: config.defaultNamespace,
    policyDefaults: policyDefaults(config),
    requestDefaults,
    eventLogSize: 1,
    drainTimeoutMs: config.drainTimeoutMs,
    shard: { count: 1, index: 0 },
    guard: signals,
  });
  const { dispatcher } = engine;
  const pending = new Pending();
  const { track } = pending;
  const invocations = new InvocationLog(() => clock.now(), 0);
  const scaler = createScaler(engine, {
    provider,
    logger: silentLogger(),
    metrics,
    defaultNamespace: config.defaultNamespace,
    tickMs: stack.policyTickMs,
    signals,
    store: new MemoryAlertStateStore(),
    timing: { cooldownMs: config.cooldownSeconds * 1000, firingStaleMs: config.firingStaleSeconds * 1000 },
    activity: invocations,
    idleRecheckMs: config.idlerIntervalSeconds * 1000,
    track,
  });
  engine.changer.onSettling((_ref, settled) => track(settled));

  const fns: FunctionRun[] = stack.functions.map((fn, index) => {
    const limits = parseRequestLimits(fn.labels, fn.annotations, requestDefaults);
    const policy = parseScalingPolicy(fn.labels, fn.annotations, policyDefaults(config));
    if (!limits.ok || !policy.ok) throw new Error(`function ${fn.name}: labels were not validated`);
    const ref = { name: fn.name, namespace: fn.namespace };
    return {
      index,
      ref,
      label: functionLabel(ref, config.defaultNamespace),
      wakeTimeoutMs: policy.policy.wakeTimeoutMs,
      limits: limits.limits,
      serviceRandom: root.fork(10_000 + index),
      counters: new FunctionCounters(),
      overloadWindow: 0,
      overloadCount: 0,
      overloadAt: null,
      reactionMs: null,
    };
  });
  const byLabel = new Map(fns.map((f) => [f.label, f]));
  const byKey = new Map(fns.map((f) => [`${f.ref.namespace}/${f.ref.name}`, f]));
  const rps = stack.functions.flatMap((fn, i) => {
    const spec = engine.policies.of(`${fn.namespace}/${fn.name}`, fn.labels, fn.annotations).spec;
    return spec.ok && spec.spec.kind === 'rps' ? [i] : [];
  });
  const scaleCalls = (options.scaleCalls ?? []).map((call) => {
    const f = fns.find((g) => g.ref.name === call.function);
    if (f === undefined) throw new AppError('CONFIG_INVALID', `scale call at ${call.atMs} ms: no function ${JSON.stringify(call.function)} in the stack`);
    return { atMs: call.atMs, ref: f.ref, replicas: call.replicas };
  });

  let traceDone = false;
  let traceEndMs = 0;
  const endMs = (): number => options.durationMs ?? trace.knownEndMs ?? (traceDone ? traceEndMs : Number.POSITIVE_INFINITY);
  let outstanding = 0;

  const events: EngineEvent[] = [];
  engine.events.addSink((event) => {
    if (options.keepEvents) events.push(event);
    const f = byLabel.get(event.function);
    if (f === undefined || event.action !== 'scale_up') return;
    // A start from zero, whoever asked for it (the waker, the policy, the scale API).
    if (event.from === 0) f.counters.coldStarts += 1;
    if (event.source === 'alert' && f.reactionMs === null && f.overloadAt !== null && event.time >= f.overloadAt) f.reactionMs = event.time - f.overloadAt;
  });
  // After the dispatcher's own listener (subscribed first): its table is current, and counted.
  provider.subscribe((ref) => {
    const f = byKey.get(`${ref.namespace}/${ref.name}`);
    if (f !== undefined) f.counters.setReplicas(dispatcher.replicaCount(ref), clock.now(), endMs());
  });

  const alertPath = new AlertPath({
    model: stack.alerting,
    clock,
    functions: rps,
    names: fns.map((f) => f.label),
    endMs,
    // Alertmanager's notification reaches the gateway's own webhook logic.
    deliver: (index, signal) => track(scaler.alerts.applyAll([webhookAlert(fns[index]?.label ?? '', signal)])),
  });

  function begin(f: FunctionRun, slot: Slot, arrivedAt: number, serviceMs: number, end: () => void): void {
    const waited = slot.waitedMs ?? 0;
    const grantedAt = arrivedAt + waited;
    f.counters.waits.push(waited);
    outstanding += 1;
    if (serviceMs >= f.limits.requestTimeoutMs) {
      // The dispatcher's own timer frees the slot and aborts the call at the timeout.
      f.counters.timedOut += 1;
      clock.setTimeout(() => {
        outstanding -= 1;
        end();
      }, grantedAt + f.limits.requestTimeoutMs - clock.now());
      return;
    }
    clock.setTimeout(() => {
      slot.release();
      outstanding -= 1;
      f.counters.served += 1;
      f.counters.latencies.push(waited + serviceMs);
      end();
      alertPath.served(f.index);
    }, grantedAt + serviceMs - clock.now());
  }

  function overload(f: FunctionRun, now: number): void {
    const window = Math.floor(now / OVERLOAD_WINDOW_MS);
    if (window !== f.overloadWindow) {
      f.overloadWindow = window;
      f.overloadCount = 0;
    }
    f.overloadCount += 1;
    if (f.overloadAt === null && f.overloadCount > (stack.alerting.threshold * OVERLOAD_WINDOW_MS) / 1000) f.overloadAt = window * OVERLOAD_WINDOW_MS;
  }

  const timeline = new Timeline(
    clock,
    () => {
      let starting = 0;
      let ready = 0;
      let draining = 0;
      let stopping = 0;
      let queued = 0;
      for (const f of fns) {
        const waiting = dispatcher.queued(f.ref);
        queued += waiting.busy + waiting.no_replica;
        const counts = dispatcher.replicaCounts(f.ref);
        stopping += counts.stopping;
        draining += counts.draining;
        ready += counts.free + counts.busy;
        starting += counts.starting;
      }
      return { starting, ready, draining, stopping, queued };
    },
    endMs,
  );

  function arrive(a: Arrival): void {
    const f = fns[a.fn] as FunctionRun;
    const now = clock.now();
    f.counters.requests += 1;
    timeline.arrival();
    overload(f, now);
    // The gateway's record of the call, from its arrival to its end (the idle deadlines read it).
    const end = invocations.begin(f.ref);
    const serviceMs = a.serviceMs ?? sample(stack.functions[a.fn]?.service ?? { kind: 'fixed', ms: 0 }, f.serviceRandom);
    const slot = dispatcher.tryAcquire(f.ref);
    if (slot !== null) {
      begin(f, slot, now, serviceMs, end);
      return;
    }
    outstanding += 1;
    track(
      dispatcher.acquire(f.ref, { maxWaitMs: f.wakeTimeoutMs }).then(
        (queuedSlot) => {
          outstanding -= 1;
          f.counters.queued += 1;
          begin(f, queuedSlot, now, serviceMs, end);
        },
        (err: unknown) => {
          outstanding -= 1;
          end();
          if (isAppError(err, 'QUEUE_FULL')) f.counters.refused += 1;
          else if (isAppError(err, 'QUEUE_TIMEOUT')) {
            f.counters.queued += 1;
            f.counters.timedOut += 1;
          } else throw err;
        },
      ),
    );
  }

  const samples: ReplicaSample[] = [];
  function sampleReplicas(everyMs: number): void {
    samples.push({ t: clock.now(), replicas: fns.map((f) => dispatcher.replicaCount(f.ref)) });
    if (clock.now() + everyMs <= endMs()) clock.setTimeout(() => sampleReplicas(everyMs), everyMs);
  }

  await provider.start();
  for (const f of fns) await dispatcher.track(f.ref);
  for (const f of fns) f.counters.setReplicas(dispatcher.replicaCount(f.ref), 0, endMs());
  alertPath.start();
  timeline.start();
  await scaler.start();
  scheduleScaleCalls({ calls: scaleCalls, clock, changer: engine.changer, track });
  if (options.sampleEveryMs !== undefined) sampleReplicas(options.sampleEveryMs);

  // Arrivals are taken from the trace's batches by this loop, not set as timers: the clock's
  // heap holds only the engine's own timers and the calls in service.
  const batches = trace.batches(options.durationMs);
  let batch: readonly Arrival[] = [];
  let next = 0;
  const refill = async (): Promise<void> => {
    const read = await batches.next();
    if (read.done === true) {
      traceDone = true;
      traceEndMs = read.value;
      return;
    }
    batch = read.value;
    next = 0;
  };

  for (;;) {
    if (next >= batch.length && !traceDone) {
      await refill();
      continue;
    }
    if (pending.failure !== undefined) throw pending.failure;
    const due = clock.nextDue();
    const arrival = batch[next];
    // A timer due at the same instant as an arrival runs first (a call ending frees its slot).
    if (arrival !== undefined && (due === null || arrival.timeMs < due)) {
      next += 1;
      clock.advance(arrival.timeMs - clock.now());
      arrive(arrival);
    } else {
      if (due === null) break;
      if (traceDone && due > endMs() && outstanding === 0 && pending.count === 0) break;
      clock.advance(due - clock.now());
    }
    if (pending.count > 0) await flush();
  }
  await flush();
  await scaler.stop();
  engine.close();
  if (pending.failure !== undefined) throw pending.failure;
  const end = Number.isFinite(endMs()) ? endMs() : clock.now();
  return {
    stack: stack.path,
    alerting: stack.alerting.name,
    trace: trace.description,
    notes: trace.notes,
    seed: options.seed,
    endMs: end,
    functions: fns.map((f) => ({ ...f.counters.summary(f.label, end), reactionMs: f.reactionMs })),
    events,
    timeline: timeline.result(),
    samples,
  };
}
