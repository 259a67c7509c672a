import type { LogEvent, MatchEvents } from './plugin-api.js';
import { FlowdError } from '../../src/kernel/errors.js';

/**
 * Whether a callback's `match` takes the event, as the seed's `matchEvents`:
 * undefined takes every event; otherwise the entry for the event's type,
 * or the `'*'` entry, must list `'*'` or one of the event's attributes.
 * (The entries are united: a type entry does not hide the `'*'` one.)
 * @example matchesEvent({ Shotgun_Task_Change: ['sg_status_list'] }, event)
 */
export function matchesEvent(match: MatchEvents | undefined, event: LogEvent): boolean {
  if (match === undefined) return true;
  // Own entries only: an event type named `constructor` must not find Object's.
  for (const type of [event.type, '*']) {
    if (!Object.hasOwn(match, type)) continue;
    const attributes = match[type]!;
    if (attributes.includes('*') || event.attributes.some((attribute) => attributes.includes(attribute))) return true;
  }
  return false;
}

/**
 * Checks the `match` a plugin passed to `registerCallback` and returns a
 * frozen copy (so the plugin cannot change it afterwards): an object whose
 * keys are event types (or `'*'`) and whose values are non-empty lists of
 * attribute names (or `['*']`). Throws a FlowdError (ERR_INVALID_ARGUMENT) naming `where` (the
 * plugin file and the callback) and what was expected.
 * @example checkMatch({ Shotgun_Task_Change: ['sg_status_list'] }, '/plugins/notify.mjs callback "onStatus"')
 */
export function checkMatch(value: unknown, where: string): MatchEvents {
  const expected = `expected an object of event types (or '*') to lists of attribute names (or ['*']), e.g. { Shotgun_Task_Change: ['sg_status_list'] }`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FlowdError('ERR_INVALID_ARGUMENT', `${where}: match must be an object; found ${describe(value)}; ${expected}`);
  }
  const entries = Object.entries(value);
  if (entries.length === 0)
    throw new FlowdError('ERR_INVALID_ARGUMENT', `${where}: match is empty, so the callback would never run; ${expected}`);
  const copy: Record<string, readonly string[]> = Object.create(null) as Record<string, readonly string[]>;
  for (const [type, attributes] of entries) {
    if (type.trim() === '') throw new FlowdError('ERR_INVALID_ARGUMENT', `${where}: match has an empty event type; ${expected}`);
    if (!Array.isArray(attributes)) {
      throw new FlowdError(
        'ERR_INVALID_ARGUMENT',
        `${where}: match["${type}"] must be a list of attribute names (or ['*'] for any); found ${describe(attributes)}`,
      );
    }
    if (attributes.length === 0) {
      throw new FlowdError(
        'ERR_INVALID_ARGUMENT',
        `${where}: match["${type}"] is an empty list, which matches no event; list attribute names, or ['*'] for any`,
      );
    }
    for (const [index, attribute] of (attributes as unknown[]).entries()) {
      if (typeof attribute !== 'string' || attribute.trim() === '') {
        throw new FlowdError(
          'ERR_INVALID_ARGUMENT',
          `${where}: match["${type}"][${index}] must be a non-empty attribute name (or '*'); found ${describe(attribute)}`,
        );
      }
    }
    copy[type] = Object.freeze([...(attributes as string[])]);
  }
  return Object.freeze(copy);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' || typeof value === 'function') return `a ${typeof value}`;
  return `${typeof value} ${String(value)}`;
}
