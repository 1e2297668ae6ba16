// The live status page of alert-scaler. No framework, no build step. Everything it shows that
// comes from the gateway (function names, labels, event reasons) is untrusted: it only ever
// goes into the page as text (textContent) or as a data-* attribute, never as markup.
import { newCard, policyLine, renderCard } from './cards.js';
import { appendPoint, drawChart } from './chart.js';
import { $, ago, atZero, duration, keyOf, lastErrorText, row } from './util.js';

const EVENTS_KEPT = 200;
const EVENTS_SHOWN = 30;
const INVOKE_SHOWN_BYTES = 4096;
/** Replica lifecycle actions: the rows the "hide lifecycle" toggle leaves out (a crash stays). */
const LIFECYCLE = new Set(['scale_up_start', 'scale_up_complete', 'drain_start', 'scale_down_complete']);

/** @type {Map<string, any>} function key → its latest snapshot */
const functions = new Map();
/** @type {Map<string, HTMLElement>} function key → its card */
const cards = new Map();
/** @type {Map<string, {stepMs: number, points: number[][]}>} function key → its last 15 minutes */
const histories = new Map();
/** @type {any[]} engine events, oldest first */
let events = [];
/** @type {string | null} */
let selected = null;

function renderList() {
  const list = $('functions');
  const keys = [...functions.keys()].sort((a, b) => functions.get(a).name.localeCompare(functions.get(b).name) || a.localeCompare(b));
  for (const key of keys) {
    let card = cards.get(key);
    if (card === undefined) {
      card = newCard(functions.get(key), () => selectFunction(key));
      cards.set(key, card);
    }
    renderCard(card, functions.get(key), selected);
  }
  for (const [key, card] of cards) {
    if (!functions.has(key)) {
      card.remove();
      cards.delete(key);
    }
  }
  // Moved only when the order changed: a card taken out and put back between a press and its
  // release loses the click.
  const wanted = keys.map((key) => cards.get(key));
  if (wanted.length !== list.children.length || wanted.some((c, i) => list.children[i] !== c)) list.replaceChildren(...wanted);
  $('empty').hidden = keys.length > 0;
}

function policyText(policy) {
  if (policy.type === null) return `labels invalid: ${policy.problems.join('; ')}`;
  const settings = Object.entries(policy.settings).map(([k, v]) => `${k}=${v}`).join(', ');
  return `policy ${policy.type}${settings === '' ? '' : ` (${settings})`}`;
}

/** The crash loop as one line of text: crashes, the next retry, the cause. */
function crashText(loop, desired) {
  const retry = loop.nextRetryAt !== null ? `next retry in ${duration(Date.parse(loop.nextRetryAt) - Date.now())}` : desired > 0 ? 'retrying now' : 'no retry (0 replicas wanted)';
  return `crash-loop: ${loop.crashes} crash${loop.crashes === 1 ? '' : 'es'}, ${retry}; last: ${loop.lastError}`;
}

/** Firing alerts, holds and a pending scale-down as one line; empty when there is none. */
function alertsLine(f) {
  const a = f.alerts;
  if (a === undefined) return '';
  const parts = [`${a.firing} alert${a.firing === 1 ? '' : 's'} firing`];
  if (a.holds.length > 0) parts.push(`holding scale-downs: ${a.holds.join(', ')}`);
  if (a.scaleDownAt !== null) parts.push(`back to min in ${duration(Date.parse(a.scaleDownAt) - Date.now())}`);
  return a.firing === 0 && a.holds.length === 0 && a.scaleDownAt === null ? 'no alert firing' : parts.join('; ');
}

function labelOf(f) {
  // The event log names a function by its function_name label: bare in the default namespace.
  return [f.name, `${f.name}.${f.namespace}`];
}

function renderHistory(f) {
  const history = histories.get(keyOf(f));
  const points = history?.points ?? [];
  const times = points.map((p) => p[0]);
  const now = Date.now();
  $('history').dataset.points = String(points.length);
  $('history-empty').hidden = points.length > 0;
  drawChart($('chart-replicas'), $('chart-replicas-max'), [
    { className: 'desired', values: points.map((p) => p[1]) },
    { className: 'ready', values: points.map((p) => p[2]) },
  ], times, now, '');
  drawChart($('chart-queue'), $('chart-queue-max'), [{ className: 'queue', values: points.map((p) => p[3]) }], times, now, '');
  drawChart($('chart-rate'), $('chart-rate-max'), [{ className: 'rate', values: points.map((p) => p[4]) }], times, now, ' req/s');
}

function renderEvents(f) {
  const names = labelOf(f);
  const hide = /** @type {HTMLInputElement} */ ($('hide-lifecycle')).checked;
  const mine = events.filter((e) => names.includes(e.function) && !(hide && LIFECYCLE.has(e.action))).slice(-EVENTS_SHOWN).reverse();
  $('events').querySelector('tbody').replaceChildren(
    ...mine.map((e) => {
      const tr = row([e.time.slice(11, 19), e.source, e.replica === undefined ? e.action : `${e.action} ${e.replica}`, e.replica === undefined ? `${e.from} → ${e.to}` : '', e.reason]);
      tr.dataset.action = e.action;
      tr.firstElementChild?.setAttribute('title', e.time);
      return tr;
    }),
  );
}

function renderDetail() {
  const detail = $('detail');
  const f = selected === null ? undefined : functions.get(selected);
  if (f === undefined) {
    detail.hidden = true;
    return;
  }
  detail.hidden = false;
  detail.dataset.function = f.name;
  detail.dataset.desired = String(f.replicas);
  detail.dataset.ready = String(f.availableReplicas);
  $('detail-title').textContent = `${f.name} (${f.namespace})`;
  $('detail-policy').textContent = `${policyLine(f)}${atZero(f) ? ' · scaled to zero' : ''} — ${policyText(f.policy)}`;
  $('detail-alerts').textContent = alertsLine(f);
  const loop = f.crashLoop ?? null;
  $('detail-crash').hidden = loop === null;
  $('crash-summary').textContent = loop === null ? '' : crashText(loop, f.replicas);
  $('crash-stderr').textContent = loop === null ? '' : loop.stderr.join('\n');
  const error = lastErrorText(f);
  $('detail-error').hidden = error === null;
  $('detail-error').textContent = error === null ? '' : `last error: ${error}`;
  $('replicas').querySelector('tbody').replaceChildren(
    ...f.instances.map((r) => {
      const tr = row([r.id, r.state, r.inFlight, duration(Date.now() - Date.parse(r.createdAt)), ago(r.lastRequestAt), r.served]);
      tr.dataset.state = r.state;
      return tr;
    }),
  );
  $('queue-title').textContent = `Queue (${f.queue.noReplica} waiting for a replica, ${f.queue.busy} for a free one; oldest ${duration(f.queue.oldestWaitMs)})`;
  $('queue').querySelector('tbody').replaceChildren(...f.queue.waiting.map((w) => row([w.index, w.arrivedAt, w.reason === 'busy' ? 'WorkerBusy' : 'NoReplica'])));
  renderHistory(f);
  renderEvents(f);
}

function selectFunction(key) {
  selected = key;
  const f = functions.get(key);
  if (f !== undefined) /** @type {HTMLInputElement} */ ($('scale-replicas')).value = String(f.replicas);
  $('scale-result').textContent = '';
  $('invoke-result').textContent = '';
  renderList();
  renderDetail();
}

function setConnection(state) {
  const node = $('connection');
  node.dataset.state = state;
  node.textContent = state;
}

function connect() {
  const source = new EventSource('/system/stream');
  source.addEventListener('open', () => setConnection('live'));
  source.addEventListener('error', () => setConnection(source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting'));
  source.addEventListener('function', (msg) => {
    const f = JSON.parse(msg.data);
    functions.set(keyOf(f), f);
    renderList();
    if (keyOf(f) === selected) renderDetail();
  });
  source.addEventListener('removed', (msg) => {
    const f = JSON.parse(msg.data);
    functions.delete(keyOf(f));
    histories.delete(keyOf(f));
    renderList();
    renderDetail();
  });
  source.addEventListener('engine', (msg) => {
    events.push(JSON.parse(msg.data));
    if (events.length > EVENTS_KEPT) events = events.slice(-EVENTS_KEPT);
    renderDetail();
  });
  source.addEventListener('history', (msg) => {
    const h = JSON.parse(msg.data);
    histories.set(keyOf(h), { stepMs: h.stepMs, points: h.points });
    if (keyOf(h) === selected) renderDetail();
  });
  source.addEventListener('point', (msg) => {
    const p = JSON.parse(msg.data);
    const history = histories.get(keyOf(p)) ?? { stepMs: 5000, points: [] };
    appendPoint(history, p.point);
    histories.set(keyOf(p), history);
    if (keyOf(p) === selected) renderDetail();
  });
}

async function loadEvents() {
  try {
    const res = await fetch(`/system/events?limit=${EVENTS_KEPT}`, { headers: { Accept: 'application/json' } });
    if (res.ok) events = [...(await res.json()), ...events].slice(-EVENTS_KEPT);
    renderDetail();
  } catch {
    // The stream still brings new events.
  }
}

async function errorText(res) {
  try {
    const body = await res.json();
    return body.error?.message ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

async function scale(event) {
  event.preventDefault();
  const f = selected === null ? undefined : functions.get(selected);
  if (f === undefined) return;
  const replicas = Number(/** @type {HTMLInputElement} */ ($('scale-replicas')).value);
  const out = $('scale-result');
  out.textContent = 'scaling…';
  try {
    const res = await fetch(`/system/scale-function/${encodeURIComponent(f.name)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ serviceName: f.name, namespace: f.namespace, replicas }),
    });
    if (!res.ok) {
      out.textContent = `failed: ${await errorText(res)}`;
      return;
    }
    const body = await res.json();
    out.textContent = `${body.from} → ${body.replicas}${body.clamped ? ' (clamped)' : ''}: ${body.reason}`;
  } catch (err) {
    out.textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

async function invoke(event) {
  event.preventDefault();
  const f = selected === null ? undefined : functions.get(selected);
  if (f === undefined) return;
  const out = $('invoke-result');
  out.textContent = 'calling…';
  const started = performance.now();
  try {
    const res = await fetch(`/function/${encodeURIComponent(`${f.name}.${f.namespace}`)}`, {
      method: 'POST',
      body: /** @type {HTMLTextAreaElement} */ ($('invoke-body')).value,
      // A function's redirect is not followed: it could send this page's POST, with the operator's credentials, to the admin API.
      redirect: 'manual',
    });
    const ms = Math.round(performance.now() - started);
    if (res.type === 'opaqueredirect') {
      out.textContent = `a redirect in ${ms} ms (not followed)`;
      return;
    }
    const text = await res.text();
    out.textContent = `HTTP ${res.status} in ${ms} ms\n${text.length > INVOKE_SHOWN_BYTES ? `${text.slice(0, INVOKE_SHOWN_BYTES)}…` : text}`;
  } catch (err) {
    out.textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

$('scale-form').addEventListener('submit', scale);
$('invoke-form').addEventListener('submit', invoke);
$('hide-lifecycle').addEventListener('change', renderDetail);
// Ages, "ago" columns and the charts' window move on by themselves.
setInterval(renderDetail, 1000);
connect();
void loadEvents();
