import type { Clock } from '../core/clock.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { PolicyDefaults, RequestLimits } from '../policy/labels.js';
import { functionLabel, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import type { ScaleDownGuard } from '../policy/cycle.js';
import { Changer } from './changer.js';
import { Dispatcher } from './dispatcher.js';
import { Drainer } from './drain.js';
import { EventLog } from './events.js';
import { PolicyCache } from './policies.js';
import type { GatewayShard } from './replicas.js';

/** What the engine needs from the composition root. */
export interface EngineOptions {
  readonly provider: ReplicaProvider;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  /** Scale policy of a function without labels. */
  readonly policyDefaults: PolicyDefaults;
  /** Request limits of a function without labels. */
  readonly requestDefaults: RequestLimits;
  /** Events kept in the in-memory log. */
  readonly eventLogSize: number;
  /** Longest wait for a drained replica's in-flight requests before it is removed anyway, ms. */
  readonly drainTimeoutMs: number;
  /** This gateway among several sharing each replica's hard limit. */
  readonly shard: GatewayShard;
  /** Holds on scale-downs (alerts labelled `scale_action="hold"`); none when absent. */
  readonly guard?: ScaleDownGuard;
  /** Whether this gateway owns a function: the fence of the owner's writes (see ChangerOptions.owns); always when absent. */
  readonly owns?: (ref: FunctionRef) => boolean;
}

/** The engine's parts, built once per process (and once per simulated run). */
export interface Engine {
  readonly clock: Clock;
  readonly events: EventLog;
  readonly dispatcher: Dispatcher;
  readonly drainer: Drainer;
  readonly changer: Changer;
  /** Every function's labels parsed once per change (the change cycle and the scalers read it). */
  readonly policies: PolicyCache;
  /** Sets what runs when a request waits for a function that wants 0 replicas (the wake). */
  onNeedReplica(handler: (ref: FunctionRef) => void): void;
  /** Stops listening to the provider; waiting requests fail with SHUTTING_DOWN. */
  close(): void;
}

/** Records each replica crash as the provider reports it (the engine did not ask for it); returns the unsubscribe, if it reports crashes. */
function recordCrashes(provider: ReplicaProvider, events: EventLog, clock: Clock, defaultNamespace: string): (() => void) | undefined {
  return provider.onCrash?.((ref, crash, loop) => {
    events.record({
      time: clock.now(),
      function: functionLabel(ref, defaultNamespace),
      source: 'provider',
      action: 'replica_crashed',
      from: 0,
      to: 0,
      reason: crash.reason,
      inputs: {
        code: crash.code,
        signal: crash.signal,
        crashes: loop.crashes,
        restartInMs: loop.nextRetryAt === null ? null : Math.max(0, loop.nextRetryAt - crash.at),
        error: crash.message,
      },
      replica: crash.replica,
    });
  });
}

/** Builds the dispatcher, drainer, change cycle and event log on one clock and one provider. */
export function createEngine(options: EngineOptions): Engine {
  const { provider, clock, metrics, logger } = options;
  const log = logger.child({ component: 'engine' });
  const events = new EventLog(options.eventLogSize, (err, event) => {
    log.warn('event sink failed', { action: event.action, function: event.function, error: err instanceof Error ? err.message : String(err) });
  });
  let needReplica: (ref: FunctionRef) => void = () => undefined;
  const dispatcher = new Dispatcher({
    provider,
    clock,
    metrics,
    defaultNamespace: options.defaultNamespace,
    defaults: options.requestDefaults,
    shard: options.shard,
    onNeedReplica: (ref) => needReplica(ref),
  });
  const offCrash = recordCrashes(provider, events, clock, options.defaultNamespace);
  const policies = new PolicyCache(options.policyDefaults);
  const drainer = new Drainer({ dispatcher, provider, clock, drainTimeoutMs: options.drainTimeoutMs });
  const changer = new Changer({
    provider,
    dispatcher,
    drainer,
    clock,
    events,
    logger: logger.child({ component: 'scaler' }),
    metrics,
    defaults: options.policyDefaults,
    defaultNamespace: options.defaultNamespace,
    policies,
    ...(options.guard === undefined ? {} : { guard: options.guard }),
    ...(options.owns === undefined ? {} : { owns: options.owns }),
  });
  return {
    clock,
    events,
    dispatcher,
    drainer,
    changer,
    policies,
    onNeedReplica(handler) {
      needReplica = handler;
    },
    close() {
      offCrash?.();
      changer.close();
      dispatcher.close();
    },
  };
}
