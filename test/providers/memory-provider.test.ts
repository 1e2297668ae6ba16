import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { MemoryProvider } from '../../src/providers/memory/index.js';

const ref = { name: 'fn', namespace: 'ns' };

function setup() {
  const clock = new VirtualClock(1_000);
  const provider = new MemoryProvider({ clock, functions: [{ ...ref, replicas: 1, model: { startMs: 300, stopMs: 50 } }] });
  return { clock, provider };
}

describe('MemoryProvider on a virtual clock', () => {
  it('a new replica is starting until startMs has passed, then ready with a never-dialled address', async () => {
    const { clock, provider } = setup();
    await provider.start();
    expect(provider.listReplicas(ref)).toEqual([{ id: 'fn-1', address: new URL('http://127.0.0.1:9/fn/fn-1'), phase: 'starting', createdAt: 1_000 }]);
    clock.advance(299);
    expect(provider.listReplicas(ref)[0]?.phase).toBe('starting');
    clock.advance(1);
    expect(provider.listReplicas(ref)[0]?.phase).toBe('ready');
    expect((await provider.getReplicas(ref)).ready).toBe(1);
  });

  it('removeReplicas marks exactly those stopping, lowers desired, and drops them after stopMs', async () => {
    const { clock, provider } = setup();
    await provider.start();
    await provider.setReplicas(ref, 3);
    clock.advance(300);
    const phases: string[] = [];
    provider.subscribe(() => phases.push(provider.listReplicas(ref).map((r) => `${r.id}:${r.phase}`).join(',')));
    await provider.removeReplicas(ref, ['fn-2']);
    expect((await provider.getReplicas(ref)).desired).toBe(2);
    expect(phases.at(-1)).toBe('fn-1:ready,fn-2:stopping,fn-3:ready');
    clock.advance(50);
    expect(provider.listReplicas(ref).map((r) => r.id)).toEqual(['fn-1', 'fn-3']);
  });

  it('a plain setReplicas down stops starting replicas first, then the newest', async () => {
    const { clock, provider } = setup();
    await provider.start();
    await provider.setReplicas(ref, 2);
    clock.advance(300);
    await provider.setReplicas(ref, 3);
    await provider.setReplicas(ref, 1);
    const stopping = provider.listReplicas(ref).filter((r) => r.phase === 'stopping').map((r) => r.id);
    expect(stopping.sort()).toEqual(['fn-2', 'fn-3']);
  });

  it('every notification says what changed: the replicas added or moved to a new phase, and the ids gone', async () => {
    const { clock, provider } = setup();
    const seen: string[] = [];
    provider.subscribe((_ref, _state, changes) => {
      seen.push(changes === undefined ? 'none' : [...changes.upserted.map((r) => `+${r.id}:${r.phase}`), ...changes.removed.map((id) => `-${id}`)].join(','));
    });
    await provider.start();
    await provider.setReplicas(ref, 2);
    clock.advance(300);
    await provider.removeReplicas(ref, ['fn-1']);
    clock.advance(50);
    expect(seen).toEqual(['+fn-1:starting', '+fn-2:starting', '+fn-1:ready', '+fn-2:ready', '+fn-1:stopping', '-fn-1']);
  });
});
