import type { Clock } from '../core/clock.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { KeyedMutex } from '../scaling/keyed-mutex.js';
import type { ChangeOutcome } from './changer.js';
import type { Dispatcher } from './dispatcher.js';
import { isLeaving, type Drainer } from './drain.js';
import type { EventLog, EventSource } from './events.js';

export interface ChosenRemovalOptions {
  readonly provider: ReplicaProvider;
  readonly dispatcher: Dispatcher;
  readonly drainer: Drainer;
  readonly clock: Clock;
  readonly events: EventLog;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly defaultNamespace: string;
}

/**
 * A scale-down of exactly the replicas a policy chose (idle removal is per replica), which
 * `Changer.change` cannot do: it picks its own victims. Same record and drain as the
 * changer: the decision is an event, each replica's drain and removal too, and a replica
 * taken back by a scale-up during its drain stays.
 *
 * Not under the changer's per-function lock (it is private): a change running at the same
 * time sees these replicas as draining and does not count them, and a scale-up takes them
 * back first, so the two stay consistent; the lead may fold this into the changer
 * (`Decision.remove`) later.
 */
export class ChosenRemoval {
  private readonly mutex = new KeyedMutex();

  constructor(private readonly options: ChosenRemovalOptions) {}

  /**
   * Drains and removes `ids` (those still ready, not leaving and idle; the others are left
   * alone). Resolves once the decision is recorded; `settled` once the removal is done.
   */
  remove(ref: FunctionRef, source: EventSource, ids: readonly string[], reason: string, inputs: Readonly<Record<string, unknown>>): Promise<ChangeOutcome> {
    return this.mutex.run(refKey(ref), async () => {
      const { provider, dispatcher, drainer } = this.options;
      const state = await provider.getReplicas(ref);
      const replicas = dispatcher.replicas(ref);
      const wanted = new Set(ids);
      const victims = replicas.filter((r) => wanted.has(r.id) && !isLeaving(r) && r.phase === 'ready' && r.inFlight === 0).map((r) => r.id);
      const from = Math.max(0, state.desired - replicas.filter((r) => r.draining).length);
      const to = Math.max(0, from - victims.length);
      if (victims.length === 0) {
        this.record(ref, source, 'unchanged', from, from, reason, { ...inputs, remove: [] });
        return { from, to: from, reason, changed: false, settled: Promise.resolve() };
      }
      this.record(ref, source, 'scale_down', from, to, reason, { ...inputs, remove: victims });
      for (const id of victims) this.record(ref, source, 'drain_start', from, to, reason, {}, id);
      const settled = drainer
        .drain(ref, victims)
        .then(async (outcomes) => {
          const gone = [...outcomes].filter(([, o]) => o === 'drained' || o === 'drain-timeout');
          if (gone.length === 0) return;
          await this.mutex.run(refKey(ref), () => provider.removeReplicas(ref, gone.map(([id]) => id)));
          for (const [id, outcome] of gone) this.record(ref, source, 'scale_down_complete', from, to, outcome, {}, id);
        })
        .catch((err: unknown) => {
          this.options.logger.error('drain failed', { function: this.label(ref), error: err instanceof Error ? err.message : String(err) });
          this.record(ref, source, 'scale_failed', from, to, err instanceof AppError ? err.code : 'error', {});
        });
      this.options.metrics.scaleChanges.inc({ function_name: this.label(ref), reason, source });
      this.options.logger.info('scale applied', { function: this.label(ref), from, to, reason, source, replicas: victims });
      return { from, to, reason, changed: true, settled };
    });
  }

  private record(ref: FunctionRef, source: EventSource, action: 'scale_down' | 'unchanged' | 'drain_start' | 'scale_down_complete' | 'scale_failed', from: number, to: number, reason: string, inputs: Readonly<Record<string, unknown>>, replica?: string): void {
    const base = { time: this.options.clock.now(), function: this.label(ref), source, action, from, to, reason, inputs };
    this.options.events.record(replica === undefined ? base : { ...base, replica });
  }

  private label(ref: FunctionRef): string {
    return functionLabel(ref, this.options.defaultNamespace);
  }
}
