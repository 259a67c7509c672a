import { describe, expect, it } from 'vitest';
import { startSupervisor } from '../helpers/supervisor-harness.js';
import { flush } from '../helpers/wait.js';

describe('supervisorMachine', () => {
  it('starts events on idle slots in arrival order and never runs more than N at once', () => {
    const h = startSupervisor({ workers: 2 });
    const ids = [h.deliver(), h.deliver(), h.deliver(), h.deliver()];
    expect(h.runs.map((r) => r.job.delivery.id)).toEqual(ids.slice(0, 2));
    expect(h.ledger().queue.size).toBe(2);
    h.runs[0]!.finish();
    expect(h.runs.map((r) => r.job.delivery.id)).toEqual(ids.slice(0, 3));
    expect(h.running()).toHaveLength(2);
  });

  it("tells how long an event waited in the queue and how long its run took, by the supervisor's clock", () => {
    const h = startSupervisor({ workers: 1 });
    const first = h.deliver();
    const second = h.deliver();
    h.clock.increment(40);
    h.runs[0]!.finish();
    h.clock.increment(25);
    h.runs[1]!.fail({ code: 'ERR_X', message: 'broken' });
    expect(h.emitted.filter((e) => e.type === 'event.completed' || e.type === 'event.failed')).toMatchObject([
      { type: 'event.completed', id: first, waitMs: 0, runMs: 40 },
      { type: 'event.failed', id: second, waitMs: 40, runMs: 25 },
    ]);
  });

  it('acknowledges a completed event to its source and emits event.completed with the result', () => {
    const h = startSupervisor();
    const id = h.deliver({ n: 1 });
    h.runs[0]!.finish('done');
    expect(h.settlements).toEqual([{ id, outcome: 'completed', ack: true, attempts: 1, deadLetter: false, result: 'done' }]);
    expect(h.emitted.filter((e) => e.type === 'event.completed')).toMatchObject([{ id, result: 'done', attempts: 1 }]);
    expect(h.ledger().counters).toMatchObject({ received: 1, started: 1, completed: 1 });
  });

  it('settles the events of one step with one message to their source', () => {
    const h = startSupervisor({ workers: 3 });
    const ids = [h.deliver(), h.deliver(), h.deliver()];
    h.actor.send({
      type: 'slots.reported',
      reports: h.runs.map((r) => ({ type: 'slot.finished' as const, slotId: r.slotId, seq: r.job.seq, result: r.job.delivery.id })),
    });
    expect(h.settlements.map((s) => s.id)).toEqual(ids);
    expect(h.settleMessages).toEqual(['events.settled']);
  });

  it('pauses the source past the high watermark and resumes it at the low one', () => {
    const h = startSupervisor({ workers: 1, queueSize: 10, highWatermark: 4, lowWatermark: 2 });
    for (let i = 0; i < 4; i++) h.deliver();
    expect(h.toSource.map((e) => e.type)).toEqual([]);
    h.deliver(); // one running, four waiting
    expect(h.toSource.map((e) => e.type)).toEqual(['source.pause']);
    expect(h.state()).toBe('throttled');
    h.runs[0]!.finish(); // three waiting
    h.runs[1]!.finish(); // two waiting: at the low watermark
    expect(h.toSource.map((e) => e.type)).toEqual(['source.pause', 'source.resume']);
    expect(h.state()).toBe('flowing');
  });

  it('rejects events past the queue size when the source does not pause, keeping memory bounded', () => {
    const h = startSupervisor({ workers: 1, queueSize: 3, highWatermark: 2, lowWatermark: 1 });
    const ids = Array.from({ length: 6 }, () => h.deliver());
    expect(h.ledger().queue.size).toBe(3);
    expect(ids.slice(4).flatMap((id) => h.outcomeOf(id))).toEqual(['rejected', 'rejected']);
    expect(h.settlements.find((s) => s.id === ids[4])?.error?.code).toBe('ERR_QUEUE_FULL');
  });

  it('never starts an event that waited longer than the queue timeout, and nacks it as expired', () => {
    const h = startSupervisor({ workers: 1, queueTimeoutMs: 1000, executionTimeoutMs: 10_000 });
    h.deliver();
    h.clock.increment(400);
    const late = h.deliver();
    h.clock.increment(999);
    expect(h.outcomeOf(late)).toEqual([]);
    h.clock.increment(1);
    expect(h.outcomeOf(late)).toEqual(['expired']);
    expect(h.settlements.find((s) => s.id === late)).toMatchObject({ ack: false, error: { code: 'ERR_QUEUE_TIMEOUT' } });
    h.runs[0]!.finish();
    expect(h.runs.map((r) => r.job.delivery.id)).not.toContain(late);
    expect(h.ledger().counters.expired).toBe(1);
  });

  it('expires rather than starts an event found past its queue timeout when a slot frees (the timer lost the race)', () => {
    let now = 0;
    const h = startSupervisor({ workers: 1, queueTimeoutMs: 300, executionTimeoutMs: 10_000 });
    // A clock that moves without firing timers: a stalled event loop.
    h.actor.getSnapshot().context.now = () => now;
    h.deliver();
    const waiting = h.deliver();
    now = 1000;
    h.runs[0]!.finish();
    expect(h.outcomeOf(waiting)).toEqual(['expired']);
    expect(h.runs).toHaveLength(1);
  });

  it('fails a run past the execution timeout with ERR_WORKER_TIMEOUT, aborts it and keeps N usable slots', () => {
    const h = startSupervisor({ workers: 2, executionTimeoutMs: 500 });
    const stuck = h.deliver();
    h.deliver();
    h.clock.increment(500);
    expect(h.runs[0]!.aborted).toBe(true);
    expect(h.settlements.find((s) => s.id === stuck)).toMatchObject({
      outcome: 'failed',
      deadLetter: true,
      error: { code: 'ERR_WORKER_TIMEOUT' },
    });
    expect(h.ledger().abandoned).toBe(2);
    expect(h.ledger().slots.size).toBe(2);
    // The stuck promises never settle, yet two new events still run at once.
    h.deliver();
    h.deliver();
    expect(h.running()).toHaveLength(2);
    expect(h.emitted.filter((e) => e.type === 'slot.replaced')).toHaveLength(2);
  });

  it('under isolation = thread, fails a timed-out event and frees its key only once its slot retired (its thread is gone)', () => {
    const h = startSupervisor({ workers: 2, executionTimeoutMs: 500, orderBy: ['k'], isolation: 'thread' });
    const stuck = h.deliver({ k: 'a' });
    const next = h.deliver({ k: 'a' });
    h.clock.increment(500);
    expect(h.runs[0]!.aborted).toBe(true);
    // The thread is being terminated: no outcome yet, and the same-key event waits.
    expect(h.settlements.find((s) => s.id === stuck)).toBeUndefined();
    expect(h.runs.map((r) => r.job.delivery.id)).toEqual([stuck]);
    expect(h.ledger().terminating.size).toBe(1);
    h.runs[0]!.fail({ code: 'ERR_WORKER_TIMEOUT', message: 'its thread was terminated' });
    expect(h.settlements.find((s) => s.id === stuck)).toMatchObject({ outcome: 'failed', error: { code: 'ERR_WORKER_TIMEOUT' } });
    expect(h.runs.map((r) => r.job.delivery.id)).toEqual([stuck, next]);
    expect(h.ledger().terminating.size).toBe(0);
  });

  it('retires an abandoned slot once its run finally settles', () => {
    const h = startSupervisor({ workers: 1, executionTimeoutMs: 500 });
    h.deliver();
    h.clock.increment(500);
    expect(h.ledger().abandoned).toBe(1);
    h.runs[0]!.finish('late');
    expect(h.ledger().abandoned).toBe(0);
    expect(Object.keys(h.actor.getSnapshot().children)).not.toContain(h.runs[0]!.slotId);
    expect(h.ledger().counters.completed).toBe(0);
  });

  it('retries a failed event after an exponential backoff, then dead-letters it after the last attempt', () => {
    const h = startSupervisor({ workers: 1, retries: 2, backoff: { kind: 'exponential', delayMs: 100, maxDelayMs: 1000 } });
    const id = h.deliver();
    h.runs[0]!.fail();
    expect(h.runs).toHaveLength(1);
    // random() is 0.5: the first retry waits 100 + (200 - 100) * 0.5 = 150ms, the second 100 + (400 - 100) * 0.5 = 250ms.
    h.clock.increment(149);
    expect(h.runs).toHaveLength(1);
    h.clock.increment(1);
    expect(h.runs.map((r) => r.attempt)).toEqual([1, 2]);
    h.runs[1]!.fail();
    h.clock.increment(249);
    expect(h.runs).toHaveLength(2);
    h.clock.increment(1);
    expect(h.runs.map((r) => r.attempt)).toEqual([1, 2, 3]);
    h.runs[2]!.fail({ code: 'ERR_X', message: 'still broken' });
    expect(h.settlements).toMatchObject([{ id, outcome: 'failed', deadLetter: true, attempts: 3, error: { code: 'ERR_X' } }]);
    expect(h.ledger().counters).toMatchObject({ retried: 2, failed: 1, deadLettered: 1 });
  });

  it('holds an event whose run failed because the store or the locks were down, pauses the source for the dependency, and, when they cannot be pinged, lets one held event run at a time as the probe', () => {
    const h = startSupervisor({ workers: 2, retries: 3, queueTimeoutMs: 100_000 });
    const first = h.deliver();
    const second = h.deliver();
    const third = h.deliver();
    h.runs[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'store redis://127.0.0.1:6379 is unavailable' });
    // Not the event's failure: no retry counted, no outcome, and nothing else starts.
    expect(h.settlements).toEqual([]);
    expect(h.ledger().counters).toMatchObject({ retried: 0, returned: 0, failed: 0 });
    expect(h.runs).toHaveLength(2);
    expect(h.toSource).toEqual([{ type: 'source.pause', reason: 'dependency' }]);
    expect(h.emitted.filter((e) => e.type.startsWith('dependency.'))).toMatchObject([
      { type: 'dependency.down', error: { code: 'ERR_STORE_UNAVAILABLE' } },
    ]);
    // The run that was in flight fails the same way: held too, still one warning.
    h.runs[1]!.fail({ code: 'ERR_LOCK_UNAVAILABLE', message: 'locks unavailable' });
    expect(h.emitted.filter((e) => e.type === 'dependency.down')).toHaveLength(1);
    // Probes: the oldest held event, alone, after a backoff no longer than a second.
    for (let probe = 1; probe <= 5; probe++) {
      h.clock.increment(1000);
      expect(h.running().map((r) => r.job.delivery.id)).toEqual([first]);
      expect(h.runs.at(-1)!.attempt).toBe(1);
      h.running()[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'still down' });
    }
    expect(h.toSource).toHaveLength(1);
    h.clock.increment(1000);
    h.running()[0]!.finish();
    expect(h.emitted.filter((e) => e.type.startsWith('dependency.'))).toMatchObject([
      { type: 'dependency.down' },
      { type: 'dependency.up', downForMs: 6000, probes: 6 },
    ]);
    expect(h.toSource).toEqual([
      { type: 'source.pause', reason: 'dependency' },
      { type: 'source.resume', reason: 'dependency' },
    ]);
    expect(h.running().map((r) => r.job.delivery.id)).toEqual(expect.arrayContaining([second, third]));
    expect(h.running()).toHaveLength(2);
    h.running()[0]!.finish();
    h.running()[0]!.finish();
    expect(h.settlements.map((s) => [s.id, s.outcome, s.attempts]).sort()).toEqual([
      [first, 'completed', 1],
      [second, 'completed', 1],
      [third, 'completed', 1],
    ]);
  });

  it('pings the store and locks while they are down, runs no worker until a ping answers, then runs the held events as usual', async () => {
    const h = startSupervisor({ workers: 2, retries: 3, queueTimeoutMs: 100_000 }, { pings: true });
    const ids = [h.deliver(), h.deliver(), h.deliver()];
    h.runs[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'store redis://127.0.0.1:6379 is unavailable' });
    h.runs[1]!.fail({ code: 'ERR_LOCK_UNAVAILABLE', message: 'locks unavailable' });
    expect(h.toSource).toEqual([{ type: 'source.pause', reason: 'dependency' }]);
    // Ten seconds of outage in 10ms steps: pings one at a time, on the backoff, and no run at all.
    let failedAt = 0;
    for (let t = 0; t < 10_000; t += 10) {
      h.clock.increment(10);
      const out = h.pings.filter((ping) => ping.at === h.clock.now());
      if (out.length === 0) continue;
      expect(out).toHaveLength(1);
      expect(out[0]!.input).toEqual({ dependencies: ['store', 'lock'], timeoutMs: 1000 });
      expect(h.clock.now() - failedAt).toBeGreaterThanOrEqual(100);
      expect(h.clock.now() - failedAt).toBeLessThanOrEqual(500);
      out[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'still down' });
      await flush();
      failedAt = h.clock.now();
    }
    expect(h.pings.length).toBeGreaterThanOrEqual(20);
    expect(h.runs).toHaveLength(2);
    expect(h.emitted.filter((e) => e.type.startsWith('dependency.'))).toHaveLength(1);
    expect(h.toSource).toHaveLength(1);
    // The next ping answers: the outage is over, said once, and both slots take held events at once.
    h.clock.increment(500);
    h.pings.at(-1)!.answer('up');
    await flush();
    expect(h.emitted.filter((e) => e.type.startsWith('dependency.'))).toMatchObject([
      { type: 'dependency.down', error: { code: 'ERR_STORE_UNAVAILABLE' } },
      { type: 'dependency.up', downForMs: h.clock.now(), probes: h.pings.length },
    ]);
    expect(h.toSource).toEqual([
      { type: 'source.pause', reason: 'dependency' },
      { type: 'source.resume', reason: 'dependency' },
    ]);
    expect(h.running()).toHaveLength(2);
    h.running()[0]!.finish();
    h.running()[0]!.finish();
    h.running()[0]!.finish();
    expect(h.settlements.map((s) => [s.id, s.outcome, s.attempts]).sort()).toEqual(ids.map((id) => [id, 'completed', 1]));
    expect(h.ledger().counters).toMatchObject({ started: 5, retried: 0, failed: 0, returned: 0 });
  });

  it('probes by running one held event, at once, when a ping finds that the store cannot be pinged', async () => {
    const h = startSupervisor({ workers: 2, queueTimeoutMs: 100_000 }, { pings: true });
    const first = h.deliver();
    h.deliver();
    h.runs[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'down' });
    h.runs[1]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'down' });
    h.clock.increment(500);
    expect(h.pings).toHaveLength(1);
    expect(h.runs).toHaveLength(2);
    h.pings[0]!.answer('unsupported');
    await flush();
    expect(h.running().map((r) => r.job.delivery.id)).toEqual([first]);
    // From then on, this outage is probed by event: no more pings.
    h.running()[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'down' });
    h.clock.increment(500);
    expect(h.pings).toHaveLength(1);
    expect(h.running()).toHaveLength(1);
  });

  it("probes by event when a ping finds the app's store up but the worker's run fails on it again at once (a store of the worker's own): down and up said once each, not once per ping", async () => {
    const h = startSupervisor({ workers: 1, queueTimeoutMs: 100_000 }, { pings: true });
    const id = h.deliver();
    const down = { code: 'ERR_STORE_UNAVAILABLE', message: "the worker's own store is down" };
    h.runs[0]!.fail(down);
    h.clock.increment(500);
    h.pings[0]!.answer('up');
    await flush();
    expect(h.running()).toHaveLength(1);
    h.running()[0]!.fail(down);
    for (let probe = 0; probe < 10; probe++) {
      h.clock.increment(500);
      expect(h.running()).toHaveLength(1);
      h.running()[0]!.fail(down);
    }
    expect(h.pings).toHaveLength(1);
    expect(h.emitted.filter((e) => e.type.startsWith('dependency.')).map((e) => e.type)).toEqual([
      'dependency.down',
      'dependency.up',
      'dependency.down',
    ]);
    h.clock.increment(500);
    h.running()[0]!.finish();
    expect(h.emitted.filter((e) => e.type.startsWith('dependency.')).map((e) => e.type)).toEqual([
      'dependency.down',
      'dependency.up',
      'dependency.down',
      'dependency.up',
    ]);
    expect(h.outcomeOf(id)).toEqual(['completed']);
    // A run went through: the next outage is pinged again.
    h.deliver();
    h.runs.at(-1)!.fail(down);
    h.clock.increment(500);
    expect(h.pings).toHaveLength(2);
  });

  it('stops a ping in flight and returns the held events, unacknowledged, when the runtime stops during the outage', async () => {
    const h = startSupervisor({ workers: 1, queueTimeoutMs: 100_000 }, { pings: true });
    const id = h.deliver();
    h.runs[0]!.fail({ code: 'ERR_LOCK_UNAVAILABLE', message: 'locks unavailable' });
    h.clock.increment(500);
    expect(h.pings).toHaveLength(1);
    h.actor.send({ type: 'runtime.stop' });
    expect(h.settlements).toMatchObject([{ id, outcome: 'returned', ack: false, deadLetter: false }]);
    expect(h.state()).toBe('stopped');
    h.pings[0]!.answer('up');
    await flush();
    expect(h.emitted.filter((e) => e.type === 'dependency.up')).toEqual([]);
    expect(h.runs).toHaveLength(1);
  });

  it('resumes the source for a probe when no event is held to probe with, and pauses it again if that one fails', () => {
    const h = startSupervisor({ workers: 1, queueTimeoutMs: 100_000 });
    const first = h.deliver();
    h.runs[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'down' });
    // Its source can no longer acknowledge it: it goes back, and nothing is left to probe with.
    h.actor.send({ type: 'events.revoked', ids: [first], error: { code: 'ERR_CONNECTION_LOST', message: 'lost' } });
    expect(h.outcomeOf(first)).toEqual(['returned']);
    h.clock.increment(1000);
    expect(h.toSource).toEqual([
      { type: 'source.pause', reason: 'dependency' },
      { type: 'source.resume', reason: 'dependency' },
    ]);
    const next = h.deliver();
    expect(h.running().map((r) => r.job.delivery.id)).toEqual([next]);
    h.deliver();
    expect(h.running()).toHaveLength(1);
    h.running()[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'down' });
    expect(h.toSource.at(-1)).toEqual({ type: 'source.pause', reason: 'dependency' });
    expect(h.emitted.filter((e) => e.type === 'dependency.down')).toHaveLength(1);
  });

  it('returns held events to their source unacknowledged, never dead-lettered, when the runtime stops during an outage', () => {
    const h = startSupervisor({
      workers: 1,
      retries: 1,
      queueTimeoutMs: 100_000,
      backoff: { kind: 'fixed', delayMs: 100, maxDelayMs: 100 },
    });
    const stored = h.deliver();
    const locked = h.deliver();
    h.runs[0]!.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'store redis://127.0.0.1:6379 is unavailable' });
    h.clock.increment(1000);
    h.runs[1]!.fail({ code: 'ERR_LOCK_UNAVAILABLE', message: 'locks unavailable' });
    h.actor.send({ type: 'runtime.stop' });
    expect([...h.settlements].sort((a, b) => a.id.localeCompare(b.id))).toMatchObject([
      { id: stored, outcome: 'returned', ack: false, deadLetter: false, attempts: 1 },
      { id: locked, outcome: 'returned', ack: false, deadLetter: false, attempts: 1 },
    ]);
    expect(h.ledger().counters).toMatchObject({ retried: 0, returned: 2, failed: 0, deadLettered: 0 });
    expect(h.state()).toBe('stopped');
  });

  it('runs events with the same ordering key one at a time, in arrival order, while other keys go on', () => {
    const h = startSupervisor({ workers: 3, orderBy: ['headers', 'asset'] });
    const a1 = h.deliver({ headers: { asset: 'a' } });
    const a2 = h.deliver({ headers: { asset: 'a' } });
    const b1 = h.deliver({ headers: { asset: 'b' } });
    const none = h.deliver({ other: true });
    expect(h.running().map((r) => r.job.delivery.id)).toEqual([a1, b1, none]);
    h.runs[0]!.finish();
    expect(h.running().map((r) => r.job.delivery.id)).toEqual([b1, none, a2]);
  });

  it('holds a key while its event waits for a retry, so later events of that key do not overtake it', () => {
    const h = startSupervisor({ workers: 2, retries: 1, orderBy: ['k'] });
    const first = h.deliver({ k: 1 });
    const second = h.deliver({ k: 1 });
    h.runs[0]!.fail();
    expect(h.running()).toHaveLength(0);
    h.clock.increment(150);
    expect(h.running().map((r) => r.job.delivery.id)).toEqual([first]);
    h.runs[1]!.finish();
    expect(h.running().map((r) => r.job.delivery.id)).toEqual([second]);
  });

  it('drops waiting and retrying events its source revoked, returning them, while a running one finishes', () => {
    const h = startSupervisor({ workers: 1, retries: 1 });
    const retrying = h.deliver();
    const running = h.deliver();
    const waiting = h.deliver();
    h.runs[0]!.fail(); // `retrying` waits for its retry; `running` starts
    const lost = { code: 'ERR_CONNECTION_LOST', message: 'lost the connection' };
    h.actor.send({ type: 'events.revoked', ids: [retrying, running, waiting], error: lost });
    expect(h.outcomeOf(retrying)).toEqual(['returned']);
    expect(h.outcomeOf(waiting)).toEqual(['returned']);
    expect(h.settlements.find((s) => s.id === waiting)).toMatchObject({ ack: false, error: lost });
    expect(h.outcomeOf(running)).toEqual([]);
    h.runs[1]!.finish();
    expect(h.outcomeOf(running)).toEqual(['completed']);
    h.clock.increment(1000);
    expect(h.runs.map((r) => r.job.delivery.id)).toEqual([retrying, running]);
    expect(h.ledger().counters).toMatchObject({ returned: 2, retried: 1, completed: 1 });
    expect(h.ledger().retrying.size).toBe(0);
  });

  it('does not retry a revoked event that was running and then failed: it is returned', () => {
    const h = startSupervisor({ workers: 1, retries: 3 });
    const id = h.deliver();
    const lost = { code: 'ERR_CONNECTION_LOST', message: 'gone' };
    h.actor.send({ type: 'events.revoked', ids: [id], error: lost });
    h.runs[0]!.fail();
    h.clock.increment(10_000);
    expect(h.runs).toHaveLength(1);
    expect(h.settlements).toMatchObject([{ id, outcome: 'returned', ack: false, error: lost }]);
    expect(h.ledger().counters).toMatchObject({ retried: 0, failed: 0, returned: 1 });
  });

  it('returns waiting events its source revoked without starting them', () => {
    const h = startSupervisor({ workers: 1 });
    const first = h.deliver();
    const second = h.deliver();
    const third = h.deliver();
    h.actor.send({ type: 'events.revoked', ids: [second], error: { code: 'ERR_CONNECTION_LOST', message: 'gone' } });
    expect(h.outcomeOf(second)).toEqual(['returned']);
    h.runs[0]!.finish();
    expect(h.runs.map((r) => r.job.delivery.id)).toEqual([first, third]);
  });

  it('emits source.reconnecting with the attempt, delay and error', () => {
    const h = startSupervisor();
    const error = { code: 'ERR_CONNECT', message: 'cannot connect' };
    h.actor.send({ type: 'source.reconnecting', attempt: 2, delayMs: 750, error });
    expect(h.emitted.filter((e) => e.type === 'source.reconnecting')).toEqual([
      { type: 'source.reconnecting', attempt: 2, delayMs: 750, error },
    ]);
  });

  it('fails an event the source could not read at once, without running a worker', () => {
    const h = startSupervisor();
    const id = h.deliver('not json', { error: { code: 'ERR_PAYLOAD', message: 'line 3 is not JSON' } });
    expect(h.runs).toHaveLength(0);
    expect(h.settlements).toMatchObject([{ id, outcome: 'failed', deadLetter: true, error: { message: 'line 3 is not JSON' } }]);
  });

  it('on stop pauses the source, returns waiting events, lets in-flight work finish, and only then stops the source', () => {
    const h = startSupervisor({ workers: 1 });
    const running = h.deliver();
    const waiting = h.deliver();
    h.actor.send({ type: 'runtime.stop' });
    expect(h.state()).toBe('{"stopping":"draining"}');
    expect(h.toSource.map((e) => e.type)).toEqual(['source.pause']);
    expect(h.outcomeOf(waiting)).toEqual(['returned']);
    const afterStop = h.deliver();
    expect(h.outcomeOf(afterStop)).toEqual(['returned']);
    h.runs[0]!.finish();
    // The in-flight event's outcome reached the source before it was told to stop.
    expect(h.outcomeOf(running)).toEqual(['completed']);
    expect(h.toSource.map((e) => e.type)).toEqual(['source.pause', 'source.stop']);
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: 'requested', counters: { completed: 1, returned: 2 } });
  });

  it('waits in closing for the source to say it stopped, at most the shutdown timeout', () => {
    const closes = startSupervisor({ workers: 1 }, { sourceClosesAtOnce: false });
    closes.actor.send({ type: 'source.ended' });
    expect(closes.state()).toBe('{"stopping":"closing"}');
    expect(closes.toSource.map((e) => e.type)).toEqual(['source.pause', 'source.stop']);
    closes.actor.send({ type: 'source.stopped' });
    expect(closes.actor.getSnapshot().output).toMatchObject({ reason: 'ended' });

    const hangs = startSupervisor({ workers: 1, shutdownTimeoutMs: 300 }, { sourceClosesAtOnce: false });
    hangs.actor.send({ type: 'runtime.stop' });
    hangs.clock.increment(299);
    expect(hangs.state()).toBe('{"stopping":"closing"}');
    hangs.clock.increment(1);
    expect(hangs.actor.getSnapshot().status).toBe('done');
  });

  it('aborts in-flight work when the shutdown timeout passes and returns it to its source', () => {
    const h = startSupervisor({ workers: 2, shutdownTimeoutMs: 300, executionTimeoutMs: 10_000 });
    const a = h.deliver();
    h.actor.send({ type: 'runtime.stop' });
    h.clock.increment(299);
    expect(h.actor.getSnapshot().status).toBe('active');
    h.clock.increment(1);
    expect(h.runs[0]!.aborted).toBe(true);
    expect(h.outcomeOf(a)).toEqual(['returned']);
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('does not retry during shutdown: a failure while stopping returns the event', () => {
    const h = startSupervisor({ workers: 1, retries: 3 });
    const id = h.deliver();
    h.actor.send({ type: 'runtime.stop' });
    h.runs[0]!.fail();
    expect(h.outcomeOf(id)).toEqual(['returned']);
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('ends with reason "ended" once the source has ended and every event has an outcome', () => {
    const h = startSupervisor({ workers: 1 });
    h.deliver();
    h.actor.send({ type: 'source.ended' });
    expect(h.actor.getSnapshot().status).toBe('active');
    h.runs[0]!.finish();
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: 'ended', counters: { completed: 1 } });
  });

  it('stops with reason "source failed" when the source fails, returning what waits', () => {
    const h = startSupervisor({ workers: 1 });
    h.deliver();
    const waiting = h.deliver();
    h.actor.send({ type: 'source.failed', error: { code: 'ERR_SOURCE', message: 'refused' } });
    expect(h.outcomeOf(waiting)).toEqual(['returned']);
    h.runs[0]!.finish();
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: 'source failed', sourceError: { message: 'refused' } });
  });
});
