import { parseRequestLimits, parseScalingPolicy, type PolicyDefaults, type RequestLimits } from './labels.js';
import { NAMED_LABELS, NAMED_SUFFIXES, PLATFORM_KEYS } from './label-table.js';
import { parsePolicySpec, type SpecDefaults } from './spec.js';

/** The label that names a function's policy: `com.openfaas.scale.policy=<name>` (short `scale.policy`). */
export const POLICY_LABEL = 'com.openfaas.scale.policy';

/**
 * Keys of a named policy in the platforms' own words, and the label each one sets (from
 * LABEL_TABLE). EverAI: `min_workers` ... `min_free_workers`; IBM Code Engine: `min-scale` ...
 * `scale-down-delay`. Durations (`max_idle_time`, `request-timeout`, `scale-down-delay`) are
 * seconds when bare numbers, as both platforms write them, or Go durations (`90s`, `2m`).
 */
export { PLATFORM_KEYS } from './label-table.js';

/** What the parsers fall back to for settings a policy leaves out (the gateway's config). */
export interface NamedPolicyDefaults {
  readonly policy: PolicyDefaults;
  readonly spec: SpecDefaults;
  readonly request: RequestLimits;
}

/** A translated policy: the labels it sets, and every problem found (none: the policy is good). */
export interface NamedPolicyTranslation {
  /** Our label names → values; only the keys the policy sets. */
  readonly labels: Readonly<Record<string, string>>;
  /** Each problem names the policy key it is about (`min_workers: ...`); empty when the policy is good. */
  readonly problems: readonly string[];
  /** The policy keys named by `problems`, for logs and events. */
  readonly keys: readonly string[];
}

/** Defaults under which a single label can only fail on its own value, never against another setting. */
const NEUTRAL: NamedPolicyDefaults = {
  policy: { minReplicas: 0, maxReplicas: Number.MAX_SAFE_INTEGER, factorPercent: 0, scaleDownWindowMs: 0, scaleToZero: false, zeroDurationMs: 0, wakeTimeoutMs: 1 },
  spec: { minReplicas: 0, maxReplicas: Number.MAX_SAFE_INTEGER, maxReplicasCeiling: Number.MAX_SAFE_INTEGER },
  request: { concurrency: 0, maxQueued: 0, requestTimeoutMs: 1, maxWaitMs: 1 },
};

/** Our label for a policy key (a platform word, or one of LABEL_TABLE's names a policy may set, long or short), or undefined when the key is unknown. */
export function labelForKey(key: string): string | undefined {
  const platform = PLATFORM_KEYS[key];
  if (platform !== undefined) return platform;
  if (NAMED_LABELS.includes(key)) return key;
  const suffix = key.startsWith('scale.') ? key.slice('scale.'.length) : undefined;
  return suffix !== undefined && NAMED_SUFFIXES.includes(suffix) ? `com.openfaas.scale.${suffix}` : undefined;
}

/** Problems the existing label parsers find in `labels` (the same checks a function's own labels get). */
function check(labels: Readonly<Record<string, string>>, defaults: NamedPolicyDefaults): string[] {
  const scaling = parseScalingPolicy(labels, {}, defaults.policy);
  if (!scaling.ok) return [...scaling.problems];
  const spec = parsePolicySpec(labels, {}, defaults.spec);
  if (!spec.ok) return [...spec.problems];
  const limits = parseRequestLimits(labels, {}, defaults.request);
  return limits.ok ? [] : [...limits.problems];
}

/**
 * Translates a named policy (a ConfigMap's `data`, a stack file's `policies.<name>`) into our
 * labels, pure. Unknown keys, bad values and two keys setting one label differently are
 * problems naming the key. Each value is checked by the same parsers as a label; then the
 * whole policy is checked with `defaults` for what it leaves out (so `min_workers: 30`
 * without `max_workers` is refused when the default max is 20).
 */
export function translateNamedPolicy(data: Readonly<Record<string, string>>, defaults: NamedPolicyDefaults): NamedPolicyTranslation {
  const labels: Record<string, string> = {};
  const from: Record<string, string> = {};
  const problems: string[] = [];
  const keys = new Set<string>();
  const problem = (key: string, text: string): void => {
    problems.push(`${key}: ${text}`);
    keys.add(key);
  };
  for (const key of Object.keys(data).sort()) {
    const value = (data[key] ?? '').trim();
    const label = labelForKey(key);
    if (label === undefined) {
      problem(key, key.endsWith('.policy') ? 'a named policy cannot name another policy' : 'is not a key of a named policy (see the README for the keys)');
      continue;
    }
    const own = check({ [label]: value }, NEUTRAL);
    if (own.length > 0) {
      problem(key, own.join('; '));
      continue;
    }
    const earlier = from[label];
    if (earlier !== undefined && labels[label] !== value) {
      problem(key, `sets ${label} to ${JSON.stringify(value)} but ${earlier} sets it to ${JSON.stringify(labels[label])}`);
      continue;
    }
    labels[label] = value;
    from[label] = key;
  }
  if (problems.length === 0) {
    for (const text of check(labels, defaults)) {
      // A conflict between settings: name every key the policy used.
      const involved = Object.values(from);
      problems.push(`${involved.join(', ')}: ${text}`);
      for (const key of involved) keys.add(key);
    }
  }
  return { labels, problems, keys: [...keys] };
}

/**
 * The labels a function runs with when it names a policy: its own labels with the policy's
 * on top. The policy wins over the function's labels and annotations (as on EverAI, where
 * the ConfigMap is the source of the autoscaler's settings); what the policy leaves out
 * still comes from the function.
 */
export function overlayPolicy(labels: Readonly<Record<string, string>>, policy: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const out: Record<string, string> = { ...labels };
  for (const [label, value] of Object.entries(policy)) {
    // The long form is read first anyway; dropping the function's short form keeps one value per setting.
    const short = label.replace('com.openfaas.scale.', 'scale.');
    if (short !== label) delete out[short];
    out[label] = value;
  }
  return out;
}

/** The policy a function names (long label before short, labels before annotations), or undefined. */
export function policyNameOf(labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): string | undefined {
  for (const source of [labels, annotations]) {
    for (const name of [POLICY_LABEL, 'scale.policy']) {
      const value = source[name]?.trim();
      if (value !== undefined && value !== '') return value;
    }
  }
  return undefined;
}
