import { POLICY_KINDS, type PolicyKind } from './spec.js';

/**
 * The parser that reads a label: `scaling` is `parseScalingPolicy` (src/policy/labels.ts),
 * `request` is `parseRequestLimits` (same file), `spec` is `parsePolicySpec`
 * (src/policy/spec.ts), `policy-name` is `policyNameOf` (src/policy/named.ts).
 */
export type LabelParser = 'scaling' | 'request' | 'spec' | 'policy-name';

/** One scale label: how it is written, what reads it, what it means. */
export interface LabelRow {
  /** The full label name (`com.openfaas.scale.min`). */
  readonly name: string;
  /** The short form (`scale.min`); null when there is none. */
  readonly short: string | null;
  /** The policy kinds the label changes anything for. */
  readonly kinds: readonly PolicyKind[];
  /** Every parser that reads it (test/policy/label-table.test.ts checks this against the parsers). */
  readonly parsers: readonly LabelParser[];
  /**
   * Parsers that read it only to pick another label's default (`request` reads the kind for
   * `concurrency`'s), leaving its problems to `parsers`; absent: none.
   */
  readonly readers?: readonly LabelParser[];
  /** A value every parser of the row accepts, for the docs and the tests. */
  readonly example: string;
  /** The default as the README states it. */
  readonly default: string;
  readonly meaning: string;
  /** Keys of a named policy in the platforms' own words that set this label (EverAI, Code Engine). */
  readonly platformKeys: readonly string[];
  /** Whether a named policy may set it (only `policy` may not: a policy cannot name another). */
  readonly named: boolean;
}

const ALL = POLICY_KINDS;
const LONG = 'com.openfaas.scale.';

/** A `com.openfaas.scale.<suffix>` row with its `scale.<suffix>` short form. */
function scale(suffix: string, row: Omit<LabelRow, 'name' | 'short' | 'platformKeys' | 'named'> & Partial<Pick<LabelRow, 'platformKeys' | 'named'>>): LabelRow {
  return { name: LONG + suffix, short: `scale.${suffix}`, platformKeys: [], named: true, ...row };
}

/**
 * Every label a function's scaling reads, one row each: the one list the known-suffix list,
 * the named-policy keys and the README's label table are derived from. Adding a label is a
 * row here plus its read in the parser named by `parsers`.
 */
export const LABEL_TABLE: readonly LabelRow[] = [
  scale('type', { kinds: ALL, parsers: ['spec'], readers: ['request'], example: 'queue', default: '`rps`', meaning: 'the policy kind: `rps`, `queue`, `free-workers` or `concurrency`' }),
  scale('policy', { kinds: ALL, parsers: ['policy-name'], example: 'get-start', default: '(none)', meaning: 'take the settings of this named policy (see Named policies that reload)', named: false }),
  scale('min', { kinds: ALL, parsers: ['scaling', 'spec'], example: '1', default: '1', meaning: 'fewest replicas; 0: starts at zero, the first request wakes it', platformKeys: ['min_workers', 'min-scale'] }),
  scale('max', { kinds: ALL, parsers: ['scaling', 'spec'], example: '10', default: '20', meaning: 'most replicas; 0: the configured `maxReplicasCeiling`', platformKeys: ['max_workers', 'max-scale'] }),
  scale('factor', { kinds: ['rps'], parsers: ['scaling'], example: '20', default: '20', meaning: 'percent of max added per firing alert; 0 disables alert scale-up' }),
  scale('down.window', {
    kinds: ['rps', 'concurrency'], parsers: ['scaling', 'spec'], example: '30s', default: '30s (`rps`), 0s (`concurrency`)',
    meaning: '`rps`: quiet time after the last resolved alert before returning to min; `concurrency`: how long a lower count must hold', platformKeys: ['scale-down-delay'],
  }),
  scale('zero', { kinds: ALL, parsers: ['scaling'], example: 'true', default: 'true when min is 0, else false', meaning: 'idle scale-to-zero after `zero-duration` (`false` with min 0: a woken function stays up)' }),
  scale('zero-duration', { kinds: ALL, parsers: ['scaling'], example: '15m', default: '15m', meaning: 'idle time before scaling to zero' }),
  scale('wake-timeout', { kinds: ALL, parsers: ['scaling', 'request'], example: '30s', default: '30s', meaning: 'how long a request may wait in the function\'s queue, for a wake or for a busy replica\'s slot; then 504' }),
  scale('concurrency', { kinds: ALL, parsers: ['spec', 'request'], example: '2', default: '1 (`queue`, `free-workers`), else 0', meaning: 'hard limit of requests in flight per replica, across all gateways; 0 = unlimited', platformKeys: ['concurrency'] }),
  scale('max-queued', { kinds: ALL, parsers: ['request'], example: '100', default: 'config', meaning: 'requests that may wait for a slot; past it 503 with `Retry-After`' }),
  scale('dry-run', { kinds: ALL, parsers: ['scaling'], example: 'true', default: 'config (`false`)', meaning: 'record automatic decisions in the event log with `dryRun: true`, apply none (see Dry run)' }),
  scale('max-queue', { kinds: ['queue'], parsers: ['spec'], example: '2', default: '1', meaning: 'requests waiting busy before a step up', platformKeys: ['max_queue_size'] }),
  scale('step', { kinds: ['queue', 'free-workers'], parsers: ['spec'], example: '1', default: '1', meaning: 'replicas added per step', platformKeys: ['scale_up_step'] }),
  scale('idle-timeout', { kinds: ['queue', 'free-workers'], parsers: ['spec'], example: '60s', default: '120s', meaning: 'idle time before a replica may go (a bare number is seconds)', platformKeys: ['max_idle_time'] }),
  scale('min-free', { kinds: ['free-workers'], parsers: ['spec'], example: '1', default: '1', meaning: 'free replicas to keep', platformKeys: ['min_free_workers'] }),
  scale('target', { kinds: ['concurrency'], parsers: ['spec'], example: '1.5', default: '`concurrency`, else 100', meaning: 'requests per replica to aim for (soft)', platformKeys: ['concurrency-target'] }),
  scale('window', { kinds: ['concurrency'], parsers: ['spec'], example: '60s', default: '60s', meaning: 'stable window (6s to 1h); the panic window is 10 % of it' }),
  {
    name: 'com.openfaas.request-timeout', short: null, kinds: ALL, parsers: ['request'], example: '30s', default: 'config (5m)',
    meaning: 'a request running longer gets 504 `REQUEST_TIMEOUT`, its upstream call is aborted and its slot freed', platformKeys: ['request-timeout'], named: true,
  },
  {
    name: 'com.openfaas.websocket.idle-timeout', short: null, kinds: ALL, parsers: ['request'], example: '60s', default: 'config (5m)',
    meaning: 'a WebSocket silent in both directions this long is closed with code 1001 and its slot freed; `0s`: never (see WebSockets)', platformKeys: [], named: true,
  },
  {
    name: 'com.openfaas.protocol', short: null, kinds: ALL, parsers: ['request'], example: 'h2c', default: '`http`',
    meaning: 'how the gateway speaks to the replicas: `http` (HTTP/1.1) or `h2c` (HTTP/2 without TLS, one session per replica; needed for gRPC)', platformKeys: [], named: false,
  },
];

/** The suffixes of `com.openfaas.scale.<suffix>` / `scale.<suffix>` a named policy may set (every short-form row but `policy`). */
export const NAMED_SUFFIXES: readonly string[] = LABEL_TABLE.filter((row) => row.named && row.short !== null).map((row) => row.name.slice(LONG.length));

/** Our full label names a named policy may set, as written (`com.openfaas.request-timeout` has no short form). */
export const NAMED_LABELS: readonly string[] = LABEL_TABLE.filter((row) => row.named).map((row) => row.name);

/** Named-policy keys in the platforms' own words → the label each sets. */
export const PLATFORM_KEYS: Readonly<Record<string, string>> = Object.fromEntries(
  LABEL_TABLE.flatMap((row) => row.platformKeys.map((key): [string, string] => [key, row.name])),
);

/** The README's "Scale labels" table, as Markdown lines (test/policy/label-table.test.ts keeps the README equal to it). */
export function labelTableMarkdown(): string {
  const lines = ['| Label | Short form | Kinds | Default | Meaning |', '|---|---|---|---|---|'];
  for (const row of LABEL_TABLE) {
    const kinds = row.kinds.length === ALL.length ? 'all' : row.kinds.map((k) => `\`${k}\``).join(', ');
    lines.push(`| \`${row.name}\` | ${row.short === null ? '(none)' : `\`${row.short}\``} | ${kinds} | ${row.default} | ${row.meaning} |`);
  }
  return lines.join('\n');
}
