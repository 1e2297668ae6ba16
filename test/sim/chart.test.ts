import { describe, expect, it } from '@jest/globals';
import { niceMax, renderChart } from '../../src/sim/chart.js';
import type { TimelinePoint } from '../../src/sim/timeline.js';

describe('niceMax: a round axis top at or above the data', () => {
  it.each([
    [0, 1],
    [0.4, 1],
    [1, 1],
    [1.2, 2],
    [2.2, 2.5],
    [3, 5],
    [7, 10],
    [15, 20],
    [37, 50],
    [51.5, 100],
    [250, 250],
  ])('%d -> %d', (v, top) => {
    expect(niceMax(v)).toBe(top);
  });
});

describe('renderChart: the y-axis matches the data', () => {
  const point = (t: number, load: number, ready: number, queued: number): TimelinePoint => ({ t, load, ready, starting: 0, draining: 0, stopping: 0, queued });
  const points = [point(0, 0, 1, 0), point(1000, 37, 3, 4), point(2000, 12, 7, 0)];
  const svg = renderChart(points, 'test', 2000, 2);
  const ticks = [...svg.matchAll(/<text class="ytick" x="[\d.]+" y="([\d.]+)" text-anchor="end">([\d.]+)<\/text>/g)].map((m) => ({ y: Number(m[1]), label: Number(m[2]) }));

  it('labels each panel with quarter ticks from 0 to a round top that covers its maximum', () => {
    expect(ticks.map((t) => t.label)).toEqual([0, 12.5, 25, 37.5, 50, 0, 2.5, 5, 7.5, 10, 0, 1.3, 2.5, 3.8, 5]);
  });

  it('draws every point inside its panel, at the height its value has on the labelled axis', () => {
    const [loadLine] = [...svg.matchAll(/<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="([^"]+)"/g)].map((m) => m[1] ?? '');
    const ys = (loadLine ?? '').split(' ').map((p) => Number(p.split(',')[1]));
    const zero = ticks[0]?.y ?? 0;
    const top = ticks[4]?.y ?? 0;
    // 37 calls/s sits at 37/50 of the way from the 0 tick to the 50 tick (the labels sit 4 px below their lines).
    expect(ys[1] ?? 0).toBeCloseTo(zero - 4 - ((zero - top) * 37) / 50, 0);
    for (const y of ys) expect(y).toBeGreaterThanOrEqual(top - 4);
  });

  it('says that each panel sums the stack\'s functions', () => {
    expect(svg).toContain('load (calls/s), all 2 functions summed');
    expect(renderChart(points, 'one', 2000, 1)).not.toContain('summed');
  });
});
