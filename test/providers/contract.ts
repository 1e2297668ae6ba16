import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { systemClock } from '../../src/core/clock.js';
import { Changer } from '../../src/engine/changer.js';
import { Dispatcher, type Slot } from '../../src/engine/dispatcher.js';
import { Drainer } from '../../src/engine/drain.js';
import { EventLog } from '../../src/engine/events.js';
import { silentLogger } from '../../src/log/logger.js';
import { AppError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics/registry.js';
import type { FunctionRef, ReplicaInfo, ReplicaProvider, ReplicaState } from '../../src/providers/types.js';
import { DEFAULT_POLICY } from '../support/policy.js';

/** What a provider under test must supply. */
export interface ContractSetup {
  readonly provider: ReplicaProvider;
  /** A function that starts at 1 desired replica with labels com.openfaas.scale.min=1 and .max=5. */
  readonly ref: FunctionRef;
  /** A function that does not exist. */
  readonly unknownRef: FunctionRef;
  /**
   * Changes `ref`'s effective labels as an operator would (a decorator's policy edit) and
   * returns the labels now expected to be present; required with `{ relabels: true }`.
   */
  relabel?(): Promise<Readonly<Record<string, string>>>;
  close(): Promise<void>;
}

function waitFor(provider: ReplicaProvider, ref: FunctionRef, check: (s: ReplicaState) => boolean, timeoutMs = 10_000): Promise<ReplicaState> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      void provider.getReplicas(ref).then((s) => reject(new Error(`state not reached in ${timeoutMs} ms: ${JSON.stringify(s)}`)));
    }, timeoutMs);
    const done = (s: ReplicaState) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(s);
    };
    const unsubscribe = provider.subscribe((changed, state) => {
      if (changed.name === ref.name && changed.namespace === ref.namespace && check(state)) done(state);
    });
    void provider.getReplicas(ref).then((s) => {
      if (check(s)) done(s);
    });
  });
}

/** Waits (bounded) until the function's replica list passes `check`; pushed by subscribe. */
function waitForReplicas(provider: ReplicaProvider, ref: FunctionRef, check: (list: readonly ReplicaInfo[]) => boolean, timeoutMs = 10_000): Promise<readonly ReplicaInfo[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`replicas not reached in ${timeoutMs} ms: ${JSON.stringify(provider.listReplicas(ref))}`));
    }, timeoutMs);
    const test = () => {
      const list = provider.listReplicas(ref);
      if (!check(list)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(list);
    };
    const unsubscribe = provider.subscribe((changed) => {
      if (changed.name === ref.name && changed.namespace === ref.namespace) test();
    });
    test();
  });
}

const PHASES = ['starting', 'ready', 'draining', 'stopping'];

/** A replica list as comparable facts: id, phase, address; sorted by id. */
const facts = (list: Iterable<ReplicaInfo>): Array<[string, string, string | null]> =>
  [...list].map((r): [string, string, string | null] => [r.id, r.phase, r.address?.href ?? null]).sort((a, b) => a[0].localeCompare(b[0]));

/**
 * What a listener keeping its own table holds: the list at subscribe time, then each
 * notification's `changes` applied (or the list read again when a notification has none).
 */
function mirror(provider: ReplicaProvider, ref: FunctionRef): Mirror {
  const out: Mirror = { table: new Map(provider.listReplicas(ref).map((r) => [r.id, r])), labels: undefined, changes: 0, relists: 0, unsubscribe: () => undefined };
  out.unsubscribe = provider.subscribe((changed, state, changes) => {
    if (changed.name !== ref.name || changed.namespace !== ref.namespace) return;
    out.labels = state.labels;
    if (changes === undefined) {
      out.relists += 1;
      out.table.clear();
      for (const r of provider.listReplicas(ref)) out.table.set(r.id, r);
      return;
    }
    out.changes += 1;
    for (const r of changes.upserted) out.table.set(r.id, r);
    for (const id of changes.removed) out.table.delete(id);
  });
  return out;
}

interface Mirror {
  readonly table: Map<string, ReplicaInfo>;
  /** The labels the last notification carried; undefined before the first. */
  labels: Readonly<Record<string, string>> | undefined;
  /** Notifications that carried changes, and those that did not. */
  changes: number;
  relists: number;
  unsubscribe: () => void;
}

/** What a provider under test can do beyond the contract's core. */
export interface ContractOptions {
  /** Its labels change while it runs (`ContractSetup.relabel`): a named-policy edit. */
  readonly relabels?: boolean;
}

/**
 * The shared contract every ReplicaProvider must pass: facts in, one action out, errors as
 * AppError codes, readiness pushed to subscribers, and replicas that the engine's dispatcher
 * (the one place a request gets a replica) routes to only when ready and not draining.
 */
export function runProviderContract(name: string, setup: () => Promise<ContractSetup>, options: ContractOptions = {}): void {
  describe(`ReplicaProvider contract: ${name}`, () => {
    let s: ContractSetup;
    let dispatcher: Dispatcher;
    /** Subscribed before the provider starts, and kept through every test. */
    let kept: Mirror;
    /** The labels `kept` last heard when start() resolved (undefined: it heard nothing yet). */
    let heardAtStart: Readonly<Record<string, string>> | undefined;
    beforeAll(async () => {
      s = await setup();
      kept = mirror(s.provider, s.ref);
      dispatcher = new Dispatcher({
        provider: s.provider,
        clock: systemClock,
        metrics: createMetrics(),
        defaultNamespace: s.ref.namespace,
        defaults: { concurrency: 0, maxQueued: 100, requestTimeoutMs: 60_000, maxWaitMs: 10_000 },
      });
      await s.provider.start();
      heardAtStart = kept.labels;
      await dispatcher.track(s.ref);
    });
    afterAll(async () => {
      kept.unsubscribe();
      dispatcher.close();
      await s.close();
    });

    /** The provider's facts about the replica a slot went to. */
    const replicaOf = (slot: Slot): ReplicaInfo | undefined => s.provider.listReplicas(s.ref).find((r) => r.id === slot.replicaId);

    it('reports desired replicas and the labels', async () => {
      const state = await s.provider.getReplicas(s.ref);
      expect(state.desired).toBe(1);
      expect(state.labels['com.openfaas.scale.max']).toBe('5');
    });

    it('becomes ready, and a dispatcher over it hands out a slot on that ready replica', async () => {
      await waitFor(s.provider, s.ref, (st) => st.ready >= 1);
      const slot = await dispatcher.acquire(s.ref, { maxWaitMs: 5_000 });
      expect(slot.url.protocol).toBe('http:');
      expect(replicaOf(slot)?.phase).toBe('ready');
      slot.release();
    });

    it('lists the function', async () => {
      const list = await s.provider.listFunctions();
      const found = list.find((f) => f.ref.name === s.ref.name && f.ref.namespace === s.ref.namespace);
      expect(found?.desired).toBe(1);
    });

    it('setReplicas changes desired, and subscribers see ready follow', async () => {
      const seen: number[] = [];
      const unsubscribe = s.provider.subscribe((ref, st) => {
        if (ref.name === s.ref.name) seen.push(st.desired);
      });
      await s.provider.setReplicas(s.ref, 3);
      expect((await s.provider.getReplicas(s.ref)).desired).toBe(3);
      await waitFor(s.provider, s.ref, (st) => st.ready === 3);
      unsubscribe();
      expect(seen).toContain(3);
    });

    it('scales back down and ready follows', async () => {
      await s.provider.setReplicas(s.ref, 1);
      const state = await waitFor(s.provider, s.ref, (st) => st.ready === 1 && st.desired === 1);
      expect(state.desired).toBe(1);
    });

    it('scales to zero: the dispatcher has no slot to give', async () => {
      await s.provider.setReplicas(s.ref, 0);
      await waitFor(s.provider, s.ref, (st) => st.ready === 0);
      await waitForReplicas(s.provider, s.ref, (l) => !l.some((r) => r.phase === 'ready'));
      expect(dispatcher.tryAcquire(s.ref)).toBeNull();
      await s.provider.setReplicas(s.ref, 1);
      await waitFor(s.provider, s.ref, (st) => st.ready === 1);
    });

    it('a dispatcher routes only to ready replicas that are not draining', async () => {
      await s.provider.setReplicas(s.ref, 2);
      const ready = await waitForReplicas(s.provider, s.ref, (l) => l.filter((r) => r.phase === 'ready').length === 2);
      const [drained, open] = ready.filter((r) => r.phase === 'ready').map((r) => r.id);
      dispatcher.setDraining(s.ref, [drained ?? ''], true);
      const taken = Array.from({ length: 6 }, () => dispatcher.tryAcquire(s.ref));
      expect(taken.map((slot) => slot?.replicaId)).toEqual(Array.from({ length: 6 }, () => open));
      for (const slot of taken) {
        if (slot !== null) expect(replicaOf(slot)?.phase).toBe('ready');
        slot?.release();
      }
      dispatcher.setDraining(s.ref, [drained ?? ''], false);
      const again = Array.from({ length: 4 }, () => dispatcher.tryAcquire(s.ref));
      expect(new Set(again.map((slot) => slot?.replicaId))).toEqual(new Set([drained, open]));
      for (const slot of again) slot?.release();
      await s.provider.setReplicas(s.ref, 1);
      await waitFor(s.provider, s.ref, (st) => st.ready === 1 && st.desired === 1);
    });

    it('lists every replica with a phase, and a ready replica has an address', async () => {
      const list = await waitForReplicas(s.provider, s.ref, (l) => l.some((r) => r.phase === 'ready'));
      expect(list.length).toBeGreaterThanOrEqual(1);
      expect(new Set(list.map((r) => r.id)).size).toBe(list.length);
      for (const replica of list) {
        expect(PHASES).toContain(replica.phase);
        expect(typeof replica.createdAt).toBe('number');
        if (replica.phase === 'ready') expect(replica.address?.protocol).toBe('http:');
      }
    });

    it('removeReplicas removes exactly the given ids and lowers desired by their number', async () => {
      await s.provider.setReplicas(s.ref, 3);
      const ready = await waitForReplicas(s.provider, s.ref, (l) => l.filter((r) => r.phase === 'ready').length === 3 && l.length === 3);
      const [keep1, victim, keep2] = ready.map((r) => r.id);
      await s.provider.removeReplicas(s.ref, [victim ?? '', 'no-such-replica']);
      expect((await s.provider.getReplicas(s.ref)).desired).toBe(2);
      const after = await waitForReplicas(s.provider, s.ref, (l) => !l.some((r) => r.id === victim));
      expect(after.map((r) => r.id).sort()).toEqual([keep1, keep2].sort());
      expect(after.every((r) => r.phase === 'ready')).toBe(true);
      await s.provider.setReplicas(s.ref, 1);
      await waitFor(s.provider, s.ref, (st) => st.ready === 1 && st.desired === 1);
    });

    it('a scale-down through the change cycle removes the drained replica only after its in-flight request ends', async () => {
      const events = new EventLog(1000);
      const drainer = new Drainer({ dispatcher, provider: s.provider, clock: systemClock, drainTimeoutMs: 60_000 });
      const changer = new Changer({ provider: s.provider, dispatcher, drainer, clock: systemClock, events, logger: silentLogger(), metrics: createMetrics(), defaults: DEFAULT_POLICY, defaultNamespace: s.ref.namespace });
      try {
        await s.provider.setReplicas(s.ref, 2);
        await waitForReplicas(s.provider, s.ref, (l) => l.filter((r) => r.phase === 'ready').length === 2 && l.length === 2);
        // One request in flight on each replica: whichever is chosen is busy while it drains.
        const first = dispatcher.tryAcquire(s.ref);
        const second = dispatcher.tryAcquire(s.ref);
        expect(new Set([first?.replicaId, second?.replicaId]).size).toBe(2);
        const outcome = await changer.change(s.ref, 'api', () => ({ replicas: 1, reason: 'contract' }));
        expect(outcome).toMatchObject({ from: 2, to: 1, changed: true });
        const victim = events.query().find((ev) => ev.action === 'drain_start')?.replica;
        const victimSlot = [first, second].find((slot) => slot?.replicaId === victim);
        const otherSlot = [first, second].find((slot) => slot?.replicaId !== victim);
        expect(victimSlot).toBeDefined();
        // The provider is not asked to remove it while its request runs.
        await new Promise((r) => setTimeout(r, 200));
        expect(s.provider.listReplicas(s.ref).find((r) => r.id === victim)?.phase).toBe('ready');
        expect((await s.provider.getReplicas(s.ref)).desired).toBe(2);
        victimSlot?.release();
        await outcome.settled;
        expect((await s.provider.getReplicas(s.ref)).desired).toBe(1);
        await waitForReplicas(s.provider, s.ref, (l) => !l.some((r) => r.id === victim));
        expect(events.query().filter((ev) => ev.action === 'scale_down_complete').map((ev) => [ev.replica, ev.reason])).toEqual([[victim, 'drained']]);
        otherSlot?.release();
      } finally {
        changer.close();
      }
      await waitFor(s.provider, s.ref, (st) => st.ready === 1 && st.desired === 1);
    });

    it('notifications keep a listener table equal to listReplicas: their changes applied (or a relist when they carry none)', async () => {
      // Through every earlier test, from before start.
      expect(facts(kept.table.values())).toEqual(facts(s.provider.listReplicas(s.ref)));
      const late = mirror(s.provider, s.ref);
      try {
        await s.provider.setReplicas(s.ref, 3);
        const ready = await waitForReplicas(s.provider, s.ref, (l) => l.filter((r) => r.phase === 'ready').length === 3 && l.length === 3);
        expect(facts(late.table.values())).toEqual(facts(ready));
        await s.provider.removeReplicas(s.ref, [ready[1]?.id ?? '']);
        const after = await waitForReplicas(s.provider, s.ref, (l) => l.length === 2);
        expect(facts(late.table.values())).toEqual(facts(after));
        await s.provider.setReplicas(s.ref, 1);
        await waitFor(s.provider, s.ref, (st) => st.ready === 1 && st.desired === 1);
        const one = await waitForReplicas(s.provider, s.ref, (l) => l.length === 1);
        expect(facts(late.table.values())).toEqual(facts(one));
        expect(facts(kept.table.values())).toEqual(facts(one));
        expect(late.changes + late.relists).toBeGreaterThan(0);
      } finally {
        late.unsubscribe();
      }
    });

    it('a subscriber from before start has heard, when start resolves, the labels getReplicas reports', async () => {
      const state = await s.provider.getReplicas(s.ref);
      if (heardAtStart !== undefined) expect(heardAtStart).toEqual(state.labels);
      expect(kept.labels ?? state.labels).toEqual(state.labels);
    });

    it('getReplicas, listFunctions and subscribers report the same labels', async () => {
      const heard: Array<Readonly<Record<string, string>>> = [];
      const unsubscribe = s.provider.subscribe((ref, st) => {
        if (ref.name === s.ref.name && ref.namespace === s.ref.namespace) heard.push(st.labels);
      });
      try {
        await s.provider.setReplicas(s.ref, 2);
        await waitFor(s.provider, s.ref, (st) => st.ready === 2);
        const own = (await s.provider.getReplicas(s.ref)).labels;
        const listed = (await s.provider.listFunctions()).find((f) => f.ref.name === s.ref.name && f.ref.namespace === s.ref.namespace)?.labels;
        expect(listed).toEqual(own);
        expect(heard.length).toBeGreaterThan(0);
        for (const labels of heard) expect(labels).toEqual(own);
      } finally {
        unsubscribe();
      }
      await s.provider.setReplicas(s.ref, 1);
      await waitFor(s.provider, s.ref, (st) => st.ready === 1 && st.desired === 1);
    });

    (options.relabels === true ? it : it.skip)('a label change reaches subscribers, getReplicas and listFunctions alike', async () => {
      if (s.relabel === undefined) throw new Error('relabels: true needs setup().relabel');
      const heard: Array<Readonly<Record<string, string>>> = [];
      let afterUnsubscribe = 0;
      const unsubscribe = s.provider.subscribe((ref, st) => {
        if (ref.name === s.ref.name && ref.namespace === s.ref.namespace) heard.push(st.labels);
      });
      const gone = s.provider.subscribe(() => {
        afterUnsubscribe += 1;
      });
      gone();
      const before = facts(kept.table.values());
      try {
        const expected = await s.relabel();
        const state = await waitFor(s.provider, s.ref, (st) => Object.entries(expected).every(([k, v]) => st.labels[k] === v));
        expect(state.labels).toMatchObject(expected);
        const listed = (await s.provider.listFunctions()).find((f) => f.ref.name === s.ref.name && f.ref.namespace === s.ref.namespace);
        expect(listed?.labels).toEqual(state.labels);
        expect(heard.at(-1)).toEqual(state.labels);
        expect(afterUnsubscribe).toBe(0);
        // A label change moves no replica: a listener's table still equals the list.
        expect(facts(kept.table.values())).toEqual(before);
        expect(facts(kept.table.values())).toEqual(facts(s.provider.listReplicas(s.ref)));
      } finally {
        unsubscribe();
      }
    });

    it('an unknown function lists no replicas and removeReplicas is FUNCTION_UNKNOWN', async () => {
      expect(s.provider.listReplicas(s.unknownRef)).toEqual([]);
      await expect(s.provider.removeReplicas(s.unknownRef, ['x'])).rejects.toMatchObject({ code: 'FUNCTION_UNKNOWN' });
    });

    it('an unknown function is FUNCTION_UNKNOWN for get and set, and nothing is offered', async () => {
      await expect(s.provider.getReplicas(s.unknownRef)).rejects.toMatchObject({ code: 'FUNCTION_UNKNOWN' });
      await expect(s.provider.setReplicas(s.unknownRef, 2)).rejects.toBeInstanceOf(AppError);
      await expect(s.provider.setReplicas(s.unknownRef, 2)).rejects.toMatchObject({ code: 'FUNCTION_UNKNOWN' });
      expect(dispatcher.tryAcquire(s.unknownRef)).toBeNull();
    });

    it('unsubscribe stops notifications', async () => {
      let calls = 0;
      const unsubscribe = s.provider.subscribe(() => {
        calls += 1;
      });
      unsubscribe();
      await s.provider.setReplicas(s.ref, 2);
      await s.provider.setReplicas(s.ref, 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(calls).toBe(0);
    });
  });
}
