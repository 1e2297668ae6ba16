import type { Engine } from '../engine/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { parseScalingPolicy, type PolicyDefaults, type PolicyResult } from '../policy/labels.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaProvider, type ReplicaState } from '../providers/types.js';
import { KeyedMutex } from './keyed-mutex.js';

/** Who asked for a replica change through `apply`; only the waker still does. */
export type ChangeSource = 'waker';

/** What a change function decides: the new count and why. */
export interface ChangePlan {
  readonly replicas: number;
  readonly reason: string;
}

/** Result of one serialized change. */
export interface ChangeResult {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  readonly changed: boolean;
}

/**
 * What is left of the old change path, for the waker until it moves onto the engine's
 * change cycle (`engine.changer.change`), which the alert handler, the idler and the scale
 * API use. With an engine, `locked` is the change cycle's own lock (a wake never interleaves
 * with another change) and an applied change is recorded in the engine's event log (so it
 * shows in /system/events and becomes a Kubernetes Event), logged once (`scale applied`)
 * and counted once in alert_scaler_scale_changes_total.
 */
export class Scaler {
  private readonly mutex = new KeyedMutex();

  constructor(
    readonly provider: ReplicaProvider,
    private readonly deps: {
      logger: Logger;
      metrics: Metrics;
      defaults: PolicyDefaults;
      defaultNamespace: string;
      /** The engine whose lock and event log changes share; absent in isolated tests. */
      engine?: Pick<Engine, 'changer' | 'events' | 'clock'> | undefined;
    },
  ) {}

  /** Policy of a function from its labels and annotations. */
  policyOf(state: ReplicaState): PolicyResult {
    return parseScalingPolicy(state.labels, state.annotations, this.deps.defaults);
  }

  /** `function_name` label value for a ref. */
  label(ref: FunctionRef): string {
    return functionLabel(ref, this.deps.defaultNamespace);
  }

  /** Runs `task` under the function's change lock (the engine's when there is one). */
  locked<T>(ref: FunctionRef, task: () => Promise<T>): Promise<T> {
    const engine = this.deps.engine;
    return engine === undefined ? this.mutex.run(refKey(ref), task) : engine.changer.locked(ref, task);
  }

  /**
   * Applies a planned count (inside a `locked` task): sets replicas when they differ, records,
   * logs and counts the change. Provider errors propagate.
   */
  async apply(ref: FunctionRef, from: number, plan: ChangePlan, source: ChangeSource, extra: Record<string, unknown> = {}): Promise<ChangeResult> {
    if (plan.replicas === from) return { from, to: from, reason: plan.reason, changed: false };
    const started = performance.now();
    await this.provider.setReplicas(ref, plan.replicas);
    const fn = this.label(ref);
    const engine = this.deps.engine;
    engine?.events.record({
      time: engine.clock.now(),
      function: fn,
      source,
      action: plan.replicas > from ? 'scale_up' : 'scale_down',
      from,
      to: plan.replicas,
      reason: plan.reason,
      inputs: {},
    });
    this.deps.metrics.scaleChanges.inc({ function_name: fn, reason: plan.reason, source });
    this.deps.logger.info('scale applied', {
      function: fn,
      from,
      to: plan.replicas,
      reason: plan.reason,
      source,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      ...extra,
    });
    return { from, to: plan.replicas, reason: plan.reason, changed: true };
  }
}
