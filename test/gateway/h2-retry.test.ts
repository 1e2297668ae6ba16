/**
 * An HTTP/2 call whose replica refuses the connection (listed ready, its port closed: the
 * moment between a replica's death and the provider noticing, held open by a StaticProvider)
 * is sent again to another replica, over HTTP/1.1 and over h2c, with its body whole: nothing
 * of it reached the refusing replica, which is made suspect. A call whose connection was up
 * is never sent twice.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { serveH2c } from '../../src/bootstrap/protocols.js';
import { systemClock } from '../../src/core/clock.js';
import { InvocationLog } from '../../src/engine/activity.js';
import { Dispatcher } from '../../src/engine/dispatcher.js';
import { gatewayShare, type GatewayShard } from '../../src/engine/replicas.js';
import { createH2Proxy } from '../../src/gateway/h2-proxy.js';
import { silentLogger } from '../../src/log/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import { StaticProvider, type StaticReplica } from './static-provider.js';

const NS = 'openfaas-fn';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function listen(server: http.Server | http2.Http2Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** A replica answering `<name>:<body bytes>`, over HTTP/1.1 or h2c; `seen` counts the calls it got. */
async function replica(name: string, protocol: 'http' | 'h2c'): Promise<{ spec: StaticReplica; seen: () => number }> {
  let seen = 0;
  const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    seen += 1;
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => res.end(`${name}:${bytes}`));
  };
  const server = protocol === 'h2c' ? http2.createServer(handler) : http.createServer(handler);
  const address = await listen(server);
  cleanups.push(() => new Promise<void>((resolve) => {
    if (server instanceof http.Server) server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { spec: { id: name, address }, seen: () => seen };
}

/** A replica listed ready whose port nobody listens on: every connection is refused. */
async function dead(name: string): Promise<StaticReplica> {
  const server = http.createServer();
  const address = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return { id: name, address };
}

async function gateway(replicas: readonly StaticReplica[], labels: Record<string, string>, shard?: GatewayShard): Promise<{ port: number; metrics: Metrics; dispatcher: Dispatcher }> {
  const provider = new StaticProvider(replicas, labels);
  const metrics = createMetrics();
  const dispatcher = new Dispatcher({ provider, clock: systemClock, metrics, defaultNamespace: NS, defaults: { concurrency: 0, maxQueued: 100, requestTimeoutMs: 5000, maxWaitMs: 5000 }, suspectMs: 10_000, ...(shard === undefined ? {} : { shard }) });
  const proxy = createH2Proxy({ dispatcher, invocations: new InvocationLog(), metrics, logger: silentLogger(), defaultNamespace: NS, bodyLimitBytes: 1024 * 1024, trustedProxies: undefined });
  const server = http.createServer((_req, res) => res.end());
  const h2 = serveH2c(server, proxy.handle);
  const address = await listen(server);
  cleanups.push(async () => {
    proxy.close();
    h2.closeAll();
    dispatcher.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: Number(new URL(address).port), metrics, dispatcher };
}

function post(port: number, path: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path });
    let status = 0;
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      session.close();
      resolve({ status, text });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function retries(metrics: Metrics): Promise<number> {
  const text = await metrics.registry.metrics();
  return Number(/^alert_scaler_upstream_retries_total\{function_name="fn",reason="refused"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

describe.each<['http' | 'h2c']>([['http'], ['h2c']])('an HTTP/2 call refused by its replica (replicas speak %s)', (protocol) => {
  it('goes to another replica with its body whole, and the refusing one is made suspect', async () => {
    const live = await replica('live', protocol);
    const { port, metrics } = await gateway([await dead('dead-1'), live.spec, await dead('dead-2')], protocol === 'h2c' ? { 'com.openfaas.protocol': 'h2c' } : {});
    const body = Buffer.alloc(40 * 1024, 'b');
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await post(port, '/function/fn/', body));
    expect(answers).toEqual(Array.from({ length: 6 }, () => ({ status: 200, text: `live:${body.length}` })));
    expect(live.seen()).toBe(6);
    // Each dead replica refused once at most, then stayed suspect.
    const refused = await retries(metrics);
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(refused).toBeLessThanOrEqual(2);
  });

  it('with every replica refusing, the call fails 502 UPSTREAM_FAILED after its attempts, not a hang', async () => {
    const { port } = await gateway([await dead('dead-1'), await dead('dead-2'), await dead('dead-3'), await dead('dead-4')], protocol === 'h2c' ? { 'com.openfaas.protocol': 'h2c' } : {});
    const answer = await post(port, '/function/fn/', Buffer.from('x'));
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'UPSTREAM_FAILED', attempts: 3 } });
  });
});

describe('an HTTP/2 call forwarded to a gateway that is gone', () => {
  it('waits here, then goes to the member that took its place once the members change, its body whole', async () => {
    // Concurrency 1, one replica, two gateways: this one holds no slot and forwards to the owner.
    const live = await replica('replica', 'http');
    const owner = gatewayShare(1, { count: 2, index: 0 }, 'replica') === 1 ? 0 : 1;
    const addresses: Array<string | null> = [null, null];
    addresses[owner] = (await dead('gone')).address;
    const shard: GatewayShard = { count: 2, index: 1 - owner, addressOf: (index) => (addresses[index] === null || addresses[index] === undefined ? null : new URL(addresses[index] as string)) };
    const { port, metrics, dispatcher } = await gateway([live.spec], { 'com.openfaas.scale.concurrency': '1' }, shard);
    // The member that took the gone one's place: a gateway stand-in that records the forwarded mark.
    const marks: string[] = [];
    const peer = http.createServer((req, res) => {
      marks.push(String(req.headers['x-alert-scaler-forwarded']));
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => res.end(`peer:${bytes}`));
    });
    const peerAddress = await listen(peer);
    cleanups.push(() => new Promise<void>((resolve) => {
      peer.closeAllConnections();
      peer.close(() => resolve());
    }));
    const body = Buffer.alloc(20 * 1024, 'p');
    const answer = post(port, '/function/fn/', body);
    for (let i = 0; i < 100 && (await retries(metrics)) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await retries(metrics)).toBe(1);
    expect(dispatcher.stats({ name: 'fn', namespace: NS }).queued.no_replica).toBe(1);
    addresses[owner] = peerAddress;
    dispatcher.reshard();
    expect(await answer).toEqual({ status: 200, text: `peer:${body.length}` });
    expect(marks).toHaveLength(1);
    expect(live.seen()).toBe(0);
  });
});
