import axios from 'axios';
import type { Logger } from '../log/logger.js';
import { functionLabel, type FunctionRef } from '../providers/types.js';
import type { Scaler } from '../scaling/scaler.js';
import type { InvocationLog } from './invocations.js';

/** Whether a function had no invocation in a window; `unknown` never leads to scale-to-zero. */
export type Idleness = 'idle' | 'busy' | 'unknown';

/** Where idle time comes from. */
export interface IdleSource {
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

export interface IdlerOptions {
  readonly scaler: Scaler;
  readonly source: IdleSource;
  readonly invocations: InvocationLog;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Only the leader idles (one scaler replica); always true on one machine. */
  readonly isLeader: () => boolean;
}

/** Scales functions that opted in (`com.openfaas.scale.zero=true`) to zero after their zero-duration without traffic. */
export class Idler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: IdlerOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running === undefined) {
        this.running = this.tick().then(
          () => undefined,
          () => undefined,
        );
        void this.running.finally(() => (this.running = undefined));
      }
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over every function; returns the functions scaled to zero. */
  async tick(): Promise<FunctionRef[]> {
    if (!this.options.isLeader()) return [];
    const { scaler, source, invocations, logger } = this.options;
    const scaled: FunctionRef[] = [];
    let functions;
    try {
      functions = await scaler.provider.listFunctions();
    } catch (err) {
      logger.warn('idler list failed', { error: (err as Error).message });
      return [];
    }
    for (const info of functions) {
      const policy = scaler.policyOf(info);
      // As OpenFaaS Pro: `scale.zero=true` idles the function whatever its min; min is where a wake starts.
      if (!policy.ok || !policy.policy.scaleToZero || info.desired === 0) continue;
      const windowMs = policy.policy.zeroDurationMs;
      const activityBefore = invocations.lastActivity(info.ref);
      if ((await source.idleness(info.ref, windowMs)) !== 'idle') continue;
      try {
        const result = await scaler.locked(info.ref, async () => {
          const state = await scaler.provider.getReplicas(info.ref);
          // Re-check under the lock: a request may have arrived while Prometheus answered.
          if (state.desired === 0 || invocations.inflightOf(info.ref) > 0 || invocations.lastActivity(info.ref) !== activityBefore) {
            return null;
          }
          return scaler.apply(info.ref, state.desired, { replicas: 0, reason: 'idle' }, 'idler', { idleMs: invocations.idleMs(info.ref), zeroDurationMs: windowMs });
        });
        if (result?.changed === true) scaled.push(info.ref);
      } catch (err) {
        logger.warn('idle scale-down failed', { function: scaler.label(info.ref), error: (err as Error).message });
      }
    }
    return scaled;
  }
}
