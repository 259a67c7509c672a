// The page's workflow calls: with a workflow-run actor selected, its activity calls from
// `GET /api/workflows/<run id>` (activity, attempt, state, last heartbeat and its details),
// read again when the run changes and every two seconds while it is shown (a heartbeat changes
// a call, not the run). A part of the page's one script (see page.ts).

export const CALLS_SCRIPT = String.raw`
let callsRun = null, callsView = null, callsTimer = null;
const CALL_KIND = { scheduled: 'idle', running: 'busy', retrying: 'warn', completed: 'ok', failed: 'bad', timedOut: 'bad' };
function selectedRun() {
  const v = actors.get(selected)?.view;
  return v && v.machine === 'workflow-run' && v.summary && v.summary.run ? String(v.summary.run) : null;
}
function callsSoon(v) {
  if (!v || v.id !== selected || v.machine !== 'workflow-run' || callsTimer !== null) return;
  callsTimer = setTimeout(() => { callsTimer = null; void loadCalls(); }, 300);
}
async function loadCalls() {
  const run = selectedRun();
  if (!run) return;
  try {
    const r = await fetch(withToken('/api/workflows/' + encodeURIComponent(run)), { headers: { accept: 'application/json' } });
    const body = await r.json();
    callsView = { run, body: r.ok ? body : null, error: r.ok ? null : String(body.error || 'GET /api/workflows answered ' + r.status) };
  } catch (e) {
    callsView = { run, body: null, error: String(e && e.message ? e.message : e) };
  }
  renderCalls();
}
function renderCalls() {
  const run = selectedRun(), panel = $('calls-panel');
  panel.hidden = !run;
  if (!run) return;
  if (callsRun !== run) { callsRun = run; callsView = null; void loadCalls(); }
  $('calls-title').textContent = run;
  const box = $('calls');
  if (!callsView || callsView.run !== run) { box.replaceChildren(h('p', { class: 'empty' }, 'Loading the run\u2019s calls\u2026')); return; }
  if (callsView.error) { box.replaceChildren(h('p', { class: 'empty' }, callsView.error)); return; }
  const calls = callsView.body.calls || [];
  if (!calls.length) { box.replaceChildren(h('p', { class: 'empty' }, 'No activity calls yet.')); return; }
  box.replaceChildren(h('table', { class: 'log', id: 'calls-table' },
    h('thead', null, h('tr', null, ...['Activity', 'Attempt', 'State', 'Last heartbeat', 'Details', 'Error'].map((t) => h('th', null, t)))),
    h('tbody', null, ...calls.map((c) => h('tr', { 'data-call': c.callId, 'data-state': c.state },
      h('td', { class: 'ev' }, c.activity + '@' + c.version),
      h('td', null, String(c.attempt)),
      h('td', null, h('span', { class: 'pill k-' + (CALL_KIND[c.state] || 'off') }, c.state)),
      h('td', null, c.lastHeartbeatAt === null ? '\u2013' : fmtTime(c.lastHeartbeatAt)),
      h('td', { class: 'ev' }, c.details === null ? '\u2013' : c.details),
      h('td', null, c.error ? c.error.code + ': ' + c.error.message : '\u2013'))))));
}
setInterval(() => { if (!$('actors-view').hidden && selectedRun()) void loadCalls(); }, 2000);
`;
