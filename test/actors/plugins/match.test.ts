import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkMatch, matchesEvent } from '../../../actors/plugins/match.js';
import type { LogEvent } from '../../../actors/plugins/plugin-api.js';
import { FlowdError } from '../../../src/kernel/errors.js';

const event = (type: string, attributes: string[] = []): LogEvent => ({
  id: 1,
  type,
  entity: null,
  attributes,
  createdAt: undefined,
  meta: null,
});
const WHERE = '/plugins/notify.mjs callback "onStatus"';

const eventArbitrary = fc.record({
  id: fc.nat(),
  type: fc.string(),
  entity: fc.constant(null),
  attributes: fc.array(fc.string()),
  createdAt: fc.constant(undefined),
  meta: fc.constant(null),
});
const nameArbitrary = fc.string({ minLength: 1 }).filter((name) => name !== '*');

describe('matchesEvent', () => {
  it('takes every event when the callback gave no match', () => {
    expect(matchesEvent(undefined, event('Shotgun_Task_Change'))).toBe(true);
  });

  it("takes an event whose type's entry lists one of its attributes", () => {
    const match = { Shotgun_Task_Change: ['sg_status_list', 'content'] };
    expect(matchesEvent(match, event('Shotgun_Task_Change', ['sg_status_list']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Task_Change', ['due_date']))).toBe(false);
    expect(matchesEvent(match, event('Shotgun_Version_Change', ['sg_status_list']))).toBe(false);
  });

  it("takes any attribute of a type whose entry lists '*', even an event with none", () => {
    expect(matchesEvent({ Shotgun_Version_New: ['*'] }, event('Shotgun_Version_New'))).toBe(true);
  });

  it("lets the '*' entry alone decide when it stands beside other event types, as shotgunEvents does", () => {
    // shotgunEvents 092b48a canProcess: `if "*" in self._matchEvents: eventType = "*"`; the type's own entry is never read.
    const match = { '*': ['sg_status_list'], Shotgun_Task_Change: ['content'] };
    expect(matchesEvent(match, event('Shotgun_Shot_Change', ['sg_status_list']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Task_Change', ['sg_status_list']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Task_Change', ['content']))).toBe(false);
    expect(matchesEvent(match, event('Shotgun_Shot_Change', ['content']))).toBe(false);
  });

  it("decides by the '*' entry alone for any filter that has one", () => {
    const match = fc.dictionary(
      fc.oneof(fc.constant('*'), nameArbitrary),
      fc.array(fc.oneof(fc.constant('*'), nameArbitrary), { minLength: 1 }),
    );
    fc.assert(
      fc.property(match, eventArbitrary, (m, e) => {
        fc.pre(Object.hasOwn(m, '*'));
        return matchesEvent(m, e) === matchesEvent({ '*': m['*']! }, e);
      }),
    );
  });

  it("does not mistake Object's own properties for entries", () => {
    expect(matchesEvent(checkMatch({ Shotgun_Task_Change: ['*'] }, WHERE), event('constructor', ['x']))).toBe(false);
    expect(matchesEvent({ Shotgun_Task_Change: ['*'] }, event('toString'))).toBe(false);
  });

  it("takes every event with { '*': ['*'] }", () => {
    fc.assert(fc.property(eventArbitrary, (e) => matchesEvent({ '*': ['*'] }, e)));
  });

  it("takes every event of a type whose entry lists '*'", () => {
    fc.assert(fc.property(eventArbitrary, (e) => matchesEvent({ [e.type]: ['*'] }, e)));
  });

  it("never takes an event with no attributes when no list holds '*'", () => {
    const match = fc.dictionary(fc.oneof(fc.constant('*'), fc.string({ minLength: 1 })), fc.array(nameArbitrary, { minLength: 1 }));
    fc.assert(fc.property(match, eventArbitrary, (m, e) => !matchesEvent(m, { ...e, attributes: [] })));
  });

  it('takes an event exactly when its type has an entry sharing an attribute with it (no wildcards)', () => {
    const match = fc.dictionary(nameArbitrary, fc.array(nameArbitrary, { minLength: 1 }));
    fc.assert(
      fc.property(match, eventArbitrary, (m, e) => {
        const expected = Object.hasOwn(m, e.type) && m[e.type]!.some((attribute) => e.attributes.includes(attribute));
        return matchesEvent(m, e) === expected;
      }),
    );
  });
});

/**
 * shotgunEvents' Callback.canProcess at 092b48a, for a test to compare with:
 * the seed's events name one attribute (attribute_name) or none. Transcribed
 * but for one point: a string entry is one attribute name, where Python's
 * `in` tests for a substring of it (docs/differences.md).
 */
function canProcess(matchEvents: Record<string, string[] | string | null> | null, type: string, attributeName: string | null): boolean {
  if (matchEvents === null || Object.keys(matchEvents).length === 0) return true; // `if not self._matchEvents: return True`
  let key: string;
  if (Object.hasOwn(matchEvents, '*')) key = '*';
  else if (Object.hasOwn(matchEvents, type)) key = type;
  else return false;
  const attributes = matchEvents[key]!;
  if (attributes === null) return true; // `if attributes is None or "*" in attributes`
  const names = typeof attributes === 'string' ? [attributes] : attributes;
  if (names.includes('*')) return true;
  return attributeName !== null && attributeName !== '' && names.includes(attributeName);
}

describe('matchEvents as shotgunEvents plugins write them', () => {
  const compiled = (value: unknown) => checkMatch(value, WHERE);

  it('takes every event for None (logArgs.py: eventFilter = None) and for no match at all (sharedStateA.py)', () => {
    expect(compiled(null)).toBeUndefined();
    expect(compiled(undefined)).toBeUndefined();
    fc.assert(fc.property(eventArbitrary, (e) => matchesEvent(compiled(null), e)));
  });

  it('takes every event for {}, as canProcess does (`if not self._matchEvents: return True`, 092b48a)', () => {
    expect(compiled({})).toBeUndefined();
    fc.assert(fc.property(eventArbitrary, (e) => matchesEvent(compiled({}), e)));
  });

  it("takes every event of a type mapped to None (init_entity.py: { 'Shotgun_%s_New': None }), attributes or not", () => {
    // canProcess: `if attributes is None or "*" in attributes: return True`.
    const match = compiled({ Shotgun_Note_New: null }); // update_status_when_note_is_created.py
    expect(match).toEqual({ Shotgun_Note_New: ['*'] });
    expect(matchesEvent(match, event('Shotgun_Note_New'))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Note_New', ['content']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Note_Change', ['content']))).toBe(false);
  });

  it("takes an event of a type mapped to one attribute as a string (assign_to_project.py: { 'Shotgun_Task_Change': 'task_assignees' })", () => {
    const match = compiled({ Shotgun_Task_Change: 'task_assignees' });
    expect(match).toEqual({ Shotgun_Task_Change: ['task_assignees'] });
    expect(matchesEvent(match, event('Shotgun_Task_Change', ['task_assignees']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Task_Change', ['sg_status_list']))).toBe(false);
    expect(matchesEvent(match, event('Shotgun_Task_Change'))).toBe(false);
    expect(matchesEvent(match, event('Shotgun_Shot_Change', ['task_assignees']))).toBe(false);
    expect(matchesEvent(compiled({ Shotgun_Task_Change: '*' }), event('Shotgun_Task_Change'))).toBe(true);
  });

  it("takes lists as link_shot_to_sequence.py and calc_field.py write them ({ 'Shotgun_Shot_Change': ['code'] })", () => {
    const match = compiled({ Shotgun_Shot_Change: ['code'], Shotgun_Version_Change: ['sg_first_frame', 'sg_last_frame'] });
    expect(matchesEvent(match, event('Shotgun_Shot_Change', ['code']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Version_Change', ['sg_last_frame']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Version_Change', ['code']))).toBe(false);
  });

  it('agrees with canProcess for every filter of those shapes and every event of one attribute or none', () => {
    const name = fc.constantFrom('Shotgun_Task_Change', 'Shotgun_Shot_New', 'sg_status_list', 'code', 'x');
    const entry = fc.oneof(fc.constant(null), fc.constant('*'), name, fc.array(fc.oneof(fc.constant('*'), name), { minLength: 1 }));
    const filter = fc.oneof(fc.constant(null), fc.dictionary(fc.oneof(fc.constant('*'), name), entry, { maxKeys: 3 }));
    fc.assert(
      fc.property(filter, name, fc.option(name), (m, type, attribute) => {
        const given = m as Record<string, string[] | string | null> | null;
        const expected = canProcess(given, type, attribute);
        return matchesEvent(compiled(given), event(type, attribute === null ? [] : [attribute])) === expected;
      }),
    );
  });

  it("warns, naming the entries, when '*' stands beside other event types", () => {
    const warnings: string[] = [];
    checkMatch({ '*': null, Shotgun_Task_Change: ['content'] }, WHERE, (message) => warnings.push(message));
    expect(warnings).toEqual([
      `${WHERE}: match has '*' beside "Shotgun_Task_Change"; as in shotgunEvents the '*' entry alone decides, so that entry is not used`,
    ]);
  });
});

describe('checkMatch', () => {
  it('returns a frozen copy the plugin can no longer change', () => {
    const given = { Shotgun_Task_Change: ['sg_status_list'] };
    const match = checkMatch(given, WHERE)!;
    given.Shotgun_Task_Change.push('content');
    expect(match).toEqual({ Shotgun_Task_Change: ['sg_status_list'] });
    expect(Object.isFrozen(match)).toBe(true);
    expect(Object.isFrozen(match.Shotgun_Task_Change)).toBe(true);
  });

  it.each([
    ['a list', ['Shotgun_Task_Change'], /match must be null or an object; found a list/],
    ['a string', 'Shotgun_Task_Change', /match must be null or an object; found "Shotgun_Task_Change"/],
    ['an empty event type', { '': ['*'] }, /match has an empty event type/],
    [
      'an entry that is undefined',
      { Shotgun_Task_Change: undefined },
      /match\["Shotgun_Task_Change"\] must be null \(any attribute\).*found undefined/,
    ],
    [
      'an entry that is a number',
      { Shotgun_Task_Change: 7 },
      /match\["Shotgun_Task_Change"\] must be null \(any attribute\).*found number 7/,
    ],
    ['an empty string', { Shotgun_Task_Change: '' }, /match\["Shotgun_Task_Change"\] is "", which matches no event/],
    ['an empty list', { Shotgun_Task_Change: [] }, /match\["Shotgun_Task_Change"\] is an empty list, which matches no event/],
    [
      'an empty attribute name',
      { Shotgun_Task_Change: ['sg_status_list', ''] },
      /match\["Shotgun_Task_Change"\]\[1\] must be a non-empty attribute name.*found ""/,
    ],
    [
      'an attribute that is not a string',
      { Shotgun_Task_Change: [42] },
      /match\["Shotgun_Task_Change"\]\[0\] must be a non-empty attribute name.*found number 42/,
    ],
  ])('refuses %s with ERR_INVALID_ARGUMENT naming the plugin file and callback', (_, value, message) => {
    const attempt = () => checkMatch(value, WHERE);
    expect(attempt).toThrow(FlowdError);
    expect(attempt).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(WHERE);
  });
});
