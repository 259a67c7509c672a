import { describe, expect, it } from 'vitest';
import { LIFECYCLE_TYPES } from '../../machines/supervisor.js';
import { startSupervisor } from '../helpers/supervisor-harness.js';

const steps = (h: ReturnType<typeof startSupervisor>, id: string) => h.emitted.filter((e) => 'id' in e && e.id === id).map((e) => e.type);

describe('supervisorMachine lifecycle notifications', () => {
  it('emits none without the lifecycle flag', () => {
    const h = startSupervisor({ workers: 1 });
    h.deliver();
    h.runs[0]!.finish();
    expect(h.emitted.filter((e) => LIFECYCLE_TYPES.has(e.type))).toEqual([]);
    expect(h.emitted.map((e) => e.type)).toEqual(['event.completed']);
  });

  it("tells each step of a completed event with the supervisor's clock: received, queued, started, completed, settled (ack)", () => {
    const h = startSupervisor({ workers: 1 }, { lifecycle: true });
    h.clock.increment(1000);
    const first = h.deliver({ n: 1 }, { meta: { redelivered: false } });
    const second = h.deliver({ n: 2 });
    h.clock.increment(30);
    h.runs[0]!.finish('ok');
    expect(h.emitted.filter((e) => 'id' in e && e.id === first)).toMatchObject([
      { type: 'event.received', seq: 0, meta: { redelivered: false }, payload: { n: 1 }, at: 1000 },
      { type: 'event.queued', seq: 0, position: 1, at: 1000 },
      { type: 'event.started', seq: 0, slotId: 'slot-0', attempt: 1, at: 1000 },
      { type: 'event.completed' },
      { type: 'event.settled', seq: 0, how: 'ack', at: 1030 },
    ]);
    expect(h.emitted.filter((e) => 'id' in e && e.id === second)).toMatchObject([
      { type: 'event.received', seq: 1 },
      { type: 'event.queued', seq: 1, position: 1 },
      { type: 'event.started', seq: 1, slotId: 'slot-0', attempt: 1, at: 1030 },
    ]);
  });

  it('numbers the queue position among the waiting events', () => {
    const h = startSupervisor({ workers: 1 }, { lifecycle: true });
    h.deliver();
    h.deliver();
    const third = h.deliver();
    expect(h.emitted.find((e) => e.type === 'event.queued' && e.id === third)).toMatchObject({ position: 2 });
  });

  it('tells a timed-out attempt, its abandoned slot, the retry queued again, and a dead letter settled as dead-letter', () => {
    const h = startSupervisor(
      { workers: 1, retries: 1, executionTimeoutMs: 500, backoff: { kind: 'fixed', delayMs: 100, maxDelayMs: 100 } },
      { lifecycle: true },
    );
    const id = h.deliver();
    h.clock.increment(500);
    expect(h.emitted.filter((e) => e.type === 'event.timedOut' || e.type === 'event.abandoned')).toMatchObject([
      { type: 'event.timedOut', id, slotId: 'slot-0', attempt: 1, at: 500 },
      { type: 'event.abandoned', id, slotId: 'slot-0', at: 500 },
    ]);
    h.clock.increment(100); // the retry's backoff
    h.runs[1]!.fail({ code: 'ERR_X', message: 'broken' });
    expect(steps(h, id)).toEqual([
      'event.received',
      'event.queued',
      'event.started',
      'event.timedOut',
      'event.abandoned',
      'event.retrying',
      'event.queued',
      'event.started',
      'event.failed',
      'event.settled',
    ]);
    expect(h.emitted.filter((e) => e.type === 'event.started')).toMatchObject([{ attempt: 1 }, { attempt: 2, slotId: 'slot-1' }]);
    expect(h.emitted.find((e) => e.type === 'event.settled')).toMatchObject({ how: 'dead-letter' });
  });

  it('settles an expired event as nack, and abandons a run still going at the end of the shutdown timeout', () => {
    const h = startSupervisor({ workers: 1, queueTimeoutMs: 100, executionTimeoutMs: 10_000 }, { lifecycle: true });
    const running = h.deliver();
    const waiting = h.deliver();
    h.clock.increment(100);
    expect(steps(h, waiting)).toEqual(['event.received', 'event.queued', 'event.expired', 'event.settled']);
    expect(h.emitted.find((e) => e.type === 'event.settled' && e.id === waiting)).toMatchObject({ how: 'nack' });
    h.actor.send({ type: 'runtime.stop' });
    h.clock.increment(300);
    expect(steps(h, running)).toEqual([
      'event.received',
      'event.queued',
      'event.started',
      'event.abandoned',
      'event.returned',
      'event.settled',
    ]);
  });

  it('turns on when told lifecycle.observe after it started', () => {
    const h = startSupervisor({ workers: 1 });
    h.deliver();
    h.actor.send({ type: 'lifecycle.observe' });
    const id = h.deliver();
    expect(steps(h, id)).toEqual(['event.received', 'event.queued']);
  });
});
