import axios from 'axios';
import type { Logger } from '../log/logger.js';
import { LocalIdleSource, type IdleSource, type Idleness } from '../engine/idle.js';
import { functionLabel, type FunctionRef } from '../providers/types.js';


/**
 * Asks Prometheus for invocations started across every gateway replica in the window.
 * Errors, timeouts and empty answers are `unknown`. Traffic this gateway saw inside the
 * window (held, in flight or finished) counts as busy without asking: Prometheus lags by up
 * to a scrape interval, and a function woken by one request would otherwise look idle and
 * be scaled to zero right after answering it.
 */
export class PrometheusIdleSource implements IdleSource {
  constructor(
    private readonly baseUrl: string,
    private readonly local: LocalIdleSource,
    private readonly defaultNamespace: string,
    private readonly logger: Logger,
    private readonly timeoutMs = 5000,
  ) {}

  async idleness(ref: FunctionRef, windowMs: number): Promise<Idleness> {
    if ((await this.local.idleness(ref, windowMs)) === 'busy') return 'busy';
    const label = functionLabel(ref, this.defaultNamespace).replace(/["\\]/g, '\\$&');
    const seconds = Math.max(1, Math.round(windowMs / 1000));
    const query = `sum(increase(gateway_function_invocation_started{function_name="${label}"}[${seconds}s]))`;
    try {
      const res = await axios.get(new URL('api/v1/query', this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`).toString(), {
        params: { query },
        timeout: this.timeoutMs,
      });
      const result = (res.data as { data?: { result?: Array<{ value?: [number, string] }> } }).data?.result;
      const value = result?.[0]?.value?.[1];
      if (value === undefined) return 'unknown';
      const count = Number(value);
      if (!Number.isFinite(count)) return 'unknown';
      return count === 0 ? 'idle' : 'busy';
    } catch (err) {
      this.logger.warn('idle query failed', { function: label, error: (err as Error).message });
      return 'unknown';
    }
  }
}
