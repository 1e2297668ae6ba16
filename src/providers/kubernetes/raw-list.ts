/**
 * One page of a list as plain JSON: the objects as the apiserver sent them, parsed once with
 * JSON.parse. client-node's generated list methods convert every item into its model classes
 * (dates, nested classes) first, which at 10,000 objects a kind costs more CPU and garbage than
 * everything else in a list; the caches read a few fields and drop the object (informer.ts).
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Listed, ListOptions } from './list-options.js';

/** Largest list page accepted, bytes (500 objects of a few KB each fit many times over). */
const MAX_PAGE_BYTES = 64 * 1024 * 1024;

/** The query of a list page: only the options that are set. */
function query(options: ListOptions): Record<string, string> {
  return {
    ...(options.labelSelector === undefined || options.labelSelector === '' ? {} : { labelSelector: options.labelSelector }),
    ...(options.limit === undefined || options.limit <= 0 ? {} : { limit: String(options.limit) }),
    ...(options.continue === undefined || options.continue === '' ? {} : { continue: options.continue }),
  };
}

/**
 * GETs `path` (e.g. `/api/v1/namespaces/x/pods`) on the current cluster with the kubeconfig's
 * credentials and TLS settings (as client-node's Watch does). A non-2xx answer rejects with an
 * error carrying `statusCode` and the Status `body`, which translateKubeError reads.
 */
export async function rawList<T>(kubeConfig: KubeConfig, path: string, options: ListOptions): Promise<Listed<T>> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(query(options))) url.searchParams.set(key, value);
  const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
  await kubeConfig.applyToHTTPSOptions(opts);
  const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_PAGE_BYTES) {
          req.destroy(new Error(`list page of ${path} over ${MAX_PAGE_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  if (body.status < 200 || body.status >= 300) throw Object.assign(new Error(`HTTP ${body.status}`), { statusCode: body.status, body: body.text });
  const list = JSON.parse(body.text) as { items?: T[] | null; metadata?: { resourceVersion?: string; continue?: string } };
  const next = list.metadata?.continue;
  return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '', ...(next === undefined || next === '' ? {} : { continue: next }) };
}
