import { describe, expect, it } from '@jest/globals';
import type { EngineEvent } from '../../src/engine/events.js';
import { twoGateways, START_MS, TICK_MS } from './support/gateways.js';

const L = 'com.openfaas.scale.';
/** `rps` is the control row: its policy never ran on a wake. */
const KINDS = ['rps', 'queue', 'free-workers', 'concurrency'];

/** One function at zero with min 0 on the gateway composition; one request wakes it and is served. */
async function wokenOnce(type: string) {
  const w = await twoGateways({ [`${L}type`]: type, [`${L}min`]: '0' }, 0);
  // Well past any takeover window: the function has been quiet at zero for two minutes.
  await w.clock.run(120_000);
  const slot = w.a.engine.dispatcher.acquire(w.ref, { maxWaitMs: 60_000 });
  await w.clock.run(START_MS + 10);
  (await slot).release();
  await w.clock.run(3 * TICK_MS);
  return w;
}

const decisions = (events: readonly EngineEvent[]) => events.filter((e) => e.replica === undefined).map((e) => `${e.source} ${e.action} ${e.from}->${e.to} ${e.reason}`);

describe('events that read well (issue 20 item 5)', () => {
  it.each(KINDS)('%s: a wake is one scale_up by the waker, with no unchanged (or undoing) policy event beside it', async (type) => {
    const w = await wokenOnce(type);
    expect(decisions(w.a.events())).toEqual(['waker scale_up 0->1 wake']);
    expect(await w.desired()).toBe(1);
    await w.kill(w.a);
    await w.kill(w.b);
  });

  it('a decision names the count before and after in its inputs', async () => {
    const w = await wokenOnce('queue');
    const wake = w.a.events().find((e) => e.action === 'scale_up');
    expect(wake?.inputs).toMatchObject({ before: 0, after: 1 });
    expect(wake?.inputs).not.toHaveProperty('desired');
    await w.kill(w.a);
    await w.kill(w.b);
  });

  it('min 0 means the same for rps: woken, it goes back to zero after zero-duration without scale.zero (issue 20 item 2)', async () => {
    const w = await wokenOnce('rps');
    await w.clock.run(16 * 60_000);
    expect(await w.desired()).toBe(0);
    expect(decisions(w.a.events())).toEqual(['waker scale_up 0->1 wake', 'idler scale_down 1->0 idle']);
    await w.kill(w.a);
    await w.kill(w.b);
  });
});
