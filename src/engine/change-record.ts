import type { Clock } from '../core/clock.js';
import { functionLabel, refKey, type FunctionRef } from '../providers/types.js';
import type { EventAction, EventLog, EventSource } from './events.js';

/**
 * Writes the change cycle's events (decisions, drains, replica lifecycle) to the event log,
 * stamped with the clock; a decision that is not applied (dry run, hold) only when it is not
 * a repeat of the function's last such record.
 */
export class ChangeRecorder {
  /** The last dry-run or held decision recorded per function, so a repeat is not recorded again. */
  private readonly lastNotApplied = new Map<string, string>();

  constructor(
    private readonly events: EventLog,
    private readonly clock: Clock,
    private readonly defaultNamespace: string,
  ) {}

  /**
   * One event; `replica` names the replica it is about, `dryRun` marks a decision not applied.
   * A decision's inputs open with the count before and after it (`before`, `after`); the
   * count the decision read (`desired`, the same as `before`) is not repeated.
   */
  record(ref: FunctionRef, source: EventSource, action: EventAction, from: number, to: number, reason: string, inputs: Readonly<Record<string, unknown>>, replica?: string, dryRun = false): void {
    const named = replica === undefined ? decisionInputs(from, to, inputs) : inputs;
    const base = { time: this.clock.now(), function: this.label(ref), source, action, from, to, reason, inputs: named, ...(dryRun ? { dryRun } : {}) };
    this.events.record(replica === undefined ? base : { ...base, replica });
  }

  /**
   * Records a decision that is not applied (dry run, hold) unless the same one (source,
   * action, counts, reason) was the function's last such record; true when recorded.
   */
  recordOnce(ref: FunctionRef, source: EventSource, action: EventAction, from: number, to: number, reason: string, inputs: Readonly<Record<string, unknown>>, dryRun: boolean): boolean {
    const key = refKey(ref);
    const signature = `${source} ${action} ${from} ${to} ${reason}`;
    if (this.lastNotApplied.get(key) === signature) return false;
    this.lastNotApplied.set(key, signature);
    this.record(ref, source, action, from, to, reason, inputs, undefined, dryRun);
    return true;
  }

  /** A decision was applied or left the count as it was: the next not-applied one is recorded again. */
  forgetNotApplied(key: string): void {
    this.lastNotApplied.delete(key);
  }

  /** The function's name in events, logs and metric labels. */
  label(ref: FunctionRef): string {
    return functionLabel(ref, this.defaultNamespace);
  }
}

/** A decision's inputs with the count before and after first; `desired` dropped when it is the count before. Pure. */
export function decisionInputs(from: number, to: number, inputs: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const { desired, ...rest } = inputs;
  return { before: from, after: to, ...(desired === undefined || desired === from ? {} : { desired }), ...rest };
}
