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

  it("uses the '*' entry for any type, united with the type's own entry", () => {
    const match = { '*': ['sg_status_list'], Shotgun_Task_Change: ['content'] };
    expect(matchesEvent(match, event('Shotgun_Shot_Change', ['sg_status_list']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Task_Change', ['sg_status_list']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Task_Change', ['content']))).toBe(true);
    expect(matchesEvent(match, event('Shotgun_Shot_Change', ['content']))).toBe(false);
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

describe('checkMatch', () => {
  it('returns a frozen copy the plugin can no longer change', () => {
    const given = { Shotgun_Task_Change: ['sg_status_list'] };
    const match = checkMatch(given, WHERE);
    given.Shotgun_Task_Change.push('content');
    expect(match).toEqual({ Shotgun_Task_Change: ['sg_status_list'] });
    expect(Object.isFrozen(match)).toBe(true);
    expect(Object.isFrozen(match.Shotgun_Task_Change)).toBe(true);
  });

  it.each([
    ['null', null, /match must be an object; found null/],
    ['a list', ['Shotgun_Task_Change'], /match must be an object; found a list/],
    ['a string', 'Shotgun_Task_Change', /match must be an object; found "Shotgun_Task_Change"/],
    ['an empty object', {}, /match is empty, so the callback would never run/],
    ['an empty event type', { '': ['*'] }, /match has an empty event type/],
    [
      'an entry that is not a list',
      { Shotgun_Task_Change: 'sg_status_list' },
      /match\["Shotgun_Task_Change"\] must be a list of attribute names.*found "sg_status_list"/,
    ],
    ['an entry that is null', { Shotgun_Task_Change: null }, /match\["Shotgun_Task_Change"\] must be a list.*found null/],
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
