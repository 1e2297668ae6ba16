import { isIP } from 'node:net';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const stringList = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : value),
  z.array(z.string().min(1)).min(1),
);
/** An IP address or a CIDR subnet (`10.0.0.0/8`, `fd00::/8`). */
const addressOrSubnet = z.string().refine((value) => {
  const [address = '', bits, extra] = value.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}, 'not an IP address or CIDR subnet');
const addressList = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : value),
  z.array(addressOrSubnet).min(1),
);

/**
 * The whole configuration, flat. Keys are the YAML file keys; each has an environment
 * variable (see ENV_KEYS). Defaults live here and nowhere else.
 */
export const configSchema = z.strictObject({
  /** HTTP port of the function listener (`/function/*`, health, metrics); 0 picks a free port. */
  port: port.default(8080),
  /**
   * Interface to listen on. Unset: loopback (127.0.0.1) while basic auth is off, so a laptop's
   * gateway is not open to its network; every interface (0.0.0.0) once auth is on (loadConfig).
   * The container image and the manifests set 0.0.0.0.
   */
  host: z.string().min(1).default('127.0.0.1'),
  /**
   * HTTP port of the admin listener (`/system/*`, the webhook, `/ui/`, and `/function/*`
   * answered with `Content-Security-Policy: sandbox`); 0 picks a free port.
   */
  adminPort: port.default(8081),
  /** Interface of the admin listener; unset means the same as `host`. */
  adminHost: z.string().min(1).optional(),
  /** `local` runs functions as child processes; `kubernetes` scales Deployments. */
  provider: z.enum(['local', 'kubernetes']).default('local'),
  /** Stack file of the local provider; empty means the example stack shipped in the repo. */
  stackPath: z.string().default(''),
  /** Namespace that a bare `function_name` refers to. */
  defaultNamespace: z.string().min(1).default('openfaas-fn'),
  logLevel: z.enum(['error', 'warn', 'info', 'debug', 'silent']).default('info'),
  logFormat: z.enum(['json', 'text']).default('json'),
  /** Largest accepted request body on every route but the webhook, in bytes. */
  bodyLimitBytes: positiveInt.default(1_048_576),
  /**
   * Largest Alertmanager notification (`POST /system/alert`), in bytes. Alertmanager sends a
   * whole alert group in one notification (its `max_alerts` defaults to 0: no limit), about
   * 600 bytes per alert: 32 MiB holds some 50,000 alerts. A refused one (413) is lost.
   */
  webhookBodyLimitBytes: positiveInt.default(33_554_432),
  /**
   * Largest file read while running (stack file and its reloads, the config file, password
   * files, kubeconfig), in bytes; checked before reading. 4 MiB holds a stack of some 5,000
   * functions with a dozen labels each, or 40,000 named policies (a ConfigMap holds 1 MiB); a
   * larger file is refused with CONFIG_INVALID at start and kept out at a reload.
   */
  maxFileBytes: positiveInt.default(4_194_304),
  /** Longest pause between two pieces of a proxied request body, ms; then 408 BODY_TIMEOUT and the call's replica slot is freed. */
  bodyIdleTimeoutMs: positiveInt.default(10_000),
  /**
   * Longest pause between two pieces of a replica's answer once its head came, ms (a stalled
   * stream); then the answer is cut and counted 504. The request timeout still bounds the whole call.
   */
  responseIdleTimeoutMs: positiveInt.default(60_000),
  basicAuthUser: z.string().min(1).optional(),
  basicAuthPassword: z.string().min(1).optional(),
  basicAuthPasswordFile: z.string().min(1).optional(),

  /** Policy defaults for functions without scale labels. */
  defaultMinReplicas: nonNegativeInt.default(1),
  defaultMaxReplicas: positiveInt.default(20),
  defaultFactorPercent: z.coerce.number().int().min(0).max(100).default(20),
  /**
   * What `com.openfaas.scale.max=0` stands for (Code Engine's max-scale 0, "unlimited"): the
   * most replicas such a function may get.
   */
  maxReplicasCeiling: positiveInt.default(100),
  /** Time between two evaluations of an active function's policy (kinds other than `rps`), ms; a quiet function is not evaluated at all. */
  policyIntervalMs: positiveInt.default(1000),
  /**
   * Dry run: every automatic decision (policy loop, alerts, idler) is recorded in the event
   * log with `dryRun: true` and nothing is applied; label `com.openfaas.scale.dry-run` overrides it per function.
   */
  dryRun: z.union([z.boolean(), z.stringbool()]).default(false),
  /** Quiet time after the last resolved alert before returning to min (label `com.openfaas.scale.down.window`). */
  scaleDownWindowSeconds: z.coerce.number().min(0).default(30),
  /** One alert occurrence (fingerprint + startsAt) steps at most once per cooldown. */
  cooldownSeconds: z.coerce.number().min(0).default(10),
  /** A firing alert not re-sent for this long no longer blocks a scale-down. */
  firingStaleSeconds: z.coerce.number().positive().default(21_600),

  /** Idle time before scale to zero, for functions with `com.openfaas.scale.zero=true`. */
  zeroDurationSeconds: z.coerce.number().positive().default(900),
  /**
   * Each `scale.zero` function is checked at its own idle deadline (last call + zero-duration);
   * when the idle source then says not idle (traffic at another gateway, Prometheus unknown),
   * it is asked again after this many seconds.
   */
  idlerIntervalSeconds: z.coerce.number().positive().default(5),
  /** When set, idle time comes from this Prometheus (shared by all gateway replicas). */
  prometheusUrl: z.url().optional(),
  /**
   * How long a request may wait in a function's queue for a slot (label
   * `com.openfaas.scale.wake-timeout`), whether the function is waking from zero or busy; then 504.
   */
  wakeTimeoutMs: positiveInt.default(30_000),
  /** Upper bound of one proxied call, from sending it to a replica to the end of the answer (504 past it). */
  requestTimeoutMs: positiveInt.default(300_000),
  /**
   * How long a proxied WebSocket may stay silent in both directions before the gateway closes
   * it (code 1001) and frees its slot, ms (label `com.openfaas.websocket.idle-timeout`); 0 = never.
   */
  websocketIdleTimeoutMs: nonNegativeInt.default(300_000),
  /** Requests that may wait in one function's queue (label `com.openfaas.scale.max-queued`); then 503. */
  maxQueued: nonNegativeInt.default(1000),
  /** Engine events kept in memory for `GET /system/events`. */
  eventLogSize: positiveInt.default(10_000),
  /** Longest wait for a drained replica's in-flight requests before it is removed anyway. */
  drainTimeoutMs: positiveInt.default(30_000),
  /**
   * Gateway replicas that share each replica's hard concurrency limit: a static override.
   * Unset: 1, or on Kubernetes the live gateway count from the member Leases.
   */
  gatewayCount: positiveInt.optional(),
  /** This gateway's ordinal among them, 0-based (a StatefulSet ordinal); set with gatewayCount. */
  gatewayIndex: nonNegativeInt.optional(),
  /** Peers (addresses or CIDR subnets) whose X-Forwarded-Host/-Proto/-Port, Forwarded and X-Real-IP are kept; unset trusts none. */
  trustedProxies: addressList.optional(),

  /** Local provider: path of the readiness check on each replica. */
  healthPath: z.string().startsWith('/').default('/_/health'),
  /** Local provider: interval between readiness probes of a starting replica. */
  healthIntervalMs: positiveInt.default(5),
  /** Local provider: a replica not ready after this long is restarted. */
  startTimeoutMs: positiveInt.default(60_000),
  /** Local provider: time a removed replica gets to finish in-flight requests before SIGKILL. */
  drainGraceMs: positiveInt.default(10_000),

  /** Kubernetes provider: kubeconfig file; unset means in-cluster (or ~/.kube/config). */
  kubeconfig: z.string().min(1).optional(),
  /** Kubernetes provider: namespaces searched for functions (comma-separated in env). */
  namespaces: stringList.default(['openfaas-fn']),
  /**
   * Kubernetes provider: `pod` sends requests straight to ready pod addresses from the
   * function's EndpointSlices; `service` to functionUrlTemplate (for meshes).
   */
  kubernetesRouting: z.enum(['pod', 'service']).default('pod'),
  /** Kubernetes provider, service routing: URL of a function's Service; `{name}` and `{namespace}` are filled in. */
  functionUrlTemplate: z.string().min(1).default('http://{name}.{namespace}.svc.cluster.local:8080'),
  /** Kubernetes provider: name prefix of the bucket Leases (`<name>-bucket-<i>`) that shard the functions over the gateways. */
  leaseName: z.string().min(1).default('alert-scaler'),
  leaseNamespace: z.string().min(1).default('openfaas'),
  /** Kubernetes provider: a gateway that stops renewing its member and bucket Leases loses them after this long. */
  leaseDurationSeconds: z.coerce.number().int().min(1).default(15),
  /**
   * Kubernetes provider: API requests per second (token bucket; watches excluded); 0 means
   * no limit. 400 serves 200 alert steps a second (see src/providers/kubernetes/rate-limit.ts).
   */
  kubernetesApiQps: z.coerce.number().min(0).default(400),
  /** Kubernetes provider: requests the bucket saves up (the burst above QPS). */
  kubernetesApiBurst: z.coerce.number().int().min(1).default(800),
  /** Kubernetes provider: at most one write of a function's `Scaled` Event per this many seconds (repeats bump its count); 0: one per change. */
  kubernetesEventIntervalSeconds: z.coerce.number().min(0).default(30),
  /** Kubernetes provider: time between renewals of the member and bucket Leases; unset: a fifth of the lease duration (at least 200 ms). */
  leaseRenewMs: positiveInt.optional(),
  /** Kubernetes provider: bucket Leases the functions are sharded over (each function's scaler runs on its bucket's owner). */
  buckets: z.coerce.number().int().min(1).max(1000).default(10),
  /** Kubernetes provider: this gateway's pod IP (downward API), published in its member Lease so other gateways can forward calls to it. */
  podIp: z.string().refine((v) => isIP(v) !== 0, 'not an IP address').optional(),

  /**
   * Gateway processes sharing the listening ports (node:cluster; the first process only forks
   * and watches them). Each is a member of its own (a member Lease), taking its share of every
   * replica's hard limit as separate gateways do. Above 1 only with the Kubernetes provider.
   */
  workers: z.coerce.number().int().min(1).max(64).default(1),

  /** On SIGTERM: how long in-flight requests get before the process exits anyway. */
  shutdownTimeoutMs: positiveInt.default(15_000),

  /** Asynchronous calls: folder of the embedded queue's log (used when `asyncNatsUrl` is unset). */
  asyncDir: z.string().min(1).default('./data/async'),
  /** Asynchronous calls: NATS server of the JetStream queue (`nats://host:4222`); unset: the embedded queue. */
  asyncNatsUrl: z.string().min(1).optional(),
  /** Asynchronous calls: deliveries of a call answered 429/502/503/504 before it is dead-lettered (label `com.openfaas.async.max-attempts`). */
  asyncMaxAttempts: z.coerce.number().int().min(1).max(100).default(5),
  /** Asynchronous calls: first retry delay, ms; doubled per attempt (capped at 60 s), with jitter. */
  asyncRetryBaseMs: positiveInt.default(500),
  /** Asynchronous calls: calls being delivered at once, all functions together. */
  asyncWorkers: z.coerce.number().int().min(1).max(10_000).default(64),
  /** Asynchronous calls on NATS: a call delivered and not acked within this goes to another gateway (a crashed one's calls), ms. */
  asyncAckWaitMs: z.coerce.number().int().min(1000).default(60_000),
  /** Asynchronous calls: most calls stored and not delivered; more are refused 503 QUEUE_FULL. */
  asyncMaxQueued: positiveInt.default(100_000),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = Readonly<z.output<typeof configSchema>>;

/** Environment variable → config key. PORT keeps its conventional name. */
export const ENV_KEYS: Readonly<Record<string, keyof Config>> = {
  PORT: 'port',
  ALERT_SCALER_HOST: 'host',
  ALERT_SCALER_ADMIN_PORT: 'adminPort',
  ALERT_SCALER_ADMIN_HOST: 'adminHost',
  ALERT_SCALER_PROVIDER: 'provider',
  ALERT_SCALER_STACK: 'stackPath',
  ALERT_SCALER_DEFAULT_NAMESPACE: 'defaultNamespace',
  ALERT_SCALER_LOG_LEVEL: 'logLevel',
  ALERT_SCALER_LOG_FORMAT: 'logFormat',
  ALERT_SCALER_BODY_LIMIT_BYTES: 'bodyLimitBytes',
  ALERT_SCALER_WEBHOOK_BODY_LIMIT_BYTES: 'webhookBodyLimitBytes',
  ALERT_SCALER_MAX_FILE_BYTES: 'maxFileBytes',
  ALERT_SCALER_BODY_IDLE_TIMEOUT_MS: 'bodyIdleTimeoutMs',
  ALERT_SCALER_RESPONSE_IDLE_TIMEOUT_MS: 'responseIdleTimeoutMs',
  ALERT_SCALER_BASIC_AUTH_USER: 'basicAuthUser',
  ALERT_SCALER_BASIC_AUTH_PASSWORD: 'basicAuthPassword',
  ALERT_SCALER_BASIC_AUTH_PASSWORD_FILE: 'basicAuthPasswordFile',
  ALERT_SCALER_DEFAULT_MIN_REPLICAS: 'defaultMinReplicas',
  ALERT_SCALER_DEFAULT_MAX_REPLICAS: 'defaultMaxReplicas',
  ALERT_SCALER_DEFAULT_FACTOR_PERCENT: 'defaultFactorPercent',
  ALERT_SCALER_MAX_REPLICAS_CEILING: 'maxReplicasCeiling',
  ALERT_SCALER_POLICY_INTERVAL_MS: 'policyIntervalMs',
  ALERT_SCALER_DRY_RUN: 'dryRun',
  ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: 'scaleDownWindowSeconds',
  ALERT_SCALER_COOLDOWN_SECONDS: 'cooldownSeconds',
  ALERT_SCALER_FIRING_STALE_SECONDS: 'firingStaleSeconds',
  ALERT_SCALER_ZERO_DURATION_SECONDS: 'zeroDurationSeconds',
  ALERT_SCALER_IDLER_INTERVAL_SECONDS: 'idlerIntervalSeconds',
  ALERT_SCALER_PROMETHEUS_URL: 'prometheusUrl',
  ALERT_SCALER_WAKE_TIMEOUT_MS: 'wakeTimeoutMs',
  ALERT_SCALER_REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
  ALERT_SCALER_WEBSOCKET_IDLE_TIMEOUT_MS: 'websocketIdleTimeoutMs',
  ALERT_SCALER_MAX_QUEUED: 'maxQueued',
  ALERT_SCALER_EVENT_LOG_SIZE: 'eventLogSize',
  ALERT_SCALER_DRAIN_TIMEOUT_MS: 'drainTimeoutMs',
  ALERT_SCALER_GATEWAY_COUNT: 'gatewayCount',
  ALERT_SCALER_GATEWAY_INDEX: 'gatewayIndex',
  ALERT_SCALER_TRUSTED_PROXIES: 'trustedProxies',
  ALERT_SCALER_HEALTH_PATH: 'healthPath',
  ALERT_SCALER_HEALTH_INTERVAL_MS: 'healthIntervalMs',
  ALERT_SCALER_START_TIMEOUT_MS: 'startTimeoutMs',
  ALERT_SCALER_DRAIN_GRACE_MS: 'drainGraceMs',
  KUBECONFIG: 'kubeconfig',
  ALERT_SCALER_NAMESPACES: 'namespaces',
  ALERT_SCALER_KUBERNETES_ROUTING: 'kubernetesRouting',
  ALERT_SCALER_FUNCTION_URL_TEMPLATE: 'functionUrlTemplate',
  ALERT_SCALER_LEASE_NAME: 'leaseName',
  ALERT_SCALER_LEASE_NAMESPACE: 'leaseNamespace',
  ALERT_SCALER_LEASE_DURATION_SECONDS: 'leaseDurationSeconds',
  ALERT_SCALER_KUBERNETES_API_QPS: 'kubernetesApiQps',
  ALERT_SCALER_KUBERNETES_API_BURST: 'kubernetesApiBurst',
  ALERT_SCALER_KUBERNETES_EVENT_INTERVAL_SECONDS: 'kubernetesEventIntervalSeconds',
  ALERT_SCALER_LEASE_RENEW_MS: 'leaseRenewMs',
  ALERT_SCALER_BUCKETS: 'buckets',
  POD_IP: 'podIp',
  ALERT_SCALER_WORKERS: 'workers',
  ALERT_SCALER_SHUTDOWN_TIMEOUT_MS: 'shutdownTimeoutMs',
  ALERT_SCALER_ASYNC_DIR: 'asyncDir',
  ALERT_SCALER_ASYNC_NATS_URL: 'asyncNatsUrl',
  ALERT_SCALER_ASYNC_MAX_ATTEMPTS: 'asyncMaxAttempts',
  ALERT_SCALER_ASYNC_RETRY_BASE_MS: 'asyncRetryBaseMs',
  ALERT_SCALER_ASYNC_WORKERS: 'asyncWorkers',
  ALERT_SCALER_ASYNC_MAX_QUEUED: 'asyncMaxQueued',
  ALERT_SCALER_ASYNC_ACK_WAIT_MS: 'asyncAckWaitMs',
};
