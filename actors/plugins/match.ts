import type { LogEvent, MatchEvents, MatchFilter } from './plugin-api.js';
import { FlowdError } from '../../src/kernel/errors.js';

/**
 * Whether a callback's match takes the event, as shotgunEvents'
 * `Callback.canProcess`: undefined takes every event; a `'*'` entry alone
 * decides for every type (the other entries are not used); otherwise the
 * event's type must have an entry, and that entry must list `'*'` or one of
 * the event's attributes.
 * @example matchesEvent({ Shotgun_Task_Change: ['sg_status_list'] }, event)
 */
export function matchesEvent(match: MatchFilter | undefined, event: LogEvent): boolean {
  if (match === undefined) return true;
  // Own entries only: an event type named `constructor` must not find Object's.
  const type = Object.hasOwn(match, '*') ? '*' : event.type;
  if (!Object.hasOwn(match, type)) return false;
  const attributes = match[type]!;
  return attributes.includes('*') || event.attributes.some((attribute) => attributes.includes(attribute));
}

const EXPECTED =
  "expected null (every event) or an object of event types (or '*') to null (any attribute), an attribute name, or a list of attribute names (or ['*']), e.g. { Shotgun_Task_Change: ['sg_status_list'] }";

/**
 * Checks the `match` a plugin passed to `registerCallback` and returns it
 * compiled and frozen (so the plugin cannot change it afterwards). It takes
 * every shape shotgunEvents' `matchEvents` takes: null, undefined or `{}`
 * (every event); an event type (or `'*'`) mapped to null (any attribute), to
 * one attribute name as a string, or to a list of them (`['*']`: any). An
 * entry comes back as a list (`null` as `['*']`, `'name'` as `['name']`);
 * no entries at all come back as undefined (every event). Throws a
 * FlowdError (ERR_INVALID_ARGUMENT) naming `where` (the plugin file and the
 * callback) and what was expected. `warn` hears of entries that are not used
 * (`'*'` beside other event types: the `'*'` entry alone decides).
 * @example checkMatch({ Shotgun_Task_Change: 'sg_status_list' }, '/plugins/notify.mjs callback "onStatus"') // { Shotgun_Task_Change: ['sg_status_list'] }
 */
export function checkMatch(value: unknown, where: string, warn?: (message: string) => void): MatchFilter | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new FlowdError('ERR_INVALID_ARGUMENT', `${where}: match must be null or an object; found ${describe(value)}; ${EXPECTED}`);
  }
  const entries = Object.entries(value as MatchEvents);
  // shotgunEvents' canProcess starts with `if not self._matchEvents: return True`: an empty dict takes every event.
  if (entries.length === 0) return undefined;
  const copy: Record<string, readonly string[]> = Object.create(null) as Record<string, readonly string[]>;
  for (const [type, attributes] of entries) {
    if (type.trim() === '') throw new FlowdError('ERR_INVALID_ARGUMENT', `${where}: match has an empty event type; ${EXPECTED}`);
    copy[type] = Object.freeze(attributesOf(attributes as unknown, type, where));
  }
  const ignored = entries.map(([type]) => type).filter((type) => type !== '*');
  if (Object.hasOwn(copy, '*') && ignored.length > 0)
    warn?.(
      `${where}: match has '*' beside ${ignored.map((type) => `"${type}"`).join(', ')}; as in shotgunEvents the '*' entry alone decides, so ${ignored.length > 1 ? 'those entries are' : 'that entry is'} not used`,
    );
  return Object.freeze(copy);
}

/** One entry's attributes as a list: null is any (`['*']`), a string is one name. */
function attributesOf(attributes: unknown, type: string, where: string): string[] {
  const at = `${where}: match["${type}"]`;
  if (attributes === null) return ['*'];
  if (typeof attributes === 'string') {
    if (attributes.trim() === '')
      throw new FlowdError('ERR_INVALID_ARGUMENT', `${at} is "", which matches no event; give an attribute name, or null or '*' for any`);
    return [attributes];
  }
  if (!Array.isArray(attributes)) {
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `${at} must be null (any attribute), an attribute name or a list of them (or ['*'] for any); found ${describe(attributes)}`,
    );
  }
  if (attributes.length === 0) {
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `${at} is an empty list, which matches no event; list attribute names, or give null or ['*'] for any`,
    );
  }
  for (const [index, attribute] of (attributes as unknown[]).entries()) {
    if (typeof attribute !== 'string' || attribute.trim() === '') {
      throw new FlowdError(
        'ERR_INVALID_ARGUMENT',
        `${at}[${index}] must be a non-empty attribute name (or '*'); found ${describe(attribute)}`,
      );
    }
  }
  return [...(attributes as string[])];
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' || typeof value === 'function') return `a ${typeof value}`;
  return `${typeof value} ${String(value)}`;
}
