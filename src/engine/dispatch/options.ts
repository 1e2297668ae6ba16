import type { Clock } from '../../core/clock.js';
import type { Metrics } from '../../metrics/registry.js';
import type { RequestLimits } from '../../policy/labels.js';
import type { FunctionRef, ReplicaProvider } from '../../providers/types.js';
import type { GatewayShard } from '../replicas.js';

/** What a Dispatcher is built from. */
export interface DispatcherOptions {
  readonly provider: ReplicaProvider;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly defaultNamespace: string;
  /** Limits of a function without the labels (config). */
  readonly defaults: RequestLimits;
  /** This gateway among several sharing each replica's hard limit; a single gateway when absent. */
  readonly shard?: GatewayShard;
  /**
   * Called when a request queues with `no_replica` and the function wants 0 replicas (as
   * last reported: `track` a function before its first request); once per burst, again only
   * after the function wanted replicas or its queue emptied, and again when the function is
   * scaled to 0 while requests wait for it. A wake that fails calls `wakeFailed`.
   */
  readonly onNeedReplica?: (ref: FunctionRef) => void;
  /** How long a `suspect` replica stays out of rotation at most, ms; SUSPECT_MS when absent. */
  readonly suspectMs?: number;
}

/** A suspect replica stays out of rotation this long at most, ms, unless the provider reports it back first. */
export const SUSPECT_MS = 1000;
