import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const guide = readFileSync(join(root, 'CONTRIBUTING.md'), 'utf8');
const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** Every .ts file under `dir`, relative to the root. */
function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => join(dir, f));
}
const srcText = new Map(sources('src').map((f) => [f, readFileSync(join(root, f), 'utf8')]));

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const declaration = (name: string): RegExp => new RegExp(`^\\s*(export\\s+)?(declare\\s+)?(async\\s+)?(abstract\\s+)?(function\\*?|const|let|class|interface|type|enum)\\s+${escape(name)}\\b`, 'm');
const exported = (name: string): RegExp => new RegExp(`^export\\s+(declare\\s+)?(async\\s+)?(abstract\\s+)?(function\\*?|const|let|class|interface|type|enum)\\s+${escape(name)}\\b|^export\\s*(type\\s*)?\\{[^}]*\\b${escape(name)}\\b[^}]*\\}`, 'm');

/** The guide's prose split into paragraphs and list items (a fenced block is one item). */
function items(text: string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let fenced = false;
  const flush = (): void => {
    if (current.length > 0) out.push(current.join('\n'));
    current = [];
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) {
      if (fenced) {
        current.push(line);
        flush();
      } else {
        flush();
        current.push(line);
      }
      fenced = !fenced;
      continue;
    }
    if (!fenced && (line.trim() === '' || /^\s*(\d+\.|-)\s/.test(line) || line.startsWith('#'))) flush();
    if (line.trim() !== '') current.push(line);
  }
  flush();
  return out;
}

type Name = { kind: 'path'; text: string } | { kind: 'code'; text: string; head: string; members: string[] } | { kind: 'script'; text: string; script: string };

/** What a backticked span names: a file path, a code identifier (`A`, `A.b`, `f()`), an npm script; null for anything else (a literal, an expression). */
function classify(span: string): Name | null {
  const script = /^npm (?:run )?([\w:-]+)$/.exec(span);
  if (script !== null) return { kind: 'script', text: span, script: script[1] ?? '' };
  if (/^[\w.<>-]+\/[\w.<>/-]*$/.test(span) || /^[\w-]+\.(ts|js|md|json|ya?ml)$/.test(span)) return { kind: 'path', text: span };
  const code = /^([A-Za-z_$][\w$]*)((?:\.[A-Za-z_$][\w$]*)*)(\(.*\))?$/.exec(span);
  if (code === null) return null;
  return { kind: 'code', text: span, head: code[1] ?? '', members: (code[2] ?? '').split('.').filter(Boolean) };
}

/** Whether a path exists; `<kind>` stands for any name (at least one file must match). */
function pathExists(path: string): boolean {
  if (!path.includes('<')) return existsSync(join(root, path));
  const dir = path.slice(0, path.lastIndexOf('/'));
  const pattern = new RegExp(`^${escape(path).replace(/<[^>]*>/g, '[^/]+')}$`);
  return existsSync(join(root, dir)) && readdirSync(join(root, dir)).some((f) => pattern.test(join(dir, f)));
}

/** Why a code name does not hold, or null when it does: exported by a src file, or declared in a file the same item names; a member must be declared in that file. */
function codeProblem(name: Extract<Name, { kind: 'code' }>, itemFiles: readonly string[]): string | null {
  if (name.head in globalThis) return null;
  const where = [...srcText].filter(([, text]) => exported(name.head).test(text)).map(([file]) => file);
  for (const file of itemFiles) {
    if (file.endsWith('.ts') && existsSync(join(root, file)) && declaration(name.head).test(readFileSync(join(root, file), 'utf8'))) where.push(file);
  }
  if (where.length === 0) return `${name.text}: ${name.head} is exported by no src file and declared in no file its item names (${itemFiles.join(', ') || 'none'})`;
  for (const member of name.members) {
    const declared = new RegExp(`(^|[\\s{;,])(readonly\\s+|async\\s+|private\\s+|get\\s+)*${escape(member)}\\??\\s*[(:<=]`, 'm');
    if (!where.some((file) => declared.test(readFileSync(join(root, file), 'utf8')))) return `${name.text}: no member ${member} in ${where.join(', ')}`;
  }
  return null;
}

/** Every problem with the guide: names that do not exist. */
function problems(text: string): string[] {
  const found: string[] = [];
  for (const item of items(text)) {
    if (item.startsWith('```')) {
      // The layout block: each line starts with a path.
      for (const line of item.split('\n').slice(1, -1)) {
        const path = /^(\S+\/\S*|\S+\.ts)\s/.exec(line)?.[1];
        if (path !== undefined && !pathExists(path)) found.push(`layout: ${path} does not exist`);
      }
      continue;
    }
    const names = [...item.matchAll(/`([^`]+)`/g)].map((m) => classify(m[1] ?? '')).filter((n): n is Name => n !== null);
    const files = names.filter((n) => n.kind === 'path').map((n) => n.text);
    for (const name of names) {
      if (name.kind === 'path' && !pathExists(name.text)) found.push(`${name.text} does not exist`);
      if (name.kind === 'script' && scripts[name.script] === undefined) found.push(`${name.text}: no script ${name.script} in package.json`);
      if (name.kind === 'code') {
        const problem = codeProblem(name, files);
        if (problem !== null) found.push(problem);
      }
    }
  }
  return found;
}

describe('CONTRIBUTING.md', () => {
  it('names only files that exist, npm scripts that exist, and functions and types a src file exports (or the file its item names declares)', () => {
    expect(problems(guide)).toEqual([]);
  });

  it('the check finds a renamed function, a member that is gone, a moved file and a missing script', () => {
    const stale = [
      '1. One case in the switch of `createProvider` in `src/bootstrap.ts`.',
      '2. Listeners of `ReplicaProvider.subscribeAll` in `src/providers/types.ts`.',
      '3. See `src/policy/no-such-kind.ts` and `test/nowhere/<kind>.test.ts`.',
      '4. Run `npm run no-such-script`.',
    ].join('\n');
    expect(problems(stale)).toEqual([
      expect.stringContaining('createProvider:'),
      expect.stringContaining('ReplicaProvider.subscribeAll: no member subscribeAll'),
      'src/policy/no-such-kind.ts does not exist',
      'test/nowhere/<kind>.test.ts does not exist',
      'npm run no-such-script: no script no-such-script in package.json',
    ]);
  });

  it('the policy recipe is one file in src/policy/, one case in the switch of decide in src/policy/index.ts, and rows in LABEL_TABLE', () => {
    const recipe = guide.slice(guide.indexOf('## Adding a policy'), guide.indexOf('## Checks'));
    expect(recipe).toContain('`src/policy/<kind>.ts`');
    expect(recipe).toContain('one case in the switch of `decide` in\n`src/policy/index.ts`');
    expect(recipe).toContain('`LABEL_TABLE`');
    expect(readFileSync(join(root, 'src/policy/index.ts'), 'utf8')).toMatch(/export function decide\([^]*switch \(spec\.kind\)/);
  });
});
