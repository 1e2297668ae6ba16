import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { USAGE } from '../../src/cli.js';
import { configSchema } from '../../src/config/schema.js';
import { specDefaults } from '../../src/config/defaults.js';
import { parsePolicySpec } from '../../src/policy/spec.js';
import { parseStack } from '../../src/providers/local/stack.js';
import { GATEWAY_USAGE } from '../../src/bootstrap/args.js';
import { ECHO, eventually, startTestScaler } from '../support/harness.js';

const root = packageRoot();
const doc = readFileSync(join(root, 'docs', 'getting-started.md'), 'utf8');
const yamlBlocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
const alertPosts = [...doc.matchAll(/--data-binary @(\S+) http:\/\/127\.0\.0\.1:8081(\/\S+)/g)].map((m) => ({ file: m[1] ?? '', path: m[2] ?? '' }));

describe('docs/getting-started.md', () => {
  it('every stack entry parses, names a file of the repo when it runs one, and its labels are a valid policy', () => {
    expect(yamlBlocks.length).toBeGreaterThanOrEqual(5);
    const defaults = specDefaults(configSchema.parse({}));
    const kinds = new Set<string>();
    for (const block of yamlBlocks) {
      const [fn, ...more] = parseStack(block, join(root, 'my-stack.yml'), 'openfaas-fn');
      expect(more).toEqual([]);
      const spec = parsePolicySpec(fn?.labels ?? {}, fn?.annotations ?? {}, defaults);
      expect(spec).toMatchObject({ ok: true });
      if (spec.ok) kinds.add(spec.spec.kind);
      const script = fn?.argv.find((a) => a.startsWith('examples/'));
      if (script !== undefined) expect(() => readFileSync(join(root, script))).not.toThrow();
    }
    // One example per policy kind.
    expect([...kinds].sort()).toEqual(['concurrency', 'free-workers', 'queue', 'rps']);
  });

  it('names only CLI commands and gateway options that exist', () => {
    for (const [, command] of doc.matchAll(/npx alert-scaler ([a-z]+)/g)) expect(USAGE).toMatch(new RegExp(`^  ${command ?? '?'}\\b`, 'm'));
    for (const [, option] of doc.matchAll(/npm start -- (--[a-z]+)/g)) expect(GATEWAY_USAGE).toContain(option ?? '?');
  });

  describe('fire an alert by hand', () => {
    let s: RunningScaler;
    const echo = { name: 'echo', namespace: 'openfaas-fn' };
    // The example stack's echo: no scale labels (min 1, max 20, factor 20); a short window so the test is quick.
    beforeAll(async () => {
      s = await startTestScaler({ echo: { command: [process.execPath, ECHO] } }, { ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '1' });
    });
    afterAll(async () => {
      await s?.close();
    });

    const post = async (file: string, path: string) =>
      fetch(`${s.adminUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: readFileSync(join(root, file)), signal: AbortSignal.timeout(10_000) });

    it('the firing payload steps echo from 1 to 5 as the page says, the resolved one brings it back to 1', async () => {
      expect(alertPosts.map((p) => p.file)).toEqual(['examples/alerts/firing-single.json', 'examples/alerts/resolved-single.json']);
      expect(doc).toMatch(/from 1 to 5/);
      expect((await s.provider.getReplicas(echo)).desired).toBe(1);
      const [firing, resolved] = alertPosts;
      expect((await post(firing?.file ?? '', firing?.path ?? '')).status).toBe(200);
      expect((await s.provider.getReplicas(echo)).desired).toBe(5);
      expect((await post(resolved?.file ?? '', resolved?.path ?? '')).status).toBe(200);
      await eventually(async () => (await s.provider.getReplicas(echo)).desired === 1, 10_000, 50);
    }, 30_000);
  });
});
