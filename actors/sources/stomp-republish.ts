import { FlowdError } from '../../src/kernel/errors.js';
import type { PayloadClass } from './payload.js';
import { RETRY_OF_HEADER } from './retry-of.js';
import { DELIVERY_HEADERS, type StompEvent } from './stomp.js';

/** Headers of a failure that a dead letter carries and a retry drops (it starts afresh). */
const FAILURE_HEADERS = /^x-flowd-(error-code|error-message|attempts|original-destination|failed-at|retry-of)$/;

/** Whether a payload is a STOMP source's event. */
export function isStompEvent(payload: unknown): payload is StompEvent {
  const event = payload as Partial<StompEvent> | null;
  return (
    typeof event === 'object' &&
    event !== null &&
    typeof event.destination === 'string' &&
    typeof event.headers === 'object' &&
    'body' in event
  );
}

/**
 * The body a retry writes back: the bytes the message came with when the
 * source kept them (it does for every message, whatever its `payload
 * class`); else what the event holds, written back as its payload class
 * read it: text as it is (a body that did not parse is text too), a parsed
 * JSON body as JSON text. A parsed XML body without its bytes cannot be
 * written back: the reason is returned instead.
 */
function bodyOf(
  id: string,
  event: StompEvent,
  raw: Uint8Array | undefined,
  payloadClass: PayloadClass,
): Uint8Array | string | { refused: string } {
  if (raw !== undefined) return raw;
  if (typeof event.body === 'string') return event.body;
  if (payloadClass === 'json') return JSON.stringify(event.body);
  return {
    refused: `event ${id} was read as ${payloadClass.toUpperCase()} (payload class = ${payloadClass}) and the bytes it came as were not kept, so it cannot be written back as it came; move it from the dead-letter queue instead`,
  };
}

/**
 * Why a failed STOMP event cannot be republished, or undefined when it can
 * (see republishedMessage). The inspector asks before it offers a retry.
 */
export function republishRefusal(
  id: string,
  event: StompEvent,
  raw: Uint8Array | undefined,
  payloadClass: PayloadClass,
): string | undefined {
  const body = bodyOf(id, event, raw, payloadClass);
  return typeof body === 'object' && 'refused' in body ? body.refused : undefined;
}

/**
 * The message that offers a failed STOMP event again: its body as it came
 * (`raw`, the bytes the source read it from; without them, see bodyOf), its
 * own headers without those the broker sets on delivery or a dead letter
 * adds, plus `x-flowd-retry-of: <id>`, to its original destination. Throws
 * ERR_NO_PUBLISH, with republishRefusal's reason, when it cannot be written
 * back.
 */
export function republishedMessage(
  id: string,
  event: StompEvent,
  raw: Uint8Array | undefined,
  payloadClass: PayloadClass,
): { destination: string; body: string | Uint8Array; headers: Record<string, string> } {
  const body = bodyOf(id, event, raw, payloadClass);
  if (typeof body === 'object' && 'refused' in body) throw new FlowdError('ERR_NO_PUBLISH', body.refused);
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(event.headers))
    if (!DELIVERY_HEADERS.has(key) && !FAILURE_HEADERS.test(key)) headers[key] = value;
  headers[RETRY_OF_HEADER] = id;
  return { destination: event.destination, body, headers };
}
