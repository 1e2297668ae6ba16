import axios from 'axios';
import type { Logger } from '../log/logger.js';
import type { Changer } from '../engine/changer.js';
import { decideIdle, type Idleness } from '../policy/idle.js';
import { parseScalingPolicy, type PolicyDefaults } from '../policy/labels.js';
import { functionLabel, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import type { InvocationLog } from './invocations.js';

export type { Idleness } from '../policy/idle.js';

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
  readonly provider: ReplicaProvider;
  /** The engine's change cycle: every scale-to-zero goes through it (source `idler`). */
  readonly changer: Changer;
  /** Scale policy of a function without labels. */
  readonly defaults: PolicyDefaults;
  readonly defaultNamespace: string;
  readonly source: IdleSource;
  readonly invocations: InvocationLog;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Only the leader idles (one scaler replica); always true on one machine. */
  readonly isLeader: () => boolean;
}

/**
 * Scales functions that opted in (`com.openfaas.scale.zero=true`) to zero after their
 * zero-duration without traffic, through the change cycle (decision: src/policy/idle.ts).
 * A function goes through the cycle, and so into the event log, only when its idle source
 * says idle: busy functions are not logged on every pass.
 */
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

  /** One pass over every function; returns the functions scaled to zero (their replicas drained and removed). */
  async tick(): Promise<FunctionRef[]> {
    if (!this.options.isLeader()) return [];
    const { provider, changer, source, invocations, logger, defaults } = this.options;
    const scaled: FunctionRef[] = [];
    let functions;
    try {
      functions = await provider.listFunctions();
    } catch (err) {
      logger.warn('idler list failed', { error: (err as Error).message });
      return [];
    }
    for (const info of functions) {
      const { ref } = info;
      const policy = parseScalingPolicy(info.labels, info.annotations, defaults);
      if (!policy.ok) continue;
      const activityBefore = invocations.lastActivity(ref);
      const facts = () => ({ inFlight: invocations.inflightOf(ref), activitySince: invocations.lastActivity(ref) !== activityBefore, idleMs: invocations.idleMs(ref) });
      // Not opted in, at zero or in flight: no need to ask the idle source.
      if (decideIdle({ current: info.desired, policy: policy.policy, idleness: 'idle', ...facts() }).replicas !== 0) continue;
      const idleness = await source.idleness(ref, policy.policy.zeroDurationMs);
      if (idleness !== 'idle') continue;
      try {
        // Decided again under the lock: a request may have arrived while the source answered.
        const outcome = await changer.change(ref, 'idler', ({ state, policy: current }) => decideIdle({ current: state.desired, policy: current, idleness, ...facts() }));
        if (outcome.changed) {
          await outcome.settled;
          scaled.push(ref);
        }
      } catch (err) {
        logger.warn('idle scale-down failed', { function: functionLabel(ref, this.options.defaultNamespace), error: (err as Error).message });
      }
    }
    return scaled;
  }
}
