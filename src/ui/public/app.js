// The live status page of alert-scaler. No framework, no build step. Everything it shows that
// comes from the gateway (function names, labels, event reasons) is untrusted: it only ever
// goes into the page as text (textContent) or as a data-* attribute, never as markup.

const EVENTS_KEPT = 200;
const EVENTS_SHOWN = 30;
const INVOKE_SHOWN_BYTES = 4096;
const STATES = ['starting', 'free', 'busy', 'draining'];

/** @type {Map<string, any>} function key → its latest snapshot */
const functions = new Map();
/** @type {Map<string, HTMLElement>} function key → its card */
const cards = new Map();
/** @type {any[]} engine events, oldest first */
let events = [];
/** @type {string | null} */
let selected = null;

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const keyOf = (f) => `${f.namespace}/${f.name}`;

/** An element with a class and text; text only through textContent. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) tr.append(el('td', '', cell));
  return tr;
}

/** `90 s` → `1m 30s`; under a minute in seconds. */
function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

function ago(iso) {
  return iso === null ? '-' : `${duration(Date.now() - Date.parse(iso))} ago`;
}

function inFlight(f) {
  return f.instances.reduce((n, r) => n + r.inFlight, 0);
}

/** A stat of a card: label and value, the value addressable by data-field. */
function stat(field, label) {
  const item = el('div', 'stat');
  item.append(el('span', 'label', label));
  const value = el('span', 'value', '0');
  value.dataset.field = field;
  item.append(value);
  return item;
}

function newCard(f) {
  const card = el('article', 'fn');
  card.tabIndex = 0;
  card.setAttribute('role', 'button');
  card.dataset.function = f.name;
  card.dataset.namespace = f.namespace;
  const title = el('h3', 'name', f.name);
  title.append(el('span', 'namespace', f.namespace));
  const replicas = el('p', 'replicas');
  const ready = el('span', 'ready', '0');
  ready.dataset.field = 'ready';
  const desired = el('span', 'desired', '0');
  desired.dataset.field = 'desired';
  replicas.append(ready, el('span', 'of', ' / '), desired, el('span', 'unit', ' ready / desired'));
  const stats = el('div', 'stats');
  for (const state of STATES) stats.append(stat(state, state));
  stats.append(stat('inflight', 'in flight'), stat('queue', 'queued'), stat('rate', 'req/s'));
  const crash = el('p', 'crash-line', '');
  crash.dataset.field = 'crash';
  crash.hidden = true;
  card.append(title, replicas, stats, crash);
  const select = () => selectFunction(keyOf(f));
  card.addEventListener('click', select);
  card.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      select();
    }
  });
  return card;
}

function setField(card, field, value) {
  const node = card.querySelector(`[data-field="${field}"]`);
  if (node !== null) node.textContent = String(value);
}

function renderCard(f) {
  const key = keyOf(f);
  let card = cards.get(key);
  if (card === undefined) {
    card = newCard(f);
    cards.set(key, card);
  }
  card.dataset.desired = String(f.replicas);
  card.dataset.ready = String(f.availableReplicas);
  card.classList.toggle('selected', key === selected);
  card.classList.toggle('queued', f.queueLength > 0);
  setField(card, 'ready', f.availableReplicas);
  setField(card, 'desired', f.replicas);
  for (const state of STATES) setField(card, state, f.states[state]);
  setField(card, 'inflight', inFlight(f));
  setField(card, 'queue', f.queueLength);
  setField(card, 'rate', f.requestsPerSecond.toFixed(1));
  const looping = f.crashLoop !== null && f.crashLoop !== undefined;
  card.classList.toggle('crash-loop', looping);
  const crash = card.querySelector('[data-field="crash"]');
  if (crash !== null) {
    crash.hidden = !looping;
    crash.textContent = looping ? `crash-loop: ${f.crashLoop.lastError}` : '';
  }
}

/** The crash loop as one line of text: crashes, the next retry, the cause. */
function crashText(loop, desired) {
  const retry = loop.nextRetryAt !== null ? `next retry in ${duration(Date.parse(loop.nextRetryAt) - Date.now())}` : desired > 0 ? 'retrying now' : 'no retry (0 replicas wanted)';
  return `crash-loop: ${loop.crashes} crash${loop.crashes === 1 ? '' : 'es'}, ${retry}; last: ${loop.lastError}`;
}

function renderList() {
  const list = $('functions');
  const keys = [...functions.keys()].sort((a, b) => functions.get(a).name.localeCompare(functions.get(b).name) || a.localeCompare(b));
  for (const key of keys) renderCard(functions.get(key));
  for (const [key, card] of cards) {
    if (!functions.has(key)) {
      card.remove();
      cards.delete(key);
    }
  }
  list.replaceChildren(...keys.map((key) => cards.get(key)));
  $('empty').hidden = keys.length > 0;
}

function policyText(policy) {
  if (policy.type === null) return `labels invalid: ${policy.problems.join('; ')}`;
  const settings = Object.entries(policy.settings).map(([k, v]) => `${k}=${v}`).join(', ');
  return `policy ${policy.type}${settings === '' ? '' : ` (${settings})`}`;
}

function labelOf(f) {
  // The event log names a function by its function_name label: bare in the default namespace.
  return [f.name, `${f.name}.${f.namespace}`];
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
  $('detail-policy').textContent = policyText(f.policy);
  const loop = f.crashLoop ?? null;
  $('detail-crash').hidden = loop === null;
  $('crash-summary').textContent = loop === null ? '' : crashText(loop, f.replicas);
  $('crash-stderr').textContent = loop === null ? '' : loop.stderr.join('\n');
  $('replicas').querySelector('tbody').replaceChildren(
    ...f.instances.map((r) => {
      const tr = row([r.id, r.state, r.inFlight, duration(Date.now() - Date.parse(r.createdAt)), ago(r.lastRequestAt), r.served]);
      tr.dataset.state = r.state;
      return tr;
    }),
  );
  $('queue-title').textContent = `Queue (${f.queue.noReplica} waiting for a replica, ${f.queue.busy} for a free one; oldest ${duration(f.queue.oldestWaitMs)})`;
  $('queue').querySelector('tbody').replaceChildren(...f.queue.waiting.map((w) => row([w.index, w.arrivedAt, w.reason === 'busy' ? 'WorkerBusy' : 'NoReplica'])));
  const names = labelOf(f);
  const mine = events.filter((e) => names.includes(e.function)).slice(-EVENTS_SHOWN).reverse();
  $('events').querySelector('tbody').replaceChildren(
    ...mine.map((e) => row([e.time, e.source, e.replica === undefined ? e.action : `${e.action} ${e.replica}`, e.replica === undefined ? `${e.from} → ${e.to}` : '', e.reason])),
  );
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
    renderList();
    renderDetail();
  });
  source.addEventListener('engine', (msg) => {
    events.push(JSON.parse(msg.data));
    if (events.length > EVENTS_KEPT) events = events.slice(-EVENTS_KEPT);
    renderDetail();
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
    });
    const text = await res.text();
    const ms = Math.round(performance.now() - started);
    out.textContent = `HTTP ${res.status} in ${ms} ms\n${text.length > INVOKE_SHOWN_BYTES ? `${text.slice(0, INVOKE_SHOWN_BYTES)}…` : text}`;
  } catch (err) {
    out.textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

$('scale-form').addEventListener('submit', scale);
$('invoke-form').addEventListener('submit', invoke);
// Ages and "ago" columns move on by themselves.
setInterval(renderDetail, 1000);
connect();
void loadEvents();
