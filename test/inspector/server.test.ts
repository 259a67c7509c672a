import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { SimulatedClock } from 'xstate';
import type { Feed, SourceDriver } from '../../actors/sources/driver.js';
import { defineWorker } from '../../actors/workers/worker.js';
import { ConfigError, StoreError } from '../../src/kernel/errors.js';
import { createInspection } from '../../src/inspector/inspection.js';
import { createRuntimeMetrics } from '../../src/inspector/metrics.js';
import { startInspectorServer } from '../../src/inspector/server.js';
import type { JournalDetail } from '../../src/inspector/journal.js';
import type { RetryView } from '../../src/inspector/journal-api.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime/runtime.js';
import { logSink } from '../helpers/log-sink.js';
import { manualSource } from '../helpers/manual-source.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';
import { until } from '../helpers/wait.js';

const cleanups = cleanupsAfterEach();

async function inspected(
  options: Partial<RuntimeOptions> & Pick<RuntimeOptions, 'worker'>,
  inspect: Parameters<Runtime['inspect']>[0] = {},
) {
  const dir = await mkdtemp(path.join(tmpdir(), 'flowd-inspector-'));
  const source = manualSource();
  const runtime = createRuntime({ source: source.driver, app: { name: 'metered', dir }, ...options });
  const handle = await runtime.inspect({ port: 0, ...inspect });
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  cleanups.push(() => handle.close());
  cleanups.push(async () => {
    if (runtime.actor?.getSnapshot().status === 'active') await runtime.stop();
  });
  return { runtime, source, url: handle.url, handle };
}

/** A GET over real HTTP with the headers given (`fetch` may not set `Host`). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (response) => {
      let body = '';
      response
        .setEncoding('utf8')
        .on('data', (chunk: string) => (body += chunk))
        .on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

/** Prometheus text: `name{labels}` -> value, for every sample line. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

describe('GET /metrics', () => {
  it("counts a run's outcomes by app and source, and one wait and run observation per event that ran", async () => {
    const clock = new SimulatedClock();
    const gate = deferred();
    const worker = defineWorker({
      start: async (payload: string) => {
        if (payload === 'slow') await gate.promise;
        if (payload === 'bad') throw new Error('bad input');
      },
    });
    const { runtime, source, url } = await inspected({ worker, clock, queueTimeout: '10s', executionTimeout: '60s' });
    await runtime.start();
    await source.ready;
    source.deliver('slow', 'slow');
    source.deliver('late', 'late');
    await vi.waitFor(() => expect(runtime.snapshot()).toMatchObject({ running: 1, waiting: 1 }));
    const mid = parseMetrics(await (await fetch(new URL('/metrics', url))).text());
    expect(mid.get('flowd_queue_depth{app="metered",source="manual"}')).toBe(1);
    expect(mid.get('flowd_busy_slots{app="metered",source="manual"}')).toBe(1);
    clock.increment(11_000);
    await vi.waitFor(() => expect(runtime.snapshot().counters.expired).toBe(1));
    gate.resolve();
    await vi.waitFor(() => expect(runtime.snapshot().counters.completed).toBe(1));
    source.deliver('ok', 'ok');
    source.deliver('bad', 'bad');
    await vi.waitFor(() => expect(runtime.snapshot().counters).toMatchObject({ completed: 2, failed: 1 }));

    const response = await fetch(new URL('/metrics', url));
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const metrics = parseMetrics(await response.text());
    const labels = '{app="metered",source="manual"}';
    const { counters } = runtime.snapshot();
    expect(counters).toMatchObject({ received: 4, completed: 2, failed: 1, expired: 1, deadLettered: 1 });
    expect(metrics.get(`flowd_events_received_total${labels}`)).toBe(counters.received);
    expect(metrics.get(`flowd_events_completed_total${labels}`)).toBe(counters.completed);
    expect(metrics.get(`flowd_events_failed_total${labels}`)).toBe(counters.failed);
    expect(metrics.get(`flowd_events_expired_total${labels}`)).toBe(counters.expired);
    expect(metrics.get(`flowd_events_dead_lettered_total${labels}`)).toBe(counters.deadLettered);
    expect(metrics.get(`flowd_queue_depth${labels}`)).toBe(0);
    expect(metrics.get(`flowd_busy_slots${labels}`)).toBe(0);
    // Three events ran (slow, ok, bad); the expired one never started.
    expect(metrics.get(`flowd_event_wait_seconds_count${labels}`)).toBe(3);
    expect(metrics.get(`flowd_event_run_seconds_count${labels}`)).toBe(3);
    expect(metrics.get(`flowd_event_run_seconds_sum${labels}`)).toBe(11);
    expect(metrics.get('flowd_event_run_seconds_bucket{le="10",app="metered",source="manual"}')).toBe(2);
    expect(metrics.get('flowd_event_run_seconds_bucket{le="30",app="metered",source="manual"}')).toBe(3);
  });
});

describe('GET /healthz and /readyz', () => {
  it('is healthy while up, and ready only once the source runs', async () => {
    const { runtime, source, url } = await inspected({ worker: defineWorker({ start: () => 1 }) });
    const healthz = await fetch(new URL('/healthz', url));
    expect([healthz.status, await healthz.json()]).toEqual([200, { status: 'ok' }]);
    const before = await fetch(new URL('/readyz', url));
    expect([before.status, await before.json()]).toEqual([503, { status: 'not ready', reasons: ['the runtime has not started'] }]);
    await runtime.start();
    await source.ready;
    await vi.waitFor(async () => expect((await fetch(new URL('/readyz', url))).status).toBe(200));
  });

  it('is not ready while the source reconnects after losing its connection', async () => {
    let feed!: Feed;
    let connects = 0;
    const started = deferred();
    const driver: SourceDriver = {
      type: 'flaky',
      // The first connection succeeds; the next never does.
      connect: () => (++connects === 1 ? Promise.resolve() : new Promise(() => {})),
      start: (f) => {
        feed = f;
        started.resolve();
      },
      settle: () => {},
    };
    const { runtime, url } = await inspected({ worker: defineWorker({ start: () => 1 }), source: driver });
    await runtime.start();
    await started.promise;
    await vi.waitFor(async () => expect((await fetch(new URL('/readyz', url))).status).toBe(200));
    feed.lost({ code: 'ERR_SOURCE', message: 'connection refused', retryable: true });
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: 'not ready',
      reasons: [expect.stringMatching(/^source flaky is (reconnecting|connecting)$/)],
    });
  });

  it('is not ready, naming the source, once its connect fails with an error that is not retryable', async () => {
    let feed!: Feed;
    let connects = 0;
    const refused = deferred();
    const driver: SourceDriver = {
      type: 'doomed',
      // The first connection succeeds; the reconnect is refused for good (no `retryable`: the source ends failed).
      connect: () => {
        if (++connects === 1) return Promise.resolve();
        refused.resolve();
        return Promise.reject(Object.assign(new Error('access refused: bad credentials'), { code: 'ERR_SOURCE_AUTH' }));
      },
      start: (f) => void (feed = f),
      settle: () => {},
    };
    // An event still running keeps the run draining, and the inspector up, after the source has failed.
    const gate = deferred();
    const running = deferred();
    const worker = defineWorker({
      start: async () => {
        running.resolve();
        await gate.promise;
      },
    });
    const { runtime, url } = await inspected({ worker, source: driver, logger: false });
    cleanups.push(async () => gate.resolve());
    await runtime.start();
    await vi.waitFor(() => expect(runtime.snapshot().source.state).toBe('running'));
    feed.deliver({ n: 1 }, { id: 'e1' });
    await running.promise;
    feed.lost({ code: 'ERR_SOURCE', message: 'connection reset', retryable: true });
    await refused.promise;
    await vi.waitFor(() => expect(runtime.snapshot().source.state).toBe('failed'));
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(503);
    const body = (await response.json()) as { status: string; reasons: string[] };
    expect(body.status).toBe('not ready');
    // One reason per cause: the source is named once, by its type (not again as its actor, `source is failed`).
    expect(body.reasons).toEqual(['the runtime is stopping', 'source doomed is failed']);
    gate.resolve();
    expect(await runtime.done).toMatchObject({ reason: 'source failed' });
  });
});

describe('GET /readyz during a dependency outage', () => {
  it("is not ready while the app's store is unavailable, names it, and is ready again once a probe succeeds", async () => {
    let storeUp = false;
    const worker = defineWorker({
      start: () => {
        if (!storeUp)
          throw new StoreError('ERR_STORE_UNAVAILABLE', 'Store "metered" cannot reach Redis at 127.0.0.1:1: connection refused');
        return 1;
      },
    });
    const { runtime, source, url } = await inspected({ worker, logger: false });
    await runtime.start();
    await source.ready;
    source.deliver({ n: 1 }, 'e1');
    await vi.waitFor(() => expect(runtime.snapshot().dependency).toBeDefined());
    const response = await fetch(new URL('/readyz', url));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: 'not ready',
      reasons: [expect.stringMatching(/^the app's store or locks are unavailable \(for \d+ms\): Store "metered" cannot reach Redis/)],
    });
    expect(runtime.snapshot().source).toMatchObject({ state: 'paused', pausedFor: ['dependency'] });
    expect(source.calls).toContain('pause');
    storeUp = true;
    await vi.waitFor(async () => expect((await fetch(new URL('/readyz', url))).status).toBe(200));
    expect(source.settlements).toMatchObject([{ id: 'e1', outcome: 'completed' }]);
    expect(runtime.snapshot().source.pausedFor).toBeUndefined();
  });
});

describe('the inspector server', () => {
  it("binds 127.0.0.1 by default and serves the page, the state and the machines' diagrams", async () => {
    const { url } = await inspected({ worker: defineWorker({ start: () => 1 }) });
    expect(new URL(url).hostname).toBe('127.0.0.1');
    const page = await fetch(url);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<title>flowd inspector</title>');
    const state = await (await fetch(new URL('/api/state', url))).json();
    expect(state).toMatchObject({ app: 'metered', actors: [], transitions: [] });
    const svg = await fetch(new URL('/api/machines/worker-slot.svg', url));
    expect([svg.status, svg.headers.get('content-type')]).toEqual([200, 'image/svg+xml']);
    expect(await svg.text()).toContain('<svg');
    expect((await fetch(new URL('/api/machines/nothing.svg', url))).status).toBe(404);
    expect((await fetch(new URL('/nowhere', url))).status).toBe(404);
  });

  it('refuses to start on a non-loopback interface without a token', async () => {
    const runtime = createRuntime({ worker: defineWorker({ start: () => 1 }), source: manualSource().driver });
    const error = await runtime.inspect({ port: 0, interface: '0.0.0.0' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/^\[Inspector\] "token": is required/);
  });

  it('with a token, answers 401 without it and 200 with it, as a bearer header or a query parameter', async () => {
    const token = 'a-long-random-secret';
    const { url } = await inspected({ worker: defineWorker({ start: () => 1 }) }, { token });
    expect(url).not.toContain(token);
    for (const path of ['/', '/api/state', '/metrics', '/healthz', '/events']) {
      const denied = await fetch(new URL(path, url));
      expect(denied.status).toBe(401);
      expect(await denied.json()).toMatchObject({ error: expect.stringContaining('token') });
    }
    expect((await fetch(new URL('/healthz', url), { headers: { authorization: 'Bearer wrong-token-value' } })).status).toBe(401);
    expect((await fetch(new URL('/healthz', url), { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(new URL(`/api/state?token=${token}`, url))).status).toBe(200);
  });

  it('with named tokens, takes any of them, and logs and notes an action with the name of the token that asked, never its secret', async () => {
    const sink = logSink('info');
    const gate = deferred();
    const tokens = { alice: 'alice-long-secret', ci: 'ci-long-secret-2' };
    const { runtime, source, url } = await inspected(
      { worker: defineWorker({ start: () => gate.promise }), logger: sink.logger },
      { tokens },
    );
    cleanups.push(() => gate.resolve());
    await runtime.start();
    await source.ready;
    source.deliver({ n: 1 }, 'e1');
    const as = (who: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[who]}` });
    expect((await fetch(new URL('/api/events', url))).status).toBe(401);
    expect((await fetch(new URL('/api/events', url), { headers: { authorization: 'Bearer wrong-token-value' } })).status).toBe(401);
    await until(
      async () => {
        const { events } = (await (await fetch(new URL('/api/events?state=running', url), { headers: as('ci') })).json()) as {
          events: unknown[];
        };
        return events.length === 1;
      },
      { what: 'e1 to run' },
    );
    const cancelled = await fetch(new URL('/api/events/e1/cancel', url), { method: 'POST', headers: as('alice') });
    expect([cancelled.status, await cancelled.json()]).toEqual([202, { id: 'e1', action: 'cancel', by: 'alice' }]);
    const detail = (await (await fetch(new URL('/api/events/e1', url), { headers: as('alice') })).json()) as JournalDetail & RetryView;
    expect(detail.steps).toContainEqual({ step: 'cancelRequested', by: 'alice', at: expect.any(Number) });
    // Dead-lettered by the cancel, it can be retried: the detail says so before anyone asks.
    expect(detail).toMatchObject({ state: 'dead-lettered', retryable: true, retryRefusal: null });
    expect(sink.lines).toContainEqual(
      expect.objectContaining({ event: 'e1', action: 'cancel', by: 'alice', msg: 'inspector: event e1 cancelled by alice' }),
    );
    const logged = JSON.stringify(sink.lines);
    expect(logged).not.toContain(tokens.alice);
    expect(logged).not.toContain(tokens.ci);
  });

  it('without a token, answers 421 to a Host that is not a loopback name with its port (a DNS-rebinding page), and 200 to one that is', async () => {
    const { url } = await inspected({ worker: defineWorker({ start: () => 1 }) });
    const { port } = new URL(url);
    for (const host of ['attacker.example', `attacker.example:${port}`, '127.0.0.1:1']) {
      const refused = await get(new URL('/api/state', url).href, { host });
      expect([refused.status, JSON.parse(refused.body)]).toEqual([421, { error: expect.stringContaining(`is not this inspector`) }]);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost']) {
      const served = await get(new URL('/api/state', url).href, { host });
      expect([host, served.status]).toEqual([host, 200]);
    }
  });

  it("logs a failed request's path, never its query and the token in it", async () => {
    const token = 'a-long-random-secret';
    const sink = logSink();
    const inspection = createInspection({ app: 'logged', now: () => 0 });
    // Not scraped here: only /readyz is asked for.
    const metrics = createRuntimeMetrics({
      snapshot: () => {
        throw new Error('not scraped in this test');
      },
      on: () => () => {},
    });
    const server = await startInspectorServer({
      settings: { port: 0, interface: '127.0.0.1', token, stately: false },
      inspection,
      metrics,
      readiness: () => {
        throw new Error('readiness broke');
      },
      log: sink.logger,
    });
    cleanups.push(() => server.close());
    const response = await get(new URL(`/readyz?token=${token}`, server.url).href);
    expect(response.status).toBe(500);
    expect(sink.messages()).toEqual(['inspector: /readyz: readiness broke']);
    expect(JSON.stringify(sink.lines)).not.toContain(token);
  });

  it('streams an actor event when a slot changes state, and a transition', async () => {
    const gate = deferred();
    const { runtime, source, url } = await inspected({ worker: defineWorker({ start: () => gate.promise }) });
    const controller = new AbortController();
    cleanups.push(async () => controller.abort());
    const response = await fetch(new URL('/events', url), { signal: controller.signal });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${pattern}: ${text}`);
        text += value;
      }
      return pattern.exec(text)!;
    };
    await until(/: connected\n\n/);
    await runtime.start();
    await source.ready;
    source.deliver('x', 'evt-9');
    const [, data] = await until(/event: actor\ndata: (\{"id":"slot-0"[^\n]*"state":"busy"[^\n]*)\n\n/);
    expect(JSON.parse(data!)).toMatchObject({
      id: 'slot-0',
      machine: 'worker-slot',
      state: 'busy',
      summary: { event: 'evt-9', attempt: 1 },
    });
    const [, transition] = await until(/event: transition\ndata: (\{"at":\d+,"actor":"slot-0"[^\n]*)\n\n/);
    expect(JSON.parse(transition!)).toMatchObject({ actor: 'slot-0', event: 'event.assigned', from: 'idle', to: 'busy' });
    gate.resolve();
  });

  it('closes when the run ends', async () => {
    const { runtime, source, url } = await inspected({ worker: defineWorker({ start: () => 1 }) });
    await runtime.start();
    await source.ready;
    source.end();
    await runtime.done;
    await vi.waitFor(async () => expect(await fetch(new URL('/healthz', url)).catch(() => 'refused')).toBe('refused'));
  });

  it("with stately = yes, relays the inspection events to Stately's UI over a WebSocket, behind the same token", async () => {
    const token = 'another-long-secret';
    const { runtime, source, handle } = await inspected({ worker: defineWorker({ start: () => 1 }) }, { stately: true, token });
    const bridge = handle.statelyUrl!;
    expect(new URL(bridge).hostname).toBe('127.0.0.1');
    expect(bridge).not.toContain(token);
    expect((await fetch(bridge)).status).toBe(401);
    const page = await fetch(`${bridge}?token=${token}`);
    expect(await page.text()).toContain('https://stately.ai/inspect');

    const refused = new WebSocket(bridge.replace('http:', 'ws:'));
    await expect(
      new Promise((resolve, reject) => {
        refused.on('open', resolve);
        refused.on('error', reject);
      }),
    ).rejects.toThrow(/401/);

    const socket = new WebSocket(`${bridge.replace('http:', 'ws:')}?token=${token}`);
    cleanups.push(async () => socket.close());
    const messages: Array<{ type: string; name?: string }> = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise((resolve) => socket.on('open', resolve));
    await runtime.start();
    await source.ready;
    source.deliver({ password: 'hunter2' }, 'evt-1');
    await vi.waitFor(() => expect(messages.some((m) => m.type === '@xstate.actor' && m.name === 'supervisor')).toBe(true));
    await vi.waitFor(() => expect(messages.some((m) => m.type === '@xstate.snapshot')).toBe(true));
    await vi.waitFor(() =>
      expect(
        messages.some((m) => m.type === '@xstate.event' && (m as { event?: { type?: string } }).event?.type === 'event.assigned'),
      ).toBe(true),
    );
    const assigned = messages.find(
      (m) => m.type === '@xstate.event' && (m as { event?: { type?: string } }).event?.type === 'event.assigned',
    );
    expect(assigned).toMatchObject({ event: { job: { delivery: { id: 'evt-1', payload: { password: '[redacted]' } } } } });
    expect(JSON.stringify(messages)).not.toContain('hunter2');
  });
});
