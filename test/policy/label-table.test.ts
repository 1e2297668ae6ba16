import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { LABEL_TABLE, labelTableMarkdown, NAMED_SUFFIXES, PLATFORM_KEYS, type LabelParser } from '../../src/policy/label-table.js';
import { parseRequestLimits, parseScalingPolicy, type PolicyDefaults, type RequestLimits } from '../../src/policy/labels.js';
import { POLICY_LABEL, policyNameOf, translateNamedPolicy, type NamedPolicyDefaults } from '../../src/policy/named.js';
import { parsePolicySpec, type SpecDefaults } from '../../src/policy/spec.js';

type Labels = Readonly<Record<string, string>>;

const POLICY: PolicyDefaults = { minReplicas: 1, maxReplicas: 20, factorPercent: 20, scaleDownWindowMs: 30_000, scaleToZero: false, zeroDurationMs: 900_000, wakeTimeoutMs: 30_000 };
const SPEC: SpecDefaults = { minReplicas: 1, maxReplicas: 20, maxReplicasCeiling: 100 };
const REQUEST: RequestLimits = { concurrency: 0, maxQueued: 1000, requestTimeoutMs: 300_000, maxWaitMs: 30_000 };
const DEFAULTS: NamedPolicyDefaults = { policy: POLICY, spec: SPEC, request: REQUEST };

/** Each parser as (labels, annotations) → the problems it found (empty: accepted). */
const PARSERS: Record<LabelParser, (labels: Labels, annotations: Labels) => readonly string[]> = {
  scaling: (l, a) => {
    const r = parseScalingPolicy(l, a, POLICY);
    return r.ok ? [] : r.problems;
  },
  request: (l, a) => {
    const r = parseRequestLimits(l, a, REQUEST);
    return r.ok ? [] : r.problems;
  },
  spec: (l, a) => {
    const r = parsePolicySpec(l, a, SPEC);
    return r.ok ? [] : r.problems;
  },
  'policy-name': (l, a) => (policyNameOf(l, a) === undefined ? ['no policy named'] : []),
};

/** Every label name a parser looks up, labels and annotations alike, seen through a recording proxy. */
function namesRead(parser: LabelParser): Set<string> {
  const read = new Set<string>();
  const recorder = (): Labels => new Proxy({}, {
    get(_target, key) {
      if (typeof key === 'string') read.add(key);
      return undefined;
    },
  });
  PARSERS[parser](recorder(), recorder());
  return read;
}

const namesOf = (parser: LabelParser): Set<string> =>
  new Set(LABEL_TABLE.filter((row) => row.parsers.includes(parser) || (row.readers ?? []).includes(parser)).flatMap((row) => (row.short === null ? [row.name] : [row.name, row.short])));

describe('the label table', () => {
  it.each(Object.keys(PARSERS) as LabelParser[])('the labels %s reads are exactly the table rows that name it', (parser) => {
    expect([...namesRead(parser)].sort()).toEqual([...namesOf(parser)].sort());
  });

  const forms = LABEL_TABLE.flatMap((row) => (row.short === null ? [[row.name, row] as const] : [[row.name, row] as const, [row.short, row] as const]));
  it.each(forms)('%s with its example value parses in every parser of its row, as a label and as an annotation', (name, row) => {
    for (const parser of row.parsers) {
      expect(PARSERS[parser]({ [name]: row.example }, {})).toEqual([]);
      expect(PARSERS[parser]({}, { [name]: row.example })).toEqual([]);
    }
  });

  it.each(LABEL_TABLE.filter((row) => !row.parsers.includes('policy-name')).map((row) => [row.name, row] as const))('%s with a value that is none is refused by every parser of its row', (name, row) => {
    for (const parser of row.parsers) expect(PARSERS[parser]({ [name]: 'not-a-value' }, {}).join('\n')).toContain(name);
  });

  it('the policy row is the label policyNameOf reads, and a named policy may not set it', () => {
    const row = LABEL_TABLE.find((r) => r.parsers.includes('policy-name'));
    expect(row?.name).toBe(POLICY_LABEL);
    expect(row?.named).toBe(false);
    expect(NAMED_SUFFIXES).not.toContain('policy');
  });

  it.each(LABEL_TABLE.filter((row) => row.named).map((row) => [row.name, row] as const))('a named policy may set %s by its name, its short form and its platform keys', (name, row) => {
    for (const key of [row.name, ...(row.short === null ? [] : [row.short]), ...row.platformKeys]) {
      expect(translateNamedPolicy({ [key]: row.example }, DEFAULTS)).toEqual({ labels: { [name]: row.example }, problems: [], keys: [] });
    }
  });

  it('the platform keys are the ones the README names, each mapped to its row', () => {
    expect(Object.keys(PLATFORM_KEYS).sort()).toEqual([
      'concurrency', 'concurrency-target', 'max-scale', 'max_idle_time', 'max_queue_size', 'max_workers', 'min-scale', 'min_free_workers', 'min_workers', 'request-timeout', 'scale-down-delay', 'scale_up_step',
    ]);
    expect(PLATFORM_KEYS['max_idle_time']).toBe('com.openfaas.scale.idle-timeout');
    expect(PLATFORM_KEYS['request-timeout']).toBe('com.openfaas.request-timeout');
  });

  it('no label is a row twice', () => {
    const names = LABEL_TABLE.flatMap((row) => (row.short === null ? [row.name] : [row.name, row.short]));
    expect(new Set(names).size).toBe(names.length);
  });

  it('the README\'s scale-label table is the one the table derives', () => {
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(labelTableMarkdown());
  });
});
