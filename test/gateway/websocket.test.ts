import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { closed, nextMessage, openSocket, rawClient, refusal, roundTrip, upgradeRequest, wsFunction, wsUrl } from '../support/websocket.js';
import { scrape, send } from '../support/zero-harness.js';

const ref = (name: string) => ({ name, namespace: 'openfaas-fn' });

let s: RunningScaler;

/** Slots held on the function's replicas now. */
function inFlight(name: string): number {
  return s.engine.dispatcher.replicas(ref(name)).reduce((n, r) => n + r.inFlight, 0);
}

beforeAll(async () => {
  s = await startTestScaler({
    chat: wsFunction(),
    solo: wsFunction({ 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.max': '1' }),
    zero: wsFunction({ 'com.openfaas.scale.min': '0' }),
    quiet: wsFunction({ 'com.openfaas.websocket.idle-timeout': '2s' }),
  });
  for (const name of ['chat', 'solo', 'quiet']) await eventually(async () => (await s.provider.getReplicas(ref(name))).ready === 1, 15_000);
});
afterAll(async () => {
  await s.close();
});

describe('WebSocket upgrades through the function listener', () => {
  it('echoes text, then a 1 MB binary message round trip byte for byte; the metrics count the socket while open and its close', async () => {
    const ws = await openSocket(wsUrl(s.url, '/function/chat'));
    expect(await roundTrip(ws, 'hello')).toBe('hello');
    const big = randomBytes(1024 * 1024);
    const reply = nextMessage(ws);
    ws.send(big, { binary: true });
    const { data, binary } = await reply;
    expect(binary).toBe(true);
    expect(data.equals(big)).toBe(true);
    expect(await scrape(s, 'gateway_websocket_connections', { function_name: 'chat' })).toBe(1);
    expect(inFlight('chat')).toBe(1);

    const end = closed(ws);
    ws.close(1000);
    expect((await end).code).toBe(1000);
    await eventually(() => inFlight('chat') === 0);
    expect(await scrape(s, 'gateway_websocket_connections', { function_name: 'chat' })).toBe(0);
    expect(await scrape(s, 'gateway_websocket_upgrades_total', { function_name: 'chat', code: '101' })).toBeGreaterThanOrEqual(1);
    await eventually(async () => ((await scrape(s, 'gateway_websocket_closed_total', { function_name: 'chat', reason: 'client' })) ?? 0) >= 1);
  });

  it('upgrades a function at zero: it wakes, then the socket works', async () => {
    expect((await s.provider.getReplicas(ref('zero'))).ready).toBe(0);
    let woke: string | string[] | undefined;
    const ws = await openSocket(wsUrl(s.url, '/function/zero'), 15_000, (headers) => (woke = headers['x-scale-from-zero']));
    expect(await roundTrip(ws, 'from zero')).toBe('from zero');
    expect(Number(woke)).toBeGreaterThan(0);
    expect((await s.provider.getReplicas(ref('zero'))).ready).toBe(1);
    ws.close();
  });

  it('concurrency 1: a second socket waits in the queue and is served when the first closes; the replica never held 2', async () => {
    const first = await openSocket(wsUrl(s.url, '/function/solo'));
    let secondOpen = false;
    const second = openSocket(wsUrl(s.url, '/function/solo'));
    void second.then(() => (secondOpen = true), () => undefined);
    await eventually(() => s.engine.dispatcher.queued(ref('solo')).busy === 1);
    expect(await roundTrip(first, 'still mine')).toBe('still mine');
    expect(secondOpen).toBe(false);

    first.close();
    const ws = await second;
    const stats = JSON.parse(await roundTrip(ws, 'stats')) as { maxOpen: number };
    expect(stats.maxOpen).toBe(1);
    expect(s.engine.dispatcher.queued(ref('solo')).busy).toBe(0);
    ws.close();
    await eventually(() => inFlight('solo') === 0);
  });

  it('a replica\'s refusal goes back as its HTTP answer; bad path 400 and unknown function 404 as for calls', async () => {
    const refused = await refusal(wsUrl(s.url, '/function/chat/refuse'));
    expect(refused.status).toBe(403);
    expect(refused.body).toBe('refused');
    expect(refused.headers['x-refused-by']).toBe('replica');
    await eventually(async () => (await scrape(s, 'gateway_websocket_upgrades_total', { function_name: 'chat', code: '403' })) === 1);
    const unknown = await refusal(wsUrl(s.url, '/function/nope'));
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.code).toBe('FUNCTION_UNKNOWN');
    const bad = await refusal(wsUrl(s.url, '/function/chat/..%2f..%2fsecret'));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('BAD_REQUEST');
    await eventually(() => inFlight('chat') === 0);
  });

  it('the admin listener upgrades too, its 101 sandboxed', async () => {
    const ws = await openSocket(wsUrl(s.adminUrl, '/function/chat'));
    expect(await roundTrip(ws, 'admin side')).toBe('admin side');
    ws.close();
    const refused = await refusal(wsUrl(s.adminUrl, '/function/chat/refuse'));
    expect(refused.headers['content-security-policy']).toBe('sandbox');
  });

  it('an upgrade that is not a WebSocket, or not on the function route, is served as the plain request it also is', async () => {
    const client = rawClient(s.port);
    client.socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n`);
    await client.closedAt;
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(client.received()).toContain('"status":"ok"');
    const ws = rawClient(s.port);
    ws.socket.write(upgradeRequest('/healthz', s.port));
    await ws.closedAt;
    expect(ws.received()).toMatch(/^HTTP\/1\.1 200 /);
    // A call with another upgrade token is a call: answered by the replica, its slot given back.
    const call = rawClient(s.port);
    call.socket.write(`GET /function/chat/plain HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n`);
    await call.closedAt;
    expect(call.received()).toMatch(/^HTTP\/1\.1 404 /);
    expect(call.received()).toContain('not here');
    await eventually(() => inFlight('chat') === 0);
    expect(await scrape(s, 'gateway_function_invocation_total', { function_name: 'chat', code: '404' })).toBe(1);
  });
});

describe('WebSocket idle timeout (label com.openfaas.websocket.idle-timeout)', () => {
  it('a socket that talks stays open; once silent for the timeout it gets close 1001 and its slot is freed', async () => {
    const ws = await openSocket(wsUrl(s.url, '/function/quiet'));
    const end = closed(ws);
    // 3 s of traffic every 300 ms: longer than the 2 s timeout, never silent for it.
    let last = Date.now();
    for (let i = 0; i < 10; i++) {
      expect(await roundTrip(ws, `tick ${i}`)).toBe(`tick ${i}`);
      last = Date.now();
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(ws.readyState).toBe(ws.OPEN);
    const { code, at } = await end;
    expect(code).toBe(1001);
    expect(at - last).toBeGreaterThanOrEqual(1500);
    await eventually(() => inFlight('quiet') === 0);
    await eventually(async () => (await scrape(s, 'gateway_websocket_closed_total', { function_name: 'quiet', reason: 'idle' })) === 1);
  });
});

describe('WebSocket faults', () => {
  it('garbage after the upgrade reaches the replica, which drops the socket; the gateway frees the slot and keeps serving', async () => {
    const client = rawClient(s.port);
    client.socket.write(upgradeRequest('/function/chat', s.port));
    await eventually(() => client.received().includes('\r\n\r\n'));
    expect(client.received()).toMatch(/^HTTP\/1\.1 101 /);
    client.socket.write(Buffer.concat([Buffer.alloc(64, 0xff), Buffer.from('GET / HTTP/1.1\r\n\r\n')]));
    await client.closedAt;
    await eventually(() => inFlight('chat') === 0);
    const ws = await openSocket(wsUrl(s.url, '/function/chat'));
    expect(await roundTrip(ws, 'after garbage')).toBe('after garbage');
    ws.close();
  });

  it('a client that floods bytes before the 101 gets 400 and its slot back; a few early bytes reach the replica after the 101', async () => {
    const flood = rawClient(s.port);
    flood.socket.write(upgradeRequest('/function/chat/slow', s.port));
    flood.socket.write(Buffer.alloc(70_000, 0x41));
    await flood.closedAt;
    expect(flood.received()).toMatch(/^HTTP\/1\.1 400 /);
    await eventually(() => inFlight('chat') === 0);
    // A masked text frame "hi" sent right behind the request: echoed once the socket is up.
    const early = rawClient(s.port);
    const hi = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]);
    early.socket.write(Buffer.concat([Buffer.from(upgradeRequest('/function/chat', s.port), 'latin1'), hi]));
    await eventually(() => early.received().endsWith('\x81\x02hi'));
    expect(early.received()).toMatch(/^HTTP\/1\.1 101 /);
    early.socket.destroy();
    await eventually(() => inFlight('chat') === 0);
  });

  it('a client that vanishes while its upgrade waits in the queue leaves it; one that vanishes while the replica answers frees its slot', async () => {
    const holder = await openSocket(wsUrl(s.url, '/function/solo'));
    const queued = rawClient(s.port);
    queued.socket.write(upgradeRequest('/function/solo', s.port));
    await eventually(() => s.engine.dispatcher.queued(ref('solo')).busy === 1);
    queued.socket.destroy();
    await eventually(() => s.engine.dispatcher.queued(ref('solo')).busy === 0);
    holder.close();
    await eventually(() => inFlight('solo') === 0);

    const before = (await scrape(s, 'gateway_websocket_upgrades_total', { function_name: 'chat', code: '499' })) ?? 0;
    const slow = rawClient(s.port);
    slow.socket.write(upgradeRequest('/function/chat/slow', s.port));
    await eventually(() => inFlight('chat') === 1);
    slow.socket.destroy();
    await eventually(() => inFlight('chat') === 0);
    await eventually(async () => (await scrape(s, 'gateway_websocket_upgrades_total', { function_name: 'chat', code: '499' })) === before + 1);
    expect((await send(`${s.url}/healthz`)).status).toBe(200);
  });

  it('a client that ends its side while its upgrade waits gets the socket closed by the gateway, not left half open', async () => {
    const holder = await openSocket(wsUrl(s.url, '/function/solo'));
    const queued = rawClient(s.port);
    queued.socket.write(upgradeRequest('/function/solo', s.port));
    await eventually(() => s.engine.dispatcher.queued(ref('solo')).busy === 1);
    // A FIN only: the client's socket closes once the gateway ends its side too.
    queued.socket.end();
    await eventually(() => s.engine.dispatcher.queued(ref('solo')).busy === 0);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still half open after 10 s'), 10_000)));
    expect(await Promise.race([queued.closedAt.then(() => 'closed'), waited])).toBe('closed');
    clearTimeout(timer);
    expect(queued.received()).toBe('');
    holder.close();
    await eventually(() => inFlight('solo') === 0);
  });
});

describe('WebSocket drain and shutdown', () => {
  let g: RunningScaler;
  beforeAll(async () => {
    g = await startTestScaler({ drained: wsFunction(), last: wsFunction(), long: wsFunction(), flood: wsFunction() }, { ALERT_SCALER_DRAIN_TIMEOUT_MS: '1500', ALERT_SCALER_REQUEST_TIMEOUT_MS: '800' });
    for (const name of ['drained', 'last', 'long', 'flood']) await eventually(async () => (await g.provider.getReplicas(ref(name))).ready === 1, 15_000);
  });
  afterAll(async () => {
    await g.close();
  });

  it('the request timeout bounds the handshake only: an open socket outlives it, still in flight', async () => {
    const ws = await openSocket(wsUrl(g.url, '/function/long'));
    await new Promise((r) => setTimeout(r, 2000));
    expect(await roundTrip(ws, 'after 2.5 request timeouts')).toBe('after 2.5 request timeouts');
    expect(g.engine.dispatcher.replicas(ref('long')).reduce((n, r) => n + r.inFlight, 0)).toBe(1);
    const end = closed(ws);
    ws.close();
    expect((await end).code).toBe(1005);
  });

  it('a socket on a replica being drained stays open until the drain timeout, then gets close 1001', async () => {
    const ws = await openSocket(wsUrl(g.url, '/function/drained'));
    const end = closed(ws);
    const asked = Date.now();
    const scaled = await send(`${g.adminUrl}/system/scale-function/drained`, { method: 'POST', body: JSON.stringify({ serviceName: 'drained', replicas: 0 }), headers: { 'content-type': 'application/json' } });
    expect(scaled.status).toBe(202);
    await eventually(() => g.engine.dispatcher.replicas(ref('drained')).some((r) => r.draining));
    expect(await roundTrip(ws, 'while draining')).toBe('while draining');
    const { code, at } = await end;
    expect(code).toBe(1001);
    expect(at - asked).toBeGreaterThanOrEqual(1500);
    await eventually(async () => (await scrape(g, 'gateway_websocket_closed_total', { function_name: 'drained', reason: 'drain' })) === 1);
  });

  it('a socket closed while the replica streams large frames gets its close 1001 after a whole frame, never inside one', async () => {
    const ws = await openSocket(wsUrl(g.url, '/function/flood'));
    const errors: string[] = [];
    ws.on('error', (err) => errors.push(err.message));
    let received = 0;
    ws.on('message', (data: Buffer) => {
      expect(data.length).toBe(256 * 1024);
      received += 1;
    });
    const end = closed(ws);
    ws.send('flood');
    await eventually(() => received >= 4);
    const scaled = await send(`${g.adminUrl}/system/scale-function/flood`, { method: 'POST', body: JSON.stringify({ serviceName: 'flood', replicas: 0 }), headers: { 'content-type': 'application/json' } });
    expect(scaled.status).toBe(202);
    expect((await end).code).toBe(1001);
    expect(errors).toEqual([]);
  });

  it('shutdown closes an open socket with 1001 within the shutdown timeout', async () => {
    const ws = await openSocket(wsUrl(g.url, '/function/last'));
    expect(await roundTrip(ws, 'last words')).toBe('last words');
    const end = closed(ws);
    const started = Date.now();
    await g.close();
    const { code, at } = await end;
    expect(code).toBe(1001);
    expect(at - started).toBeLessThan(15_000);
  });
});
