import { describe, expect, it } from '@jest/globals';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { repoRoot, runTool, toolsOrSkip } from '../../demo/tools.js';

const root = repoRoot();

async function yamlOf(path: string): Promise<Record<string, unknown>> {
  return load(await readFile(join(root, path), 'utf8')) as Record<string, unknown>;
}

interface RuleGroup {
  name: string;
  rules: Array<Record<string, unknown>>;
}

/** The `groups` of a rule file or of a PrometheusRule's spec. */
function groupsOf(doc: Record<string, unknown>): RuleGroup[] {
  const spec = doc['spec'] as Record<string, unknown> | undefined;
  return ((spec ?? doc)['groups'] ?? []) as RuleGroup[];
}

function ruleNamed(groups: RuleGroup[], alert: string): Record<string, unknown> | undefined {
  return groups.flatMap((group) => group.rules).find((rule) => rule['alert'] === alert);
}

const tools = toolsOrSkip(['promtool', 'amtool'], 'deploy config checks');
const describeWithTools = tools === null ? describe.skip : describe;

describeWithTools('deploy configs checked by amtool and promtool', () => {
  it('amtool accepts deploy/alertmanager.yml', async () => {
    const run = await runTool(tools?.amtool ?? 'amtool', ['check-config', 'deploy/alertmanager.yml'], 20_000, root);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/SUCCESS/);
    expect(run.stdout).toMatch(/1 receivers/);
  });

  it('promtool accepts deploy/prometheus/prometheus.yml and finds the rules relative to it', async () => {
    const run = await runTool(tools?.promtool ?? 'promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml'], 20_000, root);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/SUCCESS: 2 rule files found/);
    expect(run.stdout).toMatch(/gateway\.rules\.yml\s+SUCCESS: 1 rules found/);
    expect(run.stdout).toMatch(/policy\.rules\.yml\s+SUCCESS: 4 rules found/);
  });

  it('both checks fail on a broken copy, so they can fail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deploy-configs-'));
    try {
      const alertmanager = await readFile(join(root, 'deploy/alertmanager.yml'), 'utf8');
      await writeFile(join(dir, 'alertmanager.yml'), alertmanager.replace('receiver: scale', 'receiver: nobody'));
      const amtool = await runTool(tools?.amtool ?? 'amtool', ['check-config', join(dir, 'alertmanager.yml')], 20_000);
      expect(amtool.code).not.toBe(0);

      // The config resolves rule_files relative to itself: a broken rule file there must fail it.
      await mkdir(join(dir, 'alert-rules'));
      await mkdir(join(dir, 'deploy/prometheus'), { recursive: true });
      await writeFile(join(dir, 'alert-rules/broken.rules.yml'), 'groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(\n');
      await copyFile(join(root, 'deploy/prometheus/prometheus.yml'), join(dir, 'deploy/prometheus/prometheus.yml'));
      const promtool = await runTool(tools?.promtool ?? 'promtool', ['check', 'config', join(dir, 'deploy/prometheus/prometheus.yml')], 20_000);
      expect(promtool.code).not.toBe(0);
      expect(promtool.stdout + promtool.stderr).toMatch(/broken\.rules\.yml/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy configs agree with each other', () => {
  it('the PrometheusRule carries exactly the groups of every alert-rules/*.rules.yml, in file-name order', async () => {
    const files = (await readdir(join(root, 'alert-rules'))).filter((name) => name.endsWith('.rules.yml')).sort();
    expect(files).toEqual(expect.arrayContaining(['gateway.rules.yml', 'policy.rules.yml']));
    const fromFiles: RuleGroup[] = [];
    for (const name of files) fromFiles.push(...groupsOf(await yamlOf(`alert-rules/${name}`)));
    const operator = groupsOf(await yamlOf('deploy/monitoring/prometheus-rule.yaml'));
    // Demand (calls started, or waiting at every scrape), not OpenFaaS's completed 200s.
    expect(ruleNamed(operator, 'APIHighInvocationRate')?.['expr']).toMatch(/^sum by \(function_name\) \(rate\(gateway_function_invocation_started\[20s\]\)\) > 5 or /);
    expect(operator.map((group) => group.name)).toEqual(fromFiles.map((group) => group.name));
    expect(operator).toEqual(fromFiles);
  });

  it('the AlertmanagerConfig routes like deploy/alertmanager.yml', async () => {
    const plain = await yamlOf('deploy/alertmanager.yml');
    const operator = (await yamlOf('deploy/monitoring/alertmanager-config.yaml'))['spec'] as Record<string, unknown>;
    const route = plain['route'] as Record<string, unknown>;
    const operatorRoute = operator['route'] as Record<string, unknown>;
    expect(route).toEqual({ receiver: 'scale', group_by: ['alertname', 'function_name'], group_wait: '1s', group_interval: '5s', repeat_interval: '1m' });
    expect(operatorRoute).toEqual({
      receiver: route['receiver'],
      groupBy: route['group_by'],
      groupWait: route['group_wait'],
      groupInterval: route['group_interval'],
      repeatInterval: route['repeat_interval'],
    });
    const [receiver] = plain['receivers'] as Array<{ name: string; webhook_configs: Array<Record<string, unknown>> }>;
    const [operatorReceiver] = operator['receivers'] as Array<{ name: string; webhookConfigs: Array<Record<string, unknown>> }>;
    expect(operatorReceiver?.name).toBe(receiver?.name);
    const webhook = receiver?.webhook_configs[0];
    const operatorWebhook = operatorReceiver?.webhookConfigs[0];
    expect(webhook?.['send_resolved']).toBe(true);
    expect(operatorWebhook?.['sendResolved']).toBe(true);
    expect(new URL(String(webhook?.['url'])).pathname).toBe('/system/alert');
    expect(new URL(String(operatorWebhook?.['url'])).pathname).toBe('/system/alert');
    // The webhook is served on the admin listener only (its default port).
    expect(new URL(String(webhook?.['url'])).port).toBe('8081');
    expect(new URL(String(operatorWebhook?.['url'])).port).toBe('8081');
    const basicAuth = (operatorWebhook?.['httpConfig'] as { basicAuth: Record<string, { name: string; key: string }> }).basicAuth;
    expect(Object.keys(basicAuth).sort()).toEqual(['password', 'username']);
  });

  it('the ServiceMonitor scrapes /metrics at the interval of the plain Prometheus config', async () => {
    const prometheus = await yamlOf('deploy/prometheus/prometheus.yml');
    const monitor = (await yamlOf('deploy/monitoring/service-monitor.yaml'))['spec'] as { endpoints: Array<Record<string, unknown>> };
    const [job] = prometheus['scrape_configs'] as Array<Record<string, unknown>>;
    expect(monitor.endpoints[0]?.['path']).toBe(job?.['metrics_path']);
    expect(monitor.endpoints[0]?.['interval']).toBe(job?.['scrape_interval']);
    expect(prometheus['rule_files']).toEqual(['../../alert-rules/*.rules.yml']);
  });

  it('the monitoring objects point at the Service and Secret of deploy/kubernetes/', async () => {
    const service = await yamlOf('deploy/kubernetes/service.yaml');
    const secret = await yamlOf('deploy/kubernetes/basic-auth-secret.yaml');
    // alert-scaler's own objects carry no namespace; the openfaas overlay's transformer sets it.
    const namespace = ((await yamlOf('deploy/overlays/openfaas/namespace.yaml'))['metadata'] as { namespace: string }).namespace;
    expect(namespace).toBe('openfaas');
    const serviceMeta = { ...(service['metadata'] as { name: string; labels: Record<string, string> }), namespace };
    const servicePorts = (service['spec'] as { ports: Array<{ name: string; port: number }> }).ports;
    const monitor = await yamlOf('deploy/monitoring/service-monitor.yaml');
    const monitorSpec = monitor['spec'] as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }>; namespaceSelector: { matchNames: string[] } };
    expect(serviceMeta.labels).toMatchObject(monitorSpec.selector.matchLabels);
    expect(monitorSpec.namespaceSelector.matchNames).toEqual([serviceMeta.namespace]);
    expect(servicePorts.map((port) => port.name)).toContain(monitorSpec.endpoints[0]?.port);

    const config = await yamlOf('deploy/monitoring/alertmanager-config.yaml');
    const [receiver] = (config['spec'] as { receivers: Array<{ webhookConfigs: Array<{ url: string; httpConfig: { basicAuth: Record<string, { name: string; key: string }> } }> }> }).receivers;
    const webhook = receiver?.webhookConfigs[0];
    // Two ports: the function listener (scraped) and the admin listener (the webhook).
    expect(servicePorts.map((p) => [p.name, p.port])).toEqual([['http', 8080], ['admin', 8081]]);
    expect(monitorSpec.endpoints[0]?.port).toBe('http');
    const port = servicePorts.find((p) => p.name === 'admin')?.port;
    expect(webhook?.url).toBe(`http://${serviceMeta.name}.${serviceMeta.namespace}.svc.cluster.local:${port}/system/alert`);
    const secretMeta = { ...(secret['metadata'] as { name: string }), namespace };
    const secretKeys = Object.keys((secret['stringData'] ?? secret['data']) as Record<string, string>);
    for (const ref of Object.values(webhook?.httpConfig.basicAuth ?? {})) {
      expect(ref.name).toBe(secretMeta.name);
      expect(secretKeys).toContain(ref.key);
    }
    expect((config['metadata'] as { namespace: string }).namespace).toBe(secretMeta.namespace);
  });
});
