import { parseScalingPolicy, type PolicyDefaults, type PolicyResult } from '../policy/labels.js';
import { parsePolicySpec, type SpecDefaults, type SpecResult } from '../policy/spec.js';

type Labels = Readonly<Record<string, string>>;

/** A function's labels parsed once: the scale policy the change cycle reads and the kind's spec. */
export interface ParsedPolicy {
  readonly scaling: PolicyResult;
  readonly spec: SpecResult;
}

/** A parse and its signature, shared by the functions whose settings are the same. */
interface SharedPolicy {
  readonly signature: string;
  readonly parsed: ParsedPolicy;
}

interface Cached {
  labels: Labels;
  annotations: Labels;
  signature: string;
  parsed: ParsedPolicy;
}

/** Whether the parsers read a key: `com.openfaas.*` and the short `scale.*` forms (src/policy/labels.ts, spec.ts); no other key changes a policy. */
const isPolicyKey = (key: string): boolean => key.startsWith('com.openfaas.') || key.startsWith('scale.');

/** The labels and annotations the parsers read, as one string (sorted keys), to tell a copy from a change. */
function signatureOf(labels: Labels, annotations: Labels): string {
  const part = (source: Labels): string => Object.keys(source).filter(isPolicyKey).sort().map((k) => `${k}=${source[k] ?? ''}`).join('\n');
  return `${part(labels)}\n\n${part(annotations)}`;
}

/** Distinct policies kept for sharing; past it a new one is parsed for its function alone. */
const SHARED_POLICIES = 4096;

/**
 * Each function's parsed policy, computed when its labels or annotations change and reused
 * otherwise: the same objects are a hit at once; an equal copy (a provider that builds a new
 * object per read, the named-policy overlay) is a hit after one string comparison.
 */
export class PolicyCache {
  private readonly entries = new Map<string, Cached>();
  /**
   * Parsed policies by signature, shared by every function with the same settings (most
   * functions of a cluster share a few): a function keeps a reference, not its own copy of
   * the parse and of the signature text. Parsed policies are read-only.
   */
  private readonly shared = new Map<string, SharedPolicy>();

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
    const shared = this.shared.get(signature) ?? this.share(signature, labels, annotations);
    this.entries.set(key, { labels, annotations, signature: shared.signature, parsed: shared.parsed });
    return shared.parsed;
  }

  /** Parses a new signature's policy, kept for the functions that share it while there is room. */
  private share(signature: string, labels: Labels, annotations: Labels): SharedPolicy {
    const parsed: ParsedPolicy = {
      scaling: parseScalingPolicy(labels, annotations, this.policyDefaults),
      spec: parsePolicySpec(labels, annotations, this.specDefaults),
    };
    const shared = { signature, parsed };
    if (this.shared.size < SHARED_POLICIES) this.shared.set(signature, shared);
    return shared;
  }

  /** A function that is gone. */
  forget(key: string): void {
    this.entries.delete(key);
  }
}
