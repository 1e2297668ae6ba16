import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { parseScalingPolicy, type PolicyDefaults, type PolicyResult } from '../policy/labels.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaProvider, type ReplicaState } from '../providers/types.js';
import { KeyedMutex } from './keyed-mutex.js';

/** Who asked for a replica change; a metric label. */
export type ChangeSource = 'alert' | 'manual' | 'idler' | 'waker';

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
 * The one place replica counts change. Every change for a function runs under that
 * function's lock (no lost updates between alerts, manual scaling, the idler and the waker),
 * is logged once (`scale applied`) and counted in alert_scaler_scale_changes_total.
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
      /** Called after each applied change (a Kubernetes Event); its failure is logged, not raised. */
      onScaled?: ((ref: FunctionRef, from: number, to: number, message: string) => Promise<void>) | undefined;
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

  /** Runs `task` under the function's lock. */
  locked<T>(ref: FunctionRef, task: () => Promise<T>): Promise<T> {
    return this.mutex.run(refKey(ref), task);
  }

  /**
   * Applies a planned count (inside a `locked` task): sets replicas when they differ, logs and
   * counts the change. Provider errors propagate.
   */
  async apply(ref: FunctionRef, from: number, plan: ChangePlan, source: ChangeSource, extra: Record<string, unknown> = {}): Promise<ChangeResult> {
    if (plan.replicas === from) return { from, to: from, reason: plan.reason, changed: false };
    const started = performance.now();
    await this.provider.setReplicas(ref, plan.replicas);
    const fn = this.label(ref);
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
    if (this.deps.onScaled !== undefined) {
      const detail = typeof extra['alertname'] === 'string' ? ` (alert ${extra['alertname']})` : '';
      const message = `Scaled from ${from} to ${plan.replicas}: ${plan.reason} by ${source}${detail}`;
      await this.deps.onScaled(ref, from, plan.replicas, message).catch((err: unknown) => {
        this.deps.logger.warn('scale event not recorded', { function: fn, error: (err as Error).message });
      });
    }
    return { from, to: plan.replicas, reason: plan.reason, changed: true };
  }
}
