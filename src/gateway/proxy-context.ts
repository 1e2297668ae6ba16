import type { Dispatcher } from '../engine/dispatcher.js';
import type { InvocationLog } from '../engine/activity.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { FunctionRef } from '../providers/types.js';
import type { FunctionMetrics } from './function-metrics.js';
import type { UpstreamPool } from './upstream/upstream-pool.js';

/** A call as shutdown sees it: one that can be ended with an answer (src/gateway/proxy-call.ts). */
export interface EndableCall {
  fail(err: unknown): void;
}

/** A function the gateway has seen answer: its ref and its metric children. */
export interface KnownFunction {
  readonly ref: FunctionRef;
  readonly metrics: FunctionMetrics;
}

/** What every call shares: the upstream client, the logger and the limits, and for a retry the dispatcher and metrics. */
export interface CallContext {
  /** The upstream HTTP/1.1 client: keep-alive connections per replica address. */
  readonly upstream: UpstreamPool;
  readonly dispatcher: Dispatcher;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  /** Longest pause between two pieces of a request body while the gateway reads it, ms; 0 = no limit. */
  readonly bodyIdleTimeoutMs: number;
  /** Longest pause between two pieces of a replica's answer once its head came, ms; 0 = no limit. */
  readonly responseIdleTimeoutMs: number;
  readonly invocations: InvocationLog;
  /** Name/value pairs added to every answer of the call, after the function's own (the admin listener's sandbox). */
  readonly responseHeaders: readonly string[];
  /** The admin listener: the operator's credentials are not forwarded (OPERATOR_CREDENTIALS), nor ADMIN_ORIGIN_HEADERS of the answer. */
  readonly sandboxed?: boolean;
  /** Calls from construction to the close of their response: what shutdown ends at its deadline. */
  readonly active: Set<EndableCall>;
}
