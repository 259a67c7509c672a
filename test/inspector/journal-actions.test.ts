import { describe, expect, it, vi } from 'vitest';
import { eventReceived } from '../../machines/events.js';
import { journalActions, type EventOffers } from '../../src/inspector/journal-actions.js';
import { FlowdError } from '../../src/kernel/errors.js';
import { journaled } from '../helpers/journaled.js';
import { deferred } from '../helpers/once.js';

/** A journal on the real supervisor with one event dead-lettered (no retries left), and the actions over it. */
function deadLettered(offerAgain: EventOffers['offerAgain']) {
  const { h, journal } = journaled({ workers: 1 }, { size: 10 });
  const id = h.deliver({ asset: 'a1' });
  h.runs[0]!.fail({ code: 'ERR_BROKEN', message: 'asset a1 is broken' });
  expect(journal.get(id)!.state).toBe('dead-lettered');
  const offers = { offerAgain: vi.fn(offerAgain), cancel: vi.fn(() => false) };
  return { h, journal, id, offers, actions: journalActions(journal, offers, undefined) };
}

describe('journalActions: retry', () => {
  it('refuses a second retry of an event while the first is being offered (a double click): the event is offered once', async () => {
    const published = deferred();
    const { id, offers, actions } = deadLettered(async () => {
      await published.promise;
      return 'republished';
    });
    const first = actions.retry(id, 'alice');
    await expect(actions.retry(id, 'bob')).rejects.toThrow(
      new FlowdError('ERR_INVALID_STATE', `event ${id} is being retried already (asked by alice); a second retry would offer it twice`),
    );
    published.resolve();
    expect(await first).toEqual({ id, how: 'republished' });
    expect(offers.offerAgain).toHaveBeenCalledTimes(1);
  });

  it('refuses to retry an event retried already, naming who did and, once it has arrived, the event the retry republished', async () => {
    const { h, journal, id, offers, actions } = deadLettered(async () => 'republished');
    await actions.retry(id, 'alice');
    const again = actions.retry(id, 'bob');
    await expect(again).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    await expect(again).rejects.toThrow(
      `event ${id} was already retried by alice (its new event has not arrived yet); a second retry would offer it twice`,
    );
    // The broker delivers the republished message, which names the event it retries.
    const republished = h.deliver({ headers: { 'x-flowd-retry-of': id }, body: { asset: 'a1' } }, { id: 'msg-2' });
    await expect(actions.retry(id, 'bob')).rejects.toThrow(
      `event ${id} was already retried by alice (republished as event msg-2, now running); a second retry would offer it twice: retry event msg-2 if it fails`,
    );
    expect(offers.offerAgain).toHaveBeenCalledTimes(1);
    expect(journal.get(id)!.steps.filter((s) => s.step === 'retryRequested')).toEqual([
      { step: 'retryRequested', by: 'alice', at: expect.any(Number) },
    ]);
    // The new event is an event of its own: failed in its turn, it can be retried.
    h.runs[1]!.fail({ code: 'ERR_BROKEN', message: 'still broken' });
    expect(await actions.retry(republished, 'bob')).toEqual({ id: republished, how: 'republished' });
  });

  it('lets an event whose retry could not be offered (the broker away) be retried again', async () => {
    let attempt = 0;
    const { journal, id, offers, actions } = deadLettered(async () => {
      if (++attempt === 1) throw new FlowdError('ERR_NOT_CONNECTED', 'the STOMP connection is down');
      return 'republished';
    });
    await expect(actions.retry(id, 'alice')).rejects.toMatchObject({ code: 'ERR_NOT_CONNECTED' });
    expect(journal.get(id)!.steps.map((s) => s.step)).not.toContain('retryRequested');
    expect(await actions.retry(id, 'alice')).toEqual({ id, how: 'republished' });
    expect(offers.offerAgain).toHaveBeenCalledTimes(2);
  });

  it('notes a retry offered anew to the supervisor (same id) on the event retried, so the new event can be retried if it fails', async () => {
    let supervisor!: ReturnType<typeof deadLettered>['h'];
    const { h, journal, id, offers, actions } = deadLettered(async (event) => {
      supervisor.actor.send(eventReceived({ id: event.id, payload: event.payload }));
      return 'offered';
    });
    supervisor = h;
    // Two clicks: the second finds the event offered anew, and running.
    const [first, second] = await Promise.allSettled([actions.retry(id, 'alice'), actions.retry(id, 'bob')]);
    expect(first).toEqual({ status: 'fulfilled', value: { id, how: 'offered' } });
    expect(second).toMatchObject({
      status: 'rejected',
      reason: { message: `event ${id} is running; only a failed or dead-lettered event can be retried` },
    });
    expect(journal.retriedAs(id, 0)).toEqual({ id, seq: 1, state: 'running' });
    // The new event's own timeline has no retry of its own, so when it fails it can be retried in its turn.
    expect(journal.get(id)!.steps.map((s) => s.step)).toEqual(['received', 'queued', 'started']);
    h.runs[1]!.fail({ code: 'ERR_BROKEN', message: 'still broken' });
    expect(await actions.retry(id, 'bob')).toEqual({ id, how: 'offered' });
    expect(offers.offerAgain).toHaveBeenCalledTimes(2);
  });
});
