/** The alert state at its cap, stored on a Deployment through the fake API server. */
import { describe, expect, it } from '@jest/globals';
import { alertSchema } from '../../src/alerts/payload.js';
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
});
