// dtsctl dashboard: one page, a client of the HTTP API in docs/dashboard-api.md and of nothing else.
//
// Safety: nothing that comes from the scheduler is ever parsed as HTML. Every node is built with
// createElement and text nodes (see h() below), links are built from encodeURIComponent'd ids, and
// no inline script or style is used, so the page runs under a CSP of default-src 'self'.
// State lives in the URL hash (#/orchestrations?status=FAILED, #/instance/ID), so Back works and
// links can be shared.

const TOKEN = document.querySelector('meta[name="dtsctl-token"]')?.getAttribute('content') || '';
const PREFIX = 'ORCHESTRATION_STATUS_';
const STATUSES = ['PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETED', 'FAILED', 'TERMINATED', 'CANCELED', 'CONTINUED_AS_NEW'];
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'TERMINATED', 'CANCELED']);
const CARDS = [
  ['ALL', 'Total', 'totalCount'], ['RUNNING', 'Running', 'runningCount'], ['PENDING', 'Pending', 'pendingCount'],
  ['SUSPENDED', 'Suspended', 'suspendedCount'], ['COMPLETED', 'Completed', 'completedCount'],
  ['FAILED', 'Failed', 'failedCount'], ['TERMINATED', 'Terminated', 'terminatedCount'],
  ['CANCELED', 'Canceled', 'canceledCount'], ['CONTINUED_AS_NEW', 'Continued as new', 'continuedAsNewCount'],
];
const SORTS = { id: 'INSTANCE_ID', name: 'NAME', status: 'ORCHESTRATION_STATUS', created: 'CREATED_AT', updated: 'LAST_UPDATED_AT' };
const PAGE_SIZES = [20, 50, 100, 200];
const MAX_PAGE = 1000; // a size typed into the URL is taken up to this
const REFRESH_MS = 5000; // the list's auto-refresh
const POLL_MS = 2000; // an instance page that has not ended re-reads its status this often
const REPLAY_NOISE = new Set(['OrchestratorStarted', 'OrchestratorCompleted']);
const BULK_ACTIONS = { terminate: 'Terminate', purge: 'Purge', suspend: 'Suspend', resume: 'Resume', 'raise-event': 'Raise event' };

const app = {
  generation: 0, // bumped by every render; an answer for an older render is dropped
  timer: null,
  hubs: null,
  selected: new Set(),
  selectionKey: '',
  allMatching: false,
  dialogs: 0, // bumped by each opening and closing of the dialog: a run's poller stops writing into a closed one
};

// ------------------------------------------------------------------------------------------ DOM

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'checked' || k === 'value' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);

// ------------------------------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  const hub = currentHub();
  if (hub) headers['x-taskhub'] = hub;
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers['x-dtsctl-token'] = TOKEN;
  }
  let res;
  try {
    res = await fetch('/v1/taskhubs' + path, {
      method, headers, cache: 'no-store', credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError('The dashboard server does not answer: is dtsctl still serving it?', 'unavailable', 0);
  }
  let doc = null;
  try { doc = await res.json(); } catch (e) { doc = null; }
  if (!res.ok) {
    let msg = doc && typeof doc.error === 'string' ? doc.error : `The dashboard server answered ${res.status}.`;
    if (doc && typeof doc.hint === 'string' && doc.hint) msg += ' ' + doc.hint;
    throw new ApiError(msg, doc && doc.code, res.status);
  }
  return doc;
}

const enc = encodeURIComponent;

function showError(err) {
  $('#banner-text').textContent = err instanceof Error ? err.message : String(err);
  $('#banner').hidden = false;
}

function clearError() {
  $('#banner').hidden = true;
  $('#banner-text').textContent = '';
}

// ------------------------------------------------------------------------------------------ routing

function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = (q < 0 ? raw : raw.slice(0, q)).split('/').map((p) => { try { return decodeURIComponent(p); } catch (e) { return p; } });
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return { view: path[0] || 'orchestrations', arg: path.slice(1).join('/'), params };
}

function currentHub() {
  return route().params.get('hub') || '';
}

// A link inside the page: keeps the chosen task hub.
function href(path, params = {}) {
  const p = new URLSearchParams();
  const hub = currentHub();
  if (hub) p.set('hub', hub);
  for (const [k, v] of Object.entries(params)) if (v !== '' && v != null && v !== false) p.set(k, String(v));
  const s = p.toString();
  return '#/' + path + (s ? '?' + s : '');
}

function go(path, params, replace = false) {
  const target = href(path, params);
  if (replace) history.replaceState(null, '', target);
  if (location.hash === target) render();
  else if (replace) render();
  else location.hash = target;
}

function instanceHref(id) {
  return href('instance/' + enc(id));
}

// ------------------------------------------------------------------------------------------ formatting

function status(s) {
  return (s || '').replace(PREFIX, '');
}

function badge(s) {
  const name = status(s) || 'UNKNOWN';
  return h('span', { class: 'status s-' + name.toLowerCase() }, name.replace(/_/g, ' '));
}

function ms(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

function pad(n) { return String(n).padStart(2, '0'); }

function fmtTime(iso) {
  const t = ms(iso);
  if (t == null) return iso || '';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDuration(millis) {
  if (millis == null || Number.isNaN(millis)) return '';
  if (millis < 0) millis = 0;
  if (millis < 1000) return `${Math.round(millis)} ms`;
  const s = millis / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.floor(s)} s`;
  const m = Math.floor(s / 60), hr = Math.floor(m / 60), d = Math.floor(hr / 24);
  if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
  if (hr < 24) return `${hr}h ${m % 60}m`;
  return `${d}d ${hr % 24}h`;
}

function relative(iso, now = Date.now()) {
  const t = ms(iso);
  if (t == null) return '';
  const diff = t - now;
  if (Math.abs(diff) < 1000) return 'now';
  return diff > 0 ? `in ${fmtDuration(diff)}` : `${fmtDuration(-diff)} ago`;
}

function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: `${iso} (${relative(iso)})` }, fmtTime(iso));
}

function instanceDuration(o, now = Date.now()) {
  const start = ms(o.createdAt);
  const st = status(o.orchestrationStatus);
  const end = ms(o.completedAt) ?? (TERMINAL.has(st) ? ms(o.lastUpdatedAt) : now);
  return start == null || end == null ? null : end - start;
}

// The JSON text a payload holds, formatted; the text itself when it is not JSON.
function pretty(text) {
  if (text == null) return null;
  if (typeof text !== 'string') return JSON.stringify(text, null, 2);
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
}

function shellQuote(s) {
  s = String(s);
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// The dtsctl command line of an action, shown before it is confirmed (the API's own `command`
// replaces it once it ran). The task hub is named whenever it is known, so the line stays right
// whatever the shell's default hub is.
function cmd(...parts) {
  const hub = currentHub() || (app.hubs && app.hubs.current) || '';
  const words = parts.flat().filter((p) => p != null && p !== '');
  if (hub) words.push('--task-hub', hub);
  return words.map((w, i) => (i < 2 ? w : shellQuote(w))).join(' ');
}

async function copy(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch (e) {
    const area = h('textarea', { class: 'offscreen', readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
    area.remove();
  }
  if (button) {
    const before = button.textContent;
    button.textContent = ok ? 'Copied' : 'Select and copy';
    setTimeout(() => { button.textContent = before; }, 1200);
  }
}

function copyButton(getText) {
  const b = h('button', { type: 'button', class: 'small copy' }, 'Copy');
  b.addEventListener('click', () => copy(getText(), b));
  return b;
}

function parseTags(text) {
  const tags = {};
  let any = false;
  for (const part of (text || '').split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    tags[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    any = true;
  }
  return any ? tags : null;
}

function toLocalInput(iso) {
  const t = ms(iso);
  if (t == null) return '';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(value) {
  if (!value) return '';
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString();
}

// ------------------------------------------------------------------------------------------ dialog

// One <dialog> for every confirmation: a title, a body, the equivalent dtsctl command (recomputed
// as the inputs change) and an OK button whose handler does the call and returns what to show.
function openDialog({ title, body, command, okLabel, onOk, onClose }) {
  const dialog = $('#dialog');
  const ok = $('#dialog-ok');
  const cancel = $('#dialog-cancel');
  const result = clear($('#dialog-result'));
  $('#dialog-title').textContent = title;
  append(clear($('#dialog-body')), [body]);
  const commandEl = $('#dialog-command');
  const refreshCommand = () => { commandEl.textContent = command(); };
  refreshCommand();
  $('#dialog-body').oninput = refreshCommand;
  $('#dialog-body').onchange = refreshCommand;
  $('#dialog-copy').onclick = () => copy(commandEl.textContent, $('#dialog-copy'));
  ok.hidden = !onOk;
  ok.disabled = false;
  ok.textContent = okLabel || 'Confirm';
  cancel.textContent = 'Cancel';
  let changed = false;
  const token = ++app.dialogs;  // this opening of the dialog; a later one makes it closed
  const close = () => {
    app.dialogs++;
    dialog.close();
    if (onClose) onClose(changed);
  };
  cancel.onclick = close;
  dialog.oncancel = (e) => { e.preventDefault(); close(); };
  const api = {
    result, ok,
    setCommand(text) { commandEl.textContent = text; },
    changed() { changed = true; cancel.textContent = 'Close'; },
    closed() { return token !== app.dialogs; },
    done(node) {
      changed = true;
      ok.hidden = true;
      cancel.textContent = 'Close';
      append(clear(result), [node]);
      cancel.focus();
    },
    failed(err) {
      ok.disabled = false;
      append(clear(result), [h('p', { class: 'error' }, err.message)]);
    },
  };
  ok.onclick = async () => {
    ok.disabled = true;
    append(clear(result), [h('p', { class: 'muted busy' }, 'Working…')]);
    try {
      await onOk(api);
    } catch (err) {
      api.failed(err);
    }
  };
  if (!dialog.open) dialog.showModal();
  return api;
}

function field(label, input, note) {
  return h('label', { class: 'field' }, h('span', {}, label), input, note ? h('small', { class: 'muted' }, note) : null);
}

// ------------------------------------------------------------------------------------------ render

async function render() {
  const gen = ++app.generation;
  if (app.timer) { clearInterval(app.timer); app.timer = null; }
  const r = route();
  for (const a of document.querySelectorAll('header nav a')) {
    a.classList.toggle('active', a.id === 'nav-' + (r.view === 'instance' ? 'orchestrations' : r.view));
    a.setAttribute('href', href(a.id.slice(4)));
  }
  $('.brand').setAttribute('href', href('orchestrations'));
  syncHubSelect();
  const view = $('#view');
  try {
    if (r.view === 'instance' && r.arg) await viewInstance(view, r.arg, r.params, gen);
    else if (r.view === 'entities') await viewEntities(view, r.params, gen);
    else if (r.view === 'workers') await viewWorkers(view, gen);
    else await viewOrchestrations(view, r.params, gen);
  } catch (err) {
    if (gen === app.generation) showError(err);
  }
}

function stale(gen) {
  return gen !== app.generation;
}

// ------------------------------------------------------------------------------------------ orchestrations

function listState(params) {
  const size = parseInt(params.get('size') || '', 10);
  return {
    status: (params.get('status') || '').split(',').filter((s) => STATUSES.includes(s)),
    name: params.get('name') || '',
    prefix: params.get('prefix') || '',
    from: params.get('from') || '',
    to: params.get('to') || '',
    tags: params.get('tags') || '',
    hideSub: params.get('hideSub') === '1',
    start: Math.max(0, parseInt(params.get('start') || '0', 10) || 0),
    size: size >= 1 && size <= MAX_PAGE ? size : 50,
    sort: SORTS[params.get('sort')] ? params.get('sort') : 'created',
    dir: params.get('dir') === 'asc' ? 'asc' : 'desc',
    live: params.get('live') === '1',
  };
}

function listParams(s) {
  return {
    status: s.status.join(','), name: s.name, prefix: s.prefix, from: s.from, to: s.to, tags: s.tags,
    hideSub: s.hideSub ? '1' : '', start: s.start || '', size: s.size === 50 ? '' : s.size,
    sort: s.sort === 'created' ? '' : s.sort, dir: s.dir === 'desc' ? '' : s.dir, live: s.live ? '1' : '',
  };
}

function apiFilter(s) {
  const f = {};
  if (s.prefix) f.orchestrationId = s.prefix;
  if (s.name) f.name = s.name;
  if (s.from || s.to) {
    f.createdAt = {};
    if (s.from) f.createdAt.start = s.from;
    if (s.to) f.createdAt.end = s.to;
  }
  if (s.status.length) f.orchestrationStatus = { status: s.status.map((x) => PREFIX + x) };
  const tags = parseTags(s.tags);
  if (tags) f.tags = tags;
  if (s.hideSub) f.hideSubOrchestrations = true;
  return f;
}

async function viewOrchestrations(view, params, gen) {
  const s = listState(params);
  const key = JSON.stringify([currentHub(), apiFilter(s)]);
  if (key !== app.selectionKey) {
    app.selected.clear();
    app.allMatching = false;
    app.selectionKey = key;
  }
  const navigate = (changes, resetPage = true) => go('orchestrations', listParams({ ...s, ...(resetPage ? { start: 0 } : {}), ...changes }));

  // Filters: applied on submit (Enter or the button), kept in the hash.
  const statusSelect = h('select', { id: 'f-status', name: 'status' },
    h('option', { value: '' }, 'any status'),
    STATUSES.map((st) => h('option', { value: st, selected: s.status.length === 1 && s.status[0] === st }, st.replace(/_/g, ' ').toLowerCase())),
    s.status.length > 1 ? h('option', { value: s.status.join(','), selected: true }, 'several') : null);
  const nameInput = h('input', { id: 'f-name', name: 'name', value: s.name, placeholder: 'exact name', autocomplete: 'off' });
  const prefixInput = h('input', { id: 'f-prefix', name: 'prefix', value: s.prefix, placeholder: 'starts with', autocomplete: 'off' });
  const fromInput = h('input', { id: 'f-from', type: 'datetime-local', value: toLocalInput(s.from) });
  const toInput = h('input', { id: 'f-to', type: 'datetime-local', value: toLocalInput(s.to) });
  const tagsInput = h('input', { id: 'f-tags', name: 'tags', value: s.tags, placeholder: 'team=payments, env=prod', autocomplete: 'off' });
  const hideSub = h('input', { id: 'f-hide-sub', type: 'checkbox', checked: s.hideSub });
  const form = h('form', { class: 'filters', id: 'filters' },
    field('Status', statusSelect), field('Name', nameInput), field('Instance id', prefixInput),
    field('Created from', fromInput), field('Created to', toInput), field('Tags', tagsInput),
    h('label', { class: 'check' }, hideSub, 'Hide sub-orchestrations'),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', class: 'primary', id: 'f-apply' }, 'Apply'),
      h('button', { type: 'button', id: 'f-clear', onclick: () => go('orchestrations', { size: s.size === 50 ? '' : s.size, live: s.live ? '1' : '' }) }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    navigate({
      status: statusSelect.value ? statusSelect.value.split(',') : [], name: nameInput.value.trim(),
      prefix: prefixInput.value.trim(), from: fromInput.value ? fromLocalInput(fromInput.value) : '',
      to: toInput.value ? fromLocalInput(toInput.value) : '', tags: tagsInput.value.trim(), hideSub: hideSub.checked,
    });
  });
  hideSub.addEventListener('change', () => form.requestSubmit());
  statusSelect.addEventListener('change', () => form.requestSubmit());

  const cards = h('div', { class: 'cards', id: 'cards' });
  const bulkBar = h('div', { class: 'bulk', id: 'bulk' });
  const table = h('table', { class: 'grid', id: 'instances' });
  const pager = h('div', { class: 'pager', id: 'pager' });
  const live = h('input', { type: 'checkbox', id: 'live', checked: s.live });
  live.addEventListener('change', () => navigate({ live: live.checked }, false));
  const updated = h('span', { class: 'muted', id: 'updated' });
  const toolbar = h('div', { class: 'toolbar' },
    h('h1', {}, 'Orchestrations'), h('span', { class: 'grow' }),
    updated,
    h('label', { class: 'check' }, live, 'Auto-refresh (5 s)'),
    h('button', { type: 'button', id: 'refresh', onclick: () => load() }, 'Refresh'));
  append(clear(view), [toolbar, cards, form, bulkBar, h('div', { class: 'table-wrap' }, table), pager]);

  let inFlight = false;
  let last = null;
  const load = async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      const doc = await api('POST', '/orchestrations/query', {
        filter: apiFilter(s),
        pagination: { startIndex: s.start, count: s.size },
        sort: [{ column: SORTS[s.sort], direction: s.dir === 'asc' ? 'ASCENDING_SORT' : 'DESCENDING_SORT' }],
      });
      if (stale(gen)) return;
      clearError();
      last = doc;
      drawCards(cards, doc.trivia || {}, s, navigate);
      drawTable(table, doc.orchestrations || [], s, navigate, () => drawBulk(bulkBar, s, last));
      drawPager(pager, doc, s, navigate);
      drawBulk(bulkBar, s, doc);
      updated.textContent = 'updated ' + fmtTime(new Date().toISOString()).slice(11);
    } catch (err) {
      if (!stale(gen)) showError(err);
    } finally {
      inFlight = false;
    }
  };
  await load();
  if (s.live && !stale(gen)) {
    app.timer = setInterval(() => { if (!document.hidden && !$('#dialog').open) load(); }, REFRESH_MS);
  }
}

function drawCards(root, trivia, s, navigate) {
  clear(root);
  for (const [st, label, key] of CARDS) {
    const active = st === 'ALL' ? s.status.length === 0 : s.status.length === 1 && s.status[0] === st;
    const count = trivia[key];
    const card = h('button', { type: 'button', class: `card c-${st.toLowerCase()}${active ? ' active' : ''}`, 'data-status': st,
      'aria-pressed': active ? 'true' : 'false', title: st === 'ALL' ? 'Show every status' : `Show only ${label.toLowerCase()}` },
    h('span', { class: 'count' }, count == null ? '–' : Number(count).toLocaleString('en-US')),
    h('span', { class: 'label' }, label));
    card.addEventListener('click', () => navigate({ status: st === 'ALL' || active ? [] : [st] }));
    root.append(card);
  }
}

function drawTable(table, rows, s, navigate, onSelect) {
  clear(table);
  const now = Date.now();
  const all = h('input', { type: 'checkbox', id: 'select-page', 'aria-label': 'Select this page' });
  const sortHead = (key, label, cls) => {
    if (!key) return h('th', {}, label);
    const active = s.sort === key;
    const b = h('button', { type: 'button', class: 'sort' + (active ? ' active' : '') }, label, active ? (s.dir === 'asc' ? ' ▲' : ' ▼') : '');
    b.addEventListener('click', () => navigate({ sort: key, dir: active && s.dir === 'desc' ? 'asc' : 'desc' }));
    return h('th', { class: cls, 'aria-sort': active ? (s.dir === 'asc' ? 'ascending' : 'descending') : null }, b);
  };
  table.append(h('thead', {}, h('tr', {}, h('th', { class: 'pick' }, all), sortHead('id', 'Instance id'), sortHead('name', 'Name'),
    sortHead('status', 'Status'), sortHead('created', 'Created'), sortHead('updated', 'Updated', 'col-updated'), sortHead(null, 'Duration'))));
  const body = h('tbody');
  const boxes = [];
  for (const o of rows) {
    const box = h('input', { type: 'checkbox', class: 'pick-row', 'aria-label': 'Select ' + o.instanceId, checked: app.selected.has(o.instanceId) });
    box.addEventListener('change', () => {
      if (box.checked) app.selected.add(o.instanceId); else app.selected.delete(o.instanceId);
      app.allMatching = false;
      all.checked = boxes.every((b) => b.checked);
      onSelect();
    });
    boxes.push(box);
    const st = status(o.orchestrationStatus);
    const tr = h('tr', { 'data-id': o.instanceId, 'data-status': st },
      h('td', { class: 'pick' }, box),
      h('td', { class: 'id' }, h('a', { href: instanceHref(o.instanceId) }, o.instanceId),
        o.parentInstanceId ? h('span', { class: 'sub', title: 'sub-orchestration of ' + o.parentInstanceId }, 'sub') : null),
      h('td', {}, o.name || ''),
      h('td', {}, badge(st)),
      h('td', {}, time(o.createdAt)),
      h('td', { class: 'col-updated' }, time(o.lastUpdatedAt)),
      h('td', { class: 'num' + (TERMINAL.has(st) ? '' : ' open') }, fmtDuration(instanceDuration(o, now))));
    body.append(tr);
  }
  if (!rows.length) body.append(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No orchestration matches.')));
  all.checked = boxes.length > 0 && boxes.every((b) => b.checked);
  all.addEventListener('change', () => {
    for (const [i, o] of rows.entries()) {
      boxes[i].checked = all.checked;
      if (all.checked) app.selected.add(o.instanceId); else app.selected.delete(o.instanceId);
    }
    app.allMatching = false;
    onSelect();
  });
  table.append(body);
}

function drawPager(root, doc, s, navigate) {
  clear(root);
  const total = doc.totalCount ?? (doc.trivia || {}).totalCount ?? 0;
  const shown = (doc.orchestrations || []).length;
  const first = shown ? s.start + 1 : 0;
  const size = h('select', { id: 'page-size', 'aria-label': 'Page size' },
    [...new Set([...PAGE_SIZES, s.size])].sort((a, b) => a - b).map((n) => h('option', { value: n, selected: n === s.size }, `${n} a page`)));
  size.addEventListener('change', () => navigate({ size: +size.value }));
  append(root, [
    h('button', { type: 'button', id: 'prev', disabled: s.start <= 0, onclick: () => navigate({ start: Math.max(0, s.start - s.size) }, false) }, '← Prev'),
    h('span', { id: 'range' }, `${first.toLocaleString('en-US')}–${(s.start + shown).toLocaleString('en-US')} of ${Number(total).toLocaleString('en-US')}`),
    h('button', { type: 'button', id: 'next', disabled: s.start + shown >= total, onclick: () => navigate({ start: s.start + s.size }, false) }, 'Next →'),
    size,
  ]);
}

function drawBulk(root, s, doc) {
  clear(root);
  const total = doc ? doc.totalCount ?? 0 : 0;
  const n = app.allMatching ? total : app.selected.size;
  const what = app.allMatching
    ? h('strong', {}, `All ${Number(total).toLocaleString('en-US')} matching this filter`)
    : h('span', {}, `${n} selected`);
  const allBtn = h('button', { type: 'button', id: 'select-all-matching', class: 'link', disabled: !total },
    app.allMatching ? 'Only the checked rows' : `Select all ${Number(total).toLocaleString('en-US')} matching this filter`);
  allBtn.addEventListener('click', () => { app.allMatching = !app.allMatching; drawBulk(root, s, doc); });
  const action = h('select', { id: 'bulk-action', 'aria-label': 'Bulk action' },
    Object.entries(BULK_ACTIONS).map(([k, v]) => h('option', { value: k }, v)));
  const run = h('button', { type: 'button', id: 'bulk-run', disabled: n === 0 }, 'Act on them…');
  run.addEventListener('click', () => bulkDialog(action.value, s));
  append(root, [what, allBtn, h('span', { class: 'grow' }), action, run]);
}

function bulkDialog(action, s) {
  const ids = app.allMatching ? null : [...app.selected];
  const filter = app.allMatching ? apiFilter(s) : null;
  const reason = h('input', { id: 'bulk-reason', placeholder: 'optional' });
  const eventName = h('input', { id: 'bulk-event', placeholder: 'approval', required: true });
  const eventData = h('textarea', { id: 'bulk-data', rows: 3, placeholder: '{"approved": true}' });
  const count = h('p', { id: 'bulk-count', class: 'count-line' }, 'Counting what this would act on (dry run)…');
  const inputs = [count];
  if (['terminate', 'suspend', 'resume'].includes(action)) inputs.push(field('Reason', reason));
  if (action === 'raise-event') inputs.push(field('Event name', eventName), field('Event data (JSON)', eventData, 'empty: no data'));
  const body = h('div', {}, inputs);
  const request = (dryRun) => {
    const req = { action, filter, instanceIds: ids, dryRun };
    if (reason.value.trim()) req.reason = reason.value.trim();
    if (action === 'raise-event') {
      req.eventName = eventName.value.trim();
      if (eventData.value.trim()) req.eventData = eventData.value.trim();
    }
    return req;
  };
  const command = () => {
    const parts = ['dtsctl', 'instance', action];
    if (action === 'raise-event') parts.push(eventName.value.trim() || 'EVENT');
    if (filter) {
      for (const st of s.status) parts.push('--status', st.toLowerCase());
      if (s.name) parts.push('--name', s.name);
      if (s.prefix) parts.push('--prefix', s.prefix);
      if (s.from) parts.push('--created-after', s.from);
      if (s.to) parts.push('--created-before', s.to);
    } else {
      return ids.map((id) => cmd(parts.slice(0, 3), id, action === 'raise-event' ? parts[3] : null,
        action === 'raise-event' && eventData.value.trim() ? ['--data', eventData.value.trim()] : [],
        reason.value.trim() ? ['--reason', reason.value.trim()] : [])).join('\n');
    }
    if (action === 'raise-event' && eventData.value.trim()) parts.push('--data', eventData.value.trim());
    if (reason.value.trim()) parts.push('--reason', reason.value.trim());
    parts.push('--yes');
    return cmd(parts);
  };
  let planned = null;
  const dlg = openDialog({
    title: `${BULK_ACTIONS[action]}: ${filter ? 'all instances matching the filter' : `${ids.length} selected instance${ids.length === 1 ? '' : 's'}`}`,
    body, command, okLabel: 'Run',
    onClose: (changed) => { if (changed) { app.selected.clear(); app.allMatching = false; render(); } },
    onOk: async (d) => {
      if (action === 'raise-event' && !eventName.value.trim()) throw new Error('Give the event a name.');
      if (action === 'raise-event' && eventData.value.trim()) {
        try { JSON.parse(eventData.value); } catch (e) { throw new Error('The event data is not JSON: ' + e.message); }
      }
      const started = await api('POST', '/orchestrations/bulk', request(false));
      if (started.command) d.setCommand(started.command);
      d.changed();  // the run goes on if the dialog is closed: the list is drawn again then
      append(clear(count), [h('strong', { id: 'bulk-dry-count' }, `${(planned ?? 0).toLocaleString('en-US')}`),
        ` instance${planned === 1 ? '' : 's'} counted by the dry run; the run has started.`]);
      const job = await followJob(d, started, action);
      if (!job) return;  // the dialog was closed while it ran
      if (job.report) {
        d.done(h('div', {}, bulkProgress(job, action).node, bulkReport(job.report)));
        if (job.report.error) showError(new Error(job.report.error));
      } else {
        d.done(h('div', {}, bulkProgress(job, action).node, h('p', { class: 'error', id: 'bulk-error' }, job.error || 'The run failed.')));
        showError(new Error(job.error || 'The bulk run failed.'));
      }
      app.selected.clear();
      app.allMatching = false;
      render();  // the list behind the dialog shows what the run changed
    },
  });
  dlg.ok.disabled = true;
  api('POST', '/orchestrations/bulk', request(true)).then((report) => {
    const acting = Math.max(0, (report.matched ?? 0) - (report.skipped ?? 0));
    planned = acting;
    clear(count);
    append(count, [h('strong', { id: 'bulk-dry-count' }, `${acting.toLocaleString('en-US')}`),
      ` instance${acting === 1 ? '' : 's'} would be ${pastTense(action)}`,
      report.skipped ? ` (${report.matched} match, ${report.skipped} would be skipped: the action does not apply to them)` : '',
      report.not_found ? ` ${report.not_found} of the selected instances no longer exist.` : '',
      '. Nothing has changed yet.']);
    if (report.command) dlg.setCommand(report.command);
    else if (report.command === null) dlg.setCommand('(no dtsctl command line selects this filter: tags, versions, update or completion times and hidden sub-orchestrations are the page\'s own)');
    dlg.ok.textContent = `${BULK_ACTIONS[action]} ${acting.toLocaleString('en-US')} instance${acting === 1 ? '' : 's'}`;
    dlg.ok.disabled = acting === 0;
  }).catch((err) => { clear(count); count.append(h('span', { class: 'error' }, err.message)); });
}

const JOB_POLL_MS = 500;

// The progress of a bulk run (GET /bulk/{job}): a bar, its counts, and a button that stops it.
function bulkProgress(job, action, onStop) {
  const fill = h('div', { class: 'progress-fill', id: 'bulk-bar-fill' });
  const bar = h('div', { class: 'progress-track', id: 'bulk-bar', role: 'progressbar', 'aria-label': `${action} progress`,
    'aria-valuemin': '0' }, fill);
  const counts = h('p', { id: 'bulk-counts', class: 'count-line' });
  const stop = h('button', { type: 'button', id: 'bulk-cancel' }, 'Stop the run');
  const node = h('div', { id: 'bulk-progress' }, bar, counts);
  if (onStop) {
    stop.addEventListener('click', () => { stop.disabled = true; stop.textContent = 'Stopping…'; onStop(); });
    node.append(h('p', { class: 'muted' }, stop, ' No new call starts; the ones in flight end first.'));
  }
  const update = (j) => {
    const total = j.matched || 0;
    const pct = total ? Math.min(100, Math.round((j.finished / total) * 1000) / 10) : 100;
    fill.style.width = `${pct}%`;
    bar.setAttribute('aria-valuemax', String(total));
    bar.setAttribute('aria-valuenow', String(j.finished));
    const state = j.status === 'running' ? (j.cancelRequested ? 'stopping' : 'running')
      : j.status === 'cancelled' ? 'stopped' : j.status;
    counts.textContent = `${Number(j.finished).toLocaleString('en-US')} of ${Number(total).toLocaleString('en-US')} · ` +
      `done ${j.done} · failed ${j.failed} · skipped ${j.skipped} · ${state}, ${j.seconds}s`;
    counts.classList.toggle('busy', j.status === 'running');
    if (j.status !== 'running') stop.disabled = true;
  };
  update(job);
  return { node, update };
}

// Polls the job until it ends; its last document, or null once the dialog is closed.
async function followJob(d, started, action) {
  let stopAsked = false;
  const view = bulkProgress(started, action, async () => {
    stopAsked = true;
    try { view.update(await api('POST', `/bulk/${enc(started.job)}/cancel`)); } catch (err) { showError(err); }
  });
  append(clear(d.result), [view.node]);
  let job = started;
  while (job.status === 'running') {
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    if (d.closed()) return null;
    job = await api('GET', `/bulk/${enc(started.job)}`);
    if (d.closed()) return null;
    if (stopAsked) job.cancelRequested = true;
    view.update(job);
  }
  return job;
}

function pastTense(action) {
  return { terminate: 'terminated', purge: 'purged', suspend: 'suspended', resume: 'resumed', 'raise-event': 'sent the event' }[action] || action;
}

function bulkReport(r) {
  const rows = [['Matched', r.matched], ['Done', r.done], ['Skipped', r.skipped], ['Failed', r.failed],
    ['Not attempted', r.not_attempted], ['Seconds', r.seconds]];
  if (r.deleted_unconfirmed) rows.push(['Deleted but not listed', r.deleted_unconfirmed]);
  const out = h('div', { id: 'bulk-report' },
    h('p', { class: 'ok' }, r.interrupted ? 'Stopped before the end.' : `Done: ${r.done ?? 0} of ${r.matched ?? 0}.`),
    h('dl', { class: 'kv' }, rows.filter(([, v]) => v != null).map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])));
  if (r.error) out.prepend(h('p', { class: 'error', id: 'bulk-error' }, r.error));
  if (r.notes && r.notes.length) out.append(h('ul', { class: 'hints' }, r.notes.map((n) => h('li', {}, n))));
  if (r.failures && r.failures.length) {
    out.append(h('ul', { class: 'failures' }, r.failures.map((f) => h('li', {}, h('code', {}, f.instance_id), ': ', f.error))));
  }
  return out;
}

// ------------------------------------------------------------------------------------------ instance

async function viewInstance(view, id, params, gen) {
  const path = '/orchestrations/' + enc(id);
  const sectionError = (res) => h('p', { class: 'error' }, res.reason && res.reason.message ? res.reason.message : 'Not available.');
  const [inst, payloads, hist, pending, timeline, children] = await Promise.allSettled([
    api('GET', path), api('GET', path + '/payloads'), api('GET', path + '/history'),
    api('GET', path + '/pending'), api('GET', path + '/timeline'), api('GET', path + '/children'),
  ]);
  if (stale(gen)) return;
  if (inst.status === 'rejected') {
    append(clear(view), [h('div', { class: 'toolbar' }, h('a', { href: href('orchestrations') }, '← Orchestrations')),
      h('h1', {}, id), h('p', { class: 'error', id: 'instance-error' }, inst.reason.message)]);
    throw inst.reason;
  }
  clearError();
  const o = inst.value;
  const st = status(o.orchestrationStatus);
  const scrollY = window.scrollY;

  const head = h('div', { class: 'toolbar instance-head' },
    h('a', { href: href('orchestrations'), class: 'back' }, '← Orchestrations'),
    h('h1', { id: 'instance-id' }, o.instanceId), badge(st), h('span', { class: 'muted' }, o.name || ''),
    h('span', { class: 'grow' }), actions(o));

  const overview = h('section', { class: 'panel', id: 'overview' }, h('h2', {}, 'Overview'), h('dl', { class: 'kv' },
    kv('Status', badge(st)), kv('Name', o.name), kv('Version', o.version || '—'), kv('Execution', o.executionId || '—'),
    kv('Created', time(o.createdAt)), kv('Updated', time(o.lastUpdatedAt)), kv('Completed', time(o.completedAt)),
    o.scheduledStartAt ? kv('Scheduled start', time(o.scheduledStartAt)) : null,
    kv('Duration', fmtDuration(instanceDuration(o)) + (TERMINAL.has(st) ? '' : ' so far')),
    kv('Parent', o.parentInstanceId ? h('a', { href: instanceHref(o.parentInstanceId), id: 'parent' }, o.parentInstanceId) : '—'),
    kv('Children', children.status === 'fulfilled' ? childLinks(children.value.children || []) : sectionError(children)),
    kv('Tags', tagList(o.tags))));

  const pendingPanel = h('section', { class: 'panel', id: 'pending' }, h('h2', {}, 'Pending work'),
    pending.status === 'fulfilled' ? pendingView(pending.value) : sectionError(pending));

  const data = h('section', { class: 'panel wide', id: 'payloads' }, h('h2', {}, 'Data'));
  if (payloads.status === 'fulfilled') {
    const p = payloads.value || {};
    if (p.omitted) data.append(h('p', { class: 'muted' }, p.omitted));
    const grid = h('div', { class: 'payloads' },
      payloadBlock('Input', 'input', p.input), payloadBlock('Output', 'output', p.output),
      payloadBlock('Custom status', 'custom-status', p.customStatus));
    if (p.failureDetails) grid.prepend(failureBlock(p.failureDetails));
    data.append(grid);
  } else data.append(sectionError(payloads));

  const tl = h('section', { class: 'panel wide', id: 'timeline' }, h('h2', {}, 'Timeline'),
    timeline.status === 'fulfilled' ? timelineView(timeline.value) : sectionError(timeline));

  const showReplay = params.get('replay') === '1';
  const replay = h('input', { type: 'checkbox', id: 'show-replay', checked: showReplay });
  replay.addEventListener('change', () => go('instance/' + enc(id), { replay: replay.checked ? '1' : '' }, true));
  const historyPanel = h('section', { class: 'panel wide', id: 'history' },
    h('div', { class: 'toolbar' }, h('h2', {}, 'History'), h('span', { class: 'grow' }),
      h('label', { class: 'check' }, replay, 'Show replay events')),
    hist.status === 'fulfilled' ? historyTable(hist.value.events || [], showReplay) : sectionError(hist));

  append(clear(view), [head, h('div', { class: 'instance' }, overview, pendingPanel, data, tl, historyPanel)]);
  window.scrollTo(0, scrollY);

  // Until it ends, re-read its status and redraw when it changes (an event raised, a timer fired).
  if (!TERMINAL.has(st)) {
    app.timer = setInterval(async () => {
      if (document.hidden || $('#dialog').open) return;
      try {
        const now = await api('GET', path);
        if (!stale(gen) && (now.lastUpdatedAt !== o.lastUpdatedAt || now.orchestrationStatus !== o.orchestrationStatus)) render();
      } catch (err) {
        if (!stale(gen)) showError(err);
      }
    }, POLL_MS);
  }
}

function kv(k, v) {
  return [h('dt', {}, k), h('dd', {}, v == null || v === '' ? '—' : v)];
}

function childLinks(children) {
  if (!children.length) return '—';
  return h('ul', { class: 'plain', id: 'children' }, children.map((c) =>
    h('li', {}, h('a', { href: instanceHref(c.instanceId) }, c.instanceId), ' ', badge(c.orchestrationStatus), ' ', h('span', { class: 'muted' }, c.name || ''))));
}

function tagList(tags) {
  const entries = Object.entries(tags || {});
  if (!entries.length) return '—';
  return h('span', { class: 'tags' }, entries.map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`)));
}

function payloadBlock(title, key, text) {
  const formatted = pretty(text);
  return h('div', { class: 'payload', id: 'payload-' + key },
    h('div', { class: 'payload-head' }, h('h3', {}, title), formatted == null ? null : copyButton(() => formatted)),
    formatted == null ? h('p', { class: 'muted' }, 'none') : h('pre', { class: 'json' }, formatted));
}

function failureBlock(f) {
  const text = failureText(f);
  const block = h('div', { class: 'payload failure', id: 'failure' },
    h('div', { class: 'payload-head' }, h('h3', {}, 'Failure'), copyButton(() => text)));
  let depth = 0;
  for (let cur = f; cur && depth < 10; cur = cur.innerFailure, depth++) {
    block.append(h('p', { class: 'failure-message' }, depth ? 'caused by ' : '', h('strong', {}, cur.errorType || 'Error'), ': ', cur.errorMessage || ''));
    if (cur.stackTrace) block.append(h('pre', { class: 'stack' }, cur.stackTrace));
  }
  return block;
}

function failureText(f) {
  const out = [];
  for (let cur = f, depth = 0; cur && depth < 10; cur = cur.innerFailure, depth++) {
    out.push(`${depth ? 'caused by ' : ''}${cur.errorType || 'Error'}: ${cur.errorMessage || ''}`);
    if (cur.stackTrace) out.push(cur.stackTrace);
  }
  return out.join('\n');
}

function pendingView(p) {
  if (p == null) return h('p', { class: 'muted', id: 'pending-none' }, 'Nothing pending: the instance has ended.');
  const now = Date.now();
  const groups = [];
  const group = (title, id, items) => {
    if (items.length) groups.push(h('div', { class: 'pending-group', id: 'pending-' + id }, h('h3', {}, title), h('ul', { class: 'plain' }, items)));
  };
  group('Activities', 'activities', (p.activities || []).map((a) => h('li', {},
    h('strong', {}, a.name || 'activity'), a.attempt > 1 ? ` (attempt ${a.attempt})` : '',
    a.started_at ? h('span', { class: 'muted' }, ` running for ${fmtDuration(now - ms(a.started_at))}`) : '')));
  group('Timers', 'timers', (p.timers || []).map((t) => h('li', { class: 'timer' },
    h('strong', {}, t.name || 'timer'), ' fires ',
    h('span', { class: 'when', title: t.fire_at || '' }, t.fire_at ? (ms(t.fire_at) > now ? relative(t.fire_at, now) : 'now (due)') : 'at an unknown time'),
    t.fire_at ? h('span', { class: 'muted' }, ` (${fmtTime(t.fire_at)})`) : '')));
  group('Sub-orchestrations', 'subs', (p.sub_orchestrations || []).map((s) => h('li', {},
    s.target ? h('a', { href: instanceHref(s.target) }, s.target) : h('span', {}, s.name || ''), ' ',
    h('span', { class: 'muted' }, s.name || ''), ' ', s.status ? badge(s.status) : '')));
  group('Entity calls', 'entity-calls', (p.entity_calls || []).map((c) => h('li', {},
    h('strong', {}, c.name || 'operation'), ' on ', h('code', {}, c.target || '?'))));
  group('Locks', 'locks', (p.locks || []).map((l) => h('li', {},
    h('code', {}, l.target || '?'), l.granted_at ? ` held since ${fmtTime(l.granted_at)}` : ' requested, not granted yet')));
  if (p.waiting_for_event) groups.push(h('p', { class: 'waiting', id: 'pending-event' }, 'Waiting for an external event.'));
  if ((p.events_received || []).length) groups.push(h('p', { class: 'muted' }, 'Events received: ', p.events_received.join(', ')));
  if (p.workers) groups.push(h('p', { class: 'muted', id: 'pending-workers' }, `${p.workers.connected} worker${p.workers.connected === 1 ? '' : 's'} connected to ${p.workers.task_hub}`));
  if ((p.hints || []).length) groups.push(h('ul', { class: 'hints', id: 'pending-hints' }, p.hints.map((x) => h('li', {}, x))));
  if (!groups.length) groups.push(h('p', { class: 'muted' }, 'Nothing open.'));
  return h('div', {}, groups);
}

function timelineView(doc) {
  const spans = (doc && doc.spans) || [];
  if (!spans.length) return h('p', { class: 'muted' }, 'No activities, timers or sub-orchestrations yet.');
  const now = Date.now();
  const starts = spans.map((s) => ms(s.started_at)).filter((t) => t != null);
  const t0 = ms(doc.started_at) ?? Math.min(...starts);
  const ends = spans.map((s) => ms(s.ended_at) ?? (s.state === 'open' ? now : ms(s.started_at))).filter((t) => t != null);
  const t1 = Math.max(ms(doc.ended_at) ?? (doc.ended_at ? 0 : now), ...ends, t0 + 1);
  const span = t1 - t0;
  const rows = h('div', { class: 'gantt', id: 'gantt' });
  rows.append(h('div', { class: 'gantt-axis' }, h('span', {}, fmtTime(new Date(t0).toISOString())), h('span', {}, fmtDuration(span))));
  for (const s of spans) {
    const start = ms(s.started_at) ?? t0;
    const end = ms(s.ended_at) ?? (s.state === 'open' ? now : start);
    const bar = h('div', { class: `bar k-${s.kind} st-${s.state}` });
    bar.style.left = `${(((start - t0) / span) * 100).toFixed(3)}%`;
    bar.style.width = `${Math.max(0.4, ((end - start) / span) * 100).toFixed(3)}%`;
    const label = [s.kind.replace('_', '-'), s.name || s.target || ''].join(' ').trim() + (s.attempt > 1 ? ` #${s.attempt}` : '');
    const detail = `${label} · ${s.state} · ${fmtDuration(end - start)}${s.fire_at ? ' · fires ' + fmtTime(s.fire_at) : ''}${s.failure ? ' · ' + s.failure : ''}`;
    bar.setAttribute('title', detail);
    rows.append(h('div', { class: 'gantt-row', 'data-kind': s.kind, 'data-state': s.state },
      h('span', { class: 'gantt-label', title: detail }, label),
      h('span', { class: 'gantt-track' }, bar),
      h('span', { class: 'gantt-state' }, s.state)));
  }
  return rows;
}

function historyTable(events, showReplay) {
  const shown = showReplay ? events : events.filter((e) => !REPLAY_NOISE.has(e.type));
  const first = ms((events[0] || {}).timestamp);
  const t = h('table', { class: 'grid compact', id: 'history-table' },
    h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'Time'), h('th', {}, 'Elapsed'), h('th', {}, 'Type'), h('th', {}, 'Details'))));
  const body = h('tbody');
  for (const e of shown) {
    const { event_id: eid, timestamp, type, ...rest } = e;
    const details = Object.keys(rest).length ? JSON.stringify(rest) : '';
    const at = ms(timestamp);
    body.append(h('tr', { 'data-type': type },
      h('td', { class: 'num' }, eid == null ? '' : String(eid)), h('td', {}, time(timestamp)),
      h('td', { class: 'num' }, at != null && first != null ? '+' + fmtDuration(at - first) : ''),
      h('td', {}, type), h('td', { class: 'details', title: details.length > 240 ? details : null },
        details.length > 240 ? details.slice(0, 240) + '…' : details)));
  }
  if (!shown.length) body.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No events.')));
  t.append(body);
  return h('div', { class: 'table-wrap' }, t);
}

// ------------------------------------------------------------------------------------------ actions

function actions(o) {
  const id = o.instanceId;
  const st = status(o.orchestrationStatus);
  const ended = TERMINAL.has(st);
  const bar = h('div', { class: 'actions', id: 'actions' });
  const add = (key, label, enabled, open) => {
    const b = h('button', { type: 'button', id: 'action-' + key, disabled: !enabled }, label);
    b.addEventListener('click', open);
    bar.append(b);
  };
  const reason = () => h('input', { id: 'action-reason', placeholder: 'optional' });
  add('raise-event', 'Raise event', !ended, () => {
    const name = h('input', { id: 'event-name', placeholder: 'approval', required: true });
    const data = h('textarea', { id: 'event-data', rows: 4, placeholder: '{"approved": true}' });
    act(o, 'Raise an event', h('div', {}, field('Event name', name), field('Event data (JSON)', data, 'empty: no data')),
      () => cmd('dtsctl', 'instance', 'raise-event', id, name.value.trim() || 'EVENT', data.value.trim() ? ['--data', data.value.trim()] : []),
      'Raise event', () => {
        if (!name.value.trim()) throw new Error('Give the event a name.');
        const body = { type: 'raiseEvent', eventName: name.value.trim() };
        if (data.value.trim()) {
          try { JSON.parse(data.value); } catch (e) { throw new Error('The event data is not JSON: ' + e.message); }
          body.eventData = data.value.trim();
        }
        return ['/history', body];
      });
  });
  for (const [key, label, enabled, what] of [
    ['suspend', 'Suspend', st === 'RUNNING' || st === 'PENDING', 'It keeps its state and takes no new work until it is resumed.'],
    ['resume', 'Resume', st === 'SUSPENDED', 'It continues where it stopped.'],
    ['terminate', 'Terminate', !ended, 'It stops for good, as TERMINATED; its output is the reason.'],
    ['rewind', 'Rewind', st === 'FAILED', 'Its failed parts run again; what succeeded is kept.'],
  ]) {
    add(key, label, enabled, () => {
      const r = reason();
      const recursive = h('input', { type: 'checkbox', id: 'action-recursive' });
      const body = h('div', {}, h('p', {}, what), field('Reason', r),
        key === 'terminate' ? h('label', { class: 'check' }, recursive, 'Its sub-orchestrations too') : null);
      act(o, `${label} ${id}?`, body,
        () => cmd('dtsctl', 'instance', key, id, r.value.trim() ? ['--reason', r.value.trim()] : [], recursive.checked ? '--recursive' : null),
        label, () => {
          const req = { type: key };
          if (r.value.trim()) req.reason = r.value.trim();
          if (key === 'terminate') req.recursive = recursive.checked;
          return ['/history', req];
        });
    });
  }
  add('restart', 'Restart', ended, () => {
    const newId = h('input', { type: 'checkbox', id: 'action-new-id' });
    act(o, `Restart ${id}?`, h('div', {}, h('p', {}, 'It runs again from the start with its original input.'),
      h('label', { class: 'check' }, newId, 'Under a new instance id')),
    () => cmd('dtsctl', 'instance', 'restart', id, newId.checked ? '--new-id' : null),
    'Restart', () => ['/restart', { newInstanceId: newId.checked }]);
  });
  add('purge', 'Purge', ended, () => {
    const recursive = h('input', { type: 'checkbox', id: 'action-recursive' });
    act(o, `Purge ${id}?`, h('div', {}, h('p', { class: 'warn' }, 'Its record and history are deleted for good.'),
      h('label', { class: 'check' }, recursive, 'Its sub-orchestrations too')),
    () => cmd('dtsctl', 'instance', 'purge', id, recursive.checked ? '--recursive' : null),
    'Purge', () => ['/purge', { recursive: recursive.checked }], true);
  });
  return bar;
}

function act(o, title, body, command, okLabel, request, purge = false) {
  openDialog({
    title, body, command, okLabel,
    onClose: (changed) => {
      if (!changed) return;
      if (purge) go('orchestrations', {});
      else render();
    },
    onOk: async (d) => {
      const [suffix, req] = request();
      const res = await api('POST', '/orchestrations/' + enc(o.instanceId) + suffix, req);
      if (res.command) d.setCommand(res.command);
      const lines = [h('p', { class: res.outcome === 'skipped' ? 'warn' : 'ok', id: 'action-result' }, res.message || `${res.action}: ${res.outcome}`)];
      if (typeof res.newInstanceId === 'string' && res.newInstanceId !== o.instanceId) lines.push(h('p', {}, 'New instance: ', h('a', { href: instanceHref(res.newInstanceId), id: 'new-instance' }, res.newInstanceId)));
      d.done(h('div', {}, lines));
    },
  });
}

// ------------------------------------------------------------------------------------------ entities

async function viewEntities(view, params, gen) {
  const s = { name: params.get('name') || '', prefix: params.get('prefix') || '', start: Math.max(0, parseInt(params.get('start') || '0', 10) || 0), size: 50 };
  const nav = (changes) => go('entities', { ...s, start: '', size: '', ...changes });
  const name = h('input', { id: 'e-name', value: s.name, placeholder: 'counter' });
  const prefix = h('input', { id: 'e-prefix', value: s.prefix, placeholder: '@counter@' });
  const form = h('form', { class: 'filters' }, field('Name', name), field('Entity id', prefix),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Apply')));
  form.addEventListener('submit', (e) => { e.preventDefault(); nav({ name: name.value.trim(), prefix: prefix.value.trim() }); });
  const table = h('table', { class: 'grid', id: 'entities' });
  const pager = h('div', { class: 'pager' });
  append(clear(view), [h('div', { class: 'toolbar' }, h('h1', {}, 'Entities')), form, h('div', { class: 'table-wrap' }, table), pager]);
  const filter = {};
  if (s.name) filter.name = s.name;
  if (s.prefix) filter.idPrefix = s.prefix;
  const doc = await api('POST', '/entities/query', { filter, pagination: { startIndex: s.start, count: s.size } });
  if (stale(gen)) return;
  clearError();
  const rows = doc.entities || [];
  table.append(h('thead', {}, h('tr', {}, ['Entity id', 'Name', 'Key', 'Last modified', 'Locked by', 'State'].map((x) => h('th', {}, x)))));
  const body = h('tbody');
  for (const e of rows) {
    const state = pretty(e.state);
    body.append(h('tr', {},
      h('td', { class: 'id' }, e.entityId), h('td', {}, e.name || ''), h('td', {}, e.key || ''),
      h('td', {}, time(e.lastModifiedAt)),
      h('td', {}, e.lockedBy ? h('a', { href: instanceHref(e.lockedBy) }, e.lockedBy) : '—'),
      h('td', {}, state == null ? h('span', { class: 'muted' }, 'none')
        : state.length > 80 ? h('details', {}, h('summary', {}, state.slice(0, 80).replace(/\s+/g, ' ') + '…'), h('pre', { class: 'json' }, state))
          : h('code', {}, state.replace(/\s+/g, ' ')))));
  }
  if (!rows.length) body.append(h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No entity matches.')));
  table.append(body);
  const total = doc.totalCount ?? rows.length;
  append(pager, [
    h('button', { type: 'button', disabled: s.start <= 0, onclick: () => nav({ name: s.name, prefix: s.prefix, start: Math.max(0, s.start - s.size) }) }, '← Prev'),
    h('span', {}, `${rows.length ? s.start + 1 : 0}–${s.start + rows.length} of ${total}`),
    h('button', { type: 'button', disabled: s.start + rows.length >= total, onclick: () => nav({ name: s.name, prefix: s.prefix, start: s.start + s.size }) }, 'Next →'),
  ]);
}

// ------------------------------------------------------------------------------------------ workers

async function viewWorkers(view, gen) {
  append(clear(view), [h('div', { class: 'toolbar' }, h('h1', {}, 'Workers')), h('p', { class: 'muted' }, 'Loading…')]);
  const doc = await api('GET', '/workers');
  if (stale(gen)) return;
  clearError();
  const out = [h('div', { class: 'toolbar' }, h('h1', {}, 'Workers'))];
  if (doc.connected != null) out.push(h('p', { id: 'workers-connected', class: 'count-line' }, h('strong', {}, String(doc.connected)), ` worker${doc.connected === 1 ? '' : 's'} connected to this task hub.`));
  if (doc.workers == null) {
    if (doc.connected == null) out.push(h('p', { class: 'muted', id: 'workers-unknown' }, 'The target does not report its workers.'));
  } else if (!doc.workers.length) {
    out.push(h('p', { class: 'muted' }, 'No worker is connected.'));
  } else {
    const keys = [...new Set(doc.workers.flatMap((w) => Object.keys(w || {})))];
    out.push(h('div', { class: 'table-wrap' }, h('table', { class: 'grid', id: 'workers' },
      h('thead', {}, h('tr', {}, keys.map((k) => h('th', {}, k)))),
      h('tbody', {}, doc.workers.map((w) => h('tr', {}, keys.map((k) => h('td', {}, w[k] == null ? '' : typeof w[k] === 'object' ? JSON.stringify(w[k]) : String(w[k])))))))));
  }
  append(clear(view), out);
}

// ------------------------------------------------------------------------------------------ header

function syncHubSelect() {
  const sel = $('#hub');
  if (!app.hubs) return;
  const hub = currentHub() || app.hubs.current;
  const names = [...new Set([...(app.hubs.taskHubs || []), app.hubs.current, hub].filter(Boolean))];
  clear(sel);
  for (const n of names) sel.append(h('option', { value: n, selected: n === hub }, n));
  if (app.hubs.dynamic) sel.append(h('option', { value: '\u0000other' }, 'other…'));
}

function onHubChange() {
  const sel = $('#hub');
  let hub = sel.value;
  if (hub === '\u0000other') {
    hub = (window.prompt('Task hub name') || '').trim();
    if (!hub) { syncHubSelect(); return; }
  }
  const p = new URLSearchParams();
  if (hub && hub !== (app.hubs && app.hubs.current)) p.set('hub', hub);
  const r = route();
  const view = r.view === 'instance' ? 'orchestrations' : r.view;
  location.hash = '#/' + view + (p.toString() ? '?' + p : '');
}

function applyTheme(theme) {
  const dark = theme ? theme === 'dark' : window.matchMedia('(prefers-color-scheme: dark)').matches;
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  $('#theme').textContent = dark ? 'Light' : 'Dark';
}

function storedTheme() {
  try { return localStorage.getItem('dtsctl-theme'); } catch (e) { return null; }
}

async function start() {
  applyTheme(new URLSearchParams(location.hash.split('?')[1] || '').get('theme') || storedTheme());
  $('#theme').addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    try { localStorage.setItem('dtsctl-theme', next); } catch (e) { /* private mode: this page only */ }
    applyTheme(next);
  });
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(storedTheme()));
  $('#banner-close').addEventListener('click', clearError);
  $('#hub').addEventListener('change', onHubChange);
  window.addEventListener('hashchange', render);
  // The hubs and the target's name load beside the first view, not before it.
  api('GET', '').then((doc) => { if (doc) { app.hubs = doc; syncHubSelect(); } }).catch(() => {});
  api('GET', '/ping').then((doc) => {
    if (doc) $('#target').textContent = [doc.engine, doc.endpoint].filter(Boolean).join(' · ');
  }).catch(() => {});
  await render();
}

start();
