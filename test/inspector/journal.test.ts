import { describe, expect, it } from 'vitest';
import type { SupervisorEmitted } from '../../machines/supervisor.js';
import { createJournal, type Journal } from '../../src/inspector/journal.js';
import { previewOf } from '../../src/inspector/preview.js';
import { journaled } from '../helpers/journaled.js';
import { startSupervisor } from '../helpers/supervisor-harness.js';
import { until } from '../helpers/wait.js';

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
    h.actor.send({ type: 'event.received', delivery: { id: 'again', payload: null } });
    h.runs[1]!.finish();
    h.runs[2]!.finish();
    expect(journal.get('again')!.steps.map((s) => s.step)).toEqual(['received', 'queued', 'started', 'completed']);
    // An operator's action on an event that has ended comes after its outcome.
    h.clock.increment(5);
    journal.note('again', 'retryRequested', 'ops');
    expect(journal.get('again')).toMatchObject({
      updatedAt: 5,
      steps: [
        { step: 'received', at: 0 },
        { step: 'queued', position: 1, at: 0 },
        { step: 'started', slotId: 'slot-0', attempt: 1, at: 0 },
        { step: 'completed', attempts: 1, at: 0 },
        { step: 'retryRequested', by: 'ops', at: 5 },
      ],
    });
  });

  it("keeps the bytes a source read an event from while a retry may write them back: a failed event's, not a completed one's", () => {
    const { h, journal } = journaled({ workers: 2 }, { size: 10 });
    const raw = (text: string) => Buffer.from(text);
    const failed = h.deliver({ n: 1 }, { raw: raw('one') });
    const completed = h.deliver({ n: 2 }, { raw: raw('two') });
    expect(journal.original(completed)!.raw).toEqual(raw('two'));
    h.runs[0]!.fail({ code: 'ERR_BROKEN', message: 'broken' });
    h.runs[1]!.finish();
    expect(journal.original(failed)).toMatchObject({ state: 'dead-lettered', raw: raw('one') });
    expect(journal.original(completed)).toMatchObject({ state: 'completed', raw: undefined });
  });

  it('turns on no notification the supervisor would emit for every event: received, queued and started come from its inspection events', () => {
    const { h, journal } = journaled({ workers: 1 });
    const id = h.deliver();
    expect(Object.entries(h.ledger().emits).flatMap(([type, on]) => (on ? [type] : []))).toEqual(['event.timedOut', 'event.abandoned']);
    expect(h.emitted.map((e) => e.type)).toEqual([]);
    expect(journal.get(id)!.steps.map((s) => s.step)).toEqual(['received', 'queued', 'started']);
  });

  it('numbers events as the supervisor does, those settled as they arrive included (unreadable, queue full, stopping)', () => {
    const { h, journal } = journaled({ workers: 1, queueSize: 1 }, { size: 10 });
    const running = h.deliver();
    const waiting = h.deliver();
    const full = h.deliver();
    const unreadable = h.deliver(null, { error: { code: 'ERR_PAYLOAD', message: 'not JSON' } });
    h.actor.send({ type: 'runtime.stop' });
    const late = h.deliver();
    h.runs[0]!.finish();
    const outcomes = h.emitted.filter((e) => 'attempts' in e).map((e) => [e.id, e.seq, e.type]);
    expect(outcomes).toEqual([
      [full, 2, 'event.rejected'],
      [unreadable, 3, 'event.failed'],
      [waiting, 1, 'event.returned'],
      [late, 4, 'event.returned'],
      [running, 0, 'event.completed'],
    ]);
    expect(outcomes.map(([id]) => [id, journal.get(id as string)!.seq])).toEqual(outcomes.map(([id, seq]) => [id, seq]));
    const steps = (id: string) => journal.get(id)!.steps.map((s) => s.step);
    expect(steps(full)).toEqual(['received', 'rejected', 'settled']);
    expect(steps(unreadable)).toEqual(['received', 'dead-lettered', 'settled']);
    expect(steps(late)).toEqual(['received', 'returned', 'settled']);
    // Returned from the queue as the runtime stopped: it had been queued.
    expect(steps(waiting)).toEqual(['received', 'queued', 'returned', 'settled']);
    expect(journal.size()).toEqual({ finished: 5, inFlight: 0 });
  });

  it('numbers events right when it starts on a supervisor already running, and ignores what is sent to one that has stopped', () => {
    let journal: Journal | undefined;
    const h = startSupervisor({ workers: 1 }, { inspect: (event) => journal?.observe(event) });
    const before = [h.deliver(), h.deliver()];
    h.runs[0]!.finish();
    journal = createJournal({
      on: (type, listener) => h.actor.on(type, listener as (event: SupervisorEmitted) => void).unsubscribe,
      now: () => h.clock.now(),
      size: 10,
      redact: [],
      source: 'test',
    });
    const after = h.deliver();
    h.runs[1]!.finish();
    h.runs[2]!.finish();
    expect(journal.get(before[1]!)).toBeUndefined();
    expect(journal.get(after)).toMatchObject({ seq: 2, state: 'completed' });
    expect(h.emitted.find((e) => e.type === 'event.completed' && e.id === after)).toMatchObject({ seq: 2 });
    h.actor.send({ type: 'runtime.stop' });
    expect(h.actor.getSnapshot().status).toBe('done');
    h.deliver();
    expect(journal.size()).toEqual({ finished: 1, inFlight: 0 });
  });

  it('finds an event in flight for long among thousands that came after it', () => {
    const { h, journal } = journaled({ workers: 2, executionTimeoutMs: 60_000 });
    const hung = h.deliver();
    for (let i = 0; i < 2100; i++) {
      h.deliver();
      h.runs.at(-1)!.finish();
    }
    expect(journal.size()).toEqual({ finished: 3, inFlight: 1 });
    expect(journal.list({ state: 'running' }).map((e) => e.id)).toEqual([hung]);
    h.runs[0]!.finish();
    expect(journal.get(hung)).toMatchObject({ seq: 0, state: 'completed' });
    expect(journal.size()).toEqual({ finished: 3, inFlight: 0 });
  });

  it('shows a long timeline with its first steps and its latest, and nothing of an event it kept before', () => {
    const { h, journal } = journaled({ workers: 1, retries: 30, backoff: { kind: 'fixed', delayMs: 1, maxDelayMs: 1 } });
    const id = h.deliver();
    for (let attempt = 0; attempt < 25; attempt++) {
      h.runs.at(-1)!.fail({ code: 'ERR_X', message: `attempt ${attempt + 1}` });
      h.clock.increment(1);
    }
    h.runs.at(-1)!.finish();
    const detail = journal.get(id)!;
    expect(detail.steps).toHaveLength(40);
    // received, queued, started, 25 times retrying and started, completed, settled.
    expect(detail.stepsDropped).toBe(3 + 25 * 2 + 2 - 40);
    expect(detail.steps.slice(0, 4).map((s) => s.step)).toEqual(['received', 'queued', 'started', 'retrying']);
    expect(detail.steps.slice(-4)).toMatchObject([
      { step: 'retrying', attempt: 25, delayMs: 1, error: { code: 'ERR_X', message: 'attempt 25' } },
      { step: 'started', attempt: 26 },
      { step: 'completed', attempts: 26 },
      { step: 'settled', how: 'ack' },
    ]);
    // The ring holds 3: the next ones take the place of the first.
    const next = Array.from({ length: 4 }, () => {
      const later = h.deliver({ later: true });
      h.runs.at(-1)!.finish();
      return later;
    });
    expect(journal.get(id)).toBeUndefined();
    expect(journal.get(next[3]!)).toMatchObject({
      state: 'completed',
      attempt: 1,
      error: null,
      payload: '{"later":true}',
      stepsDropped: 0,
      steps: [{ step: 'received' }, { step: 'queued' }, { step: 'started' }, { step: 'completed' }, { step: 'settled' }],
    });
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
