/**
 * docs/kubernetes.md stays true to the code: the environment variables it names exist
 * (ENV_KEYS), the repository paths it names exist, the `sed` it gives for another namespace
 * matches the overlay's transformer, and README.md links it. The manifests themselves (render,
 * no Namespace, example function) are checked in test/kubernetes/deploy.test.ts and
 * example-function.test.ts.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { ENV_KEYS } from '../../src/config/schema.js';

const root = packageRoot();

describe('docs/kubernetes.md', () => {
  let doc: string;

  beforeAll(async () => {
    doc = await readFile(join(root, 'docs/kubernetes.md'), 'utf8');
  });

  it('names only environment variables the config reads (and the JetStream names the NATS queue creates)', async () => {
    // Stream and consumer names, not variables: each as src/async/nats-queue.ts builds it.
    const queue = await readFile(join(root, 'src/async/nats-queue.ts'), 'utf8');
    expect(queue).toContain("options.name ?? 'ALERT_SCALER_ASYNC'");
    expect(queue).toContain('durable_name: `${name}_WORKER`');
    expect(queue).toContain('name: `${name}_DEAD`');
    const jetStream = new Set(['ALERT_SCALER_ASYNC', 'ALERT_SCALER_ASYNC_WORKER', 'ALERT_SCALER_ASYNC_DEAD']);
    const named = [...new Set(doc.match(/\bALERT_SCALER_[A-Z_]+/g) ?? [])].filter((name) => !jetStream.has(name));
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((name) => !(name in ENV_KEYS))).toEqual([]);
  });

  it('names only files and folders that exist', async () => {
    const paths = [...new Set(doc.match(/\b(?:deploy|alert-rules|test)\/[\w./-]*[\w/]/g) ?? [])]
      .filter((p) => !p.includes('overlays/mine'));
    expect(paths).toEqual(expect.arrayContaining(['deploy/overlays/openfaas/', 'deploy/examples/function/', 'deploy/monitoring/prometheus-rule.yaml']));
    const missing: string[] = [];
    for (const p of paths) await access(join(root, p)).catch(() => missing.push(p));
    expect(missing).toEqual([]);
  });

  it('its namespace `sed` matches the line of the overlay transformer it edits', async () => {
    const transformer = await readFile(join(root, 'deploy/overlays/openfaas/namespace.yaml'), 'utf8');
    expect(doc).toContain("sed -i 's/^  namespace: openfaas$/  namespace: scaling/'");
    expect(transformer.split('\n').filter((line) => /^ {2}namespace: openfaas$/.test(line))).toHaveLength(1);
  });

  it('is linked from README.md', async () => {
    expect(await readFile(join(root, 'README.md'), 'utf8')).toContain('(docs/kubernetes.md)');
  });
});
