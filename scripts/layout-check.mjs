#!/usr/bin/env node
/**
 * The layout check of issue 17, run by `npm run lint`: `node scripts/layout-check.mjs [root]`.
 * It reads every `src/**\/*.ts` under `root` (default: the repository) with the TypeScript
 * parser and reports, one line each:
 *
 * - `file-length`: a src file over MAX_FILE_LINES (300) lines.
 * - `function-length`: a function over MAX_FUNCTION_LINES (60) lines, from its first line to
 *   its last: a function declaration, a method (class or object literal), a constructor, an
 *   accessor, or an arrow function / function expression assigned to a `const` (or a class
 *   property). A declarative table (a function whose body is one long literal: a metric list,
 *   a route table) is exempt when the line right above it (after its TSDoc) starts with
 *   `// layout: table`.
 * - `cycle`: an import cycle among src files. Every import counts: `import type`, `export ...
 *   from`, `import('...')` and `import('...').T` types, since a type-only cycle still ties the
 *   files together. One entry per strongly connected component, with one cycle printed.
 * - `upward`: an import from a higher layer. Layers, lowest first: core, errors (src/errors.ts),
 *   log, metrics, policy, config, providers, engine, alerts, gateway, api, ui, cli, sim, and the
 *   top (src/server.ts, src/bootstrap.ts, src/main.ts, src/cli.ts, and src/bootstrap/: the
 *   parts bootstrap.ts composes). A file may import from its own layer and lower ones.
 *   config sits above policy: src/config/defaults.ts maps the Config
 *   onto the policy's default shapes, and nothing in policy reads the config. One rule narrows
 *   the order: src/providers may import from src/policy only with `import type` (or `export
 *   type ... from`), i.e. the plain data shapes a provider stores or reports, never a decision;
 *   or anything from a plain-data module of POLICY_DATA_MODULES (src/policy/alert-state.ts: the
 *   alert state, its empty value and its store interface, which providers implement). That
 *   the types are plain data (no methods, no classes) is for review; the check sees the syntax.
 * - `layer`: a src file in a folder (or a top-level file) that is in no layer: add it above.
 *
 * Known violations are listed in scripts/layout-allow.json (violation key → reason) so that lint
 * passes while the issue 17 rewrite is in flight; each key names the violation exactly as this
 * script prints it. An allowed violation prints nothing but is counted; an entry whose violation
 * is gone is printed as stale (delete it). The exit code is 1 when a violation is not allowed.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

export const MAX_FILE_LINES = 300;
export const MAX_FUNCTION_LINES = 60;
export const TABLE_MARKER = '// layout: table';
/** Layers, lowest first; `top` is the composition (server, bootstrap, main, the CLI entry). */
export const LAYERS = ['core', 'errors', 'log', 'metrics', 'policy', 'config', 'providers', 'engine', 'alerts', 'gateway', 'async', 'compose', 'api', 'ui', 'cli', 'sim', 'top'];
/** src/policy modules of plain data (types and their constant values) that providers may import values from. */
export const POLICY_DATA_MODULES = ['src/policy/alert-state.ts'];
const TOP_FILES = { 'errors.ts': 'errors', 'server.ts': 'top', 'bootstrap.ts': 'top', 'main.ts': 'top', 'cli.ts': 'top' };
/** src folders in the top layer: src/bootstrap/ holds the parts src/bootstrap.ts composes. */
export const TOP_FOLDERS = ['bootstrap'];

/** Every .ts file under `dir`, as paths relative to `root` with `/` separators, sorted. */
function listTs(root, dir) {
  const out = [];
  const walk = (abs) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const child = path.join(abs, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(path.relative(root, child).split(path.sep).join('/'));
    }
  };
  if (existsSync(path.join(root, dir))) walk(path.join(root, dir));
  return out.sort();
}

/** The layer of a src file (`src/policy/x.ts` → `policy`); undefined when it is in none. */
export function layerOf(file) {
  const parts = file.split('/');
  if (parts.length === 2) return TOP_FILES[parts[1]];
  if (TOP_FOLDERS.includes(parts[1])) return 'top';
  return LAYERS.includes(parts[1]) && parts[1] !== 'top' ? parts[1] : undefined;
}

/** The src file a relative specifier names (`./x.js` → `src/.../x.ts`, or its index.ts); undefined outside the set. */
function resolve(from, specifier, files) {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  const stem = base.replace(/\.(m|c)?js$/, '');
  for (const candidate of [`${stem}.ts`, `${base}.ts`, `${stem}/index.ts`]) {
    if (files.has(candidate)) return candidate;
  }
  return undefined;
}

/** `import type {..}` / `export type {..} from`: nothing of it exists at run time. */
function isTypeOnlyStatement(node) {
  if (ts.isImportDeclaration(node)) return node.importClause?.isTypeOnly === true;
  if (ts.isExportDeclaration(node)) return node.isTypeOnly;
  return false;
}

/** The imports of one parsed file: `{ specifier, typeOnly, line }`. */
function importsOf(sf) {
  const out = [];
  const add = (node, literal, typeOnly) => {
    if (literal !== undefined && ts.isStringLiteralLike(literal)) {
      out.push({ specifier: literal.text, typeOnly, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
    }
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node, node.moduleSpecifier, isTypeOnlyStatement(node));
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal, true);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0], false);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** A printable name for a function-like node, or undefined when the rule does not cover it. */
function functionName(node) {
  const nameText = (name) => (name === undefined ? '<anonymous>' : name.getText());
  const owner = (n) => {
    const parent = n.parent;
    if (parent !== undefined && (ts.isClassDeclaration(parent) || ts.isClassExpression(parent))) return `${nameText(parent.name)}.`;
    return '';
  };
  if (ts.isFunctionDeclaration(node)) return nameText(node.name);
  if (ts.isMethodDeclaration(node)) return `${owner(node)}${nameText(node.name)}`;
  if (ts.isConstructorDeclaration(node)) return `${owner(node)}constructor`;
  if (ts.isGetAccessorDeclaration(node)) return `${owner(node)}get ${nameText(node.name)}`;
  if (ts.isSetAccessorDeclaration(node)) return `${owner(node)}set ${nameText(node.name)}`;
  if ((ts.isArrowFunction(node) || ts.isFunctionExpression(node)) && node.parent !== undefined) {
    const parent = node.parent;
    if (ts.isVariableDeclaration(parent) && parent.initializer === node && ts.isIdentifier(parent.name)) {
      const list = parent.parent;
      if (list !== undefined && ts.isVariableDeclarationList(list) && (list.flags & ts.NodeFlags.Const) !== 0) return parent.name.text;
    }
    if (ts.isPropertyDeclaration(parent) && parent.initializer === node) return `${owner(parent)}${nameText(parent.name)}`;
  }
  return undefined;
}

/** The node whose first line a function's length and its table marker are counted from. */
function declarationOf(node) {
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
    const parent = node.parent;
    if (ts.isVariableDeclaration(parent)) return parent.parent.parent; // the VariableStatement
    return parent;
  }
  return node;
}

/** Functions over the limit in one parsed file: `{ name, lines, line }`. */
function longFunctions(sf, lines) {
  const out = [];
  const lineOf = (pos) => sf.getLineAndCharacterOfPosition(pos).line;
  const visit = (node) => {
    const name = functionName(node);
    if (name !== undefined) {
      const decl = declarationOf(node);
      const first = lineOf(decl.getStart(sf));
      const length = lineOf(node.getEnd()) - first + 1;
      const marked = first > 0 && (lines[first - 1] ?? '').trim().startsWith(TABLE_MARKER);
      if (length > MAX_FUNCTION_LINES && !marked) out.push({ name, lines: length, line: first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Strongly connected components of more than one file (or a file importing itself), Tarjan. */
function cyclicComponents(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const connect = (v) => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? new Set()).has(v)) components.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return components;
}

/** One shortest cycle through `start` inside `members` (breadth first), as a list ending where it began. */
function oneCycle(graph, start, members) {
  const inside = new Set(members);
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = previous.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (inside.has(w) && !previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/**
 * Every layout violation under `root` (a folder holding `src/`): `{ kind, key, message }`,
 * sorted by key. `key` is what scripts/layout-allow.json lists; `message` adds the figures.
 */
export function checkLayout(root) {
  const files = listTs(root, 'src');
  const fileSet = new Set(files);
  const graph = new Map();
  const violations = [];
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    const lines = text.split('\n');
    const count = text.endsWith('\n') ? lines.length - 1 : lines.length;
    if (count > MAX_FILE_LINES) {
      violations.push({ kind: 'file-length', key: `${file}: over ${MAX_FILE_LINES} lines`, message: `${file}: ${count} lines (max ${MAX_FILE_LINES})` });
    }
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    for (const fn of longFunctions(sf, lines)) {
      violations.push({
        kind: 'function-length',
        key: `${file}: function ${fn.name} over ${MAX_FUNCTION_LINES} lines`,
        message: `${file}:${fn.line}: function ${fn.name} is ${fn.lines} lines (max ${MAX_FUNCTION_LINES}; a declarative table may be marked \`${TABLE_MARKER}\`)`,
      });
    }
    const layer = layerOf(file);
    if (layer === undefined) violations.push({ kind: 'layer', key: `${file}: in no layer`, message: `${file}: in no layer (add its folder to LAYERS in scripts/layout-check.mjs)` });
    const targets = new Set();
    graph.set(file, targets);
    for (const imp of importsOf(sf)) {
      const target = resolve(file, imp.specifier, fileSet);
      if (target === undefined) continue;
      targets.add(target);
      const targetLayer = layerOf(target);
      if (layer === undefined || targetLayer === undefined) continue;
      const upward = LAYERS.indexOf(targetLayer) > LAYERS.indexOf(layer);
      const providerPolicyValue = layer === 'providers' && targetLayer === 'policy' && !imp.typeOnly && !POLICY_DATA_MODULES.includes(target);
      if (upward || providerPolicyValue) {
        const what = upward ? `upward import (${layer} -> ${targetLayer})` : 'providers import a policy value';
        const rule = upward ? '' : ' (providers take only `import type` from policy, or values of POLICY_DATA_MODULES)';
        violations.push({ kind: 'upward', key: `${file} -> ${target}: ${what}`, message: `${file}:${imp.line}: imports ${target}: ${what}${rule}` });
      }
    }
  }
  for (const component of cyclicComponents(graph)) {
    const cycle = oneCycle(graph, component[0], component);
    violations.push({
      kind: 'cycle',
      key: `${component.join(', ')}: import cycle`,
      message: `import cycle among ${component.length} files: ${cycle.join(' -> ')}`,
    });
  }
  const unique = new Map(violations.map((v) => [v.key, v]));
  return [...unique.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Splits violations by an allowlist (key → reason): `{ failures, allowed, stale }` (stale: allowed keys no longer seen). */
export function applyAllowlist(violations, allow) {
  const seen = new Set(violations.map((v) => v.key));
  return {
    failures: violations.filter((v) => !Object.hasOwn(allow, v.key)),
    allowed: violations.filter((v) => Object.hasOwn(allow, v.key)),
    stale: Object.keys(allow).filter((key) => !seen.has(key)).sort(),
  };
}

/** The command: prints what fails and the allowlist's count; returns the exit code. */
export function main(argv, out = process.stdout, err = process.stderr) {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const root = path.resolve(argv[0] ?? repo);
  const allowFile = path.join(root, 'scripts', 'layout-allow.json');
  const allow = existsSync(allowFile) ? JSON.parse(readFileSync(allowFile, 'utf8')) : {};
  const { failures, allowed, stale } = applyAllowlist(checkLayout(root), allow);
  for (const key of stale) err.write(`layout: stale allowlist entry (the violation is gone; delete it): ${key}\n`);
  for (const v of failures) err.write(`layout: ${v.message}\n          allowlist key: ${JSON.stringify(v.key)}\n`);
  out.write(`layout: ${failures.length} violation(s); ${allowed.length} allowed by ${Object.keys(allow).length} entries of scripts/layout-allow.json; ${stale.length} stale\n`);
  return failures.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
