import { describe, expect, it, afterAll } from '@jest/globals';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runTool, toolsOrSkip } from '../../demo/tools.js';

const root = repoRoot();
const tools = toolsOrSkip(['promtool'], 'alert-rules promtool tests');
const describeWithTools = tools === null ? describe.skip : describe;

async function listed(dir: string, suffix: string): Promise<string[]> {
  const names = await readdir(join(root, dir));
  return names.filter((name) => name.endsWith(suffix)).sort().map((name) => join(dir, name));
}

describeWithTools('alert-rules checked by promtool', () => {
  const promtool = tools?.promtool ?? 'promtool';
  const scratch: string[] = [];
  afterAll(async () => {
    await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('every rule file passes promtool check rules', async () => {
    const files = await listed('alert-rules', '.rules.yml');
    expect(files).toContain('alert-rules/gateway.rules.yml');
    const run = await runTool(promtool, ['check', 'rules', ...files], 20_000, root);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/SUCCESS: 1 rules found/);
  });

  it('every promtool unit test file passes', async () => {
    const files = await listed('alert-rules/tests', '.test.yml');
    expect(files.length).toBeGreaterThan(0);
    const run = await runTool(promtool, ['test', 'rules', ...files], 20_000, root);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/SUCCESS/);
    expect(run.stdout).not.toMatch(/FAILED/);
  });

  it('a broken rule file makes promtool check rules fail, so the check can fail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alert-rules-'));
    scratch.push(dir);
    const broken = join(dir, 'broken.rules.yml');
    await writeFile(
      broken,
      'groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: sum by (function_name) (rate(gateway_function_invocation_total[20s]) > \n',
    );
    const run = await runTool(promtool, ['check', 'rules', broken], 20_000);
    expect(run.code).toBe(1);
    expect(run.stderr + run.stdout).toMatch(/FAILED/);
  });

  it('a unit test that expects the wrong alert makes promtool test rules fail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alert-rules-'));
    scratch.push(dir);
    const wrong = join(dir, 'wrong.test.yml');
    await writeFile(
      wrong,
      [
        'rule_files:',
        `  - ${join(root, 'alert-rules/gateway.rules.yml')}`,
        'evaluation_interval: 5s',
        'tests:',
        '  - interval: 5s',
        '    input_series:',
        `      - series: 'gateway_function_invocation_total{function_name="calm",code="200"}'`,
        "        values: '0+5x24'",
        '    alert_rule_test:',
        '      - eval_time: 60s',
        '        alertname: APIHighInvocationRate',
        '        exp_alerts:',
        '          - exp_labels: { function_name: calm, service: gateway, severity: major }',
        '',
      ].join('\n'),
    );
    const run = await runTool(promtool, ['test', 'rules', wrong], 20_000);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/FAILED/);
  });
});
