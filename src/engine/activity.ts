import { refKey, type FunctionRef } from '../core/ref.js';

/**
 * The gateway's own record of traffic per function: requests in flight (held ones included)
 * and the last time a request started or finished. The idler reads it.
 */
export class InvocationLog {
  private readonly inflight = new Map<string, number>();
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    /** Functions never called count as last seen when the gateway started. */
    private readonly startedAt: number = now(),
  ) {}

  /** Records a request start; returns the function that records its end (idempotent). */
  begin(ref: FunctionRef): () => void {
    const key = refKey(ref);
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1);
    this.lastSeen.set(key, this.now());
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inflight.set(key, (this.inflight.get(key) ?? 1) - 1);
      this.lastSeen.set(key, this.now());
    };
  }

  inflightOf(ref: FunctionRef): number {
    return this.inflight.get(refKey(ref)) ?? 0;
  }

  /** Time of the last request start or end (or the gateway start), on the injected clock. */
  lastActivity(ref: FunctionRef): number {
    return this.lastSeen.get(refKey(ref)) ?? this.startedAt;
  }

  /** Milliseconds since the last request started or finished (or since the gateway started). */
  idleMs(ref: FunctionRef): number {
    return this.now() - (this.lastSeen.get(refKey(ref)) ?? this.startedAt);
  }
}
