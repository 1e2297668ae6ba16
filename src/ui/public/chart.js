// Small line charts of a function's last 15 minutes, drawn as inline SVG (no library, no CDN).
// Only numbers go into the SVG, as attributes; text goes in through textContent.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 60;
const PAD = 2;

/** Points kept per function (15 minutes at the server's 5 s step). */
export const HISTORY_POINTS = 180;
/** The window the charts cover, ms. */
export const HISTORY_WINDOW_MS = 15 * 60 * 1000;

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * Draws `lines` (each `{ className, values }`, one value per time of `times`) into `svg`
 * over the window ending at `now`; the y-axis runs from 0 to the largest value (at least 1),
 * and `label` says the largest value with `unit`. Replaces what was drawn before.
 */
export function drawChart(svg, label, lines, times, now, unit) {
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const dataMax = Math.max(0, ...lines.flatMap((l) => l.values));
  // The y-axis runs to the data's largest value; a flat zero line sits at the bottom.
  const top = Math.max(1, dataMax);
  const x = (t) => PAD + ((WIDTH - 2 * PAD) * (t - (now - HISTORY_WINDOW_MS))) / HISTORY_WINDOW_MS;
  const y = (v) => HEIGHT - PAD - ((HEIGHT - 2 * PAD) * v) / top;
  const children = [svgEl('line', { class: 'axis', x1: 0, y1: HEIGHT - PAD, x2: WIDTH, y2: HEIGHT - PAD })];
  const start = now - HISTORY_WINDOW_MS;
  for (const line of lines) {
    // A point holds until the next one (the server sends a point only when a value changed), the last one until now.
    const steps = [];
    times.forEach((t, i) => {
      const v = y(line.values[i] ?? 0).toFixed(1);
      steps.push(`${x(Math.max(start, t)).toFixed(1)},${v}`, `${x(Math.max(start, times[i + 1] ?? now)).toFixed(1)},${v}`);
    });
    const points = steps.join(' ');
    const poly = svgEl('polyline', { class: line.className, points, fill: 'none', 'vector-effect': 'non-scaling-stroke' });
    poly.dataset.points = String(times.length);
    poly.dataset.max = String(Math.max(0, ...line.values));
    children.push(poly);
  }
  svg.replaceChildren(...children);
  svg.dataset.points = String(times.length);
  svg.dataset.max = String(dataMax);
  label.textContent = `max ${Number.isInteger(dataMax) ? dataMax : dataMax.toFixed(1)}${unit}`;
}

/**
 * Appends a point to a history as the stream sends it (rows `[time ms, desired, ready, queued,
 * rate]`, oldest first, one per change); drops those past the window but the newest older one.
 */
export function appendPoint(history, point) {
  history.points.push(point);
  const oldest = point[0] - HISTORY_WINDOW_MS;
  while (history.points.length > HISTORY_POINTS || (history.points.length > 1 && history.points[1][0] <= oldest)) history.points.shift();
}
