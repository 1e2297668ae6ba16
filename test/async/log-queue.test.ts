import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { LogQueue } from '../../src/async/log-queue.js';
import type { Delivery } from '../../src/async/types.js';
import { systemClock } from '../../src/core/clock.js';
import { asyncQueueContract, call, collector } from './contract.js';

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'async-log-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const options = (dir: string) => ({ dir, clock: systemClock, maxQueued: 1000, maxDeadLetters: 100, compactMinBytes: 4096 });

asyncQueueContract('embedded log', () => {
  const dir = freshDir();
  return { open: () => Promise.resolve(LogQueue.open(options(dir))) };
});

describe('embedded log', () => {
  it('a folder it cannot create is CONFIG_INVALID naming ALERT_SCALER_ASYNC_DIR', () => {
    expect(() => LogQueue.open(options('/dev/null/async'))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('ALERT_SCALER_ASYNC_DIR') }) as unknown as Error);
  });

  it('hands calls out in turn across functions, at most limitOf(fn) of one at once: a deep backlog of one leaves room for the others', async () => {
    const q = LogQueue.open(options(freshDir()));
    for (let i = 0; i < 50; i++) await q.enqueue(call('deep'));
    await q.enqueue(call('other'));
    await q.enqueue(call('other'));
    /** Deliveries handed out and not settled yet. */
    const open = new Set<Delivery>();
    const of = (fn: string) => [...open].filter((d) => d.call.fn === fn);
    const ack = async (d: Delivery | undefined) => {
      if (d === undefined) throw new Error('no delivery');
      open.delete(d);
      await d.ack();
    };
    q.consume((d) => open.add(d), 4, (fn) => (fn === 'deep' ? 2 : 3));
    // 4 in the pool: 2 of deep (its limit), then both of other, though deep's 50 came first.
    expect([of('deep').length, of('other').length]).toEqual([2, 2]);
    // A settled call of deep lets the next of deep in, never a third at once.
    await ack(of('deep')[0]);
    expect([of('deep').length, of('other').length]).toEqual([2, 2]);
    // Other's two places free: deep still takes 2 at most, one place stays empty.
    await ack(of('other')[0]);
    await ack(of('other')[0]);
    expect([of('deep').length, of('other').length]).toEqual([2, 0]);
    expect(q.backlog('deep')).toBe(49);
    // A delivery that yields its share (its replica slot is back; its callback and ack still run)
    // lets the next of deep in before it settles.
    of('deep')[0]?.yieldShare?.();
    expect(of('deep')).toHaveLength(3);
    await q.close();
  });

  it('refuses QUEUE_FULL past maxQueued', async () => {
    const q = LogQueue.open({ ...options(freshDir()), maxQueued: 2 });
    await q.enqueue(call());
    await q.enqueue(call());
    await expect(q.enqueue(call())).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    await q.close();
  });

  it('compacts delivered records: the file stays small after many acks, and what is left replays', async () => {
    const dir = freshDir();
    const q = LogQueue.open(options(dir));
    const { take } = collector(q, 50);
    for (let i = 0; i < 500; i++) await q.enqueue(call('c', 'x'.repeat(200)));
    for (let i = 0; i < 10; i++) for (const d of await take(50)) await d.ack();
    const keep = call('c', 'kept');
    await q.enqueue(keep);
    await q.close();
    expect(statSync(path.join(dir, 'queue.log')).size).toBeLessThan(20_000);
    const q2 = LogQueue.open(options(dir));
    expect(q2.backlog('c')).toBe(1);
    const [d] = await collector(q2).take(1);
    expect(d?.call.id).toBe(keep.id);
    await q2.close();
  });
});
