import { afterEach, describe, expect, it } from '@jest/globals';
import type { AsyncCall, AsyncQueue, Delivery } from '../../src/async/types.js';

/** Makes a queue; `same` opens one more on the same store (a restart, or a second gateway). */
export interface QueueMaker {
  open(): Promise<AsyncQueue>;
}

let seq = 0;
/** A call of `fn` with a body naming it. */
export function call(fn = 'echo', body = `body-${++seq}`): AsyncCall {
  return { id: `c-${process.pid}-${++seq}-${Math.random().toString(36).slice(2)}`, fn, method: 'POST', path: '/x', query: '?a=1', headers: ['Content-Type', 'text/plain'], body: Buffer.from(body).toString('base64'), acceptedAt: Date.now() };
}

/** Collects deliveries as they come; `take(n)` waits (bounded) for n of them. */
export function collector(queue: AsyncQueue, maxInFlight = 16) {
  const got: Delivery[] = [];
  let wake: (() => void) | null = null;
  queue.consume((d) => {
    got.push(d);
    wake?.();
  }, maxInFlight);
  const take = async (n: number, timeoutMs = 10_000): Promise<Delivery[]> => {
    const until = Date.now() + timeoutMs;
    while (got.length < n) {
      if (Date.now() > until) throw new Error(`only ${got.length} of ${n} deliveries within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return got.splice(0, n);
  };
  return { got, take };
}

async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The contract every AsyncQueue engine passes (src/async/types.ts). */
export function asyncQueueContract(name: string, maker: () => QueueMaker): void {
  describe(`AsyncQueue contract: ${name}`, () => {
    const open: AsyncQueue[] = [];
    let m: QueueMaker;
    const start = async (): Promise<AsyncQueue> => {
      const q = await m.open();
      open.push(q);
      return q;
    };
    afterEach(async () => {
      for (const q of open.splice(0)) await q.close();
    });

    it('delivers an enqueued call once with attempt 1, counted in the backlog until acked', async () => {
      m = maker();
      const q = await start();
      const c = call('echo', 'hello');
      await q.enqueue(c);
      expect(q.backlog('echo')).toBe(1);
      const { take } = collector(q);
      const [d] = await take(1);
      expect(d?.call).toEqual(c);
      expect(d?.attempt).toBe(1);
      await d?.ack();
      await eventually(() => q.backlog('echo') === 0);
      expect(q.backlogs().size).toBe(0);
    });

    it('a nacked call comes again after its delay with the next attempt number', async () => {
      m = maker();
      const q = await start();
      const c = call();
      await q.enqueue(c);
      const { take } = collector(q);
      const [first] = await take(1);
      const nackedAt = Date.now();
      await first?.nack(300);
      const [second] = await take(1);
      expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(250);
      expect(second?.call.id).toBe(c.id);
      expect(second?.attempt).toBe(2);
      await second?.ack();
    });

    it('a dead-lettered call is listed with its reason and a replay delivers it again', async () => {
      m = maker();
      const q = await start();
      const c = call();
      await q.enqueue(c);
      const { take } = collector(q);
      const [d] = await take(1);
      await d?.deadLetter('status 503');
      await eventually(() => q.backlog(c.fn) === 0);
      const dead = await q.deadLetters(10);
      expect(dead.map((x) => [x.call.id, x.reason])).toEqual([[c.id, 'status 503']]);
      expect(await q.replay(c.id)).toBe(true);
      expect(await q.replay('no-such-id')).toBe(false);
      const [again] = await take(1);
      expect(again?.call.id).toBe(c.id);
      expect(again?.attempt).toBe(1);
      await again?.ack();
      expect(await q.deadLetters(10)).toEqual([]);
    });

    it('hands over at most maxInFlight unsettled calls', async () => {
      m = maker();
      const q = await start();
      for (let i = 0; i < 10; i++) await q.enqueue(call('many'));
      const { got, take } = collector(q, 3);
      const first = await take(3);
      await new Promise((r) => setTimeout(r, 300));
      expect(got.length).toBe(0);
      await first[0]?.ack();
      const [next] = await take(1);
      expect(next).toBeDefined();
      for (const d of [...first.slice(1), next]) await d?.ack();
    });

    it('calls delivered but not acked before a restart are delivered again; acked ones are not', async () => {
      m = maker();
      const q1 = await start();
      const calls = Array.from({ length: 20 }, () => call('durable'));
      await Promise.all(calls.map((c) => q1.enqueue(c)));
      const { take } = collector(q1, 20);
      const first = await take(20);
      const acked = new Set<string>();
      for (const d of first.slice(0, 5)) {
        await d.ack();
        acked.add(d.call.id);
      }
      await q1.close();
      open.splice(open.indexOf(q1), 1);
      const q2 = await start();
      const again = collector(q2, 20);
      const redelivered = await again.take(15, 30_000);
      expect(new Set(redelivered.map((d) => d.call.id))).toEqual(new Set(calls.map((c) => c.id).filter((id) => !acked.has(id))));
      for (const d of redelivered) await d.ack();
    });
  });
}
