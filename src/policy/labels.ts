import { parseDurationMs } from './duration.js';
import { defaultConcurrency } from './spec.js';

/** Scaling policy of one function, read from its labels and annotations. */
export interface ScalingPolicy {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Percent of maxReplicas added per firing alert; 0 disables alert scale-up. */
  readonly factorPercent: number;
  /** Quiet time after the last resolved alert before returning to min. */
  readonly scaleDownWindowMs: number;
  /** Opt-in to idle scale-to-zero. */
  readonly scaleToZero: boolean;
  /** Time without invocations before the idler scales to zero. */
  readonly zeroDurationMs: number;
  /** How long the waker holds requests for this function. */
  readonly wakeTimeoutMs: number;
  /**
   * Dry run (label `com.openfaas.scale.dry-run`): automatic decisions are recorded, not
   * applied. Absent means false.
   */
  readonly dryRun?: boolean;
}

/** Defaults that apply when a label is absent (from config). */
export interface PolicyDefaults extends ScalingPolicy {
  /**
   * What `com.openfaas.scale.max=0` stands for (Code Engine's max-scale 0, "unlimited").
   * Absent: max 0 is refused (max must be at least 1).
   */
  readonly maxReplicasCeiling?: number;
}

export type PolicyResult =
  | { readonly ok: true; readonly policy: ScalingPolicy }
  | { readonly ok: false; readonly problems: readonly string[] };

const LONG = 'com.openfaas.scale.';
const SHORT = 'scale.';

/**
 * Reads `com.openfaas.scale.<key>`, else `scale.<key>`, from labels then annotations. A key
 * starting with `com.openfaas.` is a full label name, read as is.
 */
function lookup(key: string, labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): [string, string] | undefined {
  const names = key.startsWith('com.openfaas.') ? [key] : [LONG + key, SHORT + key];
  for (const source of [labels, annotations]) {
    for (const name of names) {
      const value = source[name];
      if (value !== undefined) return [name, value];
    }
  }
  return undefined;
}

function readInt(key: string, fallback: number, labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>, problems: string[]): number {
  const found = lookup(key, labels, annotations);
  if (found === undefined) return fallback;
  const [name, raw] = found;
  // Digits only, and small enough to be exact: 20 nines would read as 1e20 replicas.
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw.trim()))) {
    problems.push(`${name}=${JSON.stringify(raw)} is not a non-negative integer`);
    return fallback;
  }
  return Number(raw.trim());
}

function readDuration(key: string, fallback: number, labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>, problems: string[]): number {
  const found = lookup(key, labels, annotations);
  if (found === undefined) return fallback;
  const [name, raw] = found;
  const ms = parseDurationMs(raw);
  if (ms === null) {
    problems.push(`${name}=${JSON.stringify(raw)} is not a duration like 30s or 15m`);
    return fallback;
  }
  return ms;
}

function readBool(key: string, fallback: boolean, labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>, problems: string[]): boolean {
  const found = lookup(key, labels, annotations);
  if (found === undefined) return fallback;
  const [name, raw] = found;
  const value = raw.trim().toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  problems.push(`${name}=${JSON.stringify(raw)} is not true or false`);
  return fallback;
}

/**
 * Parses a function's scaling policy. Long labels (`com.openfaas.scale.min`) win over short
 * ones (`scale.min`); labels win over annotations. Every problem is listed; none is guessed.
 * `max=0` means `defaults.maxReplicasCeiling` when the defaults carry one (every kind, `rps`
 * included); `dry-run` (true/false) defaults to `defaults.dryRun`; `zero` defaults to true
 * when min is 0 (else to `defaults.scaleToZero`), so a woken `rps` function idles back to zero.
 */
export function parseScalingPolicy(
  labels: Readonly<Record<string, string>>,
  annotations: Readonly<Record<string, string>>,
  defaults: PolicyDefaults,
): PolicyResult {
  const problems: string[] = [];
  const minReplicas = readInt('min', defaults.minReplicas, labels, annotations, problems);
  const rawMax = readInt('max', defaults.maxReplicas, labels, annotations, problems);
  // Code Engine's max-scale 0 ("unlimited") is the configured ceiling, as in parsePolicySpec.
  const maxReplicas = rawMax === 0 && defaults.maxReplicasCeiling !== undefined ? defaults.maxReplicasCeiling : rawMax;
  const factorPercent = readInt('factor', defaults.factorPercent, labels, annotations, problems);
  const scaleDownWindowMs = readDuration('down.window', defaults.scaleDownWindowMs, labels, annotations, problems);
  // min 0 means the same for every kind: woken, the function goes back to zero when idle (`zero=false` keeps it up).
  const scaleToZero = readBool('zero', defaults.scaleToZero || minReplicas === 0, labels, annotations, problems);
  const zeroDurationMs = readDuration('zero-duration', defaults.zeroDurationMs, labels, annotations, problems);
  const wakeTimeoutMs = readDuration('wake-timeout', defaults.wakeTimeoutMs, labels, annotations, problems);
  const dryRun = readBool('dry-run', defaults.dryRun ?? false, labels, annotations, problems);
  if (problems.length === 0) {
    if (minReplicas > maxReplicas) problems.push(rawMax === 0 ? `min (${minReplicas}) is greater than the global ceiling (${maxReplicas}) that max=0 stands for` : `min (${minReplicas}) is greater than max (${maxReplicas})`);
    if (maxReplicas < 1) problems.push('max must be at least 1');
    if (factorPercent > 100) problems.push(`factor (${factorPercent}) is greater than 100`);
    if (wakeTimeoutMs <= 0) problems.push('wake-timeout must be greater than 0');
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    policy: { minReplicas, maxReplicas, factorPercent, scaleDownWindowMs, scaleToZero, zeroDurationMs, wakeTimeoutMs, dryRun },
  };
}

/** How requests to one function are admitted; the dispatcher applies these. */
export interface RequestLimits {
  /** Hard limit of requests in flight per replica, across all gateways; 0 = unlimited. */
  readonly concurrency: number;
  /** Requests that may wait in the function's queue; 0 = none waits (503 at once). */
  readonly maxQueued: number;
  /** How long one request may run on a replica before it is cut with 504, ms. */
  readonly requestTimeoutMs: number;
  /**
   * How long one request may wait in the queue for a slot, ms, whatever it waits for (a
   * replica of a function at zero, or a free slot): label `com.openfaas.scale.wake-timeout`.
   */
  readonly maxWaitMs: number;
  /**
   * How long a WebSocket may stay silent in both directions before the gateway closes it
   * (code 1001), ms; 0 = never. Label `com.openfaas.websocket.idle-timeout`; absent = 0.
   */
  readonly websocketIdleTimeoutMs?: number;
  /**
   * How the gateway talks to the function's replicas: absent (HTTP/1.1, the default) or
   * `h2c` (HTTP/2 with prior knowledge, one session per replica): label
   * `com.openfaas.protocol=h2c`, needed for gRPC functions.
   */
  readonly protocol?: UpstreamProtocol;
}

/** The protocols a replica may speak to the gateway (label `com.openfaas.protocol`). */
export type UpstreamProtocol = 'http' | 'h2c';

/** Reads `com.openfaas.protocol` (`http` or `h2c`); undefined when absent or `http`. */
function readProtocol(labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>, problems: string[]): 'h2c' | undefined {
  const found = lookup('com.openfaas.protocol', labels, annotations);
  if (found === undefined) return undefined;
  const value = found[1].trim().toLowerCase();
  if (value === 'h2c') return 'h2c';
  if (value !== 'http') problems.push(`${found[0]}=${JSON.stringify(found[1])} is not http or h2c`);
  return undefined;
}

export type RequestLimitsResult =
  | { readonly ok: true; readonly limits: RequestLimits }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Parses a function's request limits: `com.openfaas.scale.concurrency` (integer),
 * `com.openfaas.scale.max-queued` (integer; short forms `scale.<key>` too; `concurrency`
 * absent is 1 for `queue` and `free-workers`, else `defaults.concurrency`) and
 * `com.openfaas.request-timeout` (a Go duration; not under the scale prefix) and
 * `com.openfaas.scale.wake-timeout` (the queue wait, a duration),
 * `com.openfaas.websocket.idle-timeout` (a duration; 0 = none) and `com.openfaas.protocol`
 * (`http` or `h2c`, how replicas are spoken to). Same rules as
 * `parseScalingPolicy`: labels win over annotations, every problem is listed.
 */
export function parseRequestLimits(
  labels: Readonly<Record<string, string>>,
  annotations: Readonly<Record<string, string>>,
  defaults: RequestLimits,
): RequestLimitsResult {
  const problems: string[] = [];
  // Absent: 1 for the kinds whose signal needs a limit (`queue`, `free-workers`), as parsePolicySpec reads it.
  const kind = lookup('type', labels, annotations)?.[1].trim();
  const concurrency = readInt('concurrency', defaultConcurrency(kind, defaults.concurrency), labels, annotations, problems);
  const maxQueued = readInt('max-queued', defaults.maxQueued, labels, annotations, problems);
  const requestTimeoutMs = readDuration('com.openfaas.request-timeout', defaults.requestTimeoutMs, labels, annotations, problems);
  const maxWaitMs = readDuration('wake-timeout', defaults.maxWaitMs, labels, annotations, problems);
  const websocketIdleTimeoutMs = readDuration('com.openfaas.websocket.idle-timeout', defaults.websocketIdleTimeoutMs ?? 0, labels, annotations, problems);
  const protocol = readProtocol(labels, annotations, problems);
  if (problems.length === 0 && requestTimeoutMs <= 0) problems.push('com.openfaas.request-timeout must be greater than 0');
  if (problems.length === 0 && maxWaitMs <= 0) problems.push('wake-timeout must be greater than 0');
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, limits: { concurrency, maxQueued, requestTimeoutMs, maxWaitMs, websocketIdleTimeoutMs, ...(protocol === undefined ? {} : { protocol }) } };
}
