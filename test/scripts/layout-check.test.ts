import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { applyAllowlist, checkLayout, main, type LayoutViolation } from '../../scripts/layout-check.mjs';

const roots: string[] = [];

/** Writes a fixture tree (path → text) into a fresh temp dir and returns the dir. */
function tree(files: Readonly<Record<string, string>>): string {
  const root = mkdtempSync(join(tmpdir(), 'layout-check-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** A function declaration of exactly `lines` lines. */
function fn(name: string, lines: number): string {
  const body = Array.from({ length: lines - 2 }, (_, i) => `  const v${i} = ${i};`).join('\n');
  return `export function ${name}(): void {\n${body}\n}\n`;
}

/** An object literal returned by a function of exactly `lines` lines (a declarative table). */
function table(name: string, lines: number): string {
  const rows = Array.from({ length: lines - 4 }, (_, i) => `    k${i}: ${i},`).join('\n');
  return `export const ${name} = (): Record<string, number> => {\n  return {\n${rows}\n  };\n};\n`;
}

const keys = (violations: readonly LayoutViolation[]): string[] => violations.map((v) => v.key);

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe('layout check', () => {
  it('a clean tree reports nothing', () => {
    const root = tree({
      'src/core/ref.ts': 'export interface Ref { readonly name: string }\n',
      'src/policy/step.ts': "import type { Ref } from '../core/ref.js';\n" + fn('step', 60) + 'export interface StepResult { readonly ref: Ref }\n',
      'src/engine/loop.ts': "import { step } from '../policy/step.js';\nimport type { Ref } from '../core/ref.js';\nexport const run = (_r: Ref): void => step();\n",
      'src/providers/memory.ts': "import type { StepResult } from '../policy/step.js';\nexport type S = StepResult;\n",
      'src/main.ts': "import { run } from './engine/loop.js';\nrun({ name: 'x' });\n",
    });
    expect(checkLayout(root)).toEqual([]);
  });

  it('a file over 300 lines is reported, one of 300 is not', () => {
    const root = tree({
      'src/core/long.ts': '// x\n'.repeat(301),
      'src/core/full.ts': '// x\n'.repeat(300),
    });
    const found = checkLayout(root);
    expect(keys(found)).toEqual(['src/core/long.ts: over 300 lines']);
    expect(found[0]?.kind).toBe('file-length');
  });

  it('a function, a method and a const arrow over 60 lines are reported, 60 lines are not', () => {
    const arrow = fn('arrow', 61).replace('export function arrow(): void {', 'export const arrow = (): void => {').replace(/}\n$/, '};\n');
    const method = `export class Box {\n${fn('open', 61).replace('export function ', '  ')}}\n`;
    const root = tree({ 'src/engine/fns.ts': fn('long', 61) + fn('fits', 60) + arrow + method });
    expect(keys(checkLayout(root))).toEqual([
      'src/engine/fns.ts: function Box.open over 60 lines',
      'src/engine/fns.ts: function arrow over 60 lines',
      'src/engine/fns.ts: function long over 60 lines',
    ]);
  });

  it('a long literal marked as a table is not reported; unmarked it is', () => {
    const root = tree({
      'src/metrics/marked.ts': `/** All metrics. */\n// layout: table (one entry per metric)\n${table('metrics', 80)}`,
      'src/metrics/plain.ts': table('metrics', 80),
    });
    expect(keys(checkLayout(root))).toEqual(['src/metrics/plain.ts: function metrics over 60 lines']);
  });

  it('an import cycle is reported, type-only imports included', () => {
    const root = tree({
      'src/sim/trace.ts': "import { builtin } from './builtin.js';\nexport interface Trace { readonly n: number }\nexport const open = builtin;\n",
      'src/sim/builtin.ts': "import type { Trace } from './trace.js';\nexport const builtin = (): Trace => ({ n: 1 });\n",
    });
    const found = checkLayout(root);
    expect(keys(found)).toEqual(['src/sim/builtin.ts, src/sim/trace.ts: import cycle']);
    expect(found[0]?.message).toContain('src/sim/builtin.ts -> src/sim/trace.ts -> src/sim/builtin.ts');
  });

  it('an upward import is reported, type-only too; a policy value in providers is reported, a policy type is not', () => {
    const root = tree({
      'src/engine/changer.ts': 'export interface Decision { readonly replicas: number }\n',
      'src/policy/bounds.ts': "import type { Decision } from '../engine/changer.js';\nexport const bounds = (): Decision => ({ replicas: 1 });\n",
      'src/policy/named.ts': 'export interface Named { readonly name: string }\nexport const overlay = (n: Named): Named => n;\n',
      'src/policy/alert-state.ts': 'export const EMPTY = Object.freeze({});\n',
      'src/providers/named.ts': "import { overlay, type Named } from '../policy/named.js';\nexport const use = (n: Named): Named => overlay(n);\n",
      'src/providers/typed.ts': "import type { Named } from '../policy/named.js';\nimport { EMPTY } from '../policy/alert-state.js';\nexport const e = EMPTY;\nexport type N = Named;\n",
    });
    const found = checkLayout(root);
    expect(keys(found)).toEqual([
      'src/policy/bounds.ts -> src/engine/changer.ts: upward import (policy -> engine)',
      'src/providers/named.ts -> src/policy/named.ts: providers import a policy value',
    ]);
    expect(found.map((v) => v.kind)).toEqual(['upward', 'upward']);
  });

  it('src/bootstrap/ is in the top layer: it may import server.ts, and a lower layer may not import it', () => {
    const root = tree({
      'src/server.ts': 'export const createApp = (): number => 1;\n',
      'src/bootstrap/app.ts': "import { createApp } from '../server.js';\nexport const app = createApp();\n",
      'src/bootstrap.ts': "import { app } from './bootstrap/app.js';\nexport const started = app;\n",
      'src/sim/run.ts': "import { app } from '../bootstrap/app.js';\nexport const x = app;\n",
    });
    expect(keys(checkLayout(root))).toEqual(['src/sim/run.ts -> src/bootstrap/app.ts: upward import (sim -> top)']);
  });

  it('a file in no layer is reported', () => {
    const root = tree({ 'src/queues/queue.ts': 'export const q = 1;\n' });
    expect(keys(checkLayout(root))).toEqual(['src/queues/queue.ts: in no layer']);
  });

  it('the allowlist lets listed violations pass, counts them and names stale entries', () => {
    const root = tree({ 'src/core/long.ts': '// x\n'.repeat(301) });
    const found = checkLayout(root);
    const split = applyAllowlist(found, { 'src/core/long.ts: over 300 lines': 'to split', 'src/core/gone.ts: over 300 lines': 'fixed' });
    expect(split.failures).toEqual([]);
    expect(keys(split.allowed)).toEqual(['src/core/long.ts: over 300 lines']);
    expect(split.stale).toEqual(['src/core/gone.ts: over 300 lines']);
  });

  it('the command fails on a violation not allowed and passes once it is listed', () => {
    const root = tree({ 'src/core/long.ts': '// x\n'.repeat(301) });
    const out: string[] = [];
    const sink = { write: (text: string) => out.push(text) };
    expect(main([root], sink, sink)).toBe(1);
    expect(out.join('')).toContain('src/core/long.ts: 301 lines');
    mkdirSync(join(root, 'scripts'));
    writeFileSync(join(root, 'scripts', 'layout-allow.json'), JSON.stringify({ 'src/core/long.ts: over 300 lines': 'to split' }));
    out.length = 0;
    expect(main([root], sink, sink)).toBe(0);
    expect(out.join('')).toContain('1 allowed by 1 entries');
  });
});
