import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { runCli } from '../../src/cli.js';

const root = packageRoot();
const ours = join(root, 'examples', 'simulate', 'stack.yml');
const stock = join(root, 'examples', 'simulate', 'stack-openfaas.yml');
const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['simulate', ...argv], {}, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

describe('alert-scaler simulate', () => {
  it('prints the JSON shape of the issue, one object per function', async () => {
    const { code, out } = await cli('--stack', ours, '--trace', 'builtin:step', '--duration', '3m', '--format', 'json');
    expect(code).toBe(0);
    const parsed = JSON.parse(out) as { functions: Array<Record<string, unknown>> };
    expect(Object.keys(parsed)).toEqual(['functions']);
    expect(parsed.functions.map((f) => f['name'])).toEqual(['api', 'thumbnails']);
    for (const f of parsed.functions) {
      expect(Object.keys(f)).toEqual(['name', 'requests', 'served', 'queued', 'refused', 'timedOut', 'coldStarts', 'replicaSeconds', 'meanReplicas', 'peakReplicas', 'waitMs', 'latencyMs']);
      expect(Object.keys(f['waitMs'] as object)).toEqual(['p50', 'p95', 'p99']);
      expect(Object.keys(f['latencyMs'] as object)).toEqual(['p50', 'p95', 'p99']);
    }
  });

  it('writes events.csv, events.json, summary.json and chart.svg, byte-identical for the same seed', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    const first = await cli('--stack', ours, '--trace', 'builtin:spike', '--seed', '7', '--out', a, '--start', '2026-12-07T09:00:00Z');
    const second = await cli('--stack', ours, '--trace', 'builtin:spike', '--seed', '7', '--out', b, '--start', '2026-12-07T09:00:00Z');
    expect(first.code).toBe(0);
    expect(second.out).toBe(first.out);
    expect(readdirSync(a).sort()).toEqual(['chart.svg', 'events.csv', 'events.json', 'summary.json']);
    for (const name of readdirSync(a)) expect(readFileSync(join(b, name), 'utf8')).toBe(readFileSync(join(a, name), 'utf8'));
    const csv = readFileSync(join(a, 'events.csv'), 'utf8').split('\r\n');
    expect(csv[0]).toBe('time,action,target,status,from,to');
    // Real times from --start, and each scale row says the count before and after.
    expect(csv[1]).toMatch(/^2026-12-07T09:00:0\d\.\d{3}Z,/);
    expect(csv.some((line) => /,scale_up,api,step-up,(\d+),(\d+)$/.test(line))).toBe(true);
    for (const line of csv.filter((l) => /,scale_up,api,step-up,/.test(l))) {
      const [from, to] = line.split(',').slice(-2).map(Number);
      expect(to).toBeGreaterThan(from ?? Infinity);
    }
    const svg = readFileSync(join(a, 'chart.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).not.toMatch(/<script|href=/);
    expect(svg).toContain('<polyline');
  });

  it('--compare of the OpenFaaS stock alert settings against ours on the step trace: ours reacts sooner; reaction and replica-seconds are printed for both', async () => {
    const table = await cli('--compare', stock, ours, '--trace', 'builtin:step');
    expect(table.code).toBe(0);
    const header = table.out.split('\n')[1] ?? '';
    expect(header).toMatch(/reaction/);
    expect(header).toMatch(/replica-s/);
    const apiRows = table.out.split('\n').filter((l) => l.startsWith('api '));
    expect(apiRows).toHaveLength(2);
    // Every column of the one-run table, the reaction last.
    const single = (await cli('--stack', ours, '--trace', 'builtin:step', '--duration', '1m')).out.split('\n')[1] ?? '';
    expect(header.trim().split(/\s{2,}/).slice(3)).toEqual(single.trim().split(/\s{2,}/).slice(1));
    expect(apiRows[0]).toMatch(/openfaas\s+\d+\s.*\s\d+\.\ds$/);
    expect(apiRows[1]).toMatch(/alert-scaler\s+\d+\s.*\s\d+\.\ds$/);
    const json = await cli('--compare', stock, ours, '--trace', 'builtin:step', '--format', 'json');
    const runs = (JSON.parse(json.out) as { runs: Array<{ alerting: string; functions: Array<{ name: string; reactionMs: number | null; replicaSeconds: number }> }> }).runs;
    const reaction = (alerting: string) => runs.find((r) => r.alerting === alerting)?.functions.find((f) => f.name === 'api')?.reactionMs ?? null;
    expect(reaction('openfaas')).not.toBeNull();
    expect(reaction('alert-scaler')).not.toBeNull();
    expect(reaction('alert-scaler') ?? Infinity).toBeLessThan(reaction('openfaas') ?? 0);
  });

  it('prints exactly the output the README quotes for its --compare command', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## What would this policy have done'));
    const command = /^ {4}npx alert-scaler simulate (.+)$/m.exec(section)?.[1] ?? '';
    const quoted = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    expect(command).toContain('--compare');
    const { code, out } = await cli(...command.split(' '));
    expect(code).toBe(0);
    expect(out).toBe(quoted);
  });

  it.each([
    ['no option', []],
    ['no trace', ['--stack', ours]],
    ['an unknown option', ['--stack', ours, '--trace', 'builtin:step', '--fast']],
    ['a bad duration', ['--stack', ours, '--trace', 'builtin:step', '--duration', 'soon']],
    ['a bad format', ['--stack', ours, '--trace', 'builtin:step', '--format', 'xml']],
    ['--compare with one stack', ['--compare', ours, '--trace', 'builtin:step']],
  ])('exits 2 with the usage on %s', async (_what, argv) => {
    const { code, err } = await cli(...argv);
    expect(code).toBe(2);
    expect(err).toContain('usage: alert-scaler simulate');
  });

  it('exits 2 naming the file and line of a bad trace row, and the key of a bad stack', async () => {
    const trace = join(dir, 'bad.csv');
    writeFileSync(trace, 'time,function\n0,api\n1,nobody\n');
    const bad = await cli('--stack', ours, '--trace', trace);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`${trace} line 3`);
    const stackPath = join(dir, 'bad.yml');
    writeFileSync(stackPath, 'functions:\n  api:\n    simulate:\n      service: sometimes\n');
    const badStack = await cli('--stack', stackPath, '--trace', 'builtin:step');
    expect(badStack.code).toBe(2);
    expect(badStack.err).toContain('functions.api.simulate.service');
  });
  it('explains every "-": a saturated function on the OpenFaaS rule never alerts, and the warning says why before it runs', async () => {
    const stackPath = join(dir, 'saturated.yml');
    // One call at a time, 250 ms each: at most 4 completed calls/s, under the rule's 5/s of completed calls.
    writeFileSync(stackPath, 'simulate:\n  alerting: openfaas\nfunctions:\n  slow:\n    labels: { com.openfaas.scale.min: "1", com.openfaas.scale.max: "4", com.openfaas.scale.concurrency: "1" }\n    simulate: { start: 1s, service: 250ms }\n');
    const { code, out } = await cli('--stack', stackPath, '--trace', 'builtin:step', '--duration', '5m');
    expect(code).toBe(0);
    const row = out.split('\n').find((l) => l.startsWith('slow ')) ?? '';
    expect(row).toMatch(/\s-$/);
    expect(out).toContain('"-" means:');
    expect(out).toMatch(/slow reaction "-": no alert fired: completed calls never exceeded the threshold \(5\/s\)/);
    expect(out).toMatch(/warning: slow: 1 replica\(s\) complete at most 4 calls\/s \(concurrency 1, mean service 250 ms\), not above the openfaas rule's threshold of 5 completed calls\/s/);
    // The shipped rule counts calls started: the same function reacts, and no warning is printed.
    const shipped = join(dir, 'saturated-shipped.yml');
    writeFileSync(shipped, readFileSync(stackPath, 'utf8').replace('alerting: openfaas', 'alerting: alert-scaler'));
    const ours2 = await cli('--stack', shipped, '--trace', 'builtin:step', '--duration', '5m');
    expect(ours2.out.split('\n').find((l) => l.startsWith('slow ')) ?? '').toMatch(/\d+\.\ds$/);
    expect(ours2.out).not.toContain('warning:');
  });

  it('--slo names the cheapest run that meets it and by how much; exit 3 when no run meets it', async () => {
    const met = await cli('--compare', stock, ours, '--trace', 'builtin:step', '--slo', 'p95=500ms');
    expect(met.code).toBe(0);
    const line = met.out.split('\n').find((l) => l.trim().startsWith('api: cheapest meeting latency p95 <= 500ms:')) ?? '';
    const match = /: (\S+), ([\d.]+) replica-s \(p95 ([\d.]+) ms\), ([\d.]+)% less than (\S+) \(([\d.]+)\)/.exec(line);
    expect(match).not.toBeNull();
    const [, best, cost, p95, saved, other, otherCost] = match ?? [];
    expect(best).not.toBe(other);
    expect(Number(p95)).toBeLessThanOrEqual(500);
    expect(Number(cost)).toBeLessThan(Number(otherCost));
    expect(Number(saved)).toBeCloseTo((1 - Number(cost) / Number(otherCost)) * 100, 0);
    const missed = await cli('--compare', stock, ours, '--trace', 'builtin:step', '--slo', 'p95=1ms');
    expect(missed.code).toBe(3);
    expect(missed.out).toMatch(/api: no run meets latency p95 <= 1ms with no failed call; closest: /);
    const bad = await cli('--stack', ours, '--trace', 'builtin:step', '--slo', 'fast');
    expect(bad.code).toBe(2);
    const badStart = await cli('--stack', ours, '--trace', 'builtin:step', '--start', 'yesterday');
    expect(badStart.code).toBe(2);
  });
});
