/** The alert state at its cap, stored on a Deployment through the fake API server. */
import { describe, expect, it } from '@jest/globals';
import { alertSchema } from '../../src/alerts/payload.js';
import { ALERT_NAME_MAX_CHARS, ALERT_SIGNAL_MAX_ENTRIES, noteSignals, type SignalNote } from '../../src/policy/alert-signals.js';
import { decideAlerts, EMPTY_ALERT_STATE, type AlertSignal } from '../../src/policy/alert-step.js';
import { KubeApi, KubernetesAlertStateStore, loadKubeConfig, STATE_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { quietLogger, startFake } from '../kubernetes/helpers.js';
import { DEFAULT_POLICY } from '../support/policy.js';

/** Kubernetes refuses an object whose annotations total more than this. */
const ANNOTATIONS_LIMIT_BYTES = 256 * 1024;
const NS = 'openfaas-fn';

describe('the alert state annotation at the cap', () => {
  it('with the longest fingerprints and dates the payload accepts, stays near half the 256 KiB limit', async () => {
    const started = await startFake({ readyDelayMs: null });
    try {
      const store = new KubernetesAlertStateStore({ api: new KubeApi(loadKubeConfig(started.kubeconfig), 2000), namespaces: [NS], logger: quietLogger() });
      started.fake.addDeployment({ name: 'flooded', replicas: 1 });
      // The longest values the webhook accepts (checked here, so the bound cannot drift).
      const longest = (i: number) => ({
        status: 'firing' as const,
        fingerprint: `${'f'.repeat(26)}${String(i).padStart(6, '0')}`,
        startsAt: '2026-11-23T19:07:12.123456789+05:30',
      });
      expect(alertSchema.safeParse({ ...longest(0), labels: {} }).success).toBe(true);
      expect(alertSchema.safeParse({ ...longest(0), fingerprint: `x${longest(0).fingerprint}`, labels: {} }).success).toBe(false);
      expect(alertSchema.safeParse({ ...longest(0), startsAt: '2026-11-23T19:07:12.1234567890+05:30', labels: {} }).success).toBe(false);

      const signals: AlertSignal[] = Array.from({ length: 3000 }, (_, i) => longest(i));
      const { state, evicted } = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, signals, now: 1_764_000_000_000, timing: { cooldownMs: 10_000, firingStaleMs: 21_600_000 } });
      expect(evicted).toEqual({ firing: 2000, steps: 2000 });
      await store.save({ name: 'flooded', namespace: NS }, state, null);

      const annotation = (started.fake.deployment('flooded')?.metadata['annotations'] as Record<string, string>)[STATE_ANNOTATION] ?? '';
      const bytes = Buffer.byteLength(annotation);
      expect(JSON.parse(annotation)).toEqual(state);
      expect(bytes).toBeGreaterThan(100_000);
      expect(bytes).toBeLessThan(ANNOTATIONS_LIMIT_BYTES * 0.55);
    } finally {
      await started.close();
    }
  });
  it('with holds and values at their cap too (longest names and numbers), stays well under the 256 KiB limit', async () => {
    const started = await startFake({ readyDelayMs: null });
    try {
      const store = new KubernetesAlertStateStore({ api: new KubeApi(loadKubeConfig(started.kubeconfig), 2000), namespaces: [NS], logger: quietLogger() });
      started.fake.addDeployment({ name: 'held', replicas: 1 });
      const now = 1_764_000_000_000;
      const fp = (prefix: string, i: number) => `${prefix}${'f'.repeat(25)}${String(i).padStart(6, '0')}`;
      const signals: AlertSignal[] = Array.from({ length: 3000 }, (_, i) => ({ status: 'firing' as const, fingerprint: fp('s', i), startsAt: '2026-11-23T19:07:12.123456789+05:30' }));
      const stepped = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, signals, now, timing: { cooldownMs: 10_000, firingStaleMs: 21_600_000 } }).state;
      // Label values have no bound of their own: a hold's name is cut to ALERT_NAME_MAX_CHARS.
      const notes: SignalNote[] = Array.from({ length: 3 * ALERT_SIGNAL_MAX_ENTRIES }, (_, i) => [
        { kind: 'hold' as const, fingerprint: fp('h', i), firing: true, name: 'N'.repeat(10_000) },
        { kind: 'value' as const, fingerprint: fp('v', i), firing: true, value: 1.2345678901234567e300 },
      ]).flat();
      const { state } = noteSignals(stepped, notes, now, 21_600_000);
      expect(Object.keys(state.holds ?? {})).toHaveLength(ALERT_SIGNAL_MAX_ENTRIES);
      expect(Object.keys(state.values ?? {})).toHaveLength(ALERT_SIGNAL_MAX_ENTRIES);
      expect(Object.values(state.holds ?? {})[0]?.name).toHaveLength(ALERT_NAME_MAX_CHARS);
      await store.save({ name: 'held', namespace: NS }, state, null);

      const annotation = (started.fake.deployment('held')?.metadata['annotations'] as Record<string, string>)[STATE_ANNOTATION] ?? '';
      expect(JSON.parse(annotation)).toEqual(state);
      expect(Buffer.byteLength(annotation)).toBeLessThan(ANNOTATIONS_LIMIT_BYTES * 0.65);
    } finally {
      await started.close();
    }
  });
});
