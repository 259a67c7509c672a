import { createHash } from 'node:crypto';
import { EVENTS_BODY, EVENTS_SCRIPT, EVENTS_STYLE } from './page-events.js';
import { READINESS_SCRIPT, READINESS_STYLE } from './page-readiness.js';
import { SEQUENCE_SCRIPT, SEQUENCE_STYLE } from './page-sequence.js';
import { CALLS_SCRIPT } from './page-workflow-calls.js';

// The inspector's one page: inline CSS and script (this file's, and the Events tab's, readiness's,
// the timeline's and the workflow calls' parts, one <script> in all), no framework, no request leaves the
// server it came from (the Content-Security-Policy says so too). Data only ever reaches
// the DOM through textContent and setAttribute; the machine diagrams are our own SVG,
// parsed as XML and stripped of scripts and handlers before they are inserted.

const STYLE = String.raw`
:root { --bg: #f5f6f8; --panel: #fff; --ink: #1d2430; --muted: #687385; --line: #e2e6ec; --accent: #2563eb;
  --busy: #c2410c; --busy-bg: #ffedd5; --idle: #64748b; --idle-bg: #eef1f5; --ok: #15803d; --ok-bg: #dcfce7;
  --warn: #a16207; --warn-bg: #fef3c7; --bad: #b91c1c; --bad-bg: #fee2e2; --off: #94a3b8; --off-bg: #f1f5f9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { display: flex; align-items: baseline; gap: 12px; padding: 12px 20px; background: var(--panel); border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 17px; font-weight: 600; }
header .sub { color: var(--muted); font-size: 13px; }
#conn { margin-left: auto; display: inline-flex; align-items: center; gap: 6px; font-size: 13px; color: var(--muted); }
#conn::before { content: ""; width: 9px; height: 9px; border-radius: 50%; background: var(--off); }
#conn[data-connection="live"]::before { background: var(--ok); box-shadow: 0 0 0 3px var(--ok-bg); }
#conn[data-connection="reconnecting"]::before { background: var(--warn); }
#conn[data-connection="offline"]::before { background: var(--bad); }
#error { margin: 12px 20px 0; padding: 10px 12px; border-radius: 6px; background: var(--bad-bg); color: var(--bad); }
#error:empty { display: none; }
main { display: grid; grid-template-columns: minmax(300px, 440px) minmax(0, 1fr); gap: 18px; padding: 14px 20px 24px; align-items: start; }
h2 { margin: 14px 0 6px; font-size: 12px; font-weight: 600; letter-spacing: .06em; text-transform: uppercase; color: var(--muted); }
.group:first-child h2 { margin-top: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 8px; }
.card { background: var(--panel); border: 1px solid var(--line); border-left: 4px solid var(--k); border-radius: 8px;
  padding: 8px 10px; margin-bottom: 8px; cursor: pointer; transition: border-color .2s; }
.grid .card { margin-bottom: 0; }
.card:hover { border-color: #c8d0db; border-left-color: var(--k); }
.card[aria-current="true"] { box-shadow: 0 0 0 2px var(--accent); }
.card:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.head { display: flex; align-items: center; gap: 8px; }
.head strong { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.machine { color: var(--muted); font-size: 12px; }
.pill { margin-left: auto; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; color: var(--k); background: var(--kb); }
.k-busy { --k: var(--busy); --kb: var(--busy-bg); } .k-idle { --k: var(--idle); --kb: var(--idle-bg); }
.k-ok { --k: var(--ok); --kb: var(--ok-bg); } .k-warn { --k: var(--warn); --kb: var(--warn-bg); }
.k-bad { --k: var(--bad); --kb: var(--bad-bg); } .k-off { --k: var(--off); --kb: var(--off-bg); }
.kv { width: 100%; margin-top: 6px; border-collapse: collapse; font-size: 12px; }
.kv th { width: 7.5em; padding: 1px 12px 1px 0; white-space: nowrap; text-align: left; font-weight: 400; color: var(--muted); }
.kv td { padding: 1px 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-bottom: 18px; }
.panel h2 { margin-top: 0; display: flex; gap: 8px; align-items: baseline; }
.panel h2 span { text-transform: none; letter-spacing: 0; font-weight: 400; color: var(--ink); }
#diagram { display: flex; justify-content: center; min-height: 120px; overflow: auto; }
#diagram svg { max-width: 100%; height: auto; max-height: 64vh; }
/* A node's shape may sit in a tooltip's <a>; a cluster's children are its siblings, so descendants are safe. */
#diagram svg g.lit ellipse, #diagram svg g.lit polygon, #diagram svg g.lit path { fill: var(--busy-bg); stroke: var(--busy); stroke-width: 2.5px; }
#diagram svg g.cluster.lit polygon, #diagram svg g.cluster.lit path { fill: #fff7ed; }
#diagram svg g.lit text { font-weight: 700; fill: var(--busy); }
.empty { color: var(--muted); margin: 24px 0; }
.scroll { max-height: 46vh; overflow: auto; }
table.log { width: 100%; border-collapse: collapse; font-size: 12.5px; }
.log th { position: sticky; top: 0; background: var(--panel); text-align: left; font-weight: 600; color: var(--muted); border-bottom: 1px solid var(--line); padding: 4px 8px 4px 0; }
.log td { padding: 3px 8px 3px 0; border-bottom: 1px solid #f0f2f5; vertical-align: top; }
.log td:first-child { color: var(--muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
.log .ev { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.log .arrow { color: var(--muted); }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
[hidden] { display: none !important; }
`;

const SCRIPT = String.raw`
'use strict';
const token = new URLSearchParams(location.search).get('token');
const withToken = (path) => { const u = new URL(path, location.href); if (token) u.searchParams.set('token', token); return u.pathname + u.search; };
const $ = (id) => document.getElementById(id);
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const kid of kids) if (kid !== null && kid !== undefined) el.append(kid);
  return el;
}
const GROUPS = [['supervisor', 'Supervisor'], ['source', 'Source'], ['worker-slot', 'Slots'], ['store', 'Store'], ['lock', 'Locks']];
const actors = new Map();
let transitions = [];
let selected = 'supervisor';
let buffer = null;
let scheduled = false;
const svgs = new Map();
let shownMachine = null;

function kind(v) {
  const leaves = String(v.state).split(', ').map((p) => p.split('.').pop());
  const any = (re) => leaves.some((s) => re.test(s));
  if (v.status === 'error' || any(/fail|error|abandon/)) return 'bad';
  if (leaves.includes('busy')) return 'busy';
  if (leaves.includes('idle')) return 'idle';
  if (any(/connect|throttl|retry|paus|drain|stopping|closing/)) return 'warn';
  if (v.status !== 'active' || any(/stopped|retired|done|ended/)) return 'off';
  return 'ok';
}
function fmtMs(ms) {
  if (ms < 1000) return Math.max(0, Math.round(ms)) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  return Math.floor(ms / 60000) + ' min ' + Math.floor((ms % 60000) / 1000) + ' s';
}
// runningMs -> running, lastError -> last error: the unit shows in the value.
function label(key) { return key.replace(/Ms$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase(); }
function fmtTime(at) { const d = new Date(at); return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0'); }
function cell(key, value, entry) {
  if (value === null || value === undefined) return h('td', null, '\u2013');
  if (typeof value === 'boolean') return h('td', null, value ? 'yes' : 'no');
  if (typeof value === 'number' && /Ms$/.test(key)) {
    // A running time keeps running between updates: count on from when it arrived.
    if (key === 'runningMs') return h('td', { 'data-since': entry.receivedAt - value }, fmtMs(value));
    return h('td', null, fmtMs(value));
  }
  return h('td', null, String(value));
}
function card(entry) {
  const v = entry.view, k = kind(v);
  // An abandoned slot's running time is how long its run has hung.
  const name = (key) => (key === 'runningMs' && /abandon/.test(v.state) ? 'hung' : label(key));
  const rows = Object.entries(v.summary || {}).map(([key, value]) => h('tr', null, h('th', null, name(key)), cell(key, value, entry)));
  return h('article', { class: 'card k-' + k, 'data-actor': v.id, 'data-machine': v.machine, 'data-state': v.state, 'data-status': v.status,
    tabindex: 0, 'aria-current': v.id === selected ? 'true' : null },
    h('div', { class: 'head' }, h('strong', { title: v.id }, v.id), h('span', { class: 'pill' }, v.state)),
    h('div', { class: 'machine' }, v.machine + (v.status !== 'active' ? ' \u00b7 ' + v.status : '')),
    rows.length ? h('table', { class: 'kv' }, h('tbody', null, ...rows)) : null);
}
function render() {
  scheduled = false;
  const groups = new Map(GROUPS.map(([m, title]) => [m, { title, items: [] }]));
  const entries = [...actors.values()].sort((a, b) => a.view.id.localeCompare(b.view.id, undefined, { numeric: true }));
  for (const e of entries) {
    if (!groups.has(e.view.machine)) groups.set(e.view.machine, { title: e.view.machine, items: [] });
    groups.get(e.view.machine).items.push(e);
  }
  const sections = [];
  for (const [machine, g] of groups) {
    if (!g.items.length) continue;
    const busy = g.items.filter((e) => kind(e.view) === 'busy').length;
    const title = machine === 'worker-slot' ? g.title + ' \u00b7 ' + busy + ' busy of ' + g.items.length : g.title;
    sections.push(h('section', { class: 'group', 'data-group': machine }, h('h2', null, title),
      h('div', { class: machine === 'worker-slot' || machine === 'lock' ? 'grid' : '' }, ...g.items.map(card))));
  }
  // Cards are rebuilt on every change: keep the keyboard focus on the same actor's card.
  const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest('[data-actor]') : null;
  $('actors').replaceChildren(...(sections.length ? sections : [h('p', { class: 'empty' }, 'No live actors.')]));
  if (focused) for (const c of $('actors').querySelectorAll('[data-actor]')) if (c.dataset.actor === focused.dataset.actor) c.focus();
  $('transitions').replaceChildren(...transitions.slice().reverse().map((t) => h('tr', null, h('td', null, fmtTime(t.at)),
    h('td', null, t.actor), h('td', { class: 'ev' }, t.event), h('td', null, t.from, h('span', { class: 'arrow' }, ' \u2192 '), t.to))));
  $('transition-count').textContent = transitions.length ? 'last ' + transitions.length : '';
  void renderDiagram();
  renderCalls();
}
function schedule() { if (!scheduled) { scheduled = true; requestAnimationFrame(render); } }

function sanitizeSvg(text) {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const svg = doc.documentElement;
  if (svg.localName !== 'svg' || doc.getElementsByTagName('parsererror').length) throw new Error('the server did not send an SVG');
  for (const el of [...svg.querySelectorAll('script, foreignObject, style, iframe')]) el.remove();
  for (const el of [svg, ...svg.querySelectorAll('*')]) {
    for (const a of [...el.attributes]) if (/^on/i.test(a.name) || (/href$/i.test(a.name) && !a.value.startsWith('#'))) el.removeAttribute(a.name);
  }
  // Graphviz sizes in points: show it at its own size at most, shrunk to fit the panel.
  const size = svg.getAttribute('width') || '';
  const width = parseFloat(size);
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  const node = document.importNode(svg, true);
  if (width > 0) node.style.width = Math.round(width * (/pt$/.test(size) ? 4 / 3 : 1)) + 'px';
  return node;
}
function machineSvg(machine) {
  if (!svgs.has(machine)) {
    svgs.set(machine, fetch(withToken('/api/machines/' + encodeURIComponent(machine) + '.svg'))
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error('GET ' + machine + '.svg answered ' + r.status))))
      .then(sanitizeSvg, (e) => e));
  }
  return svgs.get(machine);
}
async function renderDiagram() {
  const v = actors.get(selected)?.view, box = $('diagram');
  $('diagram-title').textContent = v ? v.id + ' \u00b7 ' + v.state : '';
  if (!v) { shownMachine = null; box.replaceChildren(h('p', { class: 'empty' }, 'Select an actor to see its machine.')); return; }
  if (shownMachine !== v.machine) {
    shownMachine = v.machine;
    box.replaceChildren(h('p', { class: 'empty' }, 'Loading the ' + v.machine + ' diagram\u2026'));
    const svg = await machineSvg(v.machine);
    if (shownMachine !== v.machine) return;
    box.replaceChildren(svg instanceof Error ? h('p', { class: 'empty' }, 'No diagram: ' + svg.message) : svg);
  }
  const now = actors.get(selected)?.view;
  const lit = new Set(now ? now.stateNodes.filter((p) => p !== '') : []);
  for (const g of box.querySelectorAll('g[id^="state:"]')) g.classList.toggle('lit', lit.has(g.id.slice(6)));
}
function select(id) { if (actors.has(id)) { selected = id; schedule(); } }

function applyActor(v) { const cur = actors.get(v.id); if (!cur || !(cur.view.updatedAt > v.updatedAt)) actors.set(v.id, { view: v, receivedAt: Date.now() }); }
function apply(type, data, skip) {
  if (buffer) { buffer.push([type, data]); return; }
  if (type === 'actor') { applyActor(data); readinessSoon(); callsSoon(data); }
  else if (type === 'removed') actors.delete(data.id);
  else if (type === 'transition' && !(skip && skip.has(JSON.stringify(data)))) {
    transitions.push(data);
    if (transitions.length > 200) transitions.splice(0, transitions.length - 200);
  }
  schedule();
}
async function load() {
  buffer = buffer || [];
  try {
    const r = await fetch(withToken('/api/state'), { headers: { accept: 'application/json' } });
    if (!r.ok) throw new Error('GET /api/state answered ' + r.status + (r.status === 401 ? ': open this page with ?token=<your inspector token>' : ''));
    const s = await r.json();
    $('app').textContent = s.app;
    document.title = s.app + ' \u00b7 flowd inspector';
    $('started').textContent = 'running since ' + new Date(s.startedAt).toLocaleString();
    actors.clear();
    for (const v of s.actors) applyActor(v);
    transitions = s.transitions.slice(-200);
    if (!actors.has(selected) && s.actors.length) selected = s.actors[0].id;
    $('error').textContent = '';
    void readiness();
    eventsSoon();
  } catch (e) {
    $('error').textContent = 'Could not load the runtime\'s state: ' + (e && e.message ? e.message : String(e));
  }
  // Events that arrived while the snapshot was on its way go on top of it.
  const pending = buffer; buffer = null;
  const seen = new Set(transitions.map((t) => JSON.stringify(t)));
  for (const [type, data] of pending) apply(type, data, seen);
  schedule();
}
function setConnection(state) { const c = $('conn'); c.dataset.connection = state; c.textContent = state; }
function connect() {
  const es = new EventSource(withToken('/events'));
  es.addEventListener('open', () => { setConnection('live'); void load(); });
  es.addEventListener('error', () => {
    setConnection(es.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting');
    if (es.readyState === EventSource.CLOSED) void load();
  });
  for (const type of ['actor', 'transition', 'removed']) {
    es.addEventListener(type, (m) => { try { apply(type, JSON.parse(m.data)); } catch { /* not JSON: ignore */ } });
  }
  es.addEventListener('journal', (m) => { let changed; try { changed = JSON.parse(m.data); } catch { return; } eventsChanged(changed); });
}
$('actors').addEventListener('click', (e) => { const c = e.target.closest('[data-actor]'); if (c) select(c.dataset.actor); });
$('actors').addEventListener('keydown', (e) => {
  const c = e.target.closest('[data-actor]');
  if (c && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); select(c.dataset.actor); }
});
// Running times keep running between updates; data-prefix is the text before the time.
setInterval(() => { for (const td of document.querySelectorAll('[data-since]')) td.textContent = (td.dataset.prefix || '') + fmtMs(Date.now() - Number(td.dataset.since)); }, 1000);
`;

const BODY = `<header><h1>flowd inspector: <span id="app">\u2026</span></h1><span class="sub" id="started"></span>
<nav class="tabs" role="tablist"><button type="button" role="tab" data-tab="actors" aria-selected="true">Actors</button><button type="button" role="tab" data-tab="events" aria-selected="false">Events</button></nav>
<span id="ready" data-ready="unknown" role="status"></span>
<span id="conn" data-connection="connecting" role="status">connecting</span></header>
<div id="error" role="alert"></div><div id="readiness" role="status"></div>
<main id="actors-view"><div id="actors" aria-label="Actors"></div>
<div><section class="panel"><h2>Diagram <span id="diagram-title"></span></h2><div id="diagram"></div></section>
<section class="panel"><h2>Transitions <span id="transition-count"></span></h2><div class="scroll"><table class="log">
<thead><tr><th>Time</th><th>Actor</th><th>Event</th><th>From \u2192 to</th></tr></thead><tbody id="transitions"></tbody></table></div></section>
<section class="panel" id="calls-panel" hidden><h2>Activity calls <span id="calls-title"></span></h2><div id="calls"></div></section></div></main>
${EVENTS_BODY}`;

const STYLES = STYLE + EVENTS_STYLE + SEQUENCE_STYLE + READINESS_STYLE;
// One script: the parts share the helpers above; connect() runs once every part is defined.
const SCRIPTS = SCRIPT + EVENTS_SCRIPT + SEQUENCE_SCRIPT + READINESS_SCRIPT + CALLS_SCRIPT + 'connect();\n';

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The Content-Security-Policy the page carries: its own script only, requests to its own server only. */
export const inspectorPageCsp = [
  "default-src 'none'",
  `script-src ${hash(SCRIPTS)}`,
  `style-src ${hash(STYLES)}`,
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${inspectorPageCsp}">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">
<title>flowd inspector</title><style>${STYLES}</style></head>
<body>${BODY}<script>${SCRIPTS}</script></body></html>
`;

/**
 * The inspector's page: one self-contained HTML document (inline CSS and script, no external
 * requests) that lists every live actor with its state and summary, draws the selected actor's
 * machine with its current states lit, and shows the last 200 transitions, kept live over
 * Server-Sent Events from `/events`; its Events tab shows the event journal (`/api/events`)
 * with each event's timeline, and its header `/readyz`. A `?token=` in the page's own URL is passed on to every
 * request it makes.
 * @example
 * response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(inspectorPage());
 */
export function inspectorPage(): string {
  return PAGE;
}
