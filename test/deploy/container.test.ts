/**
 * The container image, checked statically (no Docker engine on the CI machine): Node 22 LTS
 * in both stages, `engines` naming exactly what is tested (the CI machine's Node 20 and the
 * image's 22), and every path the Dockerfile copies or runs present in the repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { GATEWAY_NODE_FLAGS } from '../../src/bootstrap/node-flags.js';

const root = packageRoot();
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const instructions = dockerfile.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines?: { node?: string } };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };

/** True when `version` (x.y.z) is in a range of the form `^A.B || ^C` (the form engines uses here). */
function satisfiesCaretRanges(version: string, range: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return range.split('||').some((part) => {
    const m = /^\s*\^(\d+)(?:\.(\d+))?\s*$/.exec(part);
    if (m === null) throw new Error(`range part ${JSON.stringify(part)} is not ^major[.minor]`);
    return major === Number(m[1]) && minor >= Number(m[2] ?? 0);
  });
}

describe('the container image', () => {
  it('both stages run on the same Node 22 LTS slim image', () => {
    const froms = instructions.filter((line) => line.startsWith('FROM '));
    expect(froms.map((line) => line.replace(/ AS \w+$/, ''))).toEqual(['FROM node:22-bookworm-slim', 'FROM node:22-bookworm-slim']);
  });

  it('engines names the tested Node lines: the CI machine\'s 20 and the image\'s 22, and nothing older', () => {
    const range = pkg.engines?.node ?? '';
    expect(range).toBe('^20.19 || ^22');
    expect(lock.packages['']?.engines?.node).toBe(range);
    expect(satisfiesCaretRanges(process.versions.node, range)).toBe(true);
    expect(satisfiesCaretRanges('22.12.0', range)).toBe(true);
    expect(satisfiesCaretRanges('20.18.0', range)).toBe(false);
    expect(satisfiesCaretRanges('18.20.0', range)).toBe(false);
  });

  it('every path it copies from the build context exists, and CMD runs what the build writes', () => {
    const sources = instructions
      .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
      .flatMap((line) => line.slice('COPY '.length).trim().split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) expect([source, existsSync(join(root, source))]).toEqual([source, true]);
    const build = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { compilerOptions?: { outDir?: string } };
    expect(build.compilerOptions?.outDir?.replace(/^\.\//, '')).toBe('dist');
    expect(existsSync(join(root, 'src', 'main.ts'))).toBe(true);
    expect(instructions.filter((line) => line.startsWith('CMD ["node", ') && line.endsWith(', "dist/src/main.js"]'))).toHaveLength(1);
  });

  it('npm start and the image run the gateway with the same V8 flags, those of src/bootstrap/node-flags.ts', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(GATEWAY_NODE_FLAGS.length).toBeGreaterThan(0);
    expect(pkg.scripts['start']).toBe(['node', ...GATEWAY_NODE_FLAGS, 'dist/src/main.js'].join(' '));
    const cmd = instructions.find((line) => line.startsWith('CMD '));
    expect(JSON.parse(cmd?.slice('CMD '.length) ?? '[]')).toEqual(['node', ...GATEWAY_NODE_FLAGS, 'dist/src/main.js']);
  });

  it('runs as a numeric non-root user with production dependencies only', () => {
    expect(instructions).toContain('USER 1000:1000');
    const runtime = instructions.slice(instructions.findIndex((line) => line.startsWith('FROM ') && line.endsWith('AS runtime')));
    expect(runtime.some((line) => /^RUN npm ci --omit=dev\b/.test(line))).toBe(true);
    expect(runtime).toContain('ENV NODE_ENV=production');
  });
});
