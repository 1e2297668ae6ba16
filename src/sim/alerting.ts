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
 * `alert-rules/gateway.rules.yml` (window, threshold, `for`), the global intervals of
 * `deploy/prometheus/prometheus.yml` and the route of `deploy/alertmanager.yml`.
 * Throws CONFIG_INVALID naming the file when one does not hold what is needed.
 */
export function shippedAlerting(root: string, readFile: ReadFile = (p) => readFileSync(p, 'utf8')): AlertingModel {
  const rulesPath = join(root, 'alert-rules', 'gateway.rules.yml');
  const groups = field(readYaml(rulesPath, readFile), 'groups');
  const rules = Array.isArray(groups) ? groups.flatMap((g) => { const r = field(g, 'rules'); return Array.isArray(r) ? (r as unknown[]) : []; }) : [];
  const rule = rules.find((r) => field(r, 'alert') === 'APIHighInvocationRate');
  const expr = field(rule, 'expr');
  const match = typeof expr === 'string' ? /rate\([^[]*\[([0-9a-z.]+)\]\)\s*\)?\s*>\s*([0-9.]+)\s*$/.exec(expr.trim()) : null;
  if (match === null) throw new AppError('CONFIG_INVALID', `${rulesPath}: no APIHighInvocationRate rule of the form rate(...[window]) > threshold`);
  const promPath = join(root, 'deploy', 'prometheus', 'prometheus.yml');
  const global = field(readYaml(promPath, readFile), 'global');
  const amPath = join(root, 'deploy', 'alertmanager.yml');
  const route = field(readYaml(amPath, readFile), 'route');
  return {
    name: 'alert-scaler',
    scrapeIntervalMs: duration(field(global, 'scrape_interval'), 'global.scrape_interval', promPath),
    evaluationIntervalMs: duration(field(global, 'evaluation_interval'), 'global.evaluation_interval', promPath),
    rateWindowMs: duration(match[1], 'the rate window', rulesPath),
    threshold: Number(match[2]),
    forMs: rule !== undefined && field(rule, 'for') !== undefined ? duration(field(rule, 'for'), 'for', rulesPath) : 0,
    groupWaitMs: duration(field(route, 'group_wait'), 'route.group_wait', amPath),
    groupIntervalMs: duration(field(route, 'group_interval'), 'route.group_interval', amPath),
    repeatIntervalMs: duration(field(route, 'repeat_interval'), 'route.repeat_interval', amPath),
  };
}
