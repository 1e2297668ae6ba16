/**
 * Property-based fuzz of the parsers that read what an operator writes: stack files
 * (parseStack) and label sets (parseScalingPolicy, parseRequestLimits, parsePolicySpec).
 * Seeded (RELIABILITY_SEED replays a run). Invariants: a parser returns a value or lists its
 * problems, never throws anything but its documented AppError; a value it returns is usable
 * (finite numbers, safe integer counts, min <= max, a positive wake timeout).
 */
import { describe, expect, it } from '@jest/globals';
import { dump } from 'js-yaml';
import { AppError } from '../../src/errors.js';
import { parseRequestLimits, parseScalingPolicy } from '../../src/policy/labels.js';
import { parsePolicySpec, POLICY_KINDS } from '../../src/policy/spec.js';
import { parseStack } from '../../src/providers/local/stack.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { Draw, suiteSeed, withSeed } from '../support/seed.js';

const STACKS = 2000;
const LABEL_SETS = 3000;
const SEED = suiteSeed(20_261_207);

/** True when `n` is a count a provider can be asked for. */
const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

// ---- stack files --------------------------------------------------------------------------

const NAMES = ['echo', 'a', 'fn-1', 'x0', 'Echo', '-lead', 'trail-', 'has_underscore', 'dot.ted', '', 'ünï', '__proto__', 'constructor', 'a'.repeat(300)];
const VALID_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SCALARS: unknown[] = ['x', '', 0, 1, -1, 1.5, true, false, null, '9'.repeat(400), [], {}, ['a'], { a: 1 }, '\u0000', 'ü'];

function stackCase(draw: Draw): { text: string; valid: boolean | 'unknown' } {
  const functions: Record<string, Record<string, unknown>> = {};
  const count = draw.int(0, 4);
  for (let i = 0; i < count; i++) {
    const fn: Record<string, unknown> = { command: draw.chance(0.5) ? 'node server.js' : ['node', 'server.js', `--n=${i}`] };
    if (draw.chance(0.5)) fn['labels'] = { 'com.openfaas.scale.min': String(draw.int(0, 3)), 'scale.max': draw.int(1, 10) };
    if (draw.chance(0.3)) fn['annotations'] = { note: 'x', flag: true };
    if (draw.chance(0.3)) fn['environment'] = { PORT_HINT: 8080, MODE: 'echo' };
    if (draw.chance(0.2)) fn['namespace'] = 'team-a';
    if (draw.chance(0.2)) fn['lang'] = 'node20';
    functions[`fn${i}-${draw.int(0, 99)}`] = fn;
  }
  const doc: Record<string, unknown> = { version: draw.pick([1.0, '1.0', 2]), functions };
  if (draw.chance(0.2)) doc['provider'] = { name: 'openfaas', gateway: 'http://127.0.0.1:8080' };
  if (draw.chance(0.55)) return { text: dump(doc), valid: true };

  // One mutation of the document's shape, then maybe of its text.
  const target = Object.values(functions)[0];
  const shape: Array<() => void> = [
    () => (doc['functions'] = draw.pick(SCALARS)),
    () => (functions[draw.pick(NAMES)] = { command: 'x' }),
    () => target !== undefined && (target['command'] = draw.pick(SCALARS)),
    () => target !== undefined && (target['labels'] = draw.pick([{ a: null }, { a: [] }, { a: { b: 1 } }, 'x', 7])),
    () => target !== undefined && (target['environment'] = draw.pick([['A=1'], { A: { deep: 1 } }, null])),
    () => target !== undefined && (target['namespace'] = draw.pick(['', 0, null, []])),
    () => target !== undefined && delete target['command'],
    () => (doc['version'] = draw.pick([null, [], {}])),
  ];
  draw.pick(shape)();
  let text = dump(doc, { skipInvalid: true });
  const textual: Array<(t: string) => string> = [
    (t) => t.slice(0, draw.int(0, t.length)),
    (t) => t.replace(/\n/g, draw.pick(['\n\t', '\r\n', '\n  '])),
    (t) => `${t}\n${draw.pick(['- stray', 'functions: again', '? complex\n: key', '{', ']', '"unterminated', '&a x: *b', '!!js/function "() => 1"', '!!binary AAAA', '<<: *nope'])}\n`,
    (t) => t.replace(/: /, ': &anchor '),
    (t) => `%YAML 1.2\n---\n${t}\n---\n${t}`,
    () => draw.pick(['', '---', '~', '[]', '"just a string"', '\u0000\u0001', 'functions:\n  echo:\n    command: !!str', '{functions: {a: {command: [x, *nothere]}}}']),
    // A billion-laughs-shaped alias tree inside an unknown key, then inside command.
    () => `lol: &a [x, x, x, x, x, x, x, x, x]\nlol2: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nlol3: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nlol4: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nfunctions:\n  echo:\n    command: *d\n`,
  ];
  if (draw.chance(0.6)) text = draw.pick(textual)(text);
  return { text, valid: 'unknown' };
}

describe('stack file fuzz', () => {
  it(`${STACKS} seeded stack files: a list of runnable functions, or CONFIG_INVALID; never another throw`, async () => {
    await withSeed(SEED, () => {
      const draw = new Draw(SEED ^ 0x57ac);
      const outcomes = { parsed: 0, refused: 0 };
      for (let n = 0; n < STACKS; n++) {
        const { text, valid } = stackCase(draw);
        const where = `stack ${n}: ${JSON.stringify(text.slice(0, 300))}`;
        let functions;
        try {
          functions = parseStack(text, '/srv/stack.yml', 'openfaas-fn');
        } catch (err) {
          expect([where, err instanceof AppError && err.code]).toEqual([where, 'CONFIG_INVALID']);
          expect([where, valid]).not.toEqual([where, true]);
          outcomes.refused += 1;
          continue;
        }
        outcomes.parsed += 1;
        for (const fn of functions) {
          const runnable =
            VALID_NAME.test(fn.name) && fn.namespace.length > 0 && fn.argv.length > 0 && fn.argv.every((a) => typeof a === 'string' && a.length > 0) && fn.cwd === '/srv' &&
            [fn.labels, fn.annotations, fn.environment].every((map) => Object.values(map).every((v) => typeof v === 'string'));
          expect([where, fn.name, runnable]).toEqual([where, fn.name, true]);
        }
      }
      // The generator reaches both sides.
      expect(outcomes.parsed).toBeGreaterThan(STACKS / 3);
      expect(outcomes.refused).toBeGreaterThan(STACKS / 5);
    });
  });
});

// ---- label sets ---------------------------------------------------------------------------

const KEYS = ['min', 'max', 'factor', 'down.window', 'zero', 'zero-duration', 'wake-timeout', 'concurrency', 'max-queued', 'type', 'max-queue', 'step', 'idle-timeout', 'min-free', 'target'];
const VALUES = [
  '0', '1', '2', '3', '5', '10', '20', '50', '100', '101', ' 4 ', '07', '-1', '1.5', '0.25', 'abc', '', ' ', '1e3', '0x10', '+3', '٣', '\u0000',
  '9007199254740993', '9'.repeat(20), '9'.repeat(400), '30s', '1m30s', '500ms', '1.5h', '0s', '0ms', '2h', '10 minutes', '-5s', '1d',
  'true', 'false', 'TRUE', '1', 'yes', ...POLICY_KINDS, 'Queue', 'none',
];
const SPEC_DEFAULTS = { minReplicas: 1, maxReplicas: 20, maxReplicasCeiling: 1000 };
const LIMIT_DEFAULTS = { concurrency: 0, maxQueued: 1000, requestTimeoutMs: 300_000, maxWaitMs: 30_000 };

function labelSet(draw: Draw): Record<string, string> {
  const set: Record<string, string> = {};
  const count = draw.int(0, 6);
  for (let i = 0; i < count; i++) {
    const key = draw.pick(KEYS);
    const name = draw.pick([`com.openfaas.scale.${key}`, `scale.${key}`, 'com.openfaas.request-timeout', `com.openfaas.scale.${key}.extra`]);
    set[name] = draw.chance(0.15) ? String(draw.int(0, 30)) : draw.pick(VALUES);
  }
  // Bounds drawn together often enough that min > max comes up hundreds of times a run.
  if (draw.chance(0.3)) {
    const prefix = draw.pick(['com.openfaas.scale.', 'scale.']);
    set[`${prefix}min`] = String(draw.int(0, 12));
    set[`${prefix}max`] = String(draw.int(0, 12));
  }
  if (draw.chance(0.05)) Object.defineProperty(set, '__proto__', { value: '5', enumerable: true });
  return set;
}

/** The value a label set gives `key` when it is a plain small integer (labels before annotations, long before short). */
function plainInt(key: string, labels: Record<string, string>, annotations: Record<string, string>): number | undefined {
  for (const source of [labels, annotations]) {
    for (const name of [`com.openfaas.scale.${key}`, `scale.${key}`]) {
      const value = source[name];
      if (value !== undefined) return /^\s*\d{1,6}\s*$/.test(value) ? Number(value) : undefined;
    }
  }
  return undefined;
}

function problemsListed(result: { ok: boolean } & ({ ok: true } | { ok: false; problems: readonly string[] })): boolean {
  return result.ok || (result.problems.length > 0 && result.problems.every((p) => typeof p === 'string' && p.length > 0));
}

describe('label fuzz', () => {
  it(`${LABEL_SETS} seeded label sets: a usable policy or a list of problems, never a throw, never min > max`, async () => {
    await withSeed(SEED, () => {
      const draw = new Draw(SEED ^ 0x1abe1);
      let accepted = 0;
      let refusedMinOverMax = 0;
      for (let n = 0; n < LABEL_SETS; n++) {
        const labels = labelSet(draw);
        const annotations = draw.chance(0.3) ? labelSet(draw) : {};
        const where = `labels ${n}: ${JSON.stringify({ labels, annotations })}`;

        const policy = parseScalingPolicy(labels, annotations, DEFAULT_POLICY);
        expect([where, problemsListed(policy)]).toEqual([where, true]);
        if (policy.ok) {
          const p = policy.policy;
          accepted += 1;
          const usable =
            isCount(p.minReplicas) && isCount(p.maxReplicas) && p.minReplicas <= p.maxReplicas && p.maxReplicas >= 1 &&
            isCount(p.factorPercent) && p.factorPercent <= 100 &&
            [p.scaleDownWindowMs, p.zeroDurationMs, p.wakeTimeoutMs].every((ms) => Number.isFinite(ms) && ms >= 0) && p.wakeTimeoutMs > 0;
          expect([where, 'scaling policy', p, usable]).toEqual([where, 'scaling policy', p, true]);
        }

        const limits = parseRequestLimits(labels, annotations, LIMIT_DEFAULTS);
        expect([where, problemsListed(limits)]).toEqual([where, true]);
        if (limits.ok) {
          const l = limits.limits;
          const usable = isCount(l.concurrency) && isCount(l.maxQueued) && Number.isFinite(l.requestTimeoutMs) && l.requestTimeoutMs > 0 && Number.isFinite(l.maxWaitMs) && l.maxWaitMs > 0;
          expect([where, 'request limits', l, usable]).toEqual([where, 'request limits', l, true]);
        }

        const spec = parsePolicySpec(labels, annotations, SPEC_DEFAULTS);
        expect([where, problemsListed(spec)]).toEqual([where, true]);
        if (spec.ok) {
          const s = spec.spec;
          const usable =
            isCount(s.minReplicas) && isCount(s.maxReplicas) && s.minReplicas <= s.maxReplicas &&
            isCount(s.maxQueueSize) && isCount(s.step) && s.step >= 1 && isCount(s.minFreeWorkers) && isCount(s.concurrency) &&
            Number.isFinite(s.target) && s.target > 0 && Number.isFinite(s.maxIdleTimeMs) && Number.isFinite(s.downWindowMs);
          expect([where, 'policy spec', s, usable]).toEqual([where, 'policy spec', s, true]);
        }

        // An oracle for the one rule the issue names: a plain min above a plain max is refused by every reader.
        const min = plainInt('min', labels, annotations);
        const max = plainInt('max', labels, annotations);
        if (min !== undefined && max !== undefined && max > 0 && min > max) {
          refusedMinOverMax += 1;
          expect([where, policy.ok, spec.ok]).toEqual([where, false, false]);
        }
      }
      expect(accepted).toBeGreaterThan(LABEL_SETS / 10);
      expect(refusedMinOverMax).toBeGreaterThan(100);
    });
  });
});
