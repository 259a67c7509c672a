// The page's timeline of one event: a sequence diagram (SVG, built element by element, every
// label a text node) with a lane for each actor it passed (source, supervisor, each slot-N, and
// the inspector when someone acted on it) and one arrow per step with its time; beside it the
// worker-slot machine's diagram with the slot's state at the selected step lit (as the
// Actors tab lights a diagram). A part of the page's one script (see page.ts).

export const SEQUENCE_STYLE = String.raw`
.seqwrap { display: flex; gap: 14px; flex-wrap: wrap; align-items: flex-start; }
#sequence { flex: 0 1 auto; max-width: 100%; overflow-x: auto; }
#sequence svg { display: block; font: 11.5px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
#sequence .lane-head rect { fill: var(--idle-bg); stroke: var(--line); }
#sequence .lane-head.lit rect { fill: var(--busy-bg); stroke: var(--busy); }
#sequence .lane-head text { font-weight: 600; fill: var(--ink); }
#sequence .lifeline { stroke: #cbd5e1; stroke-dasharray: 4 3; }
#sequence .seq-step { cursor: pointer; outline: none; }
#sequence .seq-step .hit { fill: transparent; }
#sequence .seq-step:hover .hit { fill: #f8fafc; }
#sequence .seq-step.current .hit { fill: #eff6ff; }
#sequence .seq-step:focus-visible .hit { stroke: var(--accent); }
#sequence .arrow { stroke: var(--ink); stroke-width: 1.4; fill: none; }
#sequence .head { fill: var(--ink); }
#sequence .seq-step.bad .arrow { stroke: var(--bad); }
#sequence .seq-step.bad .head, #sequence .seq-step.bad .label { fill: var(--bad); }
#sequence .time { fill: var(--muted); font-variant-numeric: tabular-nums; }
#step-panel { flex: 1 1 420px; min-width: 260px; }
#step-caption { font-size: 12.5px; margin-bottom: 4px; }
#step-diagram svg { max-width: 100%; height: auto; max-height: 50vh; }
#step-diagram svg g.lit ellipse, #step-diagram svg g.lit polygon, #step-diagram svg g.lit path { fill: var(--busy-bg); stroke: var(--busy); stroke-width: 2.5px; }
#step-diagram svg g.lit text { font-weight: 700; fill: var(--busy); }
`;

export const SEQUENCE_SCRIPT = String.raw`
const SVG_NS = 'http://www.w3.org/2000/svg';
// The step shown: the latest one, until one is clicked.
let evStepIndex = null, evStepPicked = false, evSteps = [];
function sv(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const kid of kids) if (kid !== null && kid !== undefined) el.append(kid);
  return el;
}
const clip = (text, max) => (text.length > max ? text.slice(0, max - 1) + '\u2026' : text);
// Each step as an arrow between lanes, and the state its slot is in after it.
function arrowsOf(steps) {
  const out = [];
  let slot = null, slotState = null;
  for (const s of steps) {
    let from = 'supervisor', to = 'supervisor', text = s.step, bad = false;
    const ranOn = () => { if (slotState === 'busy') { from = slot; slotState = 'idle'; } };
    switch (s.step) {
      case 'received': from = 'source'; text = 'received'; break;
      case 'queued': text = 'queued, position ' + s.position; break;
      case 'started': to = slot = s.slotId; slotState = 'busy'; text = 'started, attempt ' + s.attempt; break;
      case 'timedOut': to = slot = s.slotId; text = 'timed out, attempt ' + s.attempt; bad = true; break;
      case 'abandoned': to = slot = s.slotId; slotState = 'abandoned'; text = 'abandoned, slot replaced'; bad = true; break;
      case 'retrying': ranOn(); text = 'attempt ' + s.attempt + ' failed: ' + errText(s.error) + '; retry in ' + fmtMs(s.delayMs); bad = true; break;
      case 'completed': ranOn(); text = 'completed after ' + s.attempts + ' attempt(s)'; break;
      case 'settled': to = 'source'; text = 'settled: ' + s.how; break;
      case 'retryRequested': case 'cancelRequested': from = 'inspector'; text = (s.step === 'retryRequested' ? 'retry' : 'cancel') + ' asked by ' + s.by; break;
      case 'returned': ranOn(); to = 'source'; text = 'returned to the source'; break;
      default: ranOn(); text = s.step + (s.error ? ': ' + errText(s.error) : ''); bad = true;
    }
    out.push({ step: s.step, at: s.at, from, to, text, bad, slot, slotState });
  }
  return out;
}
function sequenceOf(d) {
  evSteps = arrowsOf(d.steps || []);
  if (!evStepPicked || evStepIndex === null || evStepIndex >= evSteps.length) evStepIndex = evSteps.length - 1;
  const lanes = [];
  if (evSteps.some((a) => a.from === 'inspector')) lanes.push('inspector');
  lanes.push('source', 'supervisor');
  for (const a of evSteps) for (const lane of [a.from, a.to]) if (!lanes.includes(lane)) lanes.push(lane);
  const laneW = 150, left = 76, top = 34, rowH = 30;
  const x = (lane) => left + lanes.indexOf(lane) * laneW + laneW / 2;
  // Room on the right for the label of a step on the last lane's own line.
  const width = left + lanes.length * laneW + 190, height = top + evSteps.length * rowH + 14;
  const t0 = evSteps.length ? evSteps[0].at : 0;
  const svg = sv('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': 'timeline of event ' + d.id });
  // An arrowhead whose tip is at (tip, y), pointing right (dir 1) or left (-1).
  const head = (tip, y, dir) => sv('polygon', { class: 'head', points: tip + ',' + y + ' ' + (tip - 8 * dir) + ',' + (y - 4) + ' ' + (tip - 8 * dir) + ',' + (y + 4) });
  for (const lane of lanes) {
    svg.append(sv('line', { class: 'lifeline', x1: x(lane), x2: x(lane), y1: 26, y2: height - 4 }));
    svg.append(sv('g', { class: 'lane-head', 'data-lane': lane }, sv('rect', { x: x(lane) - 62, y: 2, width: 124, height: 22, rx: 5 }),
      sv('text', { x: x(lane), y: 17, 'text-anchor': 'middle' }, lane)));
  }
  evSteps.forEach((a, i) => {
    const y = top + i * rowH + 18, x1 = x(a.from), x2 = x(a.to);
    const dir = x2 >= x1 ? 1 : -1;
    const shape = x1 === x2
      ? sv('g', null, sv('path', { class: 'arrow', d: 'M' + x1 + ',' + (y - 6) + ' h 26 v 10 h -22' }), head(x1 + 2, y + 4, -1))
      : sv('g', null, sv('line', { class: 'arrow', x1: x1 + 3 * dir, x2: x2 - 4 * dir, y1: y, y2: y }), head(x2 - 2 * dir, y, dir));
    const labelX = x1 === x2 ? x1 + 32 : (x1 + x2) / 2;
    svg.append(sv('g', { class: 'seq-step' + (a.bad ? ' bad' : ''), 'data-index': i, 'data-step': a.step, 'data-from': a.from, 'data-to': a.to, tabindex: 0, role: 'button',
      'aria-label': a.step + ': ' + a.text },
      sv('title', null, fmtTime(a.at) + ' \u00b7 ' + a.text),
      sv('rect', { class: 'hit', x: 0, y: y - 16, width, height: rowH, rx: 4 }),
      sv('text', { class: 'time', x: 4, y: y + 4 }, '+' + fmtMs(a.at - t0)),
      shape,
      sv('text', { class: 'label', x: labelX, y: y - 5, 'text-anchor': x1 === x2 ? 'start' : 'middle' }, clip(a.text, x1 === x2 ? 52 : Math.max(24, Math.round(Math.abs(x2 - x1) / 6.2))))));
  });
  const wrap = h('div', { class: 'seqwrap' }, h('div', { id: 'sequence' }, svg),
    h('div', { id: 'step-panel' }, h('div', { id: 'step-caption' }), h('div', { id: 'step-diagram' })));
  svg.addEventListener('click', (e) => { const g = e.target.closest('.seq-step'); if (g) selectStep(Number(g.dataset.index)); });
  svg.addEventListener('keydown', (e) => {
    const g = e.target.closest('.seq-step');
    if (g && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); selectStep(Number(g.dataset.index)); }
  });
  return wrap;
}
function selectStep(i) { evStepIndex = i; evStepPicked = true; void lightStep(); }
// Lights the selected step's row, its slot's lane and, on the worker-slot diagram, the state that slot is in after it.
async function lightStep() {
  const box = $('step-diagram');
  if (!box) return;
  const a = evSteps[evStepIndex];
  for (const g of document.querySelectorAll('#sequence .seq-step')) g.classList.toggle('current', Number(g.dataset.index) === evStepIndex);
  for (const g of document.querySelectorAll('#sequence .lane-head')) g.classList.toggle('lit', !!a && !!a.slot && a.slotState !== null && g.dataset.lane === a.slot);
  const caption = $('step-caption');
  caption.textContent = !a ? '' : a.slot && a.slotState ? a.step + ' \u00b7 ' + a.slot + ' is ' + a.slotState : a.step + ' \u00b7 not on a slot';
  caption.dataset.slotState = a && a.slotState ? a.slotState : '';
  if (!box.firstChild) {
    const svg = await machineSvg('worker-slot');
    if (!document.body.contains(box)) return;
    if (!box.firstChild) box.replaceChildren(svg instanceof Error ? h('p', { class: 'empty' }, 'No diagram: ' + svg.message) : svg.cloneNode(true));
  }
  const lit = a && a.slot ? a.slotState : null;
  for (const g of box.querySelectorAll('g[id^="state:"]')) g.classList.toggle('lit', g.id.slice(6) === lit);
}
`;
