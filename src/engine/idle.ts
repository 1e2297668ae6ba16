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
