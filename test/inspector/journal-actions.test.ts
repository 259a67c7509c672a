import { describe, expect, it, vi } from 'vitest';
import type { PayloadClass } from '../../actors/sources/payload.js';
import { readXml } from '../../actors/sources/payload.js';
import type { StompEvent } from '../../actors/sources/stomp.js';
import { isStompEvent, republishedMessage, republishRefusal } from '../../actors/sources/stomp-republish.js';
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
  const offers = { offerAgain: vi.fn(offerAgain), offerRefusal: vi.fn(() => undefined), cancel: vi.fn(() => false) };
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

/** The offers the runtime makes for a STOMP source reading `payloadClass` (src/runtime/runtime.ts): each republished message is recorded. */
function stompOffers(payloadClass: PayloadClass) {
  const published: Array<ReturnType<typeof republishedMessage>> = [];
  const offers: EventOffers = {
    offerRefusal(event) {
      const why = isStompEvent(event.payload) ? republishRefusal(event.id, event.payload, event.raw, payloadClass) : undefined;
      return why === undefined ? undefined : new FlowdError('ERR_NO_PUBLISH', why);
    },
    offerAgain: vi.fn(async (event) => {
      published.push(republishedMessage(event.id, event.payload as StompEvent, event.raw, payloadClass));
      return 'republished' as const;
    }),
    cancel: () => false,
  };
  return { published, offers };
}

/** An XML message as the STOMP source delivers it: parsed, with the headers the broker set on delivery and a dead letter's. */
function xmlMessage(text: string): StompEvent {
  const xml = readXml(text);
  if (!('value' in xml)) throw new Error(xml.problem);
  return {
    destination: '/queue/assets',
    messageId: 'm-1',
    redelivered: false,
    headers: {
      'message-id': 'm-1',
      destination: '/queue/assets',
      subscription: '0',
      ack: 'ack-1',
      'content-length': String(Buffer.byteLength(text)),
      'content-type': 'application/xml',
      'x-trace': 'abc',
      'x-flowd-error-code': 'ERR_BROKEN',
    },
    body: xml.value,
  };
}

describe('journalActions: retrying a STOMP message whatever its payload class', () => {
  const text = '<?xml version="1.0"?>\n<asset id="a1">caf\u00e9 &amp; co</asset>';

  it("republishes a dead-lettered XML message as it came: its bytes and its headers, less the broker's and the failure's, plus x-flowd-retry-of", async () => {
    const { h, journal } = journaled({ workers: 1 }, { size: 10 });
    const { published, offers } = stompOffers('xml');
    const actions = journalActions(journal, offers, undefined);
    const raw = Buffer.from(text, 'utf8');
    const id = h.deliver(xmlMessage(text), { raw });
    h.runs[0]!.fail({ code: 'ERR_BROKEN', message: 'asset a1 is broken' });
    expect(actions.retryRefusal(id)).toBeUndefined();
    expect(await actions.retry(id, 'alice')).toEqual({ id, how: 'republished' });
    expect(published).toEqual([
      {
        destination: '/queue/assets',
        body: raw,
        headers: { 'content-type': 'application/xml', 'x-trace': 'abc', 'x-flowd-retry-of': id },
      },
    ]);
    expect(Buffer.from(published[0]!.body as Uint8Array).toString('utf8')).toBe(text);
    // Once retried, it says up front what a second retry would meet.
    expect(actions.retryRefusal(id)).toMatchObject({
      code: 'ERR_INVALID_STATE',
      message: `event ${id} was already retried by alice (its new event has not arrived yet); a second retry would offer it twice`,
    });
  });

  it('republishes the bytes of a JSON message that did not parse as they came, not the text quoted as JSON', async () => {
    const { h, journal } = journaled({ workers: 1 }, { size: 10 });
    const { published, offers } = stompOffers('json');
    const actions = journalActions(journal, offers, undefined);
    const raw = Buffer.from('{"asset": a1}');
    // The source hands over a body that did not parse as its text, with the error: it is dead-lettered at once.
    const payload: StompEvent = {
      destination: '/queue/assets',
      messageId: 'm-2',
      redelivered: false,
      headers: { 'message-id': 'm-2' },
      body: '{"asset": a1}',
    };
    const id = h.deliver(payload, { raw, error: { code: 'ERR_PAYLOAD', message: 'message m-2 is not JSON' } });
    expect(journal.get(id)!.state).toBe('dead-lettered');
    await actions.retry(id, 'alice');
    expect(published.map((m) => Buffer.from(m.body as Uint8Array).toString())).toEqual(['{"asset": a1}']);
  });

  it('says up front that an XML message whose bytes were not kept cannot be retried, and why, and refuses its retry without publishing', async () => {
    const { h, journal } = journaled({ workers: 1 }, { size: 10 });
    const { published, offers } = stompOffers('xml');
    const actions = journalActions(journal, offers, undefined);
    const id = h.deliver(xmlMessage(text));
    h.runs[0]!.fail({ code: 'ERR_BROKEN', message: 'asset a1 is broken' });
    const why = new FlowdError(
      'ERR_NO_PUBLISH',
      `event ${id} was read as XML (payload class = xml) and the bytes it came as were not kept, so it cannot be written back as it came; move it from the dead-letter queue instead`,
    );
    expect(actions.retryRefusal(id)).toEqual(why);
    expect(actions.retryRefusal(id)).toMatchObject({ code: 'ERR_NO_PUBLISH' });
    await expect(actions.retry(id, 'alice')).rejects.toThrow(why);
    expect(offers.offerAgain).not.toHaveBeenCalled();
    expect(published).toEqual([]);
    expect(journal.get(id)!.steps.map((s) => s.step)).not.toContain('retryRequested');
  });

  it('says up front that an event in another state cannot be retried, and that an unknown one is not there', () => {
    const { h, journal } = journaled({ workers: 1 }, { size: 10 });
    const actions = journalActions(journal, stompOffers('xml').offers, undefined);
    const id = h.deliver(xmlMessage(text), { raw: Buffer.from(text) });
    expect(actions.retryRefusal(id)).toMatchObject({
      code: 'ERR_INVALID_STATE',
      message: `event ${id} is running; only a failed or dead-lettered event can be retried`,
    });
    expect(actions.retryRefusal('nope')).toMatchObject({ code: 'ERR_UNKNOWN_EVENT' });
  });
});
