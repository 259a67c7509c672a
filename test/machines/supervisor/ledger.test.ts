import { describe, expect, it } from 'vitest';
import type { AnyActorRef } from 'xstate';
import type { Delivery } from '../../../machines/events.js';
import type { Effect } from '../../../machines/supervisor/effects.js';
import { admit, expire, finish, retry } from '../../../machines/supervisor/ledger.js';
import { emptyLedger, type Ledger, type LedgerStep } from '../../../machines/supervisor/ledger-state.js';
import { openSlots, timeOutRuns } from '../../../machines/supervisor/runs.js';
import { recordStop, returnWaiting, revoke } from '../../../machines/supervisor/stopping.js';
import type { SupervisorSettings } from '../../../machines/supervisor/types.js';
import { deepFreeze, plainView } from '../../helpers/frozen-view.js';
import { testSettings } from '../../helpers/supervisor-harness.js';

/** The ledger as a specification: each function's next ledger, and the effects it asks for, in order. */

const at = (now: number) => ({ now, random: () => 0.5 });
const source = { id: 'source', send: () => {}, getSnapshot: () => ({ status: 'active' }) } as unknown as AnyActorRef;
const delivery = (id: string, payload: unknown = null): Delivery => ({ id, payload, origin: source });

/** A ledger with its slots open, frozen so that a function that changed it in place would throw. */
function opened(overrides: Partial<SupervisorSettings> = {}): Ledger {
  return deepFreeze(openSlots(emptyLedger(testSettings(overrides), undefined), at(0)).ledger);
}

/** The effects in a short form: `assign slot-0 a#1`, `settle a:completed`, `emit event.completed a`, `arm retry-0 150`, ... */
function said(effects: readonly Effect[]): string[] {
  return effects.map((effect) => {
    switch (effect.type) {
      case 'assign':
        return `assign ${effect.slotId} ${effect.job.delivery.id}#${effect.job.attempt}`;
      case 'abort':
        return `abort ${effect.slotId} ${effect.reason.code}`;
      case 'settle':
        return `settle ${effect.settlements.map((s) => `${s.id}:${s.outcome}${s.deadLetter ? '!' : ''}`).join(',')}`;
      case 'emit':
        return `emit ${effect.event.type}${'id' in effect.event ? ` ${effect.event.id}` : ''}`;
      case 'raise':
        return `raise ${effect.event.type}`;
      case 'arm':
        return `arm ${effect.id} ${effect.delayMs}`;
      case 'cancel':
        return `cancel ${effect.id}`;
      case 'spawnSlot':
        return `spawn ${effect.slotId}`;
      case 'spawnPing':
        return 'spawn ping';
      case 'stopChild':
        return `stop ${effect.id}`;
      case 'tellSource':
        return `source ${effect.event.type}`;
    }
  });
}

/** Runs `fn` on a frozen `ledger` and checks that it stayed as it was. */
function stepOf(ledger: Ledger, fn: (ledger: Ledger) => LedgerStep): LedgerStep {
  const before = plainView(ledger);
  const step = fn(ledger);
  expect(plainView(ledger)).toEqual(before);
  return { ledger: deepFreeze(step.ledger), effects: step.effects };
}

describe('the supervisor ledger', () => {
  it('opens one idle slot per worker', () => {
    const { ledger, effects } = openSlots(emptyLedger(testSettings({ workers: 2 }), undefined), at(0));
    expect(said(effects)).toEqual(['spawn slot-0', 'spawn slot-1']);
    expect([...ledger.slots.keys()]).toEqual(['slot-0', 'slot-1']);
    expect(ledger.idle).toHaveLength(2);
  });

  it('admits deliveries, assigns them to idle slots in arrival order and arms the deadline and expiry timers', () => {
    const { ledger, effects } = stepOf(opened({ workers: 2 }), (l) => admit(l, [delivery('a'), delivery('b'), delivery('c')], at(5)));
    expect(said(effects)).toEqual(['assign slot-0 a#1', 'assign slot-1 b#1', 'arm execution-deadline 500', 'arm queue-expiry 1000']);
    expect(ledger.queue.size).toBe(1);
    expect(ledger.running).toBe(2);
    expect(ledger.counters).toMatchObject({ received: 3, started: 2 });
    const assigned = effects.find((e) => e.type === 'assign');
    expect(assigned).toMatchObject({ job: { seq: 0, attempt: 1, slotId: 'slot-0', startedAt: 5, waitMs: 0 } });
  });

  it('emits the lifecycle notifications only when asked for', () => {
    const ledger = deepFreeze(openSlots(emptyLedger(testSettings({ workers: 1 }), true), at(0)).ledger);
    expect(said(admit(ledger, [delivery('a'), delivery('b')], at(0)).effects)).toEqual([
      'emit event.received a',
      'emit event.queued a',
      'emit event.received b',
      'emit event.queued b',
      'emit event.started a',
      'assign slot-0 a#1',
      'arm execution-deadline 500',
      'arm queue-expiry 1000',
    ]);
  });

  it('settles at once what it cannot queue: unreadable (dead-lettered) and over the queue size (rejected), in one message', () => {
    const full = stepOf(opened({ workers: 1, queueSize: 1, highWatermark: 1, lowWatermark: 0 }), (l) =>
      admit(
        l,
        [
          delivery('a'),
          delivery('b'),
          { id: 'bad', payload: null, origin: source, error: { code: 'ERR_PARSE', message: 'x' } },
          delivery('c'),
        ],
        at(0),
      ),
    );
    // All are admitted before any starts: with a waiting, the queue is full for b and c.
    expect(said(full.effects)).toEqual([
      'emit event.rejected b',
      'emit event.failed bad',
      'emit event.rejected c',
      'settle b:rejected,bad:failed!,c:rejected',
      'assign slot-0 a#1',
      'arm execution-deadline 500',
    ]);
    expect(full.ledger.counters).toMatchObject({ received: 4, failed: 1, deadLettered: 1, rejected: 2 });
  });

  it('dispatches in key order: a later event of a key waits for the earlier one, other keys go on', () => {
    const first = stepOf(opened({ workers: 2, orderBy: ['k'] }), (l) =>
      admit(l, [delivery('a1', { k: 'a' }), delivery('a2', { k: 'a' }), delivery('b1', { k: 'b' })], at(0)),
    );
    expect(said(first.effects).filter((line) => line.startsWith('assign'))).toEqual(['assign slot-0 a1#1', 'assign slot-1 b1#1']);
    // b1 finishes first: a2 still waits for a1.
    const second = stepOf(first.ledger, (l) => finish(l, [{ type: 'slot.finished', slotId: 'slot-1', seq: 2, result: 1 }], at(10)));
    expect(said(second.effects)).toEqual(['emit event.completed b1', 'settle b1:completed']);
    // a1 finishes: its outcome is sent before a2 starts on the freed slot.
    const third = stepOf(second.ledger, (l) => finish(l, [{ type: 'slot.finished', slotId: 'slot-0', seq: 0, result: 1 }], at(20)));
    expect(said(third.effects)).toEqual(['emit event.completed a1', 'settle a1:completed', 'assign slot-0 a2#1', 'cancel queue-expiry']);
  });

  it('finishes a batch of reports with one settle message, then refills the freed slots once', () => {
    const busy = stepOf(opened({ workers: 2 }), (l) =>
      admit(
        l,
        ['a', 'b', 'c', 'd'].map((id) => delivery(id)),
        at(0),
      ),
    ).ledger;
    const { ledger, effects } = stepOf(busy, (l) =>
      finish(
        l,
        [
          { type: 'slot.finished', slotId: 'slot-0', seq: 0, result: 'A' },
          { type: 'slot.finished', slotId: 'slot-1', seq: 1, result: 'B' },
        ],
        at(40),
      ),
    );
    expect(said(effects)).toEqual([
      'emit event.completed a',
      'emit event.completed b',
      'settle a:completed,b:completed',
      'assign slot-1 c#1',
      'assign slot-0 d#1',
      'cancel queue-expiry',
    ]);
    expect(effects.find((e) => e.type === 'emit')).toMatchObject({ event: { result: 'A', runMs: 40, waitMs: 0 } });
    expect(ledger.counters).toMatchObject({ completed: 2, started: 4 });
  });

  it('expires events past the queue timeout, oldest first, and watches the next oldest', () => {
    const busy = stepOf(opened({ workers: 1, queueTimeoutMs: 100, executionTimeoutMs: 10_000 }), (l) =>
      admit(l, [delivery('a'), delivery('b')], at(0)),
    ).ledger;
    const later = stepOf(busy, (l) => admit(l, [delivery('c')], at(60))).ledger;
    const { ledger, effects } = stepOf(later, (l) => expire(l, at(100)));
    expect(said(effects)).toEqual(['emit event.expired b', 'arm queue-expiry 60', 'settle b:expired']);
    expect(effects.find((e) => e.type === 'settle')).toMatchObject({ settlements: [{ error: { code: 'ERR_QUEUE_TIMEOUT' } }] });
    expect(ledger.queue.size).toBe(1);
  });

  it('after a firing, fires again no sooner than a tenth of the queue timeout: a saturated queue is not walked once per expired event', () => {
    const busy = stepOf(opened({ workers: 1, queueTimeoutMs: 100, executionTimeoutMs: 10_000 }), (l) =>
      admit(l, [delivery('a'), delivery('b')], at(0)),
    ).ledger;
    const later = stepOf(busy, (l) => admit(l, [delivery('c')], at(1))).ledger;
    const { ledger, effects } = stepOf(later, (l) => expire(l, at(100)));
    // c passes its timeout at 101, a millisecond on: the timer waits 10 ms (100 / 10), and c expires then.
    expect(said(effects)).toEqual(['emit event.expired b', 'arm queue-expiry 10', 'settle b:expired']);
    const { effects: then } = stepOf(ledger, (l) => expire(l, at(110)));
    expect(said(then)).toEqual(['emit event.expired c', 'cancel queue-expiry', 'settle c:expired']);
  });

  it('retries a failed run after a backoff, as its next attempt, ahead of later arrivals; then fails it for good', () => {
    const busy = stepOf(opened({ workers: 1, retries: 1 }), (l) => admit(l, [delivery('a'), delivery('b')], at(0))).ledger;
    const failed = stepOf(busy, (l) =>
      finish(l, [{ type: 'slot.failed', slotId: 'slot-0', seq: 0, error: { code: 'ERR_X', message: 'x' } }], at(10)),
    );
    // Backoff: 100ms, up to 200ms for the first retry, jittered by random() = 0.5.
    expect(said(failed.effects)).toEqual(['emit event.retrying a', 'arm retry-0 150', 'assign slot-0 b#1', 'cancel queue-expiry']);
    expect(failed.ledger.retrying.size).toBe(1);
    const due = stepOf(failed.ledger, (l) => retry(l, 0, at(160)));
    expect(said(due.effects)).toEqual(['arm queue-expiry 1000']);
    const freed = stepOf(due.ledger, (l) => finish(l, [{ type: 'slot.finished', slotId: 'slot-0', seq: 1, result: 1 }], at(170)));
    expect(said(freed.effects)).toEqual(['emit event.completed b', 'settle b:completed', 'assign slot-0 a#2', 'cancel queue-expiry']);
    const last = stepOf(freed.ledger, (l) =>
      finish(l, [{ type: 'slot.failed', slotId: 'slot-0', seq: 0, error: { code: 'ERR_X', message: 'x' } }], at(180)),
    );
    expect(said(last.effects)).toEqual(['emit event.failed a', 'settle a:failed!']);
    expect(last.ledger.counters).toMatchObject({ retried: 1, failed: 1, deadLettered: 1 });
  });

  it('aborts a run past the execution timeout, replaces its slot, and fails the event with ERR_WORKER_TIMEOUT', () => {
    const busy = stepOf(opened({ workers: 1, executionTimeoutMs: 500 }), (l) => admit(l, [delivery('a')], at(0))).ledger;
    const { ledger, effects } = stepOf(busy, (l) => timeOutRuns(l, at(500)));
    expect(said(effects)).toEqual([
      'abort slot-0 ERR_WORKER_TIMEOUT',
      'spawn slot-1',
      'emit slot.replaced',
      'emit event.failed a',
      'settle a:failed!',
    ]);
    expect([...ledger.slots.keys()]).toEqual(['slot-1']);
    expect([ledger.abandoned, ledger.running, ledger.counters.timedOut]).toEqual([1, 0, 1]);
  });

  it('returns revoked waiting events at once, and a revoked running one when it ends, never retried', () => {
    const busy = stepOf(opened({ workers: 1, retries: 3 }), (l) => admit(l, [delivery('a'), delivery('b')], at(0))).ledger;
    const error = { code: 'ERR_REVOKED', message: 'connection lost' };
    const revoked = stepOf(busy, (l) => revoke(l, ['a', 'b'], error, at(1)));
    expect(said(revoked.effects)).toEqual(['emit event.returned b', 'cancel queue-expiry', 'settle b:returned']);
    const ended = stepOf(revoked.ledger, (l) =>
      finish(l, [{ type: 'slot.failed', slotId: 'slot-0', seq: 0, error: { code: 'ERR_X', message: 'x' } }], at(2)),
    );
    expect(said(ended.effects)).toEqual(['emit event.returned a', 'settle a:returned']);
  });

  it('on shutdown returns waiting and retrying events to their source, cancels their timers, and says when all is done', () => {
    const busy = stepOf(opened({ workers: 1, retries: 1 }), (l) => admit(l, [delivery('a'), delivery('b')], at(0))).ledger;
    const retrying = stepOf(busy, (l) =>
      finish(l, [{ type: 'slot.failed', slotId: 'slot-0', seq: 0, error: { code: 'ERR_X', message: 'x' } }], at(1)),
    ).ledger;
    const stopping = stepOf(retrying, (l) => recordStop(l, { type: 'runtime.stop' }, at(2))).ledger;
    expect(stopping.stopReason).toBe('requested');
    const { ledger, effects } = stepOf(stopping, (l) => returnWaiting(l, at(3)));
    // b runs; a waits for its retry: it goes back with the error it failed with.
    expect(said(effects)).toEqual([
      'cancel retry-0',
      'emit event.returned a',
      'cancel queue-expiry',
      'cancel dependency-probe',
      'settle a:returned',
    ]);
    expect(effects.find((e) => e.type === 'settle')).toMatchObject({ settlements: [{ error: { code: 'ERR_X' } }] });
    const done = stepOf(ledger, (l) => finish(l, [{ type: 'slot.finished', slotId: 'slot-0', seq: 1, result: 1 }], at(4)));
    expect(said(done.effects)).toEqual(['emit event.completed b', 'raise work.drained', 'settle b:completed']);
  });
});
