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
 * The message that offers a failed STOMP event again: its body written back
 * as `payload class` read it (JSON text for `json`, the text for `text`),
 * its own headers without those the broker sets on delivery or a dead
 * letter adds, plus `x-flowd-retry-of: <id>`, to its original destination.
 * Throws ERR_NO_PUBLISH for `xml`, whose parsed body cannot be written back
 * byte for byte.
 */
export function republishedMessage(
  id: string,
  event: StompEvent,
  payloadClass: PayloadClass,
): { destination: string; body: string; headers: Record<string, string> } {
  if (payloadClass === 'xml')
    throw new FlowdError(
      'ERR_NO_PUBLISH',
      `event ${id} was read as XML (payload class = xml), which cannot be written back as it came; move it from the dead-letter queue instead`,
    );
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(event.headers))
    if (!DELIVERY_HEADERS.has(key) && !FAILURE_HEADERS.test(key)) headers[key] = value;
  headers[RETRY_OF_HEADER] = id;
  const body = payloadClass === 'json' ? JSON.stringify(event.body) : String(event.body);
  return { destination: event.destination, body, headers };
}
