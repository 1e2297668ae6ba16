/**
 * Slow request bodies hold no replica slot (issue 16, item 5), against a running gateway
 * (local provider, a real replica process) on raw sockets to 127.0.0.1. The function allows 1
 * call at a time per replica (`com.openfaas.scale.concurrency=1`) and has 1 replica: a body up
 * to 64 KiB is read before its call takes the slot, so slow senders leave it to normal calls;
 * a sender that pauses longer than the body idle timeout gets 408 BODY_TIMEOUT, and a larger
 * body, which streams on its slot, frees that slot at the same timeout. All waits are bounded.
 */
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';

const STREAM = join(packageRoot(), 'test', 'reliability', 'fixtures', 'stream-replica.mjs');
const NS = 'openfaas-fn';
const BODY_IDLE_TIMEOUT_MS = 1500;
/** A normal call waits this long for the slot at most (then 504 QUEUE_TIMEOUT), so a held slot fails a test fast. */
const WAKE_TIMEOUT_MS = 3000;

let s: RunningScaler;
beforeAll(async () => {
  const one = { command: [process.execPath, STREAM], labels: { 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' } };
  s = await startTestScaler({ one }, { ALERT_SCALER_BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_TIMEOUT_MS), ALERT_SCALER_WAKE_TIMEOUT_MS: String(WAKE_TIMEOUT_MS) });
  await eventually(async () => (await s.provider.getReplicas({ name: 'one', namespace: NS })).ready === 1);
});
afterAll(async () => {
  await s.close();
});

/** Replica slots of `one` held now. */
function slotsHeld(): number {
  return s.engine.dispatcher.replicas({ name: 'one', namespace: NS }).reduce((n, r) => n + r.inFlight, 0);
}

/** A sender on its own connection: the head, then `next` pieces of the body when asked; what it was answered. */
interface Sender {
  send(piece: string | Buffer): void;
  /** The status line's code and the body, once the gateway answered and closed (0 when it did not). */
  readonly answer: Promise<{ status: number; body: string }>;
  close(): void;
}

function sender(contentLength: number): Promise<Sender> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(s.port, '127.0.0.1', () => {
      socket.write(`POST /function/one HTTP/1.1\r\nHost: gw.test\r\nContent-Length: ${contentLength}\r\n\r\n`);
      resolve({
        send: (piece) => {
          if (!socket.destroyed) socket.write(piece);
        },
        answer,
        close: () => socket.destroy(),
      });
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    const answer = new Promise<{ status: number; body: string }>((done) => {
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        done({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
      });
    });
    socket.once('error', reject);
  });
}

/** `answer`, or a rejection after 8 s; the timer is cleared either way (a pending one would keep the jest worker alive). */
async function within8s<T>(answer: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer within 8 s')), 8000)));
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A normal call: a small body sent at once; its status and how long it took. */
async function normalCall(): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await request(s.server).post('/function/one').send('normal').timeout(WAKE_TIMEOUT_MS + 5000);
  return { status: res.status, ms: performance.now() - started };
}

describe('slow request bodies on a function that takes one call at a time', () => {
  it('22 senders trickling one byte every 200 ms for 4 s (past the body idle timeout) hold no slot: 30 normal calls meanwhile all get 200', async () => {
    const senders = await Promise.all(Array.from({ length: 22 }, () => sender(1000)));
    let answered = 0;
    for (const one of senders) void one.answer.then(() => (answered += 1));
    const trickle = setInterval(() => {
      for (const one of senders) one.send('x');
    }, 200);
    try {
      const answers = [];
      const until = Date.now() + 4000;
      for (let i = 0; i < 30; i++) {
        const answer = await normalCall();
        expect([i, answer.status]).toEqual([i, 200]);
        answers.push(answer);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, (until - Date.now()) / (30 - i))));
      }
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(WAKE_TIMEOUT_MS);
      // Still trickling (not cut: each piece restarts the idle timeout), none answered, none holding the slot.
      expect(answered).toBe(0);
      expect(slotsHeld()).toBe(0);
    } finally {
      clearInterval(trickle);
      for (const one of senders) one.close();
    }
  }, 60_000);

  it('a sender that stops sending gets 408 BODY_TIMEOUT after the body idle timeout, and its connection is closed', async () => {
    const started = performance.now();
    const one = await sender(1000);
    one.send('half of it');
    const answer = await within8s(one.answer);
    const ms = performance.now() - started;
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'BODY_TIMEOUT', bodyIdleTimeoutMs: BODY_IDLE_TIMEOUT_MS } });
    expect(ms).toBeGreaterThanOrEqual(BODY_IDLE_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(BODY_IDLE_TIMEOUT_MS + 3000);
    expect(slotsHeld()).toBe(0);
  });

  it('a body over 64 KiB streams on its slot, and a sender that stalls frees it at the body idle timeout: the waiting normal call is then served', async () => {
    const big = await sender(200_000);
    big.send(Buffer.alloc(10_000, 'b'));
    await eventually(() => slotsHeld() === 1, 3000);
    const started = performance.now();
    const waiting = normalCall();
    const answer = await within8s(big.answer);
    expect(answer.status).toBe(408);
    const normal = await waiting;
    expect(normal.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(BODY_IDLE_TIMEOUT_MS + 1500);
    await eventually(() => slotsHeld() === 0, 3000);
  });
});
