import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { AppError } from '../errors.js';
import { parseDurationMs } from '../policy/duration.js';

/**
 * The timing of the `rps` alert path: Prometheus scrapes the invocation counter, evaluates
 * `rate(counter[window]) > threshold` with `for`, and Alertmanager groups and repeats the
 * notifications that reach the webhook. Times in milliseconds, threshold in calls per second.
 */
export interface AlertingModel {
  /** Where the values came from (`alert-scaler`, `openfaas`, or a file list). */
  readonly name: string;
  readonly scrapeIntervalMs: number;
  readonly evaluationIntervalMs: number;
  readonly rateWindowMs: number;
  readonly threshold: number;
  readonly forMs: number;
  readonly groupWaitMs: number;
  readonly groupIntervalMs: number;
  readonly repeatIntervalMs: number;
  /**
   * What the rate reads: calls that arrived (`gateway_function_invocation_started`, the
   * shipped rule) or calls answered 200 (`gateway_function_invocation_total{code="200"}`,
   * OpenFaaS's rule, blind to a saturated function's waiting demand).
   */
  readonly counts: 'started' | 'completed';
  /**
   * The rule's second branch: calls waiting for a busy replica at every scrape of the rate
   * window, on a series at least a window old (`min_over_time(queue{reason="busy"}[w]) > 0
   * and queue offset w`).
   */
  readonly waitingBranch: boolean;
}

/**
 * The OpenFaaS stock settings: the gateway's `APIHighInvocationRate` rule
 * (`rate(gateway_function_invocation_total{code="200"}[10s]) > 5`, `for: 5s`), Prometheus
 * scraping every 5s and evaluating every 15s, Alertmanager group_wait 5s, group_interval
 * 10s, repeat_interval 30s.
 */
export const OPENFAAS_ALERTING: AlertingModel = Object.freeze({
  name: 'openfaas',
  scrapeIntervalMs: 5_000,
  evaluationIntervalMs: 15_000,
  rateWindowMs: 10_000,
  threshold: 5,
  forMs: 5_000,
  groupWaitMs: 5_000,
  groupIntervalMs: 10_000,
  repeatIntervalMs: 30_000,
  counts: 'completed',
  waitingBranch: false,
});

/** Names a stack file's `simulate.alerting` may give. */
export type AlertingPreset = 'alert-scaler' | 'openfaas';

type ReadFile = (path: string) => string;

function readYaml(path: string, readFile: ReadFile): unknown {
  try {
    return loadYaml(readFile(path));
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function duration(value: unknown, what: string, path: string): number {
  const ms = typeof value === 'string' ? parseDurationMs(value) : null;
  if (ms === null) throw new AppError('CONFIG_INVALID', `${path}: ${what} is ${JSON.stringify(value)}, not a duration`);
  return ms;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/**
 * Reads the shipped settings: the `APIHighInvocationRate` rule of
 * `alert-rules/gateway.rules.yml` (what it counts, window, threshold, `for`, its waiting
 * branch, its group's interval), the alert-scaler job's scrape interval of
 * `deploy/prometheus/prometheus.yml` (or its globals) and the route of `deploy/alertmanager.yml`.
 * Throws CONFIG_INVALID naming the file when one does not hold what is needed.
 */
export function shippedAlerting(root: string, readFile: ReadFile = (p) => readFileSync(p, 'utf8')): AlertingModel {
  const rulesPath = join(root, 'alert-rules', 'gateway.rules.yml');
  const groups = field(readYaml(rulesPath, readFile), 'groups');
  const rules = Array.isArray(groups) ? groups.flatMap((g) => { const r = field(g, 'rules'); return Array.isArray(r) ? (r as unknown[]) : []; }) : [];
  const rule = rules.find((r) => field(r, 'alert') === 'APIHighInvocationRate');
  const expr = field(rule, 'expr');
  const text = typeof expr === 'string' ? expr.trim() : '';
  const match = /rate\(([a-z_]+)[^[]*\[([0-9a-z.]+)\]\)\s*\)?\s*>\s*([0-9.]+)/.exec(text);
  if (match === null) throw new AppError('CONFIG_INVALID', `${rulesPath}: no APIHighInvocationRate rule of the form rate(...[window]) > threshold`);
  const group = Array.isArray(groups) ? (groups as unknown[]).find((g) => { const r = field(g, 'rules'); return Array.isArray(r) && r.includes(rule); }) : undefined;
  const promPath = join(root, 'deploy', 'prometheus', 'prometheus.yml');
  const prometheus = readYaml(promPath, readFile);
  const global = field(prometheus, 'global');
  const jobs = field(prometheus, 'scrape_configs');
  const job = Array.isArray(jobs) ? (jobs as unknown[]).find((j) => field(j, 'job_name') === 'alert-scaler') : undefined;
  const amPath = join(root, 'deploy', 'alertmanager.yml');
  const route = field(readYaml(amPath, readFile), 'route');
  return {
    name: 'alert-scaler',
    // The alert-scaler job's own interval, else the global one; the rule group's own, else the global one.
    scrapeIntervalMs: duration(field(job, 'scrape_interval') ?? field(global, 'scrape_interval'), 'the alert-scaler job\'s scrape_interval', promPath),
    evaluationIntervalMs: duration(field(group, 'interval') ?? field(global, 'evaluation_interval'), 'the rule group\'s interval', promPath),
    rateWindowMs: duration(match[2], 'the rate window', rulesPath),
    threshold: Number(match[3]),
    forMs: rule !== undefined && field(rule, 'for') !== undefined ? duration(field(rule, 'for'), 'for', rulesPath) : 0,
    groupWaitMs: duration(field(route, 'group_wait'), 'route.group_wait', amPath),
    groupIntervalMs: duration(field(route, 'group_interval'), 'route.group_interval', amPath),
    repeatIntervalMs: duration(field(route, 'repeat_interval'), 'route.repeat_interval', amPath),
    counts: match[1] === 'gateway_function_invocation_started' ? 'started' : 'completed',
    waitingBranch: /min_over_time\(gateway_function_queue_length\{reason="busy"\}/.test(text),
  };
}
