import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from '@jest/globals';
import { TextMemo } from '../../src/providers/kubernetes/memo.js';
import { rawRequest, rawWatch } from '../../src/providers/kubernetes/raw-list.js';

/** A local server on 127.0.0.1 answering with `handler`; the kubeconfig pointing at it. */
async function withServer(handler: http.RequestListener, run: (kc: KubeConfig) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  try {
    await run(kc);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

function watchOnce(kc: KubeConfig, path: string): Promise<{ events: Array<{ type: string; object: unknown }>; err: unknown }> {
  return new Promise((resolve) => {
    const events: Array<{ type: string; object: unknown }> = [];
    void rawWatch(kc, path, { resourceVersion: '5' }, (type, object) => events.push({ type, object }), (err) => resolve({ events, err }));
  });
}

describe('plain JSON requests to the apiserver (raw-list.ts)', () => {
  it('a watch hands over each line as one event, also split across chunks, skips an unreadable line, and ends once, cleanly', async () => {
    let query = '';
    await withServer((req, res) => {
      query = req.url ?? '';
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MODI');
      setTimeout(() => {
        res.write('FIED","object":{"metadata":{"name":"b"}}}\nnot json\n\n');
        res.end('{"type":"DELETED","object":{"metadata":{"name":"c"}}}\n');
      }, 20);
    }, async (kc) => {
      const { events, err } = await watchOnce(kc, '/api/v1/namespaces/x/pods');
      expect(err).toBeNull();
      expect(events).toEqual([
        { type: 'ADDED', object: { metadata: { name: 'a' } } },
        { type: 'MODIFIED', object: { metadata: { name: 'b' } } },
        { type: 'DELETED', object: { metadata: { name: 'c' } } },
      ]);
      expect(query).toContain('watch=true');
      expect(query).toContain('resourceVersion=5');
    });
  });

  it('a watch answered with a non-200 ends with an error carrying the status', async () => {
    await withServer((_req, res) => {
      res.writeHead(410, { 'Content-Type': 'application/json' });
      res.end('{}');
    }, async (kc) => {
      const { events, err } = await watchOnce(kc, '/api/v1/namespaces/x/pods');
      expect(events).toEqual([]);
      expect((err as { statusCode?: number }).statusCode).toBe(410);
    });
  });

  it('a request sends its JSON body with its content type; a non-2xx rejects with the status, the Status body and the headers', async () => {
    const seen: Array<{ method: string; type: string | undefined; body: string }> = [];
    await withServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', type: req.headers['content-type'], body });
        if (seen.length === 1) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{"metadata":{"resourceVersion":"7"}}');
        } else {
          res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '2' });
          res.end('{"kind":"Status","message":"slow down"}');
        }
      });
    }, async (kc) => {
      const written = await rawRequest<{ metadata: { resourceVersion: string } }>(kc, 'PATCH', '/apis/apps/v1/namespaces/x/deployments/fn', { body: { spec: { replicas: 2 } }, contentType: 'application/merge-patch+json' });
      expect(written.metadata.resourceVersion).toBe('7');
      expect(seen[0]).toEqual({ method: 'PATCH', type: 'application/merge-patch+json', body: '{"spec":{"replicas":2}}' });
      const refused = await rawRequest(kc, 'PATCH', '/apis/apps/v1/namespaces/x/deployments/fn', { body: {} }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ statusCode: 429, body: '{"kind":"Status","message":"slow down"}', headers: { 'retry-after': '2' } });
    });
  });
});

describe('TextMemo', () => {
  it('computes a text once while it is kept, keeps at most `limit` texts (the oldest goes first), and keeps no result it is told not to', () => {
    const memo = new TextMemo<number>(2);
    let computed = 0;
    const length = (t: string) => {
      computed += 1;
      return { value: t.length, keep: t !== 'bad' };
    };
    expect([memo.get('a', length), memo.get('a', length), memo.get('bb', length)]).toEqual([1, 1, 2]);
    expect(computed).toBe(2);
    memo.get('ccc', length);
    expect(memo.size).toBe(2);
    memo.get('a', length);
    expect(computed).toBe(4);
    memo.get('bad', length);
    memo.get('bad', length);
    expect(computed).toBe(6);
  });
});
