// kafka-records: the page served at GET /. A client of the service's own
// API (the same routes curl uses), in plain JavaScript: no framework, no
// build step, nothing fetched from elsewhere. Every piece of data goes into
// the page as text (textContent), never as HTML.
//
// Views are addressed by the URL's fragment, so that the back button, links
// and reloads work: #/topics, #/topics/T, #/records/T?..., #/groups,
// #/groups/G, #/write?topic=T, #/create-topic.

'use strict';

const TOKEN_KEY = 'kafka-records-token';
const TAIL_ROWS = 500; // the live tail keeps this many rows, dropping the oldest
const PAGE_LIMIT = 50;
// Formats whose values are written with a schema from the registry.
const SCHEMA_FORMATS = new Set(['avro', 'protobuf', 'jsonschema']);

const state = {
  settings: null,
  token: sessionStorage.getItem(TOKEN_KEY),
  tail: null, // the running live tail's AbortController
  firstRender: false,
  navigation: 0, // views routed to so far (see api and Stale)
};

// --- DOM helpers ---

/** An element with attributes (on* are listeners) and children (strings are text). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $('#main');

function status(text, kind) {
  const el = $('#status');
  el.textContent = text || '';
  el.className = 'status' + (kind ? ' ' + kind : '');
}

/** Replaces the main area with a view whose heading gets the focus. */
function show(title, ...children) {
  stopTail();
  const heading = h('h1', { tabindex: '-1', id: 'view-title' }, title);
  main().replaceChildren(heading, ...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  document.title = `${title} · kafka-records`;
  for (const a of document.querySelectorAll('nav a')) {
    const section = (location.hash || '#/topics').slice(2).split(/[/?]/)[0];
    const current = a.dataset.section === section
      || (a.dataset.section === 'topics' && section === 'records');
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  // After a navigation (not on the first load, where Tab should reach the
  // skip link first), the new view's heading takes the focus, so that a
  // screen reader announces it and Tab continues from there.
  if (state.focusHeading) heading.focus();
  return heading;
}

function plural(n, word) { return `${n} ${word}${n === 1 ? '' : 's'}`; }

function table(caption, columns, rows, attrs = {}) {
  return h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', attrs,
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)));
}

function field(label, input, hint) {
  const id = input.id || (input.id = 'f-' + Math.random().toString(36).slice(2, 9));
  const hintEl = hint ? h('small', { id: id + '-hint' }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

function select(id, options, value) {
  return h('select', { id, name: id },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
}

// --- the API ---

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A GET answered after the page went on to another view: the view that
 * asked is gone, and must not replace the one shown now. */
class Stale extends Error {}

/** Shows a failed action's error, unless the view it belonged to is gone. */
function failed(e) {
  if (!(e instanceof Stale)) status(e.message, 'error');
}

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

/** One API call; the JSON answer, or an ApiError with the service's message. */
async function api(method, path, body) {
  const navigation = state.navigation;
  const init = { method, headers: authHeaders() };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, init);
  const text = await response.text();
  if (method === 'GET' && navigation !== state.navigation) throw new Stale('the view was left');
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) {
    if (response.status === 401) askToken('The service needs a token.');
    throw new ApiError(response.status, (json && json.message) || `${response.status} ${response.statusText}`);
  }
  return json;
}

function enc(s) { return encodeURIComponent(s); }

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// --- curl, for every view ---

function shellQuote(s) { return `'${String(s).replace(/'/g, `'\\''`)}'`; }

/** The curl command that gets what the view shows. */
function curlCommand(method, path, body, extra = []) {
  const base = new URL(path, location.href).href;
  const parts = ['curl', '-s'];
  if (method !== 'GET') parts.push('-X', method);
  parts.push(...extra);
  if (state.token) parts.push('-H', '"Authorization: Bearer $KAFKA_RECORDS_TOKEN"');
  if (body !== undefined) parts.push('-d', shellQuote(JSON.stringify(body)));
  parts.push(shellQuote(base));
  return parts.join(' ');
}

function curlBox(method, path, body, extra) {
  const code = h('code', { class: 'curl-text' }, curlCommand(method, path, body, extra));
  const box = h('section', { class: 'curl', 'aria-label': 'The same with curl' },
    h('pre', {}, code),
    h('button', {
      type: 'button',
      class: 'small',
      onclick: async (e) => {
        try {
          await navigator.clipboard.writeText(code.textContent);
          e.target.textContent = 'Copied';
        } catch {
          const range = document.createRange();
          range.selectNodeContents(code);
          getSelection().removeAllRanges();
          getSelection().addRange(range);
          e.target.textContent = 'Selected: press Ctrl+C';
        }
        setTimeout(() => { e.target.textContent = 'Copy curl'; }, 2000);
      },
    }, 'Copy curl'));
  box.update = (m, p, b, x) => { code.textContent = curlCommand(m, p, b, x); };
  return box;
}

// --- the token ---

function askToken(why) {
  if ($('#token-form')) return;
  stopTail();
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  const form = h('form', {
    id: 'token-form',
    onsubmit: (e) => {
      e.preventDefault();
      state.token = input.value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      start();
    },
  },
  h('p', {}, why, ' It is kept in this tab only (sessionStorage) and sent as ',
    h('code', {}, 'Authorization: Bearer'), ' to this service.'),
  field('Token', input),
  h('button', { type: 'submit' }, 'Use the token'));
  show('Token', form);
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  input.focus();
}

$('#forget-token').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  askToken('The token was forgotten.');
});

// --- confirmation ---

/** Asks before something that cannot be undone; `word` must be typed when given. */
function confirmAction(title, text, word) {
  const dialog = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  const typed = $('#confirm-typed');
  typed.value = '';
  $('#confirm-typed-row').hidden = !word;
  $('#confirm-word').textContent = word || '';
  return new Promise((resolve) => {
    const done = (ok) => {
      $('#confirm-form').onsubmit = null;
      $('#confirm-cancel').onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(ok);
    };
    $('#confirm-form').onsubmit = (e) => {
      e.preventDefault();
      if (word && typed.value !== word) {
        typed.setCustomValidity(`Type ${word}`);
        typed.reportValidity();
        return;
      }
      done(true);
    };
    typed.oninput = () => typed.setCustomValidity('');
    $('#confirm-cancel').onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
    (word ? typed : $('#confirm-cancel')).focus();
  });
}

// --- values: JSON, text, hex ---

function fromBase64(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function toBase64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function hexDump(bytes) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.slice(i, i + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const text = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${text}`);
  }
  return lines.join('\n');
}

/** A header value (base64 or null) as text when it is UTF-8, else hex. */
function headerText(b64) {
  if (b64 === null) return 'null';
  const bytes = fromBase64(b64);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return '0x' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
}

/** A key or value as the "view as" choice says. */
function renderValue(v, view) {
  if (v === null || v === undefined) return h('span', { class: 'null' }, 'null');
  if (view === 'hex') {
    return h('pre', { class: 'value' }, typeof v === 'string' ? hexDump(fromBase64(v)) : JSON.stringify(v));
  }
  if (view === 'json') {
    let parsed = v;
    if (typeof v === 'string') {
      try { parsed = JSON.parse(v); } catch { parsed = undefined; }
    }
    if (parsed !== undefined && typeof parsed === 'object' && parsed !== null) {
      return h('pre', { class: 'value json' }, JSON.stringify(parsed, null, 2));
    }
  }
  return h('pre', { class: 'value' }, typeof v === 'string' ? v : JSON.stringify(v));
}

// --- topics ---

async function topicsView() {
  const internal = new URLSearchParams(location.hash.split('?')[1] || '').get('internal') === 'true';
  const path = 'topics' + (internal ? '?internal=true' : '');
  const filter = h('input', { id: 'topic-filter', type: 'search', placeholder: 'part of a name', autocomplete: 'off' });
  const showInternal = h('input', {
    id: 'show-internal',
    type: 'checkbox',
    checked: internal,
    onchange: (e) => { location.hash = '#/topics' + (e.target.checked ? '?internal=true' : ''); },
  });
  const tools = h('div', { class: 'tools' },
    field('Filter topics', filter),
    h('div', { class: 'field inline' }, showInternal, h('label', { for: 'show-internal' }, 'Show internal topics')),
    writable() ? h('a', { class: 'button', href: '#/create-topic' }, 'Create a topic') : null);
  show('Topics', tools, h('p', {}, 'Loading the topics…'));
  const list = await api('GET', path);
  const rows = list.topics.map((t) => {
    const count = h('td', { class: 'num', 'data-label': 'Records' }, '…');
    const row = h('tr', { 'data-topic': t.name },
      h('th', { scope: 'row', 'data-label': 'Topic' }, h('a', { href: `#/topics/${enc(t.name)}` }, t.name),
        t.internal ? h('span', { class: 'tag' }, 'internal') : null),
      h('td', { class: 'num', 'data-label': 'Partitions' }, t.partitions),
      count,
      h('td', { 'data-label': 'Open' }, h('a', { href: `#/records/${enc(t.name)}`, 'aria-label': `Records of ${t.name}` }, 'Records')));
    row.count = count;
    row.name = t.name;
    return row;
  });
  const empty = h('p', { hidden: rows.length > 0 }, 'No topics.');
  const tbl = table(plural(list.topics.length, 'topic'), ['Topic', 'Partitions', 'Records (end − start)', ''], rows, { id: 'topics' });
  filter.addEventListener('input', () => {
    const needle = filter.value.toLowerCase();
    let shown = 0;
    for (const r of rows) {
      r.hidden = !r.name.toLowerCase().includes(needle);
      if (!r.hidden) shown++;
    }
    status(`${shown} of ${rows.length} topics shown`);
  });
  show('Topics', tools, tbl, empty, curlBox('GET', path));
  markFirstRender();
  // Record counts need each topic's offsets: a few at a time.
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const row = rows[next++];
      try {
        const t = await api('GET', `topics/${enc(row.name)}`);
        const n = t.partitions.reduce((s, p) => s + Math.max(0, (p.endOffset ?? 0) - (p.startOffset ?? 0)), 0);
        row.count.textContent = n.toLocaleString('en');
        row.count.dataset.records = n;
      } catch (e) {
        if (e instanceof Stale) return;
        row.count.textContent = '?';
        row.count.title = e.message;
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

async function topicView(name) {
  show(name, h('p', {}, 'Loading…'));
  const path = `topics/${enc(name)}`;
  const t = await api('GET', path);
  const total = t.partitions.reduce((s, p) => s + Math.max(0, (p.endOffset ?? 0) - (p.startOffset ?? 0)), 0);
  const partitions = table(`${plural(t.partitions.length, 'partition')}, ${plural(total, 'record')}`,
    ['Partition', 'Leader', 'Leader epoch', 'Replicas', 'In sync', 'Offline', 'Start', 'End', 'Last stable', 'Records'],
    t.partitions.map((p) => h('tr', {},
      h('th', { scope: 'row', 'data-label': 'Partition' }, h('a', { href: `#/records/${enc(name)}?partition=${p.partition}` }, p.partition)),
      h('td', { 'data-label': 'Leader' }, p.leader ?? 'none'),
      h('td', { 'data-label': 'Leader epoch' }, p.leaderEpoch),
      h('td', { 'data-label': 'Replicas' }, p.replicas.join(', ')),
      h('td', { 'data-label': 'In sync' }, p.isr.join(', ')),
      h('td', { 'data-label': 'Offline' }, p.offline.join(', ') || '–'),
      h('td', { class: 'num', 'data-label': 'Start' }, p.startOffset ?? '?'),
      h('td', { class: 'num', 'data-label': 'End' }, p.endOffset ?? '?'),
      h('td', { class: 'num', 'data-label': 'Last stable' }, p.lastStableOffset ?? '?'),
      h('td', { class: 'num', 'data-label': 'Records' }, Math.max(0, (p.endOffset ?? 0) - (p.startOffset ?? 0))))),
    { id: 'partitions' });
  const configs = Object.entries(t.configs);
  const configTable = configs.length
    ? table('Configs (not defaults)', ['Name', 'Value'],
      configs.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v ?? '(sensitive)'))), { id: 'configs' })
    : h('p', {}, 'Every config has its default value.');
  const actions = h('div', { class: 'tools' },
    h('a', { class: 'button', href: `#/records/${enc(name)}` }, 'Records'),
    writable() ? h('a', { class: 'button', href: `#/write?topic=${enc(name)}` }, 'Write a record') : null,
    writable() ? h('button', { type: 'button', class: 'danger', onclick: () => truncate(name) }, 'Delete every record…') : null,
    writable() ? h('button', { type: 'button', class: 'danger', onclick: () => deleteTopic(name) }, 'Delete the topic…') : null);
  show(name, t.internal ? h('p', { class: 'tag' }, 'internal topic') : null, actions, partitions, configTable, curlBox('GET', path));
}

async function truncate(name) {
  const ok = await confirmAction(`Delete every record of ${name}?`,
    'Every partition\'s records below its end offset are deleted (the topic stays). This cannot be undone.', name);
  if (!ok) return;
  try {
    const r = await api('DELETE', `records/${enc(name)}`);
    status(`Deleted: ${r.partitions.map((p) => `partition ${p.partition} now starts at ${p.lowWatermark}`).join('; ')}`, 'ok');
    route();
  } catch (e) { status(e.message, 'error'); }
}

async function deleteTopic(name) {
  const ok = await confirmAction(`Delete the topic ${name}?`, 'The topic and all its records are deleted. This cannot be undone.', name);
  if (!ok) return;
  try {
    await api('DELETE', `topics/${enc(name)}`);
    status(`Topic ${name} deleted`, 'ok');
    location.hash = '#/topics';
  } catch (e) { status(e.message, 'error'); }
}

function createTopicView() {
  const name = h('input', { id: 'new-name', required: true, autocomplete: 'off', spellcheck: 'false', pattern: '[a-zA-Z0-9._\\-]{1,249}' });
  const partitions = h('input', { id: 'new-partitions', type: 'number', min: '1', placeholder: 'broker default' });
  const replication = h('input', { id: 'new-replication', type: 'number', min: '1', placeholder: 'broker default' });
  const configs = h('textarea', { id: 'new-configs', rows: '3', placeholder: 'cleanup.policy=compact' });
  const body = () => {
    const b = { name: name.value };
    if (partitions.value) b.partitions = Number(partitions.value);
    if (replication.value) b.replicationFactor = Number(replication.value);
    const c = {};
    for (const line of configs.value.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) c[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    if (Object.keys(c).length) b.configs = c;
    return b;
  };
  const curl = curlBox('POST', 'topics', body());
  const form = h('form', {
    id: 'create-topic',
    oninput: () => curl.update('POST', 'topics', body()),
    onsubmit: async (e) => {
      e.preventDefault();
      const ok = await confirmAction(`Create the topic ${name.value}?`, JSON.stringify(body()));
      if (!ok) return;
      try {
        await api('POST', 'topics', body());
        status(`Topic ${name.value} created`, 'ok');
        location.hash = `#/topics/${enc(name.value)}`;
      } catch (err) { status(err.message, 'error'); }
    },
  },
  field('Name', name),
  field('Partitions', partitions),
  field('Replication factor', replication),
  field('Configs', configs, 'one name=value a line'),
  h('button', { type: 'submit' }, 'Create…'));
  show('Create a topic', form, curl);
}

// --- records ---

function recordsParams(q) {
  // What the records form asks, from the fragment's query.
  return {
    partition: q.get('partition') || '',
    from: q.get('from') || 'latest',
    offset: q.get('offset') || '',
    time: q.get('time') || '',
    limit: q.get('limit') || String(PAGE_LIMIT),
    key: q.get('key') || 'string',
    value: q.get('value') || 'string',
    filter: q.get('filter') || '',
    view: q.get('view') || 'json',
    depth: Number(q.get('depth') || '1'),
  };
}

/** The GET /records query for a form state: a first page, or a cursor's. */
function recordsQuery(p, cursor) {
  const hex = p.view === 'hex';
  const q = {
    partition: p.partition,
    limit: p.limit,
    keyDeserializer: hex ? 'bytearray' : p.key,
    valueDeserializer: hex ? 'bytearray' : p.value,
    filter: p.filter,
  };
  if (cursor) {
    q.cursor = cursor;
  } else if (p.from === 'latest') {
    q.distanceFromLatest = Number(p.limit) * p.depth;
  } else if (p.from === 'beginning') {
    q.distanceFromBeginning = 0;
  } else if (p.from === 'offset') {
    q.seekTo = p.offset || 0;
  } else if (p.from === 'time') {
    q.seekToTimestamp = p.time ? new Date(p.time).getTime() : Date.now();
  }
  // A page never waits for new records: the live tail does that.
  q.timeout = '0s';
  return q;
}

function recordRow(r, view, live) {
  const headers = r.headers.length
    ? h('ul', { class: 'headers' }, r.headers.map((x) => h('li', {}, h('span', { class: 'hk' }, x.key), ': ', headerText(x.value))))
    : h('span', { class: 'null' }, 'none');
  const ids = [r.keySchemaId, r.valueSchemaId].some((x) => x !== undefined)
    ? h('small', { class: 'schema' }, `schema ids ${r.keySchemaId ?? '–'} / ${r.valueSchemaId ?? '–'}`) : null;
  return h('tr', { class: live ? 'live' : null, 'data-partition': r.partition, 'data-offset': r.offset },
    h('td', { class: 'num', 'data-label': 'Partition' }, r.partition),
    h('th', { scope: 'row', class: 'num', 'data-label': 'Offset' }, r.offset),
    h('td', { 'data-label': 'Timestamp' }, h('time', { datetime: new Date(r.timestamp).toISOString() }, new Date(r.timestamp).toISOString().replace('T', ' ').replace('Z', ''))),
    h('td', { 'data-label': 'Key' }, renderValue(r.key, view)),
    h('td', { 'data-label': 'Value' }, renderValue(r.value, view), ids),
    h('td', { 'data-label': 'Headers' }, headers));
}

async function recordsView(topic, q) {
  const p = recordsParams(q);
  const formats = state.settings.formats;
  const fmtOptions = formats.map((f) => [f, f]);
  const meta = await api('GET', `topics/${enc(topic)}`);
  const partition = select('r-partition', [['', 'all'], ...meta.partitions.map((x) => [String(x.partition), String(x.partition)])], p.partition);
  const from = select('r-from', [['latest', 'the latest'], ['beginning', 'the beginning'], ['offset', 'an offset'], ['time', 'a time']], p.from);
  const offset = h('input', { id: 'r-offset', type: 'number', min: '0', value: p.offset });
  const time = h('input', { id: 'r-time', type: 'datetime-local', step: '1', value: p.time });
  const limit = h('input', { id: 'r-limit', type: 'number', min: '1', max: String(state.settings.maxLimit), value: p.limit });
  const key = select('r-key', fmtOptions, p.key);
  const value = select('r-value', fmtOptions, p.value);
  const filter = h('input', { id: 'r-filter', type: 'text', value: p.filter, spellcheck: 'false', autocomplete: 'off', placeholder: '.value | test("error")' });
  const view = select('r-view', [['json', 'formatted JSON'], ['text', 'text'], ['hex', 'hex (the stored bytes)']], p.view);
  const offsetField = field('Offset', offset);
  const timeField = field('Time (local)', time);
  const syncFrom = () => {
    offsetField.hidden = from.value !== 'offset';
    timeField.hidden = from.value !== 'time';
  };
  from.addEventListener('change', syncFrom);
  syncFrom();
  const form = h('form', {
    id: 'records-form',
    class: 'grid',
    onsubmit: (e) => {
      e.preventDefault();
      const next = new URLSearchParams();
      const values = {
        partition: partition.value, from: from.value, offset: offset.value, time: time.value,
        limit: limit.value, key: key.value, value: value.value, filter: filter.value, view: view.value,
      };
      for (const [k, v] of Object.entries(values)) if (v) next.set(k, v);
      location.hash = `#/records/${enc(topic)}?${next}`;
    },
  },
  field('Partition', partition), field('From', from), offsetField, timeField, field('At most', limit),
  field('Key as', key), field('Value as', value), field('Show values as', view),
  field('jq filter', filter, 'records for which it is neither false nor null, e.g. .headers[].key == "trace"'),
  h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Read')));

  const tbody = h('tbody', {});
  const tbl = h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Records' },
    h('table', { id: 'records' },
      h('caption', { id: 'records-caption' }, 'Records'),
      h('thead', {}, h('tr', {}, ['Partition', 'Offset', 'Timestamp (UTC)', 'Key', 'Value', 'Headers'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody));
  const caption = () => $('#records-caption', tbl);
  const firstQuery = recordsQuery(p);
  const curl = curlBox('GET', `records/${enc(topic)}${query(firstQuery)}`);
  let next = null;
  const history = [];

  const older = h('button', { type: 'button', id: 'older' }, 'Older');
  const newer = h('button', { type: 'button', id: 'newer' }, 'Newer');
  const tail = h('button', { type: 'button', id: 'tail', 'aria-pressed': 'false' }, 'Live tail');
  const nav = h('div', { class: 'tools', role: 'group', 'aria-label': 'Pages' }, older, newer, tail);

  const load = async (q, label) => {
    const path = `records/${enc(topic)}${query(q)}`;
    curl.update('GET', path);
    status(`Reading ${label}…`);
    const page = await api('GET', path);
    tbody.replaceChildren(...page.records.map((r) => recordRow(r, p.view)));
    caption().textContent = `${plural(page.records.length, 'record')}, ${label}`;
    status(plural(page.records.length, 'record'));
    next = page.next;
    return page;
  };

  newer.addEventListener('click', async () => {
    history.push(currentQuery);
    currentQuery = { ...recordsQuery(p, next) };
    try { await load(currentQuery, 'the next page'); } catch (e) { failed(e); }
  });
  older.addEventListener('click', async () => {
    if (history.length) {
      currentQuery = history.pop();
    } else if (p.from === 'latest') {
      // Further back from the end: each partition starts another page earlier.
      p.depth += 1;
      currentQuery = recordsQuery(p);
    } else if (p.from === 'offset' && p.partition !== '') {
      p.offset = String(Math.max(0, Number(p.offset || 0) - Number(p.limit)));
      currentQuery = recordsQuery(p);
    } else {
      status('Older pages: read from the latest, or from an offset of one partition');
      return;
    }
    try { await load(currentQuery, 'an older page'); } catch (e) { failed(e); }
  });
  tail.addEventListener('click', () => {
    if (state.tail) {
      stopTail();
      return;
    }
    startTail(topic, p, tbody, tail, caption(), curl);
  });

  let currentQuery = firstQuery;
  show(`Records of ${topic}`,
    h('p', {}, h('a', { href: `#/topics/${enc(topic)}` }, `Topic ${topic}`), ` · ${plural(meta.partitions.length, 'partition')}`),
    form, nav, tbl, curl);
  try {
    await load(firstQuery, p.from === 'latest' ? 'the latest' : `from ${p.from}`);
  } catch (e) {
    if (e instanceof Stale) return;
    status(e.message, 'error');
    caption().textContent = `Not read: ${e.message}`;
  }
  markFirstRender();
}

/** Reads the topic as it is written (SSE over fetch, so that the token can be sent). */
async function startTail(topic, p, tbody, button, caption, curl) {
  const controller = new AbortController();
  state.tail = controller;
  state.tailButton = button;
  button.setAttribute('aria-pressed', 'true');
  button.textContent = 'Pause the live tail';
  const q = recordsQuery(p, state.tailCursor);
  delete q.distanceFromLatest;
  delete q.distanceFromBeginning;
  delete q.seekTo;
  delete q.seekToTimestamp;
  delete q.limit;
  delete q.timeout;
  const path = `records/${enc(topic)}${query(q)}`;
  curl.update('GET', path, undefined, ['-N', '-H', '"Accept: text/event-stream"']);
  let count = 0;
  status('Live tail: waiting for records…');
  caption.textContent = 'Live tail: newest first';
  if (!state.tailCursor) tbody.replaceChildren();
  try {
    const response = await fetch(path, {
      headers: { ...authHeaders(), Accept: 'text/event-stream' },
      signal: controller.signal,
    });
    if (!response.ok) {
      const err = await response.json().catch(() => ({}));
      throw new ApiError(response.status, err.message || response.statusText);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = { event: 'message', data: '', id: null };
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const k = i < 0 ? line : line.slice(0, i);
          const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (k === 'data') event.data += v;
          else if (k === 'event') event.event = v;
          else if (k === 'id') event.id = v;
        }
        if (event.event === 'record') {
          const r = JSON.parse(event.data);
          state.tailCursor = event.id;
          tbody.prepend(recordRow(r, p.view, true));
          while (tbody.rows.length > TAIL_ROWS) tbody.lastElementChild.remove();
          count++;
          status(`Live tail: ${count} new record${count === 1 ? '' : 's'}`);
        } else if (event.event === 'end') {
          state.tailCursor = JSON.parse(event.data).next;
        } else if (event.event === 'error') {
          throw new ApiError(500, JSON.parse(event.data).message);
        }
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') status(`Live tail stopped: ${e.message}`, 'error');
  } finally {
    if (state.tail === controller) stopTail();
  }
}

function stopTail() {
  if (!state.tail) return;
  state.tail.abort();
  state.tail = null;
  const button = state.tailButton;
  if (button) {
    button.setAttribute('aria-pressed', 'false');
    button.textContent = 'Resume the live tail';
  }
  status('Live tail paused');
}

// --- groups ---

async function groupsView() {
  show('Groups', h('p', {}, 'Loading…'));
  const list = await api('GET', 'groups');
  const filter = h('input', { id: 'group-filter', type: 'search', autocomplete: 'off' });
  const rows = list.groups.map((g) => {
    const row = h('tr', {},
      h('th', { scope: 'row', 'data-label': 'Group' }, h('a', { href: `#/groups/${enc(g.groupId)}` }, g.groupId)),
      h('td', { 'data-label': 'State' }, g.state),
      h('td', { 'data-label': 'Type' }, g.type));
    row.name = g.groupId;
    return row;
  });
  filter.addEventListener('input', () => {
    for (const r of rows) r.hidden = !r.name.toLowerCase().includes(filter.value.toLowerCase());
  });
  show('Groups', h('div', { class: 'tools' }, field('Filter groups', filter)),
    table(plural(rows.length, 'group'), ['Group', 'State', 'Type'], rows, { id: 'groups' }),
    rows.length ? null : h('p', {}, 'No groups.'),
    curlBox('GET', 'groups'));
  markFirstRender();
}

async function groupView(id) {
  show(id, h('p', {}, 'Loading…'));
  const path = `groups/${enc(id)}`;
  const g = await api('GET', path);
  const members = g.members.length
    ? table(plural(g.members.length, 'member'), ['Member', 'Client', 'Host', 'Assigned'],
      g.members.map((m) => h('tr', {},
        h('th', { scope: 'row', 'data-label': 'Member' }, m.memberId),
        h('td', { 'data-label': 'Client' }, m.clientId),
        h('td', { 'data-label': 'Host' }, m.host),
        h('td', { 'data-label': 'Assigned' }, m.assignments.map((a) => `${a.topic}/${a.partition}`).join(', ')))), { id: 'members' })
    : h('p', {}, 'No members.');
  const offsets = table(`Lag per partition (total ${g.lag})`, ['Topic', 'Partition', 'Committed', 'End', 'Lag'],
    g.offsets.map((o) => h('tr', { 'data-topic': o.topic, 'data-partition': o.partition },
      h('th', { scope: 'row', 'data-label': 'Topic' }, h('a', { href: `#/topics/${enc(o.topic)}` }, o.topic)),
      h('td', { class: 'num', 'data-label': 'Partition' }, o.partition),
      h('td', { class: 'num', 'data-label': 'Committed' }, o.committedOffset ?? '–'),
      h('td', { class: 'num', 'data-label': 'End' }, o.endOffset ?? '?'),
      h('td', { class: 'num lag', 'data-label': 'Lag' }, o.lag ?? '?'))), { id: 'offsets' });
  show(id,
    h('dl', { class: 'facts' }, h('dt', {}, 'State'), h('dd', { id: 'group-state' }, g.state),
      h('dt', {}, 'Type'), h('dd', {}, g.type), h('dt', {}, 'Lag'), h('dd', { id: 'group-lag' }, g.lag)),
    members, offsets, curlBox('GET', path));
}

// --- write a record ---

function writeView(q) {
  if (!writable()) {
    show('Write a record', h('p', {}, 'This service is read-only (--read-only): it writes nothing.'));
    return;
  }
  const formats = state.settings.formats.map((f) => [f, f]);
  const topic = h('input', { id: 'w-topic', required: true, value: q.get('topic') || '', autocomplete: 'off', spellcheck: 'false' });
  const partition = h('input', { id: 'w-partition', type: 'number', min: '0', placeholder: 'by key, else any' });
  const keySer = select('w-key-format', formats, 'string');
  const key = h('input', { id: 'w-key', autocomplete: 'off', spellcheck: 'false', placeholder: 'null' });
  const valueSer = select('w-value-format', formats, 'string');
  const value = h('textarea', { id: 'w-value', rows: '5', spellcheck: 'false' });
  const schema = h('textarea', { id: 'w-schema', rows: '4', spellcheck: 'false', placeholder: '{"type": "record", ...}' });
  const schemaId = h('input', { id: 'w-schema-id', type: 'number', min: '0' });
  const schemaField = field('Value schema (text)', schema, 'or a schema id below; registered under <topic>-value');
  const schemaIdField = field('Value schema id', schemaId);
  const headerRows = h('div', { id: 'w-headers' });
  const addHeader = (k = '', v = '') => {
    const n = headerRows.children.length + 1;
    const row = h('div', { class: 'header-row', role: 'group', 'aria-label': `Header ${n}` },
      field(`Header ${n} key`, h('input', { class: 'header-key', value: k, autocomplete: 'off' })),
      field(`Header ${n} value (text)`, h('input', { class: 'header-value', value: v, autocomplete: 'off' })),
      h('button', { type: 'button', class: 'small', onclick: () => { row.remove(); refresh(); }, 'aria-label': `Remove header ${n}` }, 'Remove'));
    headerRows.append(row);
    refresh();
  };
  const typed = (text, format) => {
    if (text === '') return null;
    if (format === 'json' || SCHEMA_FORMATS.has(format)) {
      try { return JSON.parse(text); } catch { return text; }
    }
    return text;
  };
  const body = () => {
    const r = { topic: topic.value };
    if (partition.value !== '') r.partition = Number(partition.value);
    if (keySer.value !== 'string') r.keySerializer = keySer.value;
    if (valueSer.value !== 'string') r.valueSerializer = valueSer.value;
    const k = typed(key.value, keySer.value);
    if (k !== null) r.key = k;
    const v = typed(value.value, valueSer.value);
    if (v !== null) r.value = v;
    const schemaFormat = SCHEMA_FORMATS.has(valueSer.value);
    if (schemaFormat && schemaId.value) r.valueSchemaId = Number(schemaId.value);
    else if (schemaFormat && schema.value) r.valueSchema = schema.value;
    const headers = [...headerRows.children].map((row) => ({ key: $('.header-key', row).value, value: toBase64($('.header-value', row).value) }))
      .filter((x) => x.key !== '');
    if (headers.length) r.headers = headers;
    return { records: [r] };
  };
  const curl = curlBox('POST', 'records', body());
  const result = h('div', { id: 'write-result', role: 'status' });
  function refresh() {
    const schemaFormat = SCHEMA_FORMATS.has(valueSer.value);
    schemaField.hidden = !schemaFormat;
    schemaIdField.hidden = !schemaFormat;
    curl.update('POST', 'records', body());
  }
  const form = h('form', {
    id: 'write-form',
    class: 'grid',
    oninput: refresh,
    onchange: refresh,
    onsubmit: async (e) => {
      e.preventDefault();
      result.textContent = 'Writing…';
      try {
        const answer = await api('POST', 'records', body());
        const r = answer.results[0];
        result.replaceChildren('Written to partition ', h('strong', {}, r.partition), ' at offset ', h('strong', { id: 'written-offset' }, r.offset), ' · ',
          h('a', { href: `#/records/${enc(topic.value)}?partition=${r.partition}&from=offset&offset=${r.offset}` }, 'see it'));
        status(`Written at ${r.partition}/${r.offset}`, 'ok');
      } catch (err) {
        result.textContent = err.message;
        status(err.message, 'error');
      }
    },
  },
  field('Topic', topic), field('Partition', partition),
  field('Key format', keySer), field('Key', key, 'empty: null'),
  field('Value format', valueSer), field('Value', value, 'empty: null; JSON for json and schema formats'),
  schemaField, schemaIdField,
  h('fieldset', { class: 'wide' }, h('legend', {}, 'Headers'), headerRows,
    h('button', { type: 'button', class: 'small', onclick: () => addHeader() }, 'Add a header')),
  h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Write')));
  show('Write a record', form, result, curl);
  refresh();
}

// --- the page ---

function writable() { return state.settings && !state.settings.readOnly; }

function markFirstRender() {
  if (state.firstRender) return;
  state.firstRender = true;
  performance.mark('kafka-records:first-render');
}

async function route() {
  // Answers to the views' GETs still on their way are now stale.
  state.navigation += 1;
  const hash = location.hash || '#/topics';
  const [pathPart, queryPart] = hash.slice(2).split('?');
  const parts = pathPart.split('/').map(decodeURIComponent);
  const q = new URLSearchParams(queryPart || '');
  try {
    switch (parts[0]) {
      case 'topics':
        if (parts[1]) await topicView(parts[1]); else await topicsView();
        break;
      case 'records': await recordsView(parts[1], q); break;
      case 'groups':
        if (parts[1]) await groupView(parts[1]); else await groupsView();
        break;
      case 'write': writeView(q); break;
      case 'create-topic':
        if (writable()) createTopicView(); else show('Create a topic', h('p', {}, 'This service is read-only.'));
        break;
      default: await topicsView();
    }
  } catch (e) {
    if (e.status === 401 || e instanceof Stale) return;
    show('Not available', h('p', { class: 'error', role: 'alert' }, e.message));
    status(e.message, 'error');
  }
}

async function start() {
  try {
    state.settings = await api('GET', 'ui/settings.json');
  } catch (e) {
    if (e.status !== 401) show('Not available', h('p', { class: 'error', role: 'alert' }, e.message));
    return;
  }
  document.body.classList.toggle('read-only', state.settings.readOnly);
  for (const el of document.querySelectorAll('.writes')) el.hidden = state.settings.readOnly;
  $('#mode').textContent = [state.settings.readOnly ? 'read-only' : '', state.settings.schemaRegistry ? 'schema registry' : '']
    .filter(Boolean).join(' · ');
  $('#forget-token').hidden = !state.token;
  state.focusHeading = false;
  await route();
}

window.addEventListener('hashchange', () => {
  state.focusHeading = true;
  state.tailCursor = null;
  status('');
  route();
});
start();
