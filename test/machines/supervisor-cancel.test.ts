import { describe, expect, it } from 'vitest';
import { eventCancel } from '../../machines/events.js';
import { startSupervisor } from '../helpers/supervisor-harness.js';

const cancelled = { code: 'ERR_CANCELLED', message: 'cancelled through the inspector by ops' };

describe('supervisorMachine event.cancel', () => {
  it("aborts the running event's run with the reason, puts a fresh slot in its place, and fails it for good without a retry", () => {
    const h = startSupervisor({ workers: 1, retries: 3 });
    const id = h.deliver();
    const waiting = h.deliver();
    h.actor.send(eventCancel(h.runs[0]!.job.seq, cancelled));
    expect(h.runs[0]!.aborted).toBe(true);
    expect(h.settlements.filter((s) => s.id === id)).toMatchObject([
      { outcome: 'failed', deadLetter: true, error: cancelled, attempts: 1 },
    ]);
    expect(h.emitted.filter((e) => e.type === 'event.retrying')).toEqual([]);
    // The next event runs on the replacement slot.
    expect(h.running().map((r) => [r.job.delivery.id, r.slotId])).toEqual([[waiting, 'slot-1']]);
    expect(h.ledger()).toMatchObject({ abandoned: 1, running: 1, counters: { timedOut: 0, failed: 1 } });
  });

  it('does nothing for an event that is not running', () => {
    const h = startSupervisor({ workers: 1 });
    h.deliver();
    const waiting = h.deliver();
    h.runs[0]!.finish();
    h.actor.send(eventCancel(0, cancelled));
    expect(h.running().map((r) => r.job.delivery.id)).toEqual([waiting]);
    expect(h.ledger()).toMatchObject({ abandoned: 0, counters: { failed: 0, completed: 1 } });
  });
});
