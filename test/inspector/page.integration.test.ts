import { mkdirSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { instance } from '@viz-js/viz';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inspectorPage, inspectorPageCsp } from '../../src/inspector/page.js';
import { launchChromium } from '../helpers/chromium.js';
import { deferred } from '../helpers/once.js';

// The page against a canned server that speaks the inspector's API (issue 6's contract):
// what the page does with each kind of answer, independent of the runtime behind it.

const slotDot = `digraph "worker-slot" { node [shape=box, style=rounded];
  "idle" [id="state:idle"]; "busy" [id="state:busy"]; "abandoned" [id="state:abandoned"]; "retired" [id="state:retired", peripheries=2];
  "idle" -> "busy" [label="event.assigned"]; "busy" -> "idle" [label="worker.done"]; "busy" -> "abandoned" [label="slot.abort"]; "abandoned" -> "retired" }`;
const supervisorDot = `digraph supervisor { compound=true; node [shape=box, style=rounded];
  "flowing" [id="state:flowing"]; "throttled" [id="state:throttled"];
  subgraph cluster_stopping { id="state:stopping"; label="stopping"; "draining" [id="state:stopping.draining"]; "closing" [id="state:stopping.closing"]; }
  "stopped" [id="state:stopped", peripheries=2];
  "flowing" -> "throttled" [label="queue.filled"]; "throttled" -> "flowing" [label="queue.drained"]; "flowing" -> "draining" [label="runtime.stop"];
  "draining" -> "closing" [label="work.drained"]; "closing" -> "stopped" }`;

type View = {
  id: string;
  machine: string;
  state: string;
  stateNodes: string[];
  status: string;
  summary: Record<string, unknown>;
  updatedAt: number;
};
const view = (id: string, machine: string, state: string, summary: Record<string, unknown>, stateNodes = [state]): View => ({
  id,
  machine,
  state,
  stateNodes,
  status: 'active',
  summary,
  updatedAt: Date.now(),
});

/** A canned answer with a status other than 200 (`json`'s handlers may return one, or a promise of one). */
class Answer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** A server with canned answers; push() sends an SSE event to every page listening. */
/** A dead-lettered STOMP event as GET /api/events/:id answers it, received at `at`; `extra` replaces fields. */
const deadLetter = (id: string, at: number, extra: Record<string, unknown> = {}) => ({
  id,
  seq: 0,
  source: 'stomp',
  key: null,
  state: 'dead-lettered',
  attempt: 1,
  slotId: null,
  startedAt: null,
  receivedAt: at,
  updatedAt: at + 20,
  payload: '{}',
  error: { code: 'ERR_BROKEN', message: 'broken' },
  retryOf: null,
  meta: null,
  steps: [
    { step: 'received', at },
    { step: 'dead-lettered', attempts: 1, error: { code: 'ERR_BROKEN', message: 'broken' }, at: at + 20 },
  ],
  stepsDropped: 0,
  retryable: true,
  retryRefusal: null,
  ...extra,
});

async function cannedInspector(
  options: { token?: string; actors?: View[]; svg?: Record<string, string>; json?: Record<string, (url: URL) => unknown> } = {},
) {
  const viz = await instance();
  const svg: Record<string, string> = {
    'worker-slot': viz.renderString(slotDot, { format: 'svg' }),
    supervisor: viz.renderString(supervisorDot, { format: 'svg' }),
    ...options.svg,
  };
  const state = {
    app: 'canned',
    startedAt: Date.UTC(2025, 0, 1, 9, 0, 0),
    actors: options.actors ?? [
      view('supervisor', 'supervisor', 'flowing', {
        queue: 0,
        running: 0,
        retrying: 0,
        abandoned: 0,
        received: 3,
        completed: 3,
        failed: 0,
      }),
      view('source', 'source', 'active.running', { type: 'manual', connection: 'active.running' }, ['active', 'active.running']),
      view('slot-0', 'worker-slot', 'idle', { event: null, attempt: null, runningMs: null }),
      view('slot-1', 'worker-slot', 'idle', { event: null, attempt: null, runningMs: null }),
    ],
    transitions: [{ at: Date.now() - 1000, actor: 'slot-0', event: 'worker.done', from: 'busy', to: 'idle' }],
  };
  const streams = new Set<ServerResponse>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(url.pathname + url.search);
    if (options.token && url.pathname !== '/' && url.searchParams.get('token') !== options.token) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'a token is required' }));
      return;
    }
    if (url.pathname === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(inspectorPage());
    else if (url.pathname === '/api/state') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state));
    else if (url.pathname === '/readyz')
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ready' }));
    else if (options.json?.[url.pathname])
      void Promise.resolve(options.json[url.pathname]!(url)).then((answer) => {
        const [status, body] = answer instanceof Answer ? [answer.status, answer.body] : [200, answer];
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    else if (url.pathname.startsWith('/api/machines/') && svg[url.pathname.slice(14, -4)])
      res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(svg[url.pathname.slice(14, -4)]);
    else if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).write(': hello\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    requests,
    push: (event: string, data: unknown) => {
      for (const res of streams) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close: async () => {
      for (const res of streams) res.end();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('inspectorPage', () => {
  const html = inspectorPage();

  it('is one document that loads nothing from anywhere else', () => {
    expect(html).toMatch(/^<!doctype html>/);
    // The one link is the favicon, a data: URL so that the browser asks the server for nothing else.
    expect([...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/gi)].map((m) => m[1])).toEqual(['data:,']);
    // The SVG namespace (the timeline's elements are made in it) names, it loads nothing.
    expect(html.replaceAll("'http://www.w3.org/2000/svg'", '')).not.toMatch(/https?:\/\/|\burl\(|@import/);
    expect(html.match(/<script>/g)).toHaveLength(1);
  });

  it('has no inline event-handler attributes and never writes HTML from data', () => {
    expect(html).not.toMatch(/<[^>]*\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('carries a Content-Security-Policy that allows only its own script and requests to its own server', () => {
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${inspectorPageCsp}">`);
    expect(inspectorPageCsp).toMatch(/default-src 'none'/);
    expect(inspectorPageCsp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'/);
    expect(inspectorPageCsp).toMatch(/connect-src 'self'/);
  });
});

describe('the inspector page in headless Chromium, against a canned server', () => {
  let browser: Browser;
  let page: Page;
  let server: Awaited<ReturnType<typeof cannedInspector>> | undefined;
  const errors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  const open = async (canned: Awaited<ReturnType<typeof cannedInspector>>, query = '') => {
    server = canned;
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(canned.url + query);
  };
  afterEach(async () => {
    await page?.close();
    await server?.close();
    server = undefined;
    errors.length = 0;
  });

  it('lists the supervisor, the source and the slots, and goes live', async () => {
    await open(await cannedInspector());
    await page.locator('[data-actor="slot-1"]').waitFor();
    expect(
      await page
        .locator('[data-actor]')
        .evaluateAll((cards) => cards.map((c) => [c.getAttribute('data-actor'), c.getAttribute('data-state')])),
    ).toEqual([
      ['supervisor', 'flowing'],
      ['source', 'active.running'],
      ['slot-0', 'idle'],
      ['slot-1', 'idle'],
    ]);
    await page.locator('#conn[data-connection="live"]').waitFor();
    expect(await page.locator('[data-group="worker-slot"] h2').textContent()).toBe('Slots · 0 busy of 2');
    expect(await page.title()).toBe('canned · flowd inspector');
    expect(errors).toEqual([]);
  });

  it('shows a slot busy with its event while the server says so, and idle after', async () => {
    const canned = await cannedInspector();
    await open(canned);
    await page.locator('#conn[data-connection="live"]').waitFor();
    canned.push('actor', view('slot-1', 'worker-slot', 'busy', { event: 'evt-42', attempt: 1, runningMs: 1500 }));
    canned.push('transition', { at: Date.now(), actor: 'slot-1', event: 'event.assigned', from: 'idle', to: 'busy' });
    const card = page.locator('[data-actor="slot-1"][data-state="busy"]');
    await card.waitFor();
    expect(await card.locator('.kv').innerText()).toMatch(/event\s+evt-42\s+attempt\s+1\s+running\s+1\.\d s/);
    expect(await page.locator('#transitions tr').first().innerText()).toMatch(/slot-1\s+event\.assigned\s+idle → busy/);
    canned.push('actor', view('slot-1', 'worker-slot', 'idle', { event: null, attempt: null, runningMs: null }));
    await page.locator('[data-actor="slot-1"][data-state="idle"]').waitFor();
  });

  it("draws the selected actor's machine with its current states lit", async () => {
    const canned = await cannedInspector();
    await open(canned);
    await page.locator('#diagram g.lit[id="state:flowing"]').waitFor();
    await page.locator('[data-actor="slot-0"]').click();
    await page.locator('#diagram g[id="state:busy"]').waitFor();
    expect(await page.locator('#diagram g.lit').count()).toBe(1);
    expect(await page.locator('#diagram g.lit').getAttribute('id')).toBe('state:idle');
    canned.push('actor', view('slot-0', 'worker-slot', 'busy', { event: 'e', attempt: 1, runningMs: 0 }));
    await page.locator('#diagram g.lit[id="state:busy"]').waitFor();
    expect(await page.locator('#diagram g.lit').count()).toBe(1);
    await page.locator('[data-actor="supervisor"]').click();
    canned.push('actor', view('supervisor', 'supervisor', 'stopping.draining', { queue: 0 }, ['stopping', 'stopping.draining']));
    await page.locator('#diagram g.lit[id="state:stopping.draining"]').waitFor();
    expect(await page.locator('#diagram g.lit').evaluateAll((gs) => gs.map((g) => g.id).sort())).toEqual([
      'state:stopping',
      'state:stopping.draining',
    ]);
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/inspector-canned.png', fullPage: true });
  });

  it('drops an actor the server says was removed', async () => {
    const canned = await cannedInspector();
    await open(canned);
    await page.locator('#conn[data-connection="live"]').waitFor();
    // Drawn first: removing an actor the page has not drawn yet would prove nothing.
    await page.locator('[data-actor="slot-0"]').waitFor();
    expect(await page.locator('[data-actor]').count()).toBe(4);
    canned.push('removed', { id: 'slot-0' });
    await page.locator('[data-actor="slot-0"]').waitFor({ state: 'detached' });
    expect(await page.locator('[data-actor]').count()).toBe(3);
  });

  it('shows untrusted strings as text and strips scripts and handlers from a diagram', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=2"><script>window.__pwned=3</script><g id="state:idle" onclick="window.__pwned=4"><a href="javascript:window.__pwned=5"><text>idle</text></a></g></svg>';
    await open(
      await cannedInspector({ actors: [view(hostile, 'worker-slot', 'idle', { [hostile]: hostile })], svg: { 'worker-slot': svg } }),
    );
    await page.locator('#diagram g.lit').waitFor();
    expect(await page.locator('.card strong').textContent()).toBe(hostile);
    expect(await page.locator('.kv td').textContent()).toBe(hostile);
    expect(await page.locator('#actors img').count()).toBe(0);
    expect(await page.locator('#diagram').evaluate((d) => d.querySelectorAll('script, [onload], [onclick], [href]').length)).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
  });

  it('passes the token from its own URL to every request it makes', async () => {
    const canned = await cannedInspector({ token: 's3cret' });
    await open(canned, '?token=s3cret');
    await page.locator('#diagram g.lit[id="state:flowing"]').waitFor();
    await page.locator('#conn[data-connection="live"]').waitFor();
    await page.locator('#ready[data-ready="yes"]').waitFor();
    const api = canned.requests.filter((r) => r !== '/?token=s3cret');
    expect([...new Set(api.map((r) => r.split('?')[0]))].sort()).toEqual([
      '/api/machines/supervisor.svg',
      '/api/state',
      '/events',
      '/readyz',
    ]);
    expect(api.every((r) => r.endsWith('?token=s3cret'))).toBe(true);
  });

  it('says what is wrong when it is opened without the token', async () => {
    await open(await cannedInspector({ token: 's3cret' }));
    await page.locator('#error:has-text("401")').waitFor();
    expect(await page.locator('#error').textContent()).toMatch(/GET \/api\/state answered 401: open this page with \?token=/);
    expect(await page.locator('#conn').getAttribute('data-connection')).toBe('offline');
  });

  it('shows events from the journal as text, counts them by state, filters them, and draws one timeline', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const at = Date.UTC(2026, 11, 7, 9, 30, 0);
    const summary = (id: string, state: string, extra: Record<string, unknown> = {}) => ({
      id,
      seq: 0,
      source: 'stomp',
      key: 'a1',
      state,
      attempt: 1,
      slotId: null,
      startedAt: null,
      receivedAt: at,
      updatedAt: at + 20,
      payload: JSON.stringify({ note: hostile }),
      error: null,
      retryOf: null,
      ...extra,
    });
    const events = [
      summary(`evt-${hostile}`, 'dead-lettered', { error: { code: 'ERR_BROKEN', message: hostile } }),
      summary('evt-2', 'completed', { key: 'a2', payload: '{"n":2}' }),
    ];
    const keys: Array<string | null> = [];
    const canned = await cannedInspector({
      json: {
        '/api/events': (url) => {
          keys.push(url.searchParams.get('key'));
          const key = url.searchParams.get('key');
          return {
            events: events.filter((e) => key === null || e.key === key),
            counts: {
              queued: 0,
              running: 0,
              retrying: 0,
              completed: 1,
              failed: 2,
              'dead-lettered': 1,
              expired: 4,
              rejected: 0,
              returned: 0,
            },
            now: at + 1000,
          };
        },
        [`/api/events/${encodeURIComponent(`evt-${hostile}`)}`]: () => ({
          ...events[0],
          meta: null,
          retryable: true,
          retryRefusal: null,
          error: { code: 'ERR_BROKEN', message: hostile, stack: `Error: ${hostile}\n    at start (w.mjs:1:1)` },
          steps: [
            { step: 'received', at },
            { step: 'queued', position: 1, at },
            { step: 'started', slotId: 'slot-1', attempt: 1, at: at + 1 },
            { step: 'dead-lettered', attempts: 1, error: { code: 'ERR_BROKEN', message: hostile }, at: at + 20 },
            { step: 'settled', how: 'dead-letter', at: at + 21 },
          ],
          stepsDropped: 0,
        }),
      },
    });
    await open(canned);
    await page.locator('#conn[data-connection="live"]').waitFor();
    await page.locator('nav.tabs button[data-tab="events"]').click();
    await page.locator('#event-rows[data-loaded="all"] tr[data-state="completed"]').waitFor();
    expect(await page.locator('#state-tabs button').evaluateAll((bs) => bs.map((b) => b.textContent))).toEqual([
      'All8',
      'Queued0',
      'Running0',
      'Retrying0',
      'Completed1',
      'Failed3',
      'Dead-lettered1',
      'Expired4',
      'Rejected0',
      'Returned0',
    ]);
    const row = page.locator('#event-rows tr[data-state="dead-lettered"]');
    expect(await row.locator('td.err').textContent()).toBe(`ERR_BROKEN: ${hostile}`);
    expect(await row.locator('td.payload').textContent()).toBe(JSON.stringify({ note: hostile }));

    await page.locator('#filter-text').fill('"n":2');
    await page.locator('#event-rows tr[data-event]').nth(1).waitFor({ state: 'detached' });
    expect(await page.locator('#event-rows tr[data-event]').getAttribute('data-event')).toBe('evt-2');
    await page.locator('#filter-text').fill('');
    await page.locator('#filter-key').fill('a1');
    await page.locator('#event-rows tr[data-event="evt-2"]').waitFor({ state: 'detached' });
    expect(keys.at(-1)).toBe('a1');

    await row.click();
    await page.locator('#detail-stack').waitFor();
    expect(await page.locator('#detail-id').textContent()).toBe(`evt-${hostile}`);
    expect(await page.locator('#detail-stack').textContent()).toBe(`Error: ${hostile}\n    at start (w.mjs:1:1)`);
    expect(await page.locator('#sequence .seq-step').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-to')))).toEqual([
      'supervisor',
      'supervisor',
      'slot-1',
      'supervisor',
      'source',
    ]);
    await page.locator('#step-diagram g.lit[id="state:idle"]').waitFor();
    await page.locator('#sequence .seq-step[data-index="2"]').click();
    await page.locator('#step-diagram g.lit[id="state:busy"]').waitFor();
    expect(await page.locator('#step-caption').textContent()).toBe('started \u00b7 slot-1 is busy');
    expect(await page.locator('#event-retry').textContent()).toBe('Retry');
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('offers no Retry for a failed event the server says cannot be retried, and shows why instead', async () => {
    const at = Date.UTC(2026, 11, 7, 9, 30, 0);
    const why =
      'event evt-x was read as XML (payload class = xml) and the bytes it came as were not kept, so it cannot be written back as it came';
    const event = deadLetter('evt-x', at, {
      steps: [{ step: 'received', at }],
      retryable: false,
      retryRefusal: { code: 'ERR_NO_PUBLISH', message: why },
    });
    const canned = await cannedInspector({
      json: {
        '/api/events': () => ({ events: [event], counts: { 'dead-lettered': 1 }, now: at + 1000 }),
        '/api/events/evt-x': () => event,
      },
    });
    await open(canned);
    await page.locator('nav.tabs button[data-tab="events"]').click();
    await page.locator('#event-rows tr[data-event="evt-x"]').click();
    await page.locator('#event-not-retryable').waitFor();
    expect(await page.locator('#event-not-retryable').textContent()).toBe(`Cannot retry: ${why}`);
    expect(await page.locator('#event-retry').count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('keeps Retry disabled while a retry is on its way, shows a refused one with the reason, and who retried an event instead of its button', async () => {
    const at = Date.UTC(2026, 11, 7, 9, 30, 0);
    const event = (id: string, extra: Record<string, unknown> = {}) => deadLetter(id, at, extra);
    const refusal =
      'event evt-b was already retried by alice (republished as event evt-c, now completed); a second retry would offer it twice: retry event evt-c if it fails';
    const answer = deferred();
    const canned = await cannedInspector({
      json: {
        '/api/events': () => ({ events: [event('evt-a'), event('evt-b')], counts: { 'dead-lettered': 2 }, now: at + 1000 }),
        '/api/events/evt-a': () =>
          event('evt-a', { steps: [...event('evt-a').steps, { step: 'retryRequested', by: 'alice', at: at + 30 }] }),
        '/api/events/evt-b': () => event('evt-b'),
        // Answered when the test says: the retry is on its way until then.
        '/api/events/evt-b/retry': async () => {
          await answer.promise;
          return new Answer(409, { error: refusal, code: 'ERR_INVALID_STATE' });
        },
      },
    });
    await open(canned);
    await page.locator('nav.tabs button[data-tab="events"]').click();
    await page.locator('#event-rows tr[data-event="evt-a"]').click();
    await page.locator('#event-retried').waitFor();
    expect(await page.locator('#event-retried').textContent()).toBe('Retried by alice');
    expect(await page.locator('#event-retry').count()).toBe(0);

    await page.locator('#event-rows tr[data-event="evt-b"]').click();
    await page.locator('#detail-id:text-is("evt-b")').waitFor();
    // A double click asks once: the button is disabled until the answer comes.
    await page.locator('#event-retry').dblclick();
    await page.locator('#event-action:text-is("Retrying\u2026")').waitFor();
    expect(await page.locator('#event-retry').isDisabled()).toBe(true);
    answer.resolve();
    await page.locator('#event-action[data-status="409"]').waitFor();
    expect(await page.locator('#event-action').textContent()).toBe(`Refused (409): ${refusal}`);
    expect(canned.requests.filter((r) => r === '/api/events/evt-b/retry')).toHaveLength(1);
    // The browser reports the 409 on its console; nothing else went wrong.
    expect(errors).toEqual([expect.stringMatching(/status of 409/)]);
  });

  it("lists a workflow run's activity calls: activity, attempt, state, last heartbeat and its details", async () => {
    const beat = Date.UTC(2026, 11, 7, 9, 30, 5, 250);
    const canned = await cannedInspector({
      actors: [view('run:r-1', 'workflow-run', 'deciding', { run: 'r-1', workflow: 'upload', version: '1', decisions: 2, pending: 1 })],
      svg: { 'workflow-run': '<svg xmlns="http://www.w3.org/2000/svg"><g id="state:deciding"><text>deciding</text></g></svg>' },
      json: {
        '/api/workflows/r-1': () => ({
          runId: 'r-1',
          workflow: { name: 'upload', version: 1 },
          state: 'running',
          calls: [
            {
              callId: 'c1',
              activity: 'transcode',
              version: 2,
              state: 'running',
              attempt: 3,
              scheduledAt: beat - 5000,
              lastHeartbeatAt: beat,
              details: '{"percent":40,"<b>":"x"}',
              error: null,
            },
            {
              callId: 'c2',
              activity: 'thumbnail',
              version: 1,
              state: 'failed',
              attempt: 1,
              scheduledAt: beat - 5000,
              lastHeartbeatAt: null,
              details: null,
              error: { code: 'ERR_TIMEOUT', message: 'no heartbeat' },
            },
          ],
        }),
      },
    });
    await open(canned);
    await page.locator('#calls-table tr[data-call="c1"]').waitFor();
    const cells = (id: string) => page.locator(`#calls-table tr[data-call="${id}"] td`).allTextContents();
    expect(await cells('c1')).toEqual([
      'transcode@2',
      '3',
      'running',
      new Date(beat).toTimeString().slice(0, 8) + '.250',
      '{"percent":40,"<b>":"x"}',
      '–',
    ]);
    expect(await cells('c2')).toEqual(['thumbnail@1', '1', 'failed', '–', '–', 'ERR_TIMEOUT: no heartbeat']);
    expect(await page.locator('#calls-title').textContent()).toBe('r-1');
    expect(errors).toEqual([]);
  });
});
