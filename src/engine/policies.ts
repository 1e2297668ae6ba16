import { parseScalingPolicy, type PolicyDefaults, type PolicyResult } from '../policy/labels.js';
import { parsePolicySpec, type SpecDefaults, type SpecResult } from '../policy/spec.js';

type Labels = Readonly<Record<string, string>>;

/** A function's labels parsed once: the scale policy the change cycle reads and the kind's spec. */
export interface ParsedPolicy {
  readonly scaling: PolicyResult;
  readonly spec: SpecResult;
}

interface Cached {
  labels: Labels;
  annotations: Labels;
  signature: string;
  parsed: ParsedPolicy;
}

/** The labels and annotations as one string (sorted keys), to tell a copy from a change. */
function signatureOf(labels: Labels, annotations: Labels): string {
  const part = (source: Labels): string => Object.keys(source).sort().map((k) => `${k}=${source[k] ?? ''}`).join('\n');
  return `${part(labels)}\n\n${part(annotations)}`;
}

/**
 * Each function's parsed policy, computed when its labels or annotations change and reused
 * otherwise: the same objects are a hit at once; an equal copy (a provider that builds a new
 * object per read, the named-policy overlay) is a hit after one string comparison.
 */
export class PolicyCache {
  private readonly entries = new Map<string, Cached>();

  private readonly specDefaults: SpecDefaults;

  /** `specDefaults` default to the policy defaults' min, max and ceiling (max when none). */
  constructor(
    private readonly policyDefaults: PolicyDefaults,
    specDefaults?: SpecDefaults,
  ) {
    this.specDefaults = specDefaults ?? { minReplicas: policyDefaults.minReplicas, maxReplicas: policyDefaults.maxReplicas, maxReplicasCeiling: policyDefaults.maxReplicasCeiling ?? policyDefaults.maxReplicas };
  }

  /** The parsed policy of the function `key` (refKey) for these labels and annotations. */
  of(key: string, labels: Labels, annotations: Labels): ParsedPolicy {
    const cached = this.entries.get(key);
    if (cached !== undefined && cached.labels === labels && cached.annotations === annotations) return cached.parsed;
    const signature = signatureOf(labels, annotations);
    if (cached !== undefined && cached.signature === signature) {
      cached.labels = labels;
      cached.annotations = annotations;
      return cached.parsed;
    }
    const parsed: ParsedPolicy = {
      scaling: parseScalingPolicy(labels, annotations, this.policyDefaults),
      spec: parsePolicySpec(labels, annotations, this.specDefaults),
    };
    this.entries.set(key, { labels, annotations, signature, parsed });
    return parsed;
  }

  /** A function that is gone. */
  forget(key: string): void {
    this.entries.delete(key);
  }
}
