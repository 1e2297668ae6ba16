import { describe, expect, it } from '@jest/globals';
import { REPORT_SLICE, reportEvery } from '../../src/engine/replica-gauges.js';

describe('reportEvery', () => {
  it('yields to the event loop between slices of functions, and skips a scaler removed meanwhile', async () => {
    const reported: string[] = [];
    const scalers = new Map<string, { reportReplicas(): void }>();
    const count = REPORT_SLICE * 2 + 10;
    for (let i = 0; i < count; i++) scalers.set(`fn-${i}`, { reportReplicas: () => void reported.push(`fn-${i}`) });
    const order: string[] = [];
    // Runs at the first yield: the last function goes (its scaler was forgotten).
    setImmediate(() => {
      order.push('timer');
      scalers.delete(`fn-${count - 1}`);
    });
    await reportEvery(scalers);
    order.push('done');
    expect(order).toEqual(['timer', 'done']);
    expect(reported.length).toBe(count - 1);
    expect(reported).not.toContain(`fn-${count - 1}`);
  });
});
