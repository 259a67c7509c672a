// The page's Events tab: the journal's events by state (a count on each tab), filtered by
// ordering key (the API's `key=`) and by text (id, key, payload, error: in the page), each row
// opening the event's detail: its facts, error and stack, payload, the retry and cancel
// actions, and its timeline (page-sequence.ts). Times are on the runtime's clock: the list's
// `now` maps them onto the browser's. A part of the page's one script (see page.ts); data
// reaches the DOM only as text.

export const EVENTS_STYLE = String.raw`
nav.tabs { display: flex; gap: 4px; margin-left: 18px; }
nav.tabs button, .states button { font: inherit; font-size: 13px; padding: 3px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); color: var(--ink); cursor: pointer; }
nav.tabs button[aria-selected="true"], .states button[aria-selected="true"] { border-color: var(--accent); color: var(--accent); font-weight: 600; }
#events-view { padding: 14px 20px 24px; }
.evbar { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 12px; }
.states { display: flex; flex-wrap: wrap; gap: 4px; }
.states .count { margin-left: 5px; color: var(--muted); font-variant-numeric: tabular-nums; }
.evbar input { font: inherit; font-size: 13px; padding: 3px 8px; border: 1px solid var(--line); border-radius: 6px; min-width: 12em; }
#events-error { color: var(--bad); }
.evgrid .scroll { max-height: 44vh; }
#event-rows td { white-space: nowrap; }
#event-rows td.ev, #event-rows td.payload { max-width: 22em; overflow: hidden; text-overflow: ellipsis; }
#event-rows td.err { white-space: normal; min-width: 16em; }
#event-rows tr { cursor: pointer; }
#event-rows tr:hover td { background: #f8fafc; }
#event-rows tr[aria-current="true"] td { background: #eff6ff; }
.log td.err, .kv td.err { color: var(--bad); }
.log .pill { margin-left: 0; }
.retry-of { display: block; color: var(--muted); font-size: 11.5px; }
pre.text { white-space: pre-wrap; overflow-wrap: anywhere; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: var(--bg); padding: 6px 8px; border-radius: 6px; max-height: 220px; overflow: auto; margin: 4px 0 10px; }
.actions { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
.actions button { font: inherit; font-size: 13px; padding: 3px 12px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
.actions button.cancel { border-color: var(--bad); background: var(--bad); }
#event-action[data-status]:not([data-status="202"]) { color: var(--bad); }
.actions .sub { color: var(--muted); font-size: 13px; }
h3 { margin: 12px 0 4px; font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; }
`;

export const EVENTS_BODY = `<section id="events-view" hidden aria-label="Events">
<div class="evbar"><div class="states" id="state-tabs" role="tablist"></div>
<input id="filter-key" type="search" placeholder="key" aria-label="Ordering key"><input id="filter-text" type="search" placeholder="text: id, payload, error" aria-label="Text">
<span id="events-shown" class="sub"></span><span id="events-error" role="alert"></span></div>
<div class="evgrid"><section class="panel"><div class="scroll"><table class="log"><thead><tr><th>Received</th><th>Id</th><th>State</th><th>Attempt</th><th>Key</th><th>Age</th><th>Payload</th><th>Error</th></tr></thead>
<tbody id="event-rows"></tbody></table></div></section>
<section class="panel" id="event-detail"></section></div></section>`;

export const EVENTS_SCRIPT = String.raw`
const STATE_TABS = [['all', 'All'], ['queued', 'Queued'], ['running', 'Running'], ['retrying', 'Retrying'], ['completed', 'Completed'],
  ['failed', 'Failed'], ['dead-lettered', 'Dead-lettered'], ['expired', 'Expired'], ['rejected', 'Rejected'], ['returned', 'Returned']];
const EVENT_KIND = { queued: 'idle', running: 'busy', retrying: 'warn', completed: 'ok', failed: 'bad', 'dead-lettered': 'bad', expired: 'warn', rejected: 'bad', returned: 'off' };
let evState = 'all', evLoaded = null, evList = [], evCounts = null, serverOffset = 0, evOpen = null, evDetail = null, evTimer = null, evLoading = false, evAgain = false;
const evActions = new Map();
const serverNow = () => Date.now() + serverOffset;
const messageOf = (e) => (e && e.message ? e.message : String(e));
const errText = (error) => (error ? error.code + ': ' + error.message : '');

function eventsVisible() { return !$('events-view').hidden; }
function eventsSoon() { if (eventsVisible() && evTimer === null) evTimer = setTimeout(() => { evTimer = null; void loadEvents(); }, 300); }
function eventsChanged(changed) {
  if (!eventsVisible()) return;
  eventsSoon();
  if (evOpen !== null && Array.isArray(changed) && changed.some((e) => e && e.id === evOpen)) void openEvent(evOpen, true);
}
async function loadEvents() {
  if (evLoading) { evAgain = true; return; }
  evLoading = true;
  try {
    const q = new URLSearchParams();
    if (evState !== 'all') q.set('state', evState);
    const key = $('filter-key').value.trim();
    if (key) q.set('key', key);
    q.set('limit', $('filter-text').value.trim() ? '1000' : '200');
    const r = await fetch(withToken('/api/events?' + q), { headers: { accept: 'application/json' } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(r.status === 404 ? 'this inspector has no event journal ([Inspector] journal size = 0)' : body.error || 'GET /api/events answered ' + r.status);
    if (typeof body.now === 'number') serverOffset = body.now - Date.now();
    evList = Array.isArray(body.events) ? body.events : [];
    evCounts = body.counts || null;
    evLoaded = q.get('state') || 'all';
    $('events-error').textContent = '';
  } catch (e) {
    $('events-error').textContent = 'Could not load the events: ' + messageOf(e);
  } finally { evLoading = false; }
  renderEvents();
  if (evAgain) { evAgain = false; eventsSoon(); }
}
function countOf(state) {
  if (!evCounts) return null;
  if (state === 'all') return Object.values(evCounts).reduce((a, b) => a + b, 0);
  // As the API's state=failed: the dead-lettered ones are failed too.
  if (state === 'failed') return (evCounts.failed || 0) + (evCounts['dead-lettered'] || 0);
  return evCounts[state] || 0;
}
// A running event's elapsed time and a waiting one's age count on in the page between updates.
function liveTime(prefix, since) {
  return h('td', { class: 'age', 'data-since': since - serverOffset, 'data-prefix': prefix }, prefix + fmtMs(serverNow() - since));
}
function ageCell(e) {
  if (e.state === 'running' && typeof e.startedAt === 'number') return liveTime('running ', e.startedAt);
  if (e.state === 'queued' || e.state === 'retrying') return liveTime('age ', e.receivedAt);
  return h('td', { class: 'age' }, 'took ' + fmtMs(e.updatedAt - e.receivedAt));
}
function matches(e, text) {
  if (!text) return true;
  const hay = [e.id, e.key, e.state, e.payload, e.retryOf, e.error && e.error.code, e.error && e.error.message].filter((x) => x).join('\n').toLowerCase();
  return hay.includes(text.toLowerCase());
}
function renderEvents() {
  $('state-tabs').replaceChildren(...STATE_TABS.map(([state, title]) => {
    const n = countOf(state);
    return h('button', { type: 'button', role: 'tab', 'data-state': state, 'aria-selected': String(state === evState) }, title, h('span', { class: 'count' }, n === null ? '' : String(n)));
  }));
  const text = $('filter-text').value.trim();
  const shown = evList.filter((e) => matches(e, text));
  $('events-shown').textContent = shown.length === evList.length ? '' : shown.length + ' of ' + evList.length + ' match';
  // Which state's list the rows are (none while another state's is on its way).
  const rows = $('event-rows');
  if (evLoaded !== evState) { rows.removeAttribute('data-loaded'); rows.replaceChildren(h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'Loading\u2026'))); return; }
  rows.dataset.loaded = evState;
  rows.replaceChildren(...(shown.length ? shown.map((e) => h('tr', { 'data-event': e.id, 'data-state': e.state, tabindex: 0, 'aria-current': e.id === evOpen ? 'true' : null },
    h('td', null, fmtTime(e.receivedAt)),
    h('td', { class: 'ev', title: e.id }, e.id, e.retryOf ? h('span', { class: 'retry-of' }, 'retry of ' + e.retryOf) : null),
    h('td', null, h('span', { class: 'pill k-' + (EVENT_KIND[e.state] || 'off') }, e.state)),
    h('td', null, String(e.attempt)),
    h('td', null, e.key === null ? '\u2013' : e.key),
    ageCell(e),
    h('td', { class: 'ev payload' }, e.payload),
    h('td', { class: 'err' }, errText(e.error)))) : [h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'No events here.'))]));
}
async function openEvent(id, quiet) {
  if (!quiet || evOpen !== id) { evOpen = id; evDetail = null; evStepIndex = null; evStepPicked = false; renderEvents(); renderDetail(); }
  try {
    const r = await fetch(withToken('/api/events/' + encodeURIComponent(id)), { headers: { accept: 'application/json' } });
    const body = await r.json().catch(() => ({}));
    if (evOpen !== id) return;
    evDetail = r.ok ? body : { failure: body.error || 'GET /api/events/' + id + ' answered ' + r.status };
  } catch (e) {
    if (evOpen === id) evDetail = { failure: messageOf(e) };
  }
  renderDetail();
}
function fact(name, value) { return h('tr', null, h('th', null, name), value instanceof Node ? value : h('td', null, value === null || value === undefined ? '\u2013' : String(value))); }
function renderDetail() {
  const box = $('event-detail');
  if (evOpen === null) { box.replaceChildren(h('h2', null, 'Timeline'), h('p', { class: 'empty' }, 'Select an event to see its timeline.')); return; }
  if (!evDetail) { box.replaceChildren(h('h2', null, 'Event ', h('span', null, evOpen)), h('p', { class: 'empty' }, 'Loading\u2026')); return; }
  if (evDetail.failure) { box.replaceChildren(h('h2', null, 'Event ', h('span', null, evOpen)), h('p', { class: 'empty' }, evDetail.failure)); return; }
  const d = evDetail;
  const state = d.state === 'running' && typeof d.startedAt === 'number' ? liveTime('running ', d.startedAt) : h('td', null, d.state);
  const action = evActions.get(d.id);
  // An action on its way keeps its button disabled: a second click would ask twice.
  const asking = action && action.status === undefined ? '' : null;
  // An event is retried once (the server refuses a second retry): its timeline says by whom.
  const retried = (Array.isArray(d.steps) ? d.steps : []).find((s) => s.step === 'retryRequested');
  const buttons = [];
  // Retry is offered only when the server says it would be taken (d.retryable); a failed event it would refuse says why.
  if ((d.state === 'failed' || d.state === 'dead-lettered') && !retried) {
    if (d.retryable === true || asking === '') buttons.push(h('button', { type: 'button', id: 'event-retry', 'data-action': 'retry', disabled: asking }, 'Retry'));
    else if (!action && d.retryRefusal) buttons.push(h('span', { id: 'event-not-retryable', class: 'sub' }, 'Cannot retry: ' + d.retryRefusal.message));
  }
  if (d.state === 'running') buttons.push(h('button', { type: 'button', id: 'event-cancel', class: 'cancel', 'data-action': 'cancel', disabled: asking }, 'Cancel'));
  if (retried && !action) buttons.push(h('span', { id: 'event-retried', class: 'sub' }, 'Retried by ' + retried.by));
  const parts = [
    h('h2', null, 'Event ', h('span', { id: 'detail-id' }, d.id), h('span', { class: 'pill k-' + (EVENT_KIND[d.state] || 'off'), id: 'detail-state' }, d.state)),
    h('table', { class: 'kv' }, h('tbody', null, fact('state', state), fact('source', d.source), fact('key', d.key), fact('attempt', d.attempt),
      fact('slot', d.slotId), fact('seq', d.seq), fact('received', fmtTime(d.receivedAt)), fact('retry of', d.retryOf),
      d.error ? fact('error', h('td', { class: 'err', id: 'detail-error' }, errText(d.error))) : null)),
    buttons.length || action ? h('div', { class: 'actions' }, ...buttons, h('span', { id: 'event-action', 'data-status': action ? action.status : null }, action ? action.text : '')) : null,
    h('h3', null, 'Timeline' + (d.stepsDropped ? ' (' + d.stepsDropped + ' steps left out)' : '')),
    sequenceOf(d),
    d.error && d.error.stack ? h('h3', null, 'Stack') : null,
    d.error && d.error.stack ? h('pre', { class: 'text', id: 'detail-stack' }, d.error.stack) : null,
    h('h3', null, 'Payload'), h('pre', { class: 'text', id: 'detail-payload' }, d.payload),
    d.meta ? h('h3', null, 'Meta') : null, d.meta ? h('pre', { class: 'text' }, d.meta) : null];
  box.replaceChildren(...parts.filter((part) => part !== null));
  void lightStep();
}
async function act(action) {
  const id = evOpen;
  evActions.set(id, { text: action === 'retry' ? 'Retrying\u2026' : 'Cancelling\u2026' });
  renderDetail();
  try {
    const r = await fetch(withToken('/api/events/' + encodeURIComponent(id) + '/' + action), { method: 'POST', headers: { accept: 'application/json' } });
    const body = await r.json().catch(() => ({}));
    evActions.set(id, { status: r.status, text: r.status === 202
      ? (action === 'retry' ? 'Retried (' + body.how + ') by ' + body.by : 'Cancel asked by ' + body.by)
      : 'Refused (' + r.status + '): ' + (body.error || '') });
  } catch (e) {
    evActions.set(id, { status: 0, text: 'Could not ' + action + ': ' + messageOf(e) });
  }
  eventsSoon();
  void openEvent(id, true);
}
function onStateTab(state) { evState = state; eventsSoon(); renderEvents(); }
// The page's tabs: Actors and Events.
function showTab(name) {
  for (const b of document.querySelectorAll('nav.tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  $('actors-view').hidden = name !== 'actors';
  $('events-view').hidden = name !== 'events';
  if (name === 'events') eventsSoon();
}
document.querySelector('nav.tabs').addEventListener('click', (e) => { const b = e.target.closest('button[data-tab]'); if (b) showTab(b.dataset.tab); });
renderDetail();
$('state-tabs').addEventListener('click', (e) => { const b = e.target.closest('button[data-state]'); if (b) onStateTab(b.dataset.state); });
$('filter-key').addEventListener('input', eventsSoon);
$('filter-text').addEventListener('input', () => { renderEvents(); eventsSoon(); });
$('event-rows').addEventListener('click', (e) => { const tr = e.target.closest('tr[data-event]'); if (tr) void openEvent(tr.dataset.event); });
$('event-rows').addEventListener('keydown', (e) => {
  const tr = e.target.closest('tr[data-event]');
  if (tr && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); void openEvent(tr.dataset.event); }
});
$('event-detail').addEventListener('click', (e) => { const b = e.target.closest('button[data-action]'); if (b) { b.disabled = true; void act(b.dataset.action); } });
`;
