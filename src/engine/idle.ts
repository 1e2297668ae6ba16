import type { FunctionRef } from '../core/ref.js';
import type { Idleness } from '../policy/idle.js';
import type { InvocationLog } from './activity.js';

export type { Idleness } from '../policy/idle.js';

/** Where idle time comes from: this gateway's record, or Prometheus for every gateway. */
export interface IdleSource {
  /** Whether the function had no invocation in the last `windowMs`; never rejects (`unknown` instead). */
  idleness(ref: FunctionRef, windowMs: number): Promise<Idleness>;
}

/** This gateway's own record. */
export class LocalIdleSource implements IdleSource {
  constructor(private readonly invocations: InvocationLog) {}

  async idleness(ref: FunctionRef, windowMs: number): Promise<Idleness> {
    if (this.invocations.inflightOf(ref) > 0) return 'busy';
    return this.invocations.idleMs(ref) >= windowMs ? 'idle' : 'busy';
  }
}

/** The other gateways' traffic per function, as RemoteSignals keeps it (src/engine/signals.ts). */
export interface RemoteActivity {
  readonly degraded: boolean;
  load(label: string): { readonly present: number; readonly activeAt: number | null } | null;
}

/**
 * This gateway's record plus the other gateways' published load (member Leases): busy when a
 * request is held anywhere or another gateway saw traffic within the window; `unknown` while
 * the others' load cannot be read. A function never seen elsewhere counts from this gateway's
 * own record only.
 */
export class MemberIdleSource implements IdleSource {
  constructor(
    private readonly local: LocalIdleSource,
    private readonly remote: RemoteActivity,
    private readonly labelOf: (ref: FunctionRef) => string,
    private readonly now: () => number,
  ) {}

  async idleness(ref: FunctionRef, windowMs: number): Promise<Idleness> {
    if ((await this.local.idleness(ref, windowMs)) === 'busy') return 'busy';
    if (this.remote.degraded) return 'unknown';
    const view = this.remote.load(this.labelOf(ref));
    if (view === null) return 'idle';
    if (view.present > 0 || (view.activeAt !== null && this.now() - view.activeAt < windowMs)) return 'busy';
    return 'idle';
  }
}
