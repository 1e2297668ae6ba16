/**
 * Requests to the apiserver as plain JSON, on the kubeconfig's one keep-alive agent with its
 * credentials and TLS settings: list pages, the hot writes (a Deployment's merge patch, a
 * pod's annotations, Events) and watches. client-node's generated methods convert every
 * request and answer through its model classes (dates, nested classes) and node-fetch, and
 * its Watch splits the stream with readline: at 10,000 functions a kind and 200 alert steps a
 * second that costs more CPU and garbage than everything else the provider does. The caches
 * read a few fields of each object and drop it (informer.ts), which plain JSON serves as well.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Listed, ListOptions } from './list-options.js';

/** Largest answer accepted, bytes (a list page of 500 objects of a few KB each fits many times over). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** Largest watch event (one line) accepted, bytes; a longer line ends the watch with an error. */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;
/** TCP keep-alive probes on a watch's socket, as client-node's Watch sets them. */
const WATCH_KEEPALIVE_MS = 30_000;

/** What one request sends besides its method and path. */
export interface RawOptions {
  readonly query?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Of the body; default `application/json`. */
  readonly contentType?: string;
}

/** The query of a list page: only the options that are set. */
function listQuery(options: ListOptions): Record<string, string> {
  return {
    ...(options.labelSelector === undefined || options.labelSelector === '' ? {} : { labelSelector: options.labelSelector }),
    ...(options.limit === undefined || options.limit <= 0 ? {} : { limit: String(options.limit) }),
    ...(options.continue === undefined || options.continue === '' ? {} : { continue: options.continue }),
  };
}

/** The URL and request options of `path` on the current cluster, credentials applied. */
async function prepare(kubeConfig: KubeConfig, method: string, path: string, query: Readonly<Record<string, string>>): Promise<{ url: URL; opts: https.RequestOptions }> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  const opts: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
  await kubeConfig.applyToHTTPSOptions(opts);
  return { url, opts };
}

/** The error of a non-2xx answer: `statusCode`, the Status `body` (translateKubeError reads both) and the headers (a 429's Retry-After). */
function httpError(status: number, text: string, headers: http.IncomingHttpHeaders): Error {
  return Object.assign(new Error(`HTTP ${status}`), { statusCode: status, body: text, headers });
}

/**
 * Sends one request (`path` e.g. `/api/v1/namespaces/x/pods`) and parses its JSON answer. A
 * non-2xx answer rejects with an error carrying `statusCode`, the Status `body` and the headers.
 */
export async function rawRequest<T>(kubeConfig: KubeConfig, method: string, path: string, options: RawOptions = {}): Promise<T> {
  const { url, opts } = await prepare(kubeConfig, method, path, options.query ?? {});
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (payload !== undefined) opts.headers = { ...opts.headers, 'Content-Type': options.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) };
  const answer = await new Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) {
          req.destroy(new Error(`answer of ${method} ${path} over ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
  if (answer.status < 200 || answer.status >= 300) throw httpError(answer.status, answer.text, answer.headers);
  return JSON.parse(answer.text) as T;
}

/** One page of a list as plain JSON: the objects as the apiserver sent them, parsed once. */
export async function rawList<T>(kubeConfig: KubeConfig, path: string, options: ListOptions): Promise<Listed<T>> {
  const list = await rawRequest<{ items?: T[] | null; metadata?: { resourceVersion?: string; continue?: string } }>(kubeConfig, 'GET', path, { query: listQuery(options) });
  const next = list.metadata?.continue;
  return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '', ...(next === undefined || next === '' ? {} : { continue: next }) };
}

/**
 * Splits a watch stream into lines and hands each parsed event to `onEvent`, as client-node's
 * Watch does (a line that is not JSON, or whose handler throws, is skipped) without its
 * readline and node-fetch layers; a partial line past MAX_EVENT_BYTES calls `fail`.
 */
function eventLines(res: http.IncomingMessage, onEvent: (type: string, object: unknown) => void, fail: (err: Error) => void): void {
  let partial = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    let text = partial + chunk;
    // The partial line holds no newline: search only what arrived, so a long line is not rescanned per chunk.
    let newline = text.indexOf('\n', partial.length);
    while (newline >= 0) {
      const line = text.slice(0, newline);
      text = text.slice(newline + 1);
      newline = text.indexOf('\n');
      if (line.trim() === '') continue;
      try {
        const event = JSON.parse(line) as { type?: unknown; object?: unknown };
        onEvent(String(event.type), event.object);
      } catch {
        // As client-node's Watch: an unreadable line (or a failing handler) is skipped.
      }
    }
    partial = text;
    if (partial.length > MAX_EVENT_BYTES) fail(new Error(`watch event over ${MAX_EVENT_BYTES} bytes`));
  });
}

/**
 * Opens a watch (`watch=true` is added to `query`). `onDone` is called once when the stream
 * ends: null for a clean close, else the error (a non-200 answer carries `statusCode`). The
 * returned controller's abort ends it (then `onDone(null)`), as client-node's Watch.
 */
export async function rawWatch(
  kubeConfig: KubeConfig,
  path: string,
  query: Readonly<Record<string, string>>,
  onEvent: (type: string, object: unknown) => void,
  onDone: (err: unknown) => void,
): Promise<AbortController> {
  const controller = new AbortController();
  let done = false;
  const finish = (err: unknown): void => {
    if (done) return;
    done = true;
    controller.abort();
    onDone(err);
  };
  try {
    const { url, opts } = await prepare(kubeConfig, 'GET', path, { ...query, watch: 'true' });
    const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
      if (res.statusCode !== 200) {
        const status = res.statusCode ?? 0;
        res.resume();
        finish(Object.assign(new Error(http.STATUS_CODES[status] ?? 'Internal Server Error'), { statusCode: status }));
        return;
      }
      eventLines(res, onEvent, (err) => {
        req.destroy(err);
        finish(err);
      });
      res.on('end', () => finish(null));
      res.on('close', () => finish(null));
      res.on('error', finish);
    });
    // Aborting ends the request without an error event of its own (a listener that threw would be uncaught).
    controller.signal.addEventListener('abort', () => req.destroy(), { once: true });
    req.on('socket', (socket) => socket.setKeepAlive(true, WATCH_KEEPALIVE_MS));
    req.on('error', (err) => finish(controller.signal.aborted && !done ? null : err));
    req.end();
  } catch (err) {
    finish(err);
  }
  return controller;
}
