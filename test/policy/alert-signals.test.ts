/** Holds and alert values in the stored alert state (src/policy/alert-signals.ts): pure, row by row. */
import { describe, expect, it } from '@jest/globals';
import { ALERT_NAME_MAX_CHARS, liveHolds, liveQueueValue, noteSignals, type SignalNote } from '../../src/policy/alert-signals.js';
import { EMPTY_ALERT_STATE, type AlertState } from '../../src/policy/alert-state.js';

const STALE = 60_000;
const NOW = 1_000_000;
const hold = (fingerprint: string, firing = true, name = 'KeepWarm'): SignalNote => ({ kind: 'hold', fingerprint, firing, name });
const value = (fingerprint: string, v: number | null, firing = true): SignalNote => ({ kind: 'value', fingerprint, firing, value: v });
const base: AlertState = { firing: { f: NOW - 5 }, scaleDownAt: NOW + 30_000, steps: { 'f@t': NOW - 5 } };

describe('noteSignals', () => {
  const { firing, scaleDownAt, steps } = base;
  it.each<[string, AlertState, SignalNote[], AlertState, boolean]>([
    ['a firing hold is stored with its name and now', base, [hold('h1')], { ...base, holds: { h1: { name: 'KeepWarm', seen: NOW } } }, true],
    ['a resolved hold is removed', { ...base, holds: { h1: { name: 'KeepWarm', seen: NOW - 10 } } }, [hold('h1', false)], { firing, scaleDownAt, steps }, true],
    ['a resolved hold never stored changes nothing', base, [hold('h1', false)], base, false],
    ['a firing value is stored', base, [value('v1', 7)], { ...base, values: { v1: { value: 7, seen: NOW } } }, true],
    ['a value alert whose annotation is not a number takes its value away', { ...base, values: { v1: { value: 7, seen: NOW - 10 } } }, [value('v1', null)], { firing, scaleDownAt, steps }, true],
    ['a stale hold is dropped (its resolve was lost)', { ...base, holds: { h1: { name: 'Old', seen: NOW - STALE } } }, [], { firing, scaleDownAt, steps }, true],
  ])('%s', (_name, state, notes, expected, changed) => {
    const noted = noteSignals(state, notes, NOW, STALE);
    expect(noted.changed).toBe(changed);
    expect(noted.state).toStrictEqual(expected);
    // The alert step's fields are never touched.
    expect(noted.state.firing).toBe(state.firing);
    expect(noted.state.scaleDownAt).toBe(state.scaleDownAt);
  });

  it('keeps at most `max` of each, dropping the oldest seen', () => {
    const first = noteSignals(EMPTY_ALERT_STATE, [hold('a'), hold('b')], NOW, STALE, 2).state;
    const later = noteSignals(first, [hold('c')], NOW + 1, STALE, 2).state;
    expect(Object.keys(later.holds ?? {})).toEqual(['b', 'c']);
  });

  it("cuts a hold's name to ALERT_NAME_MAX_CHARS", () => {
    const { state } = noteSignals(EMPTY_ALERT_STATE, [hold('h', true, 'x'.repeat(1000))], NOW, STALE);
    expect(state.holds?.['h']?.name).toHaveLength(ALERT_NAME_MAX_CHARS);
  });

  it('says what held the function before and after', () => {
    const held = noteSignals(EMPTY_ALERT_STATE, [hold('h1')], NOW, STALE);
    expect(held).toMatchObject({ heldBefore: [], heldAfter: ['KeepWarm'] });
    expect(noteSignals(held.state, [hold('h1', false)], NOW + 1, STALE)).toMatchObject({ heldBefore: ['KeepWarm'], heldAfter: [] });
  });
});

describe('liveHolds and liveQueueValue', () => {
  const state: AlertState = {
    ...base,
    holds: { h1: { name: 'B', seen: NOW - 1 }, h2: { name: 'A', seen: NOW - 2 }, h3: { name: 'A', seen: NOW - 3 } },
    values: { v1: { value: 3, seen: NOW - 1 }, v2: { value: 4.5, seen: NOW - STALE / 2 } },
  };

  it.each<[string, number, readonly string[], number | null]>([
    ['names each live hold once, sorted; sums the live values', NOW, ['A', 'B'], 7.5],
    ['a value not seen for the stale time no longer counts', NOW - STALE / 2 + STALE, ['A', 'B'], 3],
    ['nothing counts once every entry is stale', NOW + STALE, [], null],
  ])('%s', (_name, now, holds, queue) => {
    expect(liveHolds(state, now, STALE)).toEqual(holds);
    expect(liveQueueValue(state, now, STALE)).toBe(queue);
  });

  it('a state with neither holds nor values is not held and reports no queue', () => {
    expect(liveHolds(EMPTY_ALERT_STATE, NOW, STALE)).toEqual([]);
    expect(liveQueueValue(EMPTY_ALERT_STATE, NOW, STALE)).toBeNull();
  });
});
