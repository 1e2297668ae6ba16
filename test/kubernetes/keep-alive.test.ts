import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { KubeApi, loadKubeConfig } from '../../src/providers/kubernetes/client.js';

describe('the Kubernetes API client connections', () => {
  it('sequential requests share one kept-alive connection (client-node alone opens one per request)', async () => {
    let connections = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      const body = JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'fn', namespace: 'openfaas-fn', resourceVersion: '1' } });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    server.on('connection', () => (connections += 1));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = await mkdtemp(join(tmpdir(), 'alert-scaler-keepalive-'));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const file = join(dir, 'kubeconfig.yaml');
      await writeFile(file, ['apiVersion: v1', 'kind: Config', 'current-context: c', 'clusters:', '- name: c', '  cluster:', `    server: ${url}`, '    insecure-skip-tls-verify: true', 'users:', '- name: u', '  user: {}', 'contexts:', '- name: c', '  context:', '    cluster: c', '    user: u', ''].join('\n'));
      const api = new KubeApi(loadKubeConfig(file), 2000);
      for (let i = 0; i < 10; i++) expect((await api.getDeployment('openfaas-fn', 'fn')).metadata?.name).toBe('fn');
      expect(connections).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
