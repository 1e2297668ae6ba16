// Small helpers of the status page. Text only ever goes in through textContent.

export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
export const keyOf = (f) => `${f.namespace}/${f.name}`;

/** An element with a class and text; text only through textContent. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

export function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) tr.append(el('td', '', cell));
  return tr;
}

/** `90 s` → `1m 30s`; under a minute in seconds. */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

export function ago(iso) {
  return iso === null ? '-' : `${duration(Date.now() - Date.parse(iso))} ago`;
}

/**
 * The function's last crash as one line, when the status API carries it (`lastCrash`: its
 * cause line and when); null when it carries none.
 */
export function lastErrorText(f) {
  const c = f.lastCrash;
  if (c === undefined || c === null || typeof c.error !== 'string') return null;
  return typeof c.at === 'string' ? `${c.error} (${ago(c.at)})` : c.error;
}

/** Whether the function is at zero: the status API's `status`, else the stream's `scaledToZero`. */
export function atZero(f) {
  return f.status === 'scaled-to-zero' || f.scaledToZero === true;
}
