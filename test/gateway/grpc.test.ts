/**
 * gRPC through the gateway (issue 19, item 3): a real @grpc/grpc-js client against a real
 * @grpc/grpc-js replica (h2c, label com.openfaas.protocol=h2c), both on 127.0.0.1, no proto
 * files (raw byte messages). The client reaches a function by its route, method paths
 * `/function/<name>/test.Echo/<Method>`; the gateway sends `/test.Echo/<Method>` on.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import type { LocalProvider } from '../../src/providers/local/index.js';
import { eventually, startTestScaler, type TestFunction } from '../support/harness.js';

const REPLICA = join(packageRoot(), 'test', 'gateway', 'fixtures', 'grpc-replica.mjs');
const NS = 'openfaas-fn';
const H2C = { 'com.openfaas.protocol': 'h2c' };
const grpcReplica = (labels: Record<string, string> = {}): TestFunction => ({ command: [process.execPath, REPLICA], labels: { ...H2C, ...labels } });

let s: RunningScaler;
const clients: grpc.Client[] = [];
beforeAll(async () => {
  s = await startTestScaler(
    {
      grpc: grpcReplica(),
      'grpc-slow': grpcReplica({ 'com.openfaas.request-timeout': '500ms' }),
      'grpc-one': grpcReplica({ 'com.openfaas.scale.concurrency': '1' }),
      'grpc-full': grpcReplica({ 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.max-queued': '0' }),
      'grpc-zero': grpcReplica({ 'com.openfaas.scale.min': '0' }),
      // Speaks HTTP/1.1 only, yet labelled h2c: every call to it fails upstream.
      'grpc-wrong': { labels: H2C },
      // A gRPC replica without the label: spoken to over HTTP/1.1, which it does not speak.
      'grpc-unlabelled': { command: [process.execPath, REPLICA] },
      // Killed mid-stream by its test.
      'grpc-victim': grpcReplica(),
    },
    { ALERT_SCALER_REQUEST_TIMEOUT_MS: '10000', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
  );
  for (const name of ['grpc', 'grpc-slow', 'grpc-one', 'grpc-full', 'grpc-wrong', 'grpc-unlabelled', 'grpc-victim']) {
    await eventually(async () => (await s.provider.getReplicas({ name, namespace: NS })).ready === 1, 20_000);
  }
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await s.close();
});

const id = (b: Buffer): Buffer => b;
type Service = grpc.ServiceClientConstructor;

/**
 * A generic client of test.Echo on the function `name`, through the gateway: on method paths
 * under `/function/<name>/`, or (`byAuthority`) on the plain gRPC paths with the function
 * named by the channel's authority, as a client with generated stubs would.
 */
function echoClient(name: string, byAuthority = false): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  const def = (method: string, responseStream: boolean) => ({
    path: byAuthority ? `/test.Echo/${method}` : `/function/${name}/test.Echo/${method}`,
    requestStream: false,
    responseStream,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  });
  const Ctor: Service = grpc.makeGenericClientConstructor({ Unary: def('Unary', false), Stream: def('Stream', true), Fail: def('Fail', false), Stats: def('Stats', false) }, 'Echo');
  const client = new Ctor(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure(), byAuthority ? { 'grpc.default_authority': name } : {}) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  clients.push(client);
  return client;
}

interface UnaryResult {
  readonly error: grpc.ServiceError | null;
  readonly value: Buffer | undefined;
  readonly headers: grpc.Metadata | undefined;
  readonly status: grpc.StatusObject | undefined;
  readonly ms: number;
}

/** One unary call: its error or answer, its response headers and its final status (trailers). */
function unary(client: grpc.Client & Record<string, (...args: unknown[]) => unknown>, method: string, body: Buffer, meta: Record<string, string> = {}, options: grpc.CallOptions = {}): Promise<UnaryResult> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(meta)) metadata.set(k, v);
  const started = performance.now();
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let status: grpc.StatusObject | undefined;
    let result: { error: grpc.ServiceError | null; value: Buffer | undefined } | undefined;
    const done = (): void => {
      if (result !== undefined && status !== undefined) resolve({ ...result, headers, status, ms: performance.now() - started });
    };
    const call = client[method]?.(body, metadata, options, (error: grpc.ServiceError | null, value?: Buffer) => {
      result = { error, value };
      done();
    }) as grpc.ClientUnaryCall;
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    call.on('status', (st: grpc.StatusObject) => {
      status = st;
      done();
    });
  });
}

/** Replica slots of `name` held by a call. */
function inFlight(name: string): number {
  return s.engine.dispatcher.replicas({ name, namespace: NS }).reduce((n, r) => n + r.inFlight, 0);
}

/** `gateway_function_invocation_total` of `name` with `code`. */
async function invocations(name: string, code: number): Promise<number> {
  const text = (await request(s.server).get('/metrics').timeout(3000)).text;
  return Number(new RegExp(`^gateway_function_invocation_total\\{function_name="${name}",code="${code}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

describe('gRPC through the gateway', () => {
  it('a unary call passes through with its answer, its trailers and its OK status, and is counted as a call', async () => {
    const before = await invocations('grpc', 200);
    const r = await unary(echoClient('grpc'), 'Unary', Buffer.from('hello gRPC'));
    expect(r.error).toBeNull();
    expect(r.value?.toString()).toBe('hello gRPC');
    expect(r.status?.code).toBe(grpc.status.OK);
    expect(r.status?.metadata.get('x-trailer')).toEqual(['yes']);
    expect(await invocations('grpc', 200)).toBe(before + 1);
  });

  it('a client with the plain gRPC method paths reaches the function its authority names', async () => {
    const r = await unary(echoClient('grpc', true), 'Unary', Buffer.from('by authority'));
    expect([r.error, r.value?.toString()]).toEqual([null, 'by authority']);
    const unknown = await unary(echoClient('no-such-function', true), 'Unary', Buffer.from('x'));
    expect(unknown.error?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('a server-streaming call of 1,000 messages arrives whole and in order, then its trailers', async () => {
    const client = echoClient('grpc');
    const received: string[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = client['Stream']?.(Buffer.from('1000'), new grpc.Metadata()) as grpc.ClientReadableStream<Buffer>;
      call.on('data', (m: Buffer) => received.push(m.toString().split(':')[0] ?? ''));
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    expect(status.code).toBe(grpc.status.OK);
    expect(status.metadata.get('x-trailer')).toEqual(['yes']);
    expect(received).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
  });

  it("the replica's own gRPC error status and message pass through", async () => {
    const r = await unary(echoClient('grpc'), 'Fail', Buffer.from('x'));
    expect([r.error?.code, r.error?.details]).toEqual([grpc.status.NOT_FOUND, 'no such thing']);
  });

  it("an answer slower than the function's request timeout is DEADLINE_EXCEEDED from the gateway, and the slot is given back", async () => {
    const r = await unary(echoClient('grpc-slow'), 'Unary', Buffer.from('slow'), { 'x-delay-ms': '5000' });
    expect(r.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(r.error?.details).toContain('REQUEST_TIMEOUT');
    expect(r.ms).toBeLessThan(4000);
    expect(inFlight('grpc-slow')).toBe(0);
  });

  it("a server stream longer than the function's request timeout ends with DEADLINE_EXCEEDED after the messages so far", async () => {
    const client = echoClient('grpc-slow');
    let received = 0;
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const meta = new grpc.Metadata();
      meta.set('x-interval-ms', '100');
      const call = client['Stream']?.(Buffer.from('50'), meta) as grpc.ClientReadableStream<Buffer>;
      call.on('data', () => (received += 1));
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(status.details).toContain('REQUEST_TIMEOUT');
    expect(received).toBeGreaterThanOrEqual(1);
    expect(received).toBeLessThan(50);
    await eventually(() => inFlight('grpc-slow') === 0, 3000);
  });

  it("a client deadline shorter than the replica's answer ends the call with DEADLINE_EXCEEDED and frees its slot at once", async () => {
    const r = await unary(echoClient('grpc'), 'Unary', Buffer.from('late'), { 'x-delay-ms': '5000' }, { deadline: Date.now() + 300 });
    expect(r.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(r.ms).toBeLessThan(4000);
    await eventually(() => inFlight('grpc') === 0, 3000);
  });

  it('a replica killed mid-stream ends the call with UNAVAILABLE, never OK with the messages so far', async () => {
    const client = echoClient('grpc-victim');
    let received = 0;
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const meta = new grpc.Metadata();
      meta.set('x-interval-ms', '50');
      const call = client['Stream']?.(Buffer.from('100'), meta) as grpc.ClientReadableStream<Buffer>;
      call.on('data', () => {
        received += 1;
        if (received === 3) (s.provider as LocalProvider).replicasOf({ name: 'grpc-victim', namespace: NS }).find((r) => r.phase === 'ready')?.kill('SIGKILL');
      });
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(received).toBeLessThan(100);
    await eventually(() => inFlight('grpc-victim') === 0, 3000);
  });

  it('a full queue is RESOURCE_EXHAUSTED', async () => {
    const client = echoClient('grpc-full');
    const first = unary(client, 'Unary', Buffer.from('holds the slot'), { 'x-delay-ms': '3000' });
    await eventually(() => inFlight('grpc-full') === 1, 5000);
    const second = await unary(client, 'Unary', Buffer.from('no room'));
    expect(second.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(second.error?.details).toContain('QUEUE_FULL');
    expect((await first).error).toBeNull();
  });

  it('an unknown function is UNIMPLEMENTED', async () => {
    const r = await unary(echoClient('no-such-function'), 'Unary', Buffer.from('x'));
    expect(r.error?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(r.error?.details).toContain('FUNCTION_UNKNOWN');
  });

  it('a replica the gateway cannot speak h2c to is UNAVAILABLE', async () => {
    const r = await unary(echoClient('grpc-wrong'), 'Unary', Buffer.from('x'));
    expect(r.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.error?.details).toContain('UPSTREAM_FAILED');
  });

  it('a gRPC call to a function without the h2c label is UNAVAILABLE and the message names the label', async () => {
    const r = await unary(echoClient('grpc-unlabelled'), 'Unary', Buffer.from('x'));
    expect(r.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.error?.details).toContain('com.openfaas.protocol=h2c');
  });

  it('a function at zero is woken by a gRPC call, which is then answered', async () => {
    expect((await s.provider.getReplicas({ name: 'grpc-zero', namespace: NS })).ready).toBe(0);
    const r = await unary(echoClient('grpc-zero'), 'Unary', Buffer.from('wake up'));
    expect(r.error).toBeNull();
    expect(r.value?.toString()).toBe('wake up');
    expect(Number(r.headers?.get('x-scale-from-zero')[0])).toBeGreaterThanOrEqual(0);
    expect((await s.provider.getReplicas({ name: 'grpc-zero', namespace: NS })).ready).toBe(1);
  });

  it('with concurrency 1, two concurrent streaming calls are served one after the other: the replica never holds two', async () => {
    const client = echoClient('grpc-one');
    await unary(client, 'Stats', Buffer.alloc(0));
    const stream = (): Promise<number> =>
      new Promise((resolve) => {
        const meta = new grpc.Metadata();
        meta.set('x-interval-ms', '40');
        const call = client['Stream']?.(Buffer.from('8'), meta) as grpc.ClientReadableStream<Buffer>;
        let n = 0;
        call.on('data', () => (n += 1));
        call.on('error', () => undefined);
        call.on('status', (st: grpc.StatusObject) => resolve(st.code === grpc.status.OK ? n : -1));
      });
    const [a, b] = await Promise.all([stream(), stream()]);
    expect([a, b]).toEqual([8, 8]);
    const stats = JSON.parse((await unary(client, 'Stats', Buffer.alloc(0))).value?.toString() ?? '{}') as { maxInFlight: number; calls: number };
    expect(stats.maxInFlight).toBe(1);
    expect(stats.calls).toBeGreaterThanOrEqual(2);
  });
});
