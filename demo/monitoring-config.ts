import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import { repoRoot } from './tools.js';

/**
 * Intervals that replace the production ones in copies of the repo's configs. Durations are
 * Prometheus duration strings (`1s`, `10s`, `1h`).
 */
export interface MonitoringTiming {
  /** Scrape and rule evaluation interval. */
  readonly scrapeInterval: string;
  /** Replaces every `[...]` range and `offset` of the alert rules (e.g. `[20s]` → `[10s]`). */
  readonly rateWindow: string;
  /** Replaces each alert's `for`. */
  readonly forDuration: string;
  readonly groupWait: string;
  readonly groupInterval: string;
  readonly repeatInterval: string;
}

/** Timing used by the end-to-end suite and the demo: fast, and one step per alert occurrence. */
export const FAST_TIMING: MonitoringTiming = Object.freeze({
  scrapeInterval: '1s',
  rateWindow: '10s',
  forDuration: '2s',
  groupWait: '1s',
  groupInterval: '1s',
  repeatInterval: '1h',
});

/** Where everything runs, all on 127.0.0.1. */
export interface MonitoringTargets {
  /** `host:port` of the gateway's function listener, whose /metrics Prometheus scrapes. */
  readonly gateway: string;
  /** `host:port` of the gateway's admin listener, where Alertmanager sends the webhook. */
  readonly admin: string;
  readonly prometheusPort: number;
  readonly alertmanagerPort: number;
  /** Credentials the webhook sends; null when the gateway has no basic auth. */
  readonly basicAuth: { readonly user: string; readonly password: string } | null;
}

/** Paths of the written configs. */
export interface MonitoringFiles {
  readonly prometheusConfig: string;
  readonly alertmanagerConfig: string;
  readonly ruleFiles: readonly string[];
}

type Doc = Record<string, unknown>;

async function readYaml(path: string): Promise<Doc> {
  return load(await readFile(path, 'utf8')) as Doc;
}

async function writeYaml(path: string, doc: unknown): Promise<void> {
  await writeFile(path, dump(doc, { lineWidth: -1, noRefs: true }));
}

/** A copy of one rule file with the range windows and `for` durations of `timing`. */
export function retimeRules(doc: Doc, timing: MonitoringTiming): Doc {
  const groups = (doc['groups'] as Array<{ rules: Doc[] }>).map((group) => ({
    ...group,
    interval: timing.scrapeInterval,
    rules: group.rules.map((rule) => {
      // The windows, and an `offset` that says "a series at least one window old", follow the rate window.
      const expr = String(rule['expr'])
        .replace(/\[[^\]]+\]/g, `[${timing.rateWindow}]`)
        .replace(/\boffset \d+[smhd]\b/g, `offset ${timing.rateWindow}`);
      return rule['alert'] === undefined ? { ...rule, expr } : { ...rule, expr, for: timing.forDuration };
    }),
  }));
  return { ...doc, groups };
}

/**
 * Writes copies of `alert-rules/*.rules.yml`, `deploy/prometheus/prometheus.yml` and
 * `deploy/alertmanager.yml` into `dir`, changed only where a test or demo must differ: the
 * intervals of `timing`, loopback addresses and ports, and the webhook password file.
 */
export async function writeMonitoringConfigs(dir: string, targets: MonitoringTargets, timing: MonitoringTiming): Promise<MonitoringFiles> {
  const root = repoRoot();
  const rulesDir = join(dir, 'alert-rules');
  await mkdir(rulesDir, { recursive: true });
  const ruleFiles: string[] = [];
  for (const name of (await readdir(join(root, 'alert-rules'))).filter((file) => file.endsWith('.rules.yml')).sort()) {
    const target = join(rulesDir, name);
    await writeYaml(target, retimeRules(await readYaml(join(root, 'alert-rules', name)), timing));
    ruleFiles.push(target);
  }

  const prometheus = await readYaml(join(root, 'deploy/prometheus/prometheus.yml'));
  prometheus['global'] = {
    ...(prometheus['global'] as Doc),
    scrape_interval: timing.scrapeInterval,
    scrape_timeout: timing.scrapeInterval,
    evaluation_interval: timing.scrapeInterval,
  };
  prometheus['rule_files'] = [join(rulesDir, '*.rules.yml')];
  prometheus['alerting'] = { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${targets.alertmanagerPort}`] }] }] };
  prometheus['scrape_configs'] = (prometheus['scrape_configs'] as Doc[]).map((job) => ({
    ...job,
    scrape_interval: timing.scrapeInterval,
    scrape_timeout: timing.scrapeInterval,
    static_configs: [{ targets: [targets.gateway] }],
  }));
  const prometheusConfig = join(dir, 'prometheus.yml');
  await writeYaml(prometheusConfig, prometheus);

  const alertmanager = await readYaml(join(root, 'deploy/alertmanager.yml'));
  alertmanager['route'] = {
    ...(alertmanager['route'] as Doc),
    group_wait: timing.groupWait,
    group_interval: timing.groupInterval,
    repeat_interval: timing.repeatInterval,
  };
  const passwordFile = join(dir, 'webhook-password');
  await writeFile(passwordFile, targets.basicAuth?.password ?? '', { mode: 0o600 });
  alertmanager['receivers'] = (alertmanager['receivers'] as Array<{ webhook_configs?: Doc[] }>).map((receiver) => ({
    ...receiver,
    webhook_configs: (receiver.webhook_configs ?? []).map((webhook) => {
      const { http_config: httpConfig, ...rest } = webhook;
      const url = new URL(String(rest['url']));
      const local = { ...rest, url: `http://${targets.admin}${url.pathname}` };
      if (targets.basicAuth === null) return local;
      return { ...local, http_config: { ...(httpConfig as Doc), basic_auth: { username: targets.basicAuth.user, password_file: passwordFile } } };
    }),
  }));
  const alertmanagerConfig = join(dir, 'alertmanager.yml');
  await writeYaml(alertmanagerConfig, alertmanager);
  return { prometheusConfig, alertmanagerConfig, ruleFiles };
}
