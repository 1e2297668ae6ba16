import type { Slot } from '../engine/slot.js';
import type { CallCounts } from '../metrics/call-totals.js';
import type { Metrics } from '../metrics/registry.js';

interface CodeChildren {
  readonly total: { inc(value?: number): void };
  readonly seconds: { observe(value: number): void };
}

/**
 * The gateway metrics of one function with their label children made once
 * (`labels(...)` per function and code, not per call), and its entry in the call totals table.
 */
export class FunctionMetrics {
  private readonly started: { inc(value?: number): void };
  private readonly inflight: { inc(value?: number): void; dec(value?: number): void };
  private readonly byCode = new Map<number, CodeChildren>();
  private readonly counts: CallCounts;

  constructor(
    private readonly metrics: Metrics,
    /** The `function_name` label value. */
    readonly label: string,
  ) {
    this.started = metrics.invocationStarted.labels(label);
    this.inflight = metrics.inflight.labels(label);
    this.counts = metrics.callTotals.entry(label);
  }

  /** A call started: started counter and in-flight gauge up. */
  begin(): void {
    this.started.inc();
    this.inflight.inc();
  }

  /** A call ended with `code` (499 when the client went away) after `seconds`. */
  end(code: number, seconds: number): void {
    this.inflight.dec();
    let children = this.byCode.get(code);
    if (children === undefined) {
      const value = String(code);
      children = { total: this.metrics.invocationTotal.labels(this.label, value), seconds: this.metrics.invocationSeconds.labels(this.label, value) };
      this.byCode.set(code, children);
    }
    children.total.inc();
    children.seconds.observe(seconds);
    this.counts.add(code, seconds);
  }
}

/**
 * The end of a call, whatever carried it (HTTP/1.1 in proxy-call.ts, HTTP/2 in h2-call.ts):
 * its slot, if it got one, goes back (its request timeout cleared first), its invocation ends
 * (the idle clocks read it), and it is counted with `code` and its duration since `startedMs`.
 */
export function endCall(slot: Slot | null, endInvocation: () => void, metrics: FunctionMetrics, code: number, startedMs: number): void {
  if (slot !== null) {
    slot.onTimeout(null);
    slot.release();
  }
  endInvocation();
  metrics.end(code, (performance.now() - startedMs) / 1000);
}
