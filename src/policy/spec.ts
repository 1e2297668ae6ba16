import { parseDurationMs } from './duration.js';

/** The ways a function can say when to add or remove replicas (label `com.openfaas.scale.type`). */
export const POLICY_KINDS = ['rps', 'queue', 'free-workers', 'concurrency'] as const;

/**
 * `rps`: the OpenFaaS alert step (alerts drive it; the policy loop leaves it alone).
 * `queue`: EverAI SimpleAutoScaler. `free-workers`: EverAI FreeWorkerAutoScaler.
 * `concurrency`: IBM Code Engine / Knative KPA.
 */
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** Knative's stable window: the average that scale decisions follow, ms. */
export const STABLE_WINDOW_MS = 60_000;
/** Knative's panic window (10 % of the stable window), ms. */
export const PANIC_WINDOW_MS = 6_000;
/** Knative's panic threshold: panic when the panic window asks for this many times the ready replicas. */
export const PANIC_THRESHOLD = 2;

/** One function's policy, every setting resolved (labels over annotations over defaults). */
export interface PolicySpec {
  readonly kind: PolicyKind;
  /** Fewest replicas (EverAI min_workers, Code Engine min-scale). */
  readonly minReplicas: number;
  /** Most replicas (max_workers, max-scale); a label of 0 resolves to the global ceiling. */
  readonly maxReplicas: number;
  /** `queue`: requests that may wait busy before a step up (max_queue_size); 0 = step on the first. */
  readonly maxQueueSize: number;
  /** `queue`, `free-workers`: replicas added per step (scale_up_step), at least 1. */
  readonly step: number;
  /** `queue`, `free-workers`: a replica idle this long since its last request may go (max_idle_time), ms. */
  readonly maxIdleTimeMs: number;
  /** `free-workers`: replicas with nothing in flight to keep (min_free_workers). */
  readonly minFreeWorkers: number;
  /** `concurrency`: requests per replica to aim for (concurrency-target), > 0; may be fractional. */
  readonly target: number;
  /** The hard per-replica limit (`com.openfaas.scale.concurrency`), 0 = unlimited; the dispatcher enforces it. */
  readonly concurrency: number;
  /** `concurrency`: a lower count applies only after it held this long (scale-down-delay), ms; 0 = at once. */
  readonly downWindowMs: number;
  /**
   * `concurrency`: the stable window the observed concurrency is averaged over (Knative
   * `window`), ms; the panic window is 10 % of it and panic ends after a whole one without
   * a burst. Default STABLE_WINDOW_MS.
   */
  readonly stableWindowMs: number;
}

/** What applies when a label is absent (from config). */
export interface SpecDefaults {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** What `com.openfaas.scale.max=0` (Code Engine's "unlimited") means. */
  readonly maxReplicasCeiling: number;
}

export type SpecResult = { readonly ok: true; readonly spec: PolicySpec } | { readonly ok: false; readonly problems: readonly string[] };

/** Defaults of the settings issue 10 names; min and max come from `SpecDefaults`. */
export const SPEC_DEFAULTS = {
  maxQueueSize: 1,
  step: 1,
  maxIdleTimeMs: 120_000,
  minFreeWorkers: 1,
  /** Knative's container-concurrency-target-default, used when neither target nor concurrency is set. */
  target: 100,
  downWindowMs: 0,
  stableWindowMs: STABLE_WINDOW_MS,
} as const;

/**
 * The hard per-replica limit (`concurrency`) when its label is absent: 1 for `queue` and
 * `free-workers` (EverAI's workers take one request each, and with no limit one replica takes
 * every call, nothing waits busy and neither kind can move), else `fallback` (0, unlimited). Pure.
 */
export function defaultConcurrency(kind: PolicyKind | string | undefined, fallback = 0): number {
  return kind === 'queue' || kind === 'free-workers' ? Math.max(fallback, 1) : fallback;
}

/** Knative's bounds of the stable window (`autoscaling.knative.dev/window`), ms. */
export const STABLE_WINDOW_BOUNDS_MS = { least: 6_000, most: 3_600_000 } as const;

type Source = Readonly<Record<string, string>>;

/** Reads labels then annotations, long names (`com.openfaas.scale.<key>`) before short ones (`scale.<key>`). */
class Reader {
  readonly problems: string[] = [];

  constructor(
    private readonly labels: Source,
    private readonly annotations: Source,
  ) {}

  find(key: string): [string, string] | undefined {
    const names = [`com.openfaas.scale.${key}`, `scale.${key}`];
    for (const source of [this.labels, this.annotations]) {
      for (const name of names) {
        const value = source[name];
        if (value !== undefined) return [name, value.trim()];
      }
    }
    return undefined;
  }

  int(key: string, fallback: number, least = 0): number {
    const found = this.find(key);
    if (found === undefined) return fallback;
    const [name, raw] = found;
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < least) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not an integer of at least ${least}`);
      return fallback;
    }
    return Number(raw);
  }

  positive(key: string): number | undefined {
    const found = this.find(key);
    if (found === undefined) return undefined;
    const [name, raw] = found;
    const value = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value) || value <= 0) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not a number greater than 0`);
      return undefined;
    }
    return value;
  }

  duration(key: string, fallback: number): number {
    const found = this.find(key);
    if (found === undefined) return fallback;
    const [name, raw] = found;
    const ms = parseDurationMs(raw);
    if (ms === null) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not a duration like 30s or 15m`);
      return fallback;
    }
    return ms;
  }

  kind(): PolicyKind {
    const found = this.find('type');
    if (found === undefined) return 'rps';
    const [name, raw] = found;
    const kind = POLICY_KINDS.find((k) => k === raw);
    if (kind === undefined) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not one of ${POLICY_KINDS.join(', ')}`);
      return 'rps';
    }
    return kind;
  }
}

/**
 * Reads a function's policy kind (`com.openfaas.scale.type`, default `rps`) and its settings:
 * `min`, `max` (0 = the global ceiling), `max-queue`, `step`, `idle-timeout`, `min-free`,
 * `target`, `concurrency`, `down.window`, `window` (6s to 1h). Every problem is listed; none is guessed.
 */
export function parsePolicySpec(labels: Source, annotations: Source, defaults: SpecDefaults): SpecResult {
  const read = new Reader(labels, annotations);
  const kind = read.kind();
  const minReplicas = read.int('min', defaults.minReplicas);
  const rawMax = read.int('max', defaults.maxReplicas);
  const maxQueueSize = read.int('max-queue', SPEC_DEFAULTS.maxQueueSize);
  const step = read.int('step', SPEC_DEFAULTS.step, 1);
  const maxIdleTimeMs = read.duration('idle-timeout', SPEC_DEFAULTS.maxIdleTimeMs);
  const minFreeWorkers = read.int('min-free', SPEC_DEFAULTS.minFreeWorkers);
  const concurrency = read.int('concurrency', defaultConcurrency(kind));
  const target = read.positive('target') ?? (concurrency > 0 ? concurrency : SPEC_DEFAULTS.target);
  const downWindowMs = read.duration('down.window', SPEC_DEFAULTS.downWindowMs);
  const stableWindowMs = read.duration('window', SPEC_DEFAULTS.stableWindowMs);
  const problems = read.problems;
  if (stableWindowMs < STABLE_WINDOW_BOUNDS_MS.least || stableWindowMs > STABLE_WINDOW_BOUNDS_MS.most) {
    problems.push(`${read.find('window')?.[0] ?? 'window'}=${stableWindowMs / 1000}s is not between 6s and 1h (Knative's bounds of the stable window)`);
  }
  const maxReplicas = rawMax === 0 ? defaults.maxReplicasCeiling : rawMax;
  if (problems.length === 0 && minReplicas > maxReplicas) {
    problems.push(rawMax === 0 ? `min (${minReplicas}) is greater than the global ceiling (${maxReplicas}) that max=0 stands for` : `min (${minReplicas}) is greater than max (${maxReplicas})`);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, spec: { kind, minReplicas, maxReplicas, maxQueueSize, step, maxIdleTimeMs, minFreeWorkers, target, concurrency, downWindowMs, stableWindowMs } };
}

/**
 * The settings worth exporting as gauges for `kind` (metric label `setting` → value), so one
 * generic alert rule can compare each function with its own threshold. Durations in seconds.
 */
export function policySettings(spec: PolicySpec): Readonly<Record<string, number>> {
  const common = { min_replicas: spec.minReplicas, max_replicas: spec.maxReplicas };
  switch (spec.kind) {
    case 'rps':
      return common;
    case 'queue':
      return { ...common, max_queue_size: spec.maxQueueSize, scale_up_step: spec.step, max_idle_seconds: spec.maxIdleTimeMs / 1000 };
    case 'free-workers':
      return { ...common, min_free_workers: spec.minFreeWorkers, scale_up_step: spec.step, max_idle_seconds: spec.maxIdleTimeMs / 1000 };
    case 'concurrency':
      return { ...common, target: spec.target, concurrency: spec.concurrency, down_window_seconds: spec.downWindowMs / 1000, stable_window_seconds: spec.stableWindowMs / 1000 };
  }
}
