import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CallTotalsTable, DURATION_BUCKETS } from './call-totals.js';

/** Every metric alert-scaler exports, on a Registry of its own. */
export interface Metrics {
  readonly registry: Registry;
  /** OpenFaaS-compatible gateway metrics (names kept so existing rules and dashboards work). */
  readonly invocationTotal: Counter<'function_name' | 'code'>;
  readonly invocationStarted: Counter<'function_name'>;
  readonly invocationSeconds: Histogram<'function_name' | 'code'>;
  /** The same calls' totals per function, readable one function at a time (no registry collect). */
  readonly callTotals: CallTotalsTable;
  readonly serviceCount: Gauge<'function_name'>;
  readonly inflight: Gauge<'function_name'>;
  readonly availableReplicas: Gauge<'function_name'>;
  readonly scaleChanges: Counter<'function_name' | 'reason' | 'source'>;
  readonly webhookAlerts: Counter<'outcome'>;
  readonly webhookRequests: Counter<'code'>;
  readonly coldStarts: Counter<'function_name' | 'outcome'>;
  readonly coldStartSeconds: Histogram<'function_name'>;
  readonly heldRequests: Gauge<'function_name'>;
  /** Alert state entries dropped because a function's state was over its cap; kind is `firing` or `steps`. */
  readonly alertStateEvictions: Counter<'function_name' | 'kind'>;
  /** Requests waiting in a function's dispatch queue, by reason (`no_replica`, `busy`). */
  readonly queueLength: Gauge<'function_name' | 'reason'>;
  /** Age of the oldest waiting request per function, set at scrape time by `beforeCollect` hooks. */
  readonly queueOldestWaitSeconds: Gauge<'function_name'>;
  /** Replicas per function by state (`starting`, `free`, `busy`, `draining`), set from the dispatcher's counts when scraped. */
  readonly replicasByState: Gauge<'function_name' | 'state'>;
  /** Each function's policy settings (`setting`: `min_replicas`, `max_queue_size`, ...; durations in seconds), set by the policy loop. */
  readonly policySetting: Gauge<'function_name' | 'setting'>;
  /**
   * 1 on every gateway, labelled with its ordinal (`gateway_index`): lets a Prometheus query
   * tell this gateway's series from the others' by their scrape target (`instance`).
   */
  readonly gatewayInfo: Gauge<'gateway_index'>;
  /** Live gateways sharing each replica's hard limit, as this gateway counts them (member Leases, else the configured count). */
  readonly gatewayMembers: Gauge;
  /**
   * Proxied calls sent again after their replica failed before answering, by reason
   * (`refused`, `reset`, `closed`; see src/gateway/proxy-retry.ts).
   */
  readonly upstreamRetries: Counter<'function_name' | 'reason'>;
  /** WebSockets open through the gateway (upgraded, not yet closed), per function. */
  readonly websocketConnections: Gauge<'function_name'>;
  /**
   * WebSocket upgrade requests by outcome, as the HTTP status answered (`101` upgraded, the
   * replica's refusal passed back, the gateway's 4xx/5xx, `499` the client left before an answer).
   */
  readonly websocketUpgrades: Counter<'function_name' | 'code'>;
  /** Upgraded WebSockets closed, by who or what ended them (`client`, `replica`, `idle`, `drain`, `shutdown`, `error`). */
  readonly websocketClosed: Counter<'function_name' | 'reason'>;
  /** Kubernetes API requests answered 429 (the client paused for their Retry-After). */
  readonly kubernetesApiThrottled: Counter;
  /** Scaled Events not written, by reason (`queue_full`: too many functions waiting; `failed`: the API refused). */
  readonly kubernetesEventsDropped: Counter<'reason'>;
  /** Asynchronous calls stored and not yet delivered, per function (set at scrape time). */
  readonly asyncQueueLength: Gauge<'function_name'>;
  /** Asynchronous calls given up on (dead-lettered) per function. */
  readonly asyncDeadLetters: Counter<'function_name'>;
  /** Asynchronous calls' callbacks that failed every attempt, per function. */
  readonly asyncCallbackFailures: Counter<'function_name'>;
  /** Hooks run just before the queue gauges are scraped (the dispatcher sets waits there). */
  readonly beforeCollect: Set<() => void>;
  /** Hooks run just before the async queue gauge is read (the async worker sets it there). */
  readonly beforeAsyncCollect: Set<() => void>;
  /** Hooks run (and awaited, in turn) just before the replica-state gauges are read (the scalers set them there, not per second, yielding every so many functions). */
  readonly beforeReplicaCollect: Set<() => void | Promise<void>>;
}

/** Sampling interval of the default metrics' event-loop lag monitor, ms. */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** Creates all metrics on `registry` (a fresh one by default), with default process metrics. */
// layout: table (one entry per metric)
export function createMetrics(registry: Registry = new Registry()): Metrics {
  // The event-loop lag histogram samples with a timer: prom-client's default 10 ms wakes the
  // process 100 times a second, about 0.7 % of a core with nothing else to do; 100 ms still
  // catches every stall (it delays the next sample) at a tenth of the wake-ups.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const registers = [registry];
  const beforeCollect = new Set<() => void>();
  const beforeAsyncCollect = new Set<() => void>();
  const beforeReplicaCollect = new Set<() => void | Promise<void>>();
  return {
    beforeCollect,
    beforeAsyncCollect,
    beforeReplicaCollect,
    registry,
    callTotals: new CallTotalsTable(),
    invocationTotal: new Counter({
      name: 'gateway_function_invocation_total',
      help: 'Function invocations by response code',
      labelNames: ['function_name', 'code'],
      registers,
    }),
    invocationStarted: new Counter({
      name: 'gateway_function_invocation_started',
      help: 'Function invocations started',
      labelNames: ['function_name'],
      registers,
    }),
    invocationSeconds: new Histogram({
      name: 'gateway_functions_seconds',
      help: 'Function invocation duration in seconds',
      labelNames: ['function_name', 'code'],
      buckets: [...DURATION_BUCKETS],
      registers,
    }),
    serviceCount: new Gauge({
      name: 'gateway_service_count',
      help: 'Desired replicas of the function',
      labelNames: ['function_name'],
      registers,
    }),
    inflight: new Gauge({
      name: 'gateway_function_invocation_inflight',
      help: 'Function invocations in flight',
      labelNames: ['function_name'],
      registers,
    }),
    availableReplicas: new Gauge({
      name: 'alert_scaler_available_replicas',
      help: 'Replicas of the function that pass their readiness check',
      labelNames: ['function_name'],
      registers,
    }),
    scaleChanges: new Counter({
      name: 'alert_scaler_scale_changes_total',
      help: 'Replica count changes applied, by reason and source (alert, api, idler, waker)',
      labelNames: ['function_name', 'reason', 'source'],
      registers,
    }),
    webhookAlerts: new Counter({
      name: 'alert_scaler_webhook_alerts_total',
      help: 'Alerts received on the webhook, by outcome (applied, unchanged, skipped, failed)',
      labelNames: ['outcome'],
      registers,
    }),
    webhookRequests: new Counter({
      name: 'alert_scaler_webhook_requests_total',
      help: 'Webhook notifications by HTTP status code',
      labelNames: ['code'],
      registers,
    }),
    coldStarts: new Counter({
      name: 'alert_scaler_cold_starts_total',
      help: 'Wakes of functions at zero replicas, by outcome',
      labelNames: ['function_name', 'outcome'],
      registers,
    }),
    coldStartSeconds: new Histogram({
      name: 'alert_scaler_cold_start_seconds',
      help: 'Time from wake to first ready replica in seconds',
      labelNames: ['function_name'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    heldRequests: new Gauge({
      name: 'alert_scaler_held_requests',
      help: 'Requests held while their function wakes from zero',
      labelNames: ['function_name'],
      registers,
    }),
    alertStateEvictions: new Counter({
      name: 'alert_scaler_alert_state_evictions_total',
      help: 'Alert state entries evicted (oldest first) because the function was over the cap, by kind (firing, steps)',
      labelNames: ['function_name', 'kind'],
      registers,
    }),
    asyncQueueLength: new Gauge({
      name: 'gateway_function_async_queue_length',
      help: 'Asynchronous calls stored and not yet delivered',
      labelNames: ['function_name'],
      registers,
      collect() {
        for (const hook of beforeAsyncCollect) hook();
      },
    }),
    asyncDeadLetters: new Counter({
      name: 'alert_scaler_async_dead_letters_total',
      help: 'Asynchronous calls dead-lettered after their last attempt',
      labelNames: ['function_name'],
      registers,
    }),
    asyncCallbackFailures: new Counter({
      name: 'alert_scaler_async_callback_failures_total',
      help: 'Asynchronous calls whose callback failed every attempt',
      labelNames: ['function_name'],
      registers,
    }),
    upstreamRetries: new Counter({
      name: 'alert_scaler_upstream_retries_total',
      help: 'Proxied calls sent again after their replica failed before answering, by reason (refused, reset, closed)',
      labelNames: ['function_name', 'reason'],
      registers,
    }),
    websocketConnections: new Gauge({
      name: 'gateway_websocket_connections',
      help: 'WebSockets open through the gateway to the function',
      labelNames: ['function_name'],
      registers,
    }),
    websocketUpgrades: new Counter({
      name: 'gateway_websocket_upgrades_total',
      help: 'WebSocket upgrade requests by the status answered (101 upgraded; 499 the client left first)',
      labelNames: ['function_name', 'code'],
      registers,
    }),
    websocketClosed: new Counter({
      name: 'gateway_websocket_closed_total',
      help: 'Upgraded WebSockets closed, by reason (client, replica, idle, drain, shutdown, error)',
      labelNames: ['function_name', 'reason'],
      registers,
    }),
    kubernetesApiThrottled: new Counter({
      name: 'alert_scaler_kubernetes_api_throttled_total',
      help: 'Kubernetes API requests answered 429; the client paused for their Retry-After',
      registers,
    }),
    kubernetesEventsDropped: new Counter({
      name: 'alert_scaler_kubernetes_events_dropped_total',
      help: 'Scaled Events not written, by reason (queue_full, failed)',
      labelNames: ['reason'],
      registers,
    }),
    queueLength: new Gauge({
      name: 'gateway_function_queue_length',
      help: 'Requests waiting for a replica slot, by reason (no_replica, busy)',
      labelNames: ['function_name', 'reason'],
      registers,
    }),
    replicasByState: new Gauge({
      name: 'alert_scaler_replicas',
      help: 'Replicas of the function by state (starting, free, busy, draining)',
      labelNames: ['function_name', 'state'],
      registers,
      async collect() {
        for (const hook of beforeReplicaCollect) await hook();
      },
    }),
    policySetting: new Gauge({
      name: 'alert_scaler_policy_setting',
      help: 'Scaling policy settings of the function (durations in seconds), for rules that compare each function with its own threshold',
      labelNames: ['function_name', 'setting'],
      registers,
    }),
    gatewayInfo: new Gauge({
      name: 'alert_scaler_gateway_info',
      help: 'Always 1; gateway_index is this gateway\'s ordinal among the gateway replicas',
      labelNames: ['gateway_index'],
      registers,
    }),
    gatewayMembers: new Gauge({
      name: 'alert_scaler_gateway_members',
      help: 'Live gateways sharing each replica\'s hard limit, as this gateway counts them',
      registers,
    }),
    queueOldestWaitSeconds: new Gauge({
      name: 'gateway_function_queue_oldest_wait_seconds',
      help: 'How long the oldest waiting request has waited for a replica slot, in seconds',
      labelNames: ['function_name'],
      registers,
      collect() {
        for (const hook of beforeCollect) hook();
      },
    }),
  };
}
