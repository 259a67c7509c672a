import { describe, expect, it } from 'vitest';
import type { SupervisorEmitted } from '../../machines/supervisor.js';
import { createJournal, type JournalOptions } from '../../src/inspector/journal.js';
import { previewOf } from '../../src/inspector/preview.js';
import { startSupervisor } from '../helpers/supervisor-harness.js';
import { until } from '../helpers/wait.js';

/** A journal fed by the real supervisor machine (lifecycle on), on its simulated clock. */
function journaled(settings: Parameters<typeof startSupervisor>[0] = {}, options: Partial<JournalOptions> = {}) {
  const h = startSupervisor(settings, { lifecycle: true });
  const journal = createJournal({
    on: (type, listener) => h.actor.on(type, listener as (event: SupervisorEmitted) => void).unsubscribe,
    now: () => h.clock.now(),
    size: 3,
    redact: ['card'],
    source: 'test',
    settles: true,
    throttleMs: 0,
    ...options,
  });
  return { h, journal };
}

describe('createJournal', () => {
  it("keeps each event's timeline with the supervisor's times: received, queued (position), started on its slot, completed, settled", () => {
    const { h, journal } = journaled({ workers: 1 });
    h.clock.increment(1000);
    const first = h.deliver({ n: 1 });
    const second = h.deliver({ n: 2 });
    h.clock.increment(20);
    h.runs[0]!.finish();
    expect(journal.get(first)).toMatchObject({
      id: first,
      source: 'test',
      state: 'completed',
      attempt: 1,
      payload: '{"n":1}',
      receivedAt: 1000,
      steps: [
        { step: 'received', at: 1000 },
        { step: 'queued', position: 1, at: 1000 },
        { step: 'started', slotId: 'slot-0', attempt: 1, at: 1000 },
        { step: 'completed', attempts: 1, at: 1020 },
        { step: 'settled', how: 'ack', at: 1020 },
      ],
    });
    expect(journal.get(second)).toMatchObject({ state: 'running', slotId: 'slot-0' });
    expect(journal.list().map((e) => [e.id, e.state])).toEqual([
      [second, 'running'],
      [first, 'completed'],
    ]);
  });

  it('lists by state (failed includes dead-lettered) and by key, newest first, up to the limit', () => {
    const { h, journal } = journaled({ workers: 3, orderBy: ['k'] }, { orderBy: ['k'] });
    const a = h.deliver({ k: 'x' });
    const b = h.deliver({ k: 'y' });
    const c = h.deliver({ k: 'x' });
    h.runs[0]!.fail({ code: 'ERR_X', message: 'broken' });
    expect(journal.list({ state: 'failed' }).map((e) => [e.id, e.state, e.error?.code])).toEqual([[a, 'dead-lettered', 'ERR_X']]);
    expect(journal.list({ state: 'running' }).map((e) => e.id)).toEqual([c, b]);
    expect(journal.list({ key: 'x' }).map((e) => e.id)).toEqual([c, a]);
    expect(journal.list({ limit: 1 }).map((e) => e.id)).toEqual([c]);
  });

  it("counts every event kept by state, tells a running event's start, and reads the runtime's clock (for the page)", () => {
    const { h, journal } = journaled({ workers: 2 });
    h.clock.increment(1000);
    const a = h.deliver({ n: 1 });
    h.clock.increment(50);
    const b = h.deliver({ n: 2 });
    h.deliver({ n: 3 });
    h.runs[0]!.fail({ code: 'ERR_X', message: 'broken' });
    expect(journal.counts()).toEqual({
      queued: 0,
      running: 2,
      retrying: 0,
      completed: 0,
      failed: 0,
      'dead-lettered': 1,
      expired: 0,
      rejected: 0,
      returned: 0,
    });
    expect(journal.list({ state: 'running' }).map((e) => [e.id === b, e.startedAt])).toEqual([
      [false, 1050],
      [true, 1050],
    ]);
    expect(journal.list({ state: 'failed' })[0]).toMatchObject({ id: a, startedAt: null });
    expect(journal.now()).toBe(1050);
  });

  it('tells retries with their delay and error, a timeout and the abandoned slot, and keeps the stack of a failure', () => {
    const { h, journal } = journaled({ workers: 1, retries: 1, backoff: { kind: 'fixed', delayMs: 100, maxDelayMs: 100 } });
    const id = h.deliver();
    h.clock.increment(500); // the execution timeout
    expect(journal.get(id)).toMatchObject({ state: 'retrying', error: { code: 'ERR_WORKER_TIMEOUT' } });
    h.clock.increment(100);
    const error = Object.defineProperty({ code: 'ERR_X', message: 'broken' }, 'stack', {
      value: 'Error: broken\n    at worker.ts:3',
      enumerable: false,
    });
    h.runs[1]!.fail(error);
    const detail = journal.get(id)!;
    expect(detail.steps.map((s) => s.step)).toEqual([
      'received',
      'queued',
      'started',
      'timedOut',
      'abandoned',
      'retrying',
      'started',
      'dead-lettered',
      'settled',
    ]);
    expect(detail.steps[5]).toMatchObject({ attempt: 1, delayMs: 100, error: { code: 'ERR_WORKER_TIMEOUT' } });
    expect(detail).toMatchObject({
      state: 'dead-lettered',
      attempt: 2,
      error: { code: 'ERR_X', message: 'broken', stack: 'Error: broken\n    at worker.ts:3' },
    });
    // The list shows no stack.
    expect(journal.list()[0]!.error).toEqual({ code: 'ERR_X', message: 'broken' });
  });

  it('keeps the last `size` finished events and every event in flight', () => {
    const { h, journal } = journaled({ workers: 1, queueSize: 10 });
    const ids = Array.from({ length: 6 }, () => h.deliver());
    for (let i = 0; i < 4; i++) h.runs[i]!.finish();
    expect(journal.size()).toEqual({ finished: 3, inFlight: 2 });
    expect(journal.get(ids[0]!)).toBeUndefined();
    expect(journal.list().map((e) => e.id)).toEqual(ids.slice(1).reverse());
  });

  it('masks secrets and the redact keys in previews, at any depth and in text', () => {
    const { h, journal } = journaled({ workers: 1 });
    const id = h.deliver(
      { user: 'ann', card: '4111', nested: { Password: 'p', note: 'token=abc' } },
      { meta: { authorization: 'Bearer x' } },
    );
    const detail = journal.get(id)!;
    expect(detail.payload).toBe('{"user":"ann","card":"[redacted]","nested":{"Password":"[redacted]","note":"token=[redacted]"}}');
    expect(detail.meta).toBe('{"authorization":"[redacted]"}');
  });

  it('caps a preview, and survives cycles and BigInts', () => {
    const cyclic: Record<string, unknown> = { n: 1n };
    cyclic.self = cyclic;
    expect(previewOf(cyclic, [])).toBe('{"n":"1","self":"[cycle]"}');
    const long = previewOf({ text: 'x'.repeat(5000) }, [], 100);
    expect(long.startsWith(`{"text":"${'x'.repeat(90)}`)).toBe(true);
    expect(long).toMatch(/… \(\d+ more\)$/);
  });

  it('does not show an event settled as it arrived as queued, nor settle an event offered again by a retry', () => {
    const { h, journal } = journaled({ workers: 1, queueSize: 1 });
    h.deliver();
    h.deliver();
    const rejected = h.deliver();
    expect(journal.get(rejected)!.steps.map((s) => s.step)).toEqual(['received', 'rejected', 'settled']);
    h.runs[0]!.finish();
    journal.expectOffered('again');
    h.actor.send({ type: 'event.received', delivery: { id: 'again', payload: null } });
    h.runs[1]!.finish();
    h.runs[2]!.finish();
    expect(journal.get('again')!.steps.map((s) => s.step)).toEqual(['received', 'queued', 'started', 'completed']);
  });

  it('records operator actions on the timeline, and batches changes for listeners', async () => {
    const { h, journal } = journaled({ workers: 1 }, { throttleMs: 10 });
    const seen: string[][] = [];
    journal.onChange((events) => seen.push(events.map((e) => `${e.id}:${e.state}`)));
    const id = h.deliver();
    journal.note(id, 'cancelRequested', 'ops');
    await until(() => seen.length > 0, { what: 'the first batch of changes' });
    expect(seen).toEqual([[`${id}:running`]]);
    expect(journal.get(id)!.steps.at(-1)).toMatchObject({ step: 'cancelRequested', by: 'ops' });
  });
});
