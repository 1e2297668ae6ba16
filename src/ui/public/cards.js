// The function cards of the status page: live counts (stored async calls included), policy, badges (saturated, scaled to
// zero, alerts, holds), errors and p95, the crash loop and the last error.
import { atZero, el, keyOf, lastErrorText } from './util.js';

const STATES = ['starting', 'free', 'busy', 'draining'];

/** A stat of a card: label and value, the value addressable by data-field. */
function stat(field, label) {
  const item = el('div', 'stat');
  item.append(el('span', 'label', label));
  const value = el('span', 'value', '0');
  value.dataset.field = field;
  item.append(value);
  return item;
}

/** A badge, hidden until it has something to say. */
function badge(field, className) {
  const node = el('span', `badge ${className}`, '');
  node.dataset.field = field;
  node.hidden = true;
  return node;
}

function line(field, className) {
  const node = el('p', className, '');
  node.dataset.field = field;
  node.hidden = true;
  return node;
}

/** A new card for `f`; `onSelect` runs when it is clicked or activated with the keyboard. */
export function newCard(f, onSelect) {
  const card = el('article', 'fn');
  card.tabIndex = 0;
  card.setAttribute('role', 'button');
  card.dataset.function = f.name;
  card.dataset.namespace = f.namespace;
  const title = el('h3', 'name', f.name);
  title.append(el('span', 'namespace', f.namespace));
  const policy = el('p', 'policy', '');
  policy.dataset.field = 'policy';
  const replicas = el('p', 'replicas');
  const ready = el('span', 'ready', '0');
  ready.dataset.field = 'ready';
  const desired = el('span', 'desired', '0');
  desired.dataset.field = 'desired';
  replicas.append(ready, el('span', 'of', ' / '), desired, el('span', 'unit', ' ready / desired'));
  const badges = el('p', 'badges');
  badges.append(badge('zero', 'zero'), badge('saturated', 'saturated'), badge('alerts', 'alerts'), badge('holds', 'holds'));
  const stats = el('div', 'stats');
  for (const state of STATES) stats.append(stat(state, state));
  stats.append(stat('inflight', 'in flight'), stat('queue', 'queued'), stat('async', 'async'), stat('rate', 'req/s'), stat('p95', 'p95'), stat('errors', '5xx'), stat('timeouts', '504'));
  card.append(title, policy, replicas, badges, stats, line('crash', 'crash-line'), line('last-error', 'error-line'));
  card.addEventListener('click', onSelect);
  card.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      onSelect();
    }
  });
  return card;
}

function field(card, name) {
  return card.querySelector(`[data-field="${name}"]`);
}

function setField(card, name, value) {
  const node = field(card, name);
  if (node !== null) node.textContent = String(value);
}

/** Shows `text` in the card's `name` element, or hides it when text is null. */
function show(card, name, text) {
  const node = field(card, name);
  if (node === null) return;
  node.hidden = text === null;
  node.textContent = text ?? '';
}

/** `queue · min 1 · max 4`; the label problem when the labels are invalid. */
export function policyLine(f) {
  if (f.kind === undefined) return '';
  if (f.kind === null) return 'labels invalid';
  return `${f.kind} · min ${f.minReplicas} · max ${f.maxReplicas}`;
}

function alertsText(alerts) {
  if (alerts === undefined || alerts.firing === 0) return null;
  return `${alerts.firing} alert${alerts.firing === 1 ? '' : 's'} firing`;
}

function inFlight(f) {
  return f.instances.reduce((n, r) => n + r.inFlight, 0);
}

/** Brings `card` up to date with the snapshot `f`. */
export function renderCard(card, f, selected) {
  card.dataset.desired = String(f.replicas);
  card.dataset.ready = String(f.availableReplicas);
  card.dataset.saturated = String(f.saturated === true);
  card.dataset.zero = String(atZero(f));
  card.classList.toggle('selected', keyOf(f) === selected);
  card.classList.toggle('queued', f.queueLength > 0);
  card.classList.toggle('saturated', f.saturated === true);
  setField(card, 'policy', policyLine(f));
  setField(card, 'ready', f.availableReplicas);
  setField(card, 'desired', f.replicas);
  for (const state of STATES) setField(card, state, f.states[state]);
  setField(card, 'inflight', inFlight(f));
  setField(card, 'queue', f.queueLength);
  // Stored async calls (accepted, not yet delivered); "-" from a gateway without async invocations.
  setField(card, 'async', f.asyncQueueLength ?? '-');
  setField(card, 'rate', f.requestsPerSecond.toFixed(1));
  setField(card, 'p95', f.latencyP95Ms === null || f.latencyP95Ms === undefined ? '-' : `${f.latencyP95Ms} ms`);
  setField(card, 'errors', f.errors?.server ?? 0);
  setField(card, 'timeouts', f.errors?.timeouts ?? 0);
  show(card, 'zero', atZero(f) ? 'scaled to zero' : null);
  show(card, 'saturated', f.saturated === true ? `saturated: at max ${f.maxReplicas}, ${f.queueLength} queued` : null);
  show(card, 'alerts', alertsText(f.alerts));
  const holds = f.alerts?.holds ?? [];
  show(card, 'holds', holds.length === 0 ? null : `hold: ${holds.join(', ')}`);
  const looping = f.crashLoop !== null && f.crashLoop !== undefined;
  card.classList.toggle('crash-loop', looping);
  show(card, 'crash', looping ? `crash-loop: ${f.crashLoop.lastError}` : null);
  const error = looping ? null : lastErrorText(f);
  show(card, 'last-error', error === null ? null : `last error: ${error}`);
}
