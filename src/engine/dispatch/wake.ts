import type { Clock } from '../../core/clock.js';
import type { Metrics } from '../../metrics/registry.js';
import type { FunctionRef } from '../../providers/types.js';
import { reasonOf } from './pick.js';
import type { Entry, WakeOutcome } from './types.js';

/**
 * Wakes of functions at zero and their cold starts: the wake is raised once per burst of
 * requests waiting for a function that wants no replica; the time from the first wake to the
 * first usable replica is observed in `alert_scaler_cold_start_seconds`.
 */
export class ColdStarts {
  constructor(
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly onNeedReplica: ((ref: FunctionRef) => void) | undefined,
  ) {}

  /** Raises the wake when requests wait for a function that wants no replica (once per burst). */
  maybeWake(entry: Entry): void {
    if (entry.wakeRaised || entry.desired !== 0 || reasonOf(entry) !== 'no_replica') return;
    entry.wakeRaised = true;
    entry.wakeStartedAt ??= this.clock.now();
    this.onNeedReplica?.(entry.ref);
  }

  /** Ends the running cold start (if any) with `outcome`, counted; its time observed when ready. */
  end(entry: Entry, outcome: WakeOutcome): void {
    if (entry.wakeStartedAt === null) return;
    const seconds = (this.clock.now() - entry.wakeStartedAt) / 1000;
    entry.wakeStartedAt = null;
    const { coldStarts, coldStartSeconds } = this.metrics;
    coldStarts.inc({ function_name: entry.label, outcome });
    if (outcome === 'ready') coldStartSeconds.observe({ function_name: entry.label }, seconds);
  }
}
