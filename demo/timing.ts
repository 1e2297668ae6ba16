import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { FAST_TIMING, type MonitoringTiming } from './monitoring-config.js';

/** The demo's alert path: FAST_TIMING with a repeat that keeps a long burst stepping, and the shipped `for: 0s`. */
export const DEMO_TIMING: MonitoringTiming = Object.freeze({ ...FAST_TIMING, forDuration: '0s', repeatInterval: '10s' });

/** The gateway settings the demo changes: back to min 5s after the alert resolves. */
export const DEMO_ENV: Readonly<Record<string, string>> = Object.freeze({ ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '5', ALERT_SCALER_COOLDOWN_SECONDS: '10' });

/** The timing the shipped configs use (alert-rules/, deploy/alertmanager.yml, the config defaults). */
export interface ShippedTiming {
  readonly rateWindow: string;
  readonly forDuration: string;
  readonly repeatInterval: string;
  readonly groupInterval: string;
  readonly scaleDownWindowSeconds: number;
}

type Doc = Record<string, unknown>;

/** Reads the shipped timing from the files under `root`; the scale-down window is the config's default (30s). */
export function shippedTiming(root: string): ShippedTiming {
  const rules = load(readFileSync(join(root, 'alert-rules', 'gateway.rules.yml'), 'utf8')) as { groups: Array<{ rules: Doc[] }> };
  const rule = rules.groups.flatMap((g) => g.rules).find((r) => r['alert'] === 'APIHighInvocationRate');
  const window = /\[(\d+[smh])\]/.exec(String(rule?.['expr']))?.[1];
  const am = load(readFileSync(join(root, 'deploy', 'alertmanager.yml'), 'utf8')) as { route: Doc };
  if (rule === undefined || window === undefined) throw new Error('alert-rules/gateway.rules.yml: no APIHighInvocationRate rule with a [window]');
  return {
    rateWindow: window,
    forDuration: String(rule['for'] ?? '0s'),
    repeatInterval: String(am.route['repeat_interval']),
    groupInterval: String(am.route['group_interval']),
    scaleDownWindowSeconds: 30,
  };
}

/**
 * What the demo prints about its timing: that it is faster than the shipped configs, and why,
 * setting by setting (only those that differ), so nobody takes its reaction times for a
 * deployment's.
 */
export function timingLines(demo: MonitoringTiming, demoScaleDownSeconds: number, shipped: ShippedTiming): string[] {
  const lines = ['timing: faster than the shipped configs (alert-rules/, deploy/alertmanager.yml), to show a whole cycle within a minute:'];
  if (demo.rateWindow !== shipped.rateWindow) lines.push(`  rate window ${demo.rateWindow} (shipped ${shipped.rateWindow}): a burst crosses the threshold sooner, and a short spike is smoothed less`);
  if (demo.forDuration !== shipped.forDuration) lines.push(`  for ${demo.forDuration} (shipped ${shipped.forDuration}): how long the rule must hold before it fires`);
  if (demo.repeatInterval !== shipped.repeatInterval) lines.push(`  Alertmanager repeat ${demo.repeatInterval} (shipped ${shipped.repeatInterval}): a long burst steps again every ${demo.repeatInterval}`);
  if (demo.groupInterval !== shipped.groupInterval) lines.push(`  Alertmanager group interval ${demo.groupInterval} (shipped ${shipped.groupInterval}): a resolve reaches the gateway sooner`);
  if (demoScaleDownSeconds !== shipped.scaleDownWindowSeconds) {
    lines.push(`  scale-down window ${demoScaleDownSeconds}s (shipped ${shipped.scaleDownWindowSeconds}s): back to min sooner after the alert resolves, at the risk of flapping`);
  }
  lines.push('  with the shipped settings each step and each return to min takes longer; alert-rules/README.md says the trade-off of each');
  return lines;
}

/** Where the operator looks: the page's URL and its credentials. */
export function pageLines(adminUrl: string, auth: { readonly user: string; readonly password: string }): string[] {
  return [`page: ${adminUrl}/ui/  (user ${auth.user}, password ${auth.password}): functions, alerts, the last 15 minutes, events`];
}
