// The page's readiness: `/readyz` read with every change of the actors (at most once a second) and
// every five seconds, shown as a pill in the header and, when not ready, a banner with the reasons.
// A part of the page's one script (see page.ts): it uses the helpers defined there.

export const READINESS_STYLE = String.raw`
#ready { padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
#ready[data-ready="yes"] { color: var(--ok); background: var(--ok-bg); }
#ready[data-ready="no"] { color: var(--bad); background: var(--bad-bg); }
#readiness { margin: 12px 20px 0; padding: 8px 12px; border-radius: 6px; background: var(--bad-bg); color: var(--bad); }
#readiness:empty { display: none; }
#readiness ul { margin: 4px 0 0; padding-left: 20px; }
`;

export const READINESS_SCRIPT = String.raw`
let readinessTimer = null;
function readinessSoon() { if (readinessTimer === null) readinessTimer = setTimeout(() => { readinessTimer = null; void readiness(); }, 1000); }
async function readiness() {
  const pill = $('ready'), banner = $('readiness');
  try {
    const r = await fetch(withToken('/readyz'), { headers: { accept: 'application/json' } });
    const body = await r.json();
    const ready = r.status === 200;
    pill.dataset.ready = ready ? 'yes' : 'no';
    pill.textContent = ready ? 'ready' : 'not ready';
    pill.title = '/readyz answered ' + r.status;
    const reasons = Array.isArray(body.reasons) ? body.reasons.map(String) : [];
    banner.replaceChildren(...(ready ? [] : [h('strong', null, '/readyz: not ready (' + r.status + ')'), h('ul', null, ...reasons.map((why) => h('li', null, why)))]));
  } catch {
    pill.dataset.ready = 'unknown';
    pill.textContent = '';
  }
}
setInterval(readinessSoon, 5000);
`;
