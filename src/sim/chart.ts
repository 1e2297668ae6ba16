import type { TimelinePoint } from './timeline.js';

const WIDTH = 960;
const PANEL = 150;
const GAP = 40;
const LEFT = 60;
const RIGHT = 20;
const TOP = 40;

/** Axis labels: `90s`, `2.5m`, `1.5h` (seconds under 2 minutes, minutes under 2 hours). */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 6) / 10}m`;
  return `${Math.round((s / 3600) * 10) / 10}h`;
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

const num = (v: number) => (Math.round(v * 10) / 10).toString();

/** The axis top for data up to `v`: the next of 1, 2, 2.5, 5 times a power of ten (at least 1), so quarter ticks are round. */
export function niceMax(v: number): number {
  if (!(v > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= v) return step * power;
  return 10 * power;
}

interface Panel {
  readonly title: string;
  readonly top: number;
  readonly max: number;
}

/** Each panel's title, frame, y ticks (every quarter, on gridlines) and time labels. */
function drawFrames(out: string[], panels: readonly Panel[], span: number, x: (t: number) => number, y: (panel: Panel, v: number) => number): void {
  const plotWidth = WIDTH - LEFT - RIGHT;
  for (const panel of panels) {
    out.push(`<text x="${LEFT}" y="${panel.top - 6}">${escape(panel.title)}</text>`);
    out.push(`<rect x="${LEFT}" y="${panel.top}" width="${plotWidth}" height="${PANEL}" fill="none" stroke="#999"/>`);
    // Ticks at every quarter of the axis, each labelled with the value its gridline stands for.
    for (let i = 0; i <= 4; i++) {
      const value = (panel.max * i) / 4;
      const ty = num(y(panel, value));
      out.push(`<line x1="${LEFT - 3}" x2="${LEFT + plotWidth}" y1="${ty}" y2="${ty}" stroke="#eee"/>`);
      out.push(`<text class="ytick" x="${LEFT - 6}" y="${num(y(panel, value) + 4)}" text-anchor="end">${num(value)}</text>`);
    }
    for (let i = 0; i <= 4; i++) {
      const t = (span * i) / 4;
      out.push(`<text x="${num(x(t))}" y="${panel.top + PANEL + 14}" text-anchor="middle">${formatDuration(t)}</text>`);
    }
  }
}

/**
 * A plain SVG chart of a run (no script, no external reference): calls per second, replicas
 * by state (ready, starting, draining, stopping, stacked) and calls waiting, over time.
 */
export function renderChart(points: readonly TimelinePoint[], title: string, endMs: number, functions = 1): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const span = Math.max(1, endMs);
  const x = (t: number) => LEFT + (Math.min(t, span) / span) * plotWidth;
  const stacked = (p: TimelinePoint) => p.ready + p.starting + p.draining + p.stopping;
  // Every panel is the stack's total: with several functions, say so (a per-function peak is in the table).
  const summed = functions > 1 ? `, all ${functions} functions summed` : '';
  const panels: Panel[] = [
    { title: `load (calls/s)${summed}`, top: TOP, max: niceMax(Math.max(0, ...points.map((p) => p.load))) },
    { title: `replicas: ready, starting, draining, stopping${summed}`, top: TOP + PANEL + GAP, max: niceMax(Math.max(0, ...points.map(stacked))) },
    { title: `calls waiting${summed}`, top: TOP + 2 * (PANEL + GAP), max: niceMax(Math.max(0, ...points.map((p) => p.queued))) },
  ];
  const y = (panel: Panel, v: number) => panel.top + PANEL - (v / panel.max) * PANEL;
  const out: string[] = [];
  const height = TOP + 3 * (PANEL + GAP);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="white"/>`);
  out.push(`<text x="${LEFT}" y="20" font-size="14">${escape(title)}</text>`);
  drawFrames(out, panels, span, x, y);
  const line = (panel: Panel, value: (p: TimelinePoint) => number, colour: string) =>
    `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${points.map((p) => `${num(x(p.t))},${num(y(panel, value(p)))}`).join(' ')}"/>`;
  const [load, replicas, queue] = panels as [Panel, Panel, Panel];
  out.push(line(load, (p) => p.load, '#1f77b4'));
  // Stacked areas, drawn from the top layer down so each lower one covers the part that is its own.
  const layers: Array<[string, (p: TimelinePoint) => number]> = [
    ['#d62728', stacked],
    ['#ff7f0e', (p) => p.ready + p.starting + p.draining],
    ['#bcbd22', (p) => p.ready + p.starting],
    ['#2ca02c', (p) => p.ready],
  ];
  for (const [colour, value] of layers) {
    const top = points.map((p) => `${num(x(p.t))},${num(y(replicas, value(p)))}`);
    const first = points[0];
    const last = points[points.length - 1];
    if (first === undefined || last === undefined) continue;
    const base = `${num(x(last.t))},${num(y(replicas, 0))} ${num(x(first.t))},${num(y(replicas, 0))}`;
    out.push(`<polygon fill="${colour}" stroke="none" points="${top.join(' ')} ${base}"/>`);
  }
  const legend: Array<[string, string]> = [['#2ca02c', 'ready'], ['#bcbd22', 'starting'], ['#ff7f0e', 'draining'], ['#d62728', 'stopping']];
  legend.forEach(([colour, name], i) => {
    const lx = WIDTH - RIGHT - 320 + i * 80;
    out.push(`<rect x="${lx}" y="${replicas.top - 15}" width="10" height="10" fill="${colour}"/><text x="${lx + 14}" y="${replicas.top - 6}">${name}</text>`);
  });
  out.push(line(queue, (p) => p.queued, '#9467bd'));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
