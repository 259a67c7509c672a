import type { Logger } from 'pino';
import type { ErrorInfo } from '../kernel/error-info.js';
import { FlowdError } from '../kernel/errors.js';
import type { Journal } from './journal.js';
import type { JournalActions } from './journal-api.js';

/** A finished event as a retry offers it again: what the journal kept of it. */
export interface OfferedEvent {
  id: string;
  payload: unknown;
  meta: Record<string, unknown> | undefined;
  /** The bytes its source read it from (a STOMP message's body), when the source kept them. */
  raw: Uint8Array | undefined;
}

/** What the inspector's actions ask of the runtime. */
export interface EventOffers {
  /**
   * Offers a finished event again through its source: a STOMP source
   * republishes the message as it came to its queue; others hand it to the
   * supervisor anew. Rejects with offerRefusal's error when it cannot.
   */
  offerAgain(event: OfferedEvent): Promise<'republished' | 'offered'>;
  /**
   * The error offerAgain would throw before offering `event` (the runtime
   * not running: ERR_INVALID_STATE; a message that cannot be written back:
   * ERR_NO_PUBLISH), or undefined when it can offer it. Asked up front, so
   * the API can say an event is not retryable and why.
   */
  offerRefusal(event: OfferedEvent): FlowdError | undefined;
  /** Aborts the running event `seq` with `reason` (it fails without a retry); false when it no longer runs. */
  cancel(seq: number, reason: ErrorInfo): boolean;
}

/**
 * Retry and cancel, checked against the journal, noted on the event's
 * timeline and logged with who asked. An event is retried once: a second
 * retry of it (a double click, two operators) is refused with
 * ERR_INVALID_STATE (409) naming who retried it and the retry's new event,
 * whether the first is still under way or done; a retry that failed (the
 * broker unreachable, say) may be asked again. The new event, should it
 * fail too, is retried in its turn. `retryRefusal` tells up front what
 * `retry` would refuse with, for the API's `retryable`.
 * @example
 * const actions = journalActions(journal, { offerAgain, offerRefusal, cancel }, log);
 * await actions.retry('evt-7', 'alice'); // { id: 'evt-7', how: 'republished' }
 */
export function journalActions(journal: Journal, events: EventOffers, log: Logger | undefined): JournalActions {
  /** Who asked, by the `seq` of each event a retry is being offered for (offering a STOMP one waits for the broker). */
  const retrying = new Map<number, string>();
  const find = (id: string) => {
    const event = journal.original(id);
    if (!event) throw new FlowdError('ERR_UNKNOWN_EVENT', `no event ${JSON.stringify(id)} in the journal (unknown, or no longer kept)`);
    return event;
  };
  const alreadyRetried = (event: { id: string; seq: number }, by: string) => {
    const again = journal.retriedAs(event.id, event.seq);
    const as = again
      ? again.id === event.id
        ? `offered again as seq ${again.seq}, now ${again.state}`
        : `republished as event ${again.id}, now ${again.state}`
      : 'its new event has not arrived yet';
    return new FlowdError(
      'ERR_INVALID_STATE',
      `event ${event.id} was already retried by ${by} (${as}); a second retry would offer it twice${again ? `: retry event ${again.id} if it fails` : ''}`,
    );
  };
  /** What stops a retry of `event` now, as the error `retry` throws; undefined when nothing does. */
  const refusal = (event: NonNullable<ReturnType<Journal['original']>>): FlowdError | undefined => {
    if (event.state !== 'failed' && event.state !== 'dead-lettered')
      return new FlowdError(
        'ERR_INVALID_STATE',
        `event ${event.id} is ${event.state}; only a failed or dead-lettered event can be retried`,
      );
    if (event.retriedBy !== undefined) return alreadyRetried(event, event.retriedBy);
    const asked = retrying.get(event.seq);
    if (asked !== undefined)
      return new FlowdError(
        'ERR_INVALID_STATE',
        `event ${event.id} is being retried already (asked by ${asked}); a second retry would offer it twice`,
      );
    return events.offerRefusal(event);
  };
  return {
    retryRefusal(id) {
      try {
        return refusal(find(id));
      } catch (error) {
        return error as FlowdError;
      }
    },
    async retry(id, by) {
      const event = find(id);
      const refused = refusal(event);
      if (refused) throw refused;
      retrying.set(event.seq, by);
      let how: 'republished' | 'offered';
      try {
        // Offered to the supervisor without an origin, its outcome is not the source's (the journal tells by its origin).
        how = await events.offerAgain(event);
      } finally {
        retrying.delete(event.seq);
      }
      // On the event retried: one offered anew has the same id, and may be in the journal already.
      journal.note(id, 'retryRequested', by, event.seq);
      log?.warn({ event: id, action: 'retry', by, how }, `inspector: event ${id} retried (${how}) by ${by}`);
      return { id, how };
    },
    cancel(id, by) {
      const event = find(id);
      const notRunning = () => new FlowdError('ERR_INVALID_STATE', `event ${id} is ${event.state}; only a running event can be cancelled`);
      if (event.state !== 'running') throw notRunning();
      // Noted first: the cancel fails the event within this call.
      journal.note(id, 'cancelRequested', by);
      const reason = { code: 'ERR_CANCELLED', message: `cancelled through the inspector by ${by}` };
      if (!events.cancel(event.seq, reason)) throw notRunning();
      log?.warn({ event: id, action: 'cancel', by }, `inspector: event ${id} cancelled by ${by}`);
      return { id };
    },
  };
}
