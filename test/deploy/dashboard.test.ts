import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { startGateway, type RunningScaler } from '../../demo/gateway.js';
import { repoRoot, runTool, toolsOrSkip } from '../../demo/tools.js';

const root = repoRoot();

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
}
interface Dashboard {
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown; definition?: string }> };
}

const dashboard = JSON.parse(await readFile(join(root, 'deploy/grafana/alert-scaler-dashboard.json'), 'utf8')) as Dashboard;

/** Template variables replaced by values Grafana could send, so the result is plain PromQL. */
const SUBSTITUTIONS: ReadonlyArray<[RegExp, string]> = [
  [/\$__rate_interval|\$\{__rate_interval\}/g, '1m'],
  [/\$__interval|\$\{__interval\}/g, '15s'],
  [/\$__range|\$\{__range\}/g, '30m'],
  [/\$function_name|\$\{function_name(:regex)?\}/g, '.*'],
];

function substitute(expr: string): string {
  return SUBSTITUTIONS.reduce((text, [pattern, value]) => text.replace(pattern, value), expr);
}

/** Every (panel title, PromQL expr) of the dashboard, variables substituted. */
const exprs: Array<[string, string]> = dashboard.panels.flatMap((panel) =>
  (panel.targets ?? []).map((target): [string, string] => [panel.title, substitute(target.expr)]),
);

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * Metric names in a PromQL expression: identifiers left after removing strings, label
 * matchers, ranges, grouping clauses and function calls (series names, so `_bucket` stays).
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\(?))/g)) {
    const [name, paren] = [match[0], match[1]];
    if (paren === '(' || KEYWORDS.has(name.toLowerCase()) || /^\d/.test(name)) continue;
    names.add(name);
  }
  return [...names].sort();
}

describe('the Grafana dashboard', () => {
  it('is schemaVersion 39 with a Prometheus datasource variable and a function_name variable', () => {
    expect(dashboard.schemaVersion).toBe(39);
    const variables = Object.fromEntries(dashboard.templating.list.map((variable) => [variable.name, variable]));
    expect(variables['datasource']).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variables['function_name']).toMatchObject({ type: 'query', definition: 'label_values(gateway_service_count, function_name)' });
  });

  it('has the panels the operators asked for', () => {
    const titles = dashboard.panels.map((panel) => panel.title);
    for (const wanted of [/invocation rate/i, /error rate/i, /desired vs available/i, /scale changes by reason/i, /alerts firing/i, /cold starts/i, /cold-start latency/i, /held requests/i, /webhook outcomes/i, /in-flight/i, /queue length/i, /workers: free \/ busy/i, /policy decisions/i]) {
      expect(titles.some((title) => wanted.test(title))).toBe(true);
    }
    expect(exprs.length).toBeGreaterThanOrEqual(10);
  });

  it('the policy panels show the queue, the workers by state and the policy\'s decisions, each with its own threshold', () => {
    const of = (title: RegExp) => exprs.filter(([t]) => title.test(t)).map(([, expr]) => expr);
    expect(of(/queue length/i).join('\n')).toMatch(/gateway_function_queue_length[\s\S]*setting="max_queue_size"/);
    expect(of(/workers: free/i).join('\n')).toMatch(/alert_scaler_replicas[\s\S]*setting="min_free_workers"/);
    expect(of(/policy decisions/i).join('\n')).toMatch(/alert_scaler_scale_changes_total\{source="policy"/);
  });

  it('extracts metric names the way PromQL reads them', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, function_name) (rate(alert_scaler_cold_start_seconds_bucket{function_name=~".*"}[1m])))')).toEqual([
      'alert_scaler_cold_start_seconds_bucket',
    ]);
    expect(metricNames('sum by (function_name) (ALERTS{alertname="APIHighInvocationRate",alertstate="firing"}) > 0 and on (function_name) gateway_service_count')).toEqual([
      'ALERTS',
      'gateway_service_count',
    ]);
  });
});

const tools = toolsOrSkip(['promtool'], 'dashboard PromQL parse check');
const describeWithTools = tools === null ? describe.skip : describe;

describeWithTools('every dashboard expression is PromQL that promtool parses', () => {
  const scratch: string[] = [];
  afterAll(async () => {
    await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  /** Writes `list` as recording rules and runs `promtool check rules` (which parses each expr). */
  async function checkAsRecordingRules(list: ReadonlyArray<[string, string]>): Promise<{ code: number | null; output: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'dashboard-'));
    scratch.push(dir);
    const rules = list.map(([, expr], index) => ({ record: `dashboard:expr_${index}`, expr }));
    const file = join(dir, 'dashboard.rules.yml');
    await writeFile(file, dump({ groups: [{ name: 'dashboard', rules }] }, { lineWidth: -1 }));
    const run = await runTool(tools?.promtool ?? 'promtool', ['check', 'rules', file], 20_000);
    return { code: run.code, output: run.stdout + run.stderr };
  }

  it('promtool check rules accepts all of them as recording rules', async () => {
    const result = await checkAsRecordingRules(exprs);
    expect(result.output).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(result.code).toBe(0);
  });

  it('the same check rejects a broken expression, so it truly parses', async () => {
    const result = await checkAsRecordingRules([...exprs, ['broken', 'sum by (function_name) (rate(gateway_function_invocation_total[1m])']]);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/parse error/);
  });
});

/** Metric family names and types from the `# TYPE` lines of an exposition. */
function exportedTypes(exposition: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(String(match[1]), String(match[2]));
  return types;
}

/** The family a series name belongs to: itself, or a histogram/summary for `_bucket`, `_sum`, `_count`. */
function familyOf(series: string, types: Map<string, string>): string | undefined {
  if (types.has(series)) return series;
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(series);
  const base = suffix?.[1];
  if (base === undefined) return undefined;
  const type = types.get(base);
  if (type === 'histogram' || (type === 'summary' && suffix?.[2] !== 'bucket')) return base;
  return undefined;
}

describe('every metric the dashboard reads is exported by a running gateway', () => {
  let gateway: RunningScaler;
  let types: Map<string, string>;

  beforeAll(async () => {
    gateway = await startGateway({
      stackPath: join(root, 'test/e2e/fixtures/stack.yml'),
      basicAuth: { user: 'admin', password: 'dashboard-test' },
    });
    const response = await fetch(`${gateway.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    types = exportedTypes(await response.text());
  }, 20_000);

  afterAll(async () => {
    await gateway?.close();
  }, 20_000);

  it('the gateway exports the OpenFaaS and alert-scaler metric families', () => {
    expect(types.get('gateway_function_invocation_total')).toBe('counter');
    expect(types.get('gateway_functions_seconds')).toBe('histogram');
    expect(types.get('alert_scaler_cold_start_seconds')).toBe('histogram');
  });

  it.each(exprs)('%s: %s reads only exported metrics (or Prometheus ALERTS)', (_title, expr) => {
    const names = metricNames(expr);
    expect(names.length).toBeGreaterThan(0);
    const unknown = names.filter((name) => name !== 'ALERTS' && familyOf(name, types) === undefined);
    expect(unknown).toEqual([]);
  });

  it('the function_name variable lists values of an exported metric', () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'function_name');
    const metric = /label_values\((\w+),\s*function_name\)/.exec(variable?.definition ?? '')?.[1];
    expect(metric !== undefined && types.has(metric)).toBe(true);
  });

  it('a made-up metric name is caught, so the check can fail', () => {
    const unknown = metricNames('sum(rate(gateway_function_invocations_total[1m])) + gateway_service_count_bucket').filter(
      (name) => familyOf(name, types) === undefined,
    );
    expect(unknown).toEqual(['gateway_function_invocations_total', 'gateway_service_count_bucket']);
  });
});
