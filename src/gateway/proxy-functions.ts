import type { Dispatcher } from '../engine/dispatcher.js';
import type { Metrics } from '../metrics/registry.js';
import { functionLabel, parseFunctionRef } from '../providers/types.js';
import { FunctionMetrics } from './function-metrics.js';
import type { KnownFunction } from './proxy-call.js';

/**
 * The functions the proxy has served, by name as requested: each is looked up (tracked in the
 * dispatcher) once, then read from a map. Bounded by the functions ever served.
 */
export class KnownFunctions {
  private readonly known = new Map<string, KnownFunction>();
  /** Lookups of functions not yet known, so a burst of first calls reads the provider once. */
  private readonly lookups = new Map<string, Promise<KnownFunction>>();

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly metrics: Metrics,
    private readonly defaultNamespace: string,
  ) {}

  /** The function named `name` when it was looked up before; undefined otherwise. */
  get(name: string): KnownFunction | undefined {
    return this.known.get(name);
  }

  /** Tracks a function in the dispatcher before its first call; FUNCTION_UNKNOWN rejects (404). */
  lookup(name: string): Promise<KnownFunction> {
    let pending = this.lookups.get(name);
    if (pending === undefined) {
      const ref = parseFunctionRef(name, this.defaultNamespace);
      pending = this.dispatcher.track(ref).then(
        () => {
          this.lookups.delete(name);
          const fn: KnownFunction = { ref, metrics: new FunctionMetrics(this.metrics, functionLabel(ref, this.defaultNamespace)) };
          this.known.set(name, fn);
          return fn;
        },
        (err: unknown) => {
          this.lookups.delete(name);
          throw err;
        },
      );
      this.lookups.set(name, pending);
    }
    return pending;
  }
}
