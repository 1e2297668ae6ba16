import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { AppError } from '../../src/errors.js';
import { RateLimiter, retryAfterMs, type RequestPriority } from '../../src/providers/kubernetes/rate-limit.js';

/*
 * The API budget on the virtual clock: no real time passes; `clock.run` moves it and lets
 * the granted promises settle.
 */

function limiter(qps: number, burst: number, extra: Partial<ConstructorParameters<typeof RateLimiter>[0]> = {}) {
  const clock = new VirtualClock(1_000_000);
  return { clock, limiter: new RateLimiter({ qps, burst, clock, ...extra }) };
}

/** Acquires and notes the order (and time) in which requests are let through. */
function track(l: RateLimiter, clock: VirtualClock, granted: string[]) {
  return (priority: RequestPriority, name: string): Promise<void> =>
    l.acquire(priority).then(() => void granted.push(`${name}@${clock.now() - 1_000_000}`));
}

describe('the Kubernetes API rate limiter', () => {
  it('lets a burst through at once, then one request per 1/qps', async () => {
    const { clock, limiter: l } = limiter(10, 3);
    const granted: string[] = [];
    const go = track(l, clock, granted);
    for (let i = 0; i < 6; i++) void go('state', `r${i}`);
    await clock.run(0);
    expect(granted).toEqual(['r0@0', 'r1@0', 'r2@0']);
    await clock.run(1000);
    // 10 per second: one every 100 ms once the burst is spent.
    expect(granted).toEqual(['r0@0', 'r1@0', 'r2@0', 'r3@100', 'r4@200', 'r5@300']);
  });

  it('saves up at most `burst` tokens while idle', async () => {
    const { clock, limiter: l } = limiter(10, 2);
    const granted: string[] = [];
    const go = track(l, clock, granted);
    await clock.run(60_000);
    for (let i = 0; i < 4; i++) void go('state', `r${i}`);
    await clock.run(0);
    expect(granted).toEqual(['r0@60000', 'r1@60000']);
  });

  it('releases waiting requests by priority: scale writes, then state patches, then Events, whatever their arrival order', async () => {
    const { clock, limiter: l } = limiter(10, 1);
    const granted: string[] = [];
    const go = track(l, clock, granted);
    void go('state', 'first'); // takes the one token
    void go('event', 'e1');
    void go('state', 's1');
    void go('event', 'e2');
    void go('scale', 'w1');
    void go('state', 's2');
    void go('scale', 'w2');
    await clock.run(1000);
    expect(granted.map((g) => g.split('@')[0])).toEqual(['first', 'w1', 'w2', 's1', 's2', 'e1', 'e2']);
  });

  it('a low-priority request never takes a token while a higher one waits, even when it arrived first with a token free', async () => {
    const { clock, limiter: l } = limiter(10, 1);
    const granted: string[] = [];
    const go = track(l, clock, granted);
    void go('scale', 'w0');
    void go('scale', 'w1'); // waits for the next token
    void go('event', 'e1'); // must not jump ahead of w1 when that token comes
    await clock.run(100);
    expect(granted.map((g) => g.split('@')[0])).toEqual(['w0', 'w1']);
    await clock.run(100);
    expect(granted.map((g) => g.split('@')[0])).toEqual(['w0', 'w1', 'e1']);
  });

  it('a full queue refuses the next request of that priority with QUEUE_FULL, without touching the others', async () => {
    const { clock, limiter: l } = limiter(1, 1, { queueLimits: { event: 2 } });
    await l.acquire('scale');
    const waiting = [l.acquire('event'), l.acquire('event')];
    await expect(l.acquire('event')).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    const scale = l.acquire('scale');
    expect(l.stats()).toMatchObject({ refused: { event: 1, scale: 0 }, waiting: { scale: 1, event: 2 } });
    await clock.run(3000);
    await Promise.all([scale, ...waiting]);
    expect(l.stats().granted).toEqual({ scale: 2, state: 0, event: 2 });
  });

  it('a 429 pauses the whole client for Retry-After, then the request is sent again', async () => {
    const { clock, limiter: l } = limiter(0, 1);
    const sent: number[] = [];
    let answers = ['429', 'ok'];
    const request = async (): Promise<string> => {
      sent.push(clock.now() - 1_000_000);
      const next = answers[0] ?? 'ok';
      answers = answers.slice(1);
      if (next === '429') throw Object.assign(new Error('too many'), { retryAfterMs: 2000 });
      return next;
    };
    const retryAfter = (err: unknown) => (err as { retryAfterMs?: number }).retryAfterMs;
    const done = l.run('scale', request, retryAfter);
    await clock.run(0);
    // Another request meanwhile waits for the pause too.
    const other: number[] = [];
    void l.acquire('scale').then(() => other.push(clock.now() - 1_000_000));
    await clock.run(1999);
    expect(sent).toEqual([0]);
    expect(other).toEqual([]);
    await clock.run(1);
    await expect(done).resolves.toBe('ok');
    expect(sent).toEqual([0, 2000]);
    expect(other).toEqual([2000]);
    expect(l.stats().throttled).toBe(1);
  });

  it('a Retry-After longer than the bound pauses only for the bound; retries stop after `retries429` resends with the 429', async () => {
    const { clock, limiter: l } = limiter(0, 1, { maxRetryAfterMs: 500, retries429: 2 });
    const sent: number[] = [];
    const err = Object.assign(new AppError('PROVIDER_UNAVAILABLE', 'HTTP 429'), { retryAfterMs: 3_600_000 });
    const done = l.run('state', async () => {
      sent.push(clock.now() - 1_000_000);
      throw err;
    }, (e) => (e as { retryAfterMs?: number }).retryAfterMs);
    const outcome = done.catch((e: unknown) => e);
    await clock.run(5000);
    expect(await outcome).toBe(err);
    expect(sent).toEqual([0, 500, 1000]);
  });

  it('close refuses the waiting requests with SHUTTING_DOWN', async () => {
    const { limiter: l } = limiter(1, 1);
    await l.acquire('scale');
    const waiting = l.acquire('state');
    l.close();
    await expect(waiting).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs(undefined, 0)).toBeUndefined();
    expect(retryAfterMs('Thu, 01 Jan 1970 00:00:05 GMT', 1000)).toBe(4000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
  });
});
