import { describe, expect, it } from 'vitest';
import { checkRange, describeValue, parseId, toLogEvent } from '../../actors/sources/log-event.js';
import { EventLogError } from '../../src/kernel/errors.js';

const where = 'postgres://postgres@127.0.0.1:5432/test table flowd_events, row id 12';

/** The EventLogError toLogEvent throws for `raw`. */
function failure(raw: unknown): EventLogError {
  try {
    toLogEvent(raw, where);
  } catch (error) {
    expect(error).toBeInstanceOf(EventLogError);
    return error as EventLogError;
  }
  throw new Error(`toLogEvent accepted ${JSON.stringify(raw)}`);
}

describe('toLogEvent', () => {
  it('keeps a complete row as it is, with created_at made ISO 8601 UTC', () => {
    const raw = {
      id: 12,
      type: 'Shotgun_Task_Change',
      entity: { type: 'Task', id: 7 },
      attributes: ['sg_status_list', 'content'],
      created_at: new Date('2024-03-01T10:00:00.000Z'),
      meta: { old_value: 'wtg', new_value: 'ip' },
    };
    expect(toLogEvent(raw, where)).toEqual({
      id: 12,
      type: 'Shotgun_Task_Change',
      entity: { type: 'Task', id: 7 },
      attributes: ['sg_status_list', 'content'],
      createdAt: '2024-03-01T10:00:00.000Z',
      meta: { old_value: 'wtg', new_value: 'ip' },
    });
  });

  it('takes a bigint id as PostgreSQL sends it (a string of digits), and a bigint', () => {
    expect(toLogEvent({ id: '9007199254740991', type: 't' }, where).id).toBe(Number.MAX_SAFE_INTEGER);
    expect(toLogEvent({ id: 42n, type: 't' }, where).id).toBe(42);
  });

  it('fills what the log leaves out: entity and meta null, no attributes, no createdAt', () => {
    expect(toLogEvent({ id: 1, type: 't' }, where)).toEqual({
      id: 1,
      type: 't',
      entity: null,
      attributes: [],
      createdAt: undefined,
      meta: null,
    });
    expect(toLogEvent({ id: 1, type: 't', entity: null, attributes: null, created_at: null, meta: null }, where)).toEqual({
      id: 1,
      type: 't',
      entity: null,
      attributes: [],
      createdAt: undefined,
      meta: null,
    });
  });

  it('takes a single attribute name as a list of one', () => {
    expect(toLogEvent({ id: 1, type: 't', attributes: 'sg_status_list' }, where).attributes).toEqual(['sg_status_list']);
  });

  it('keeps an entity of any JSON shape', () => {
    for (const entity of ['Task/7', 7, [1, 2], { nested: { deep: true } }, false])
      expect(toLogEvent({ id: 1, type: 't', entity }, where).entity).toEqual(entity);
  });

  it('reads createdAt as well as created_at, and converts an offset to UTC', () => {
    expect(toLogEvent({ id: 1, type: 't', createdAt: '2024-03-01T12:00:00+02:00' }, where).createdAt).toBe('2024-03-01T10:00:00.000Z');
    expect(toLogEvent({ id: 1, type: 't', created_at: '2024-03-01 10:00:00+00' }, where).createdAt).toBe('2024-03-01T10:00:00.000Z');
  });

  it('reads a date without an offset as UTC, whatever the time zone of the process', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      expect(toLogEvent({ id: 1, type: 't', created_at: '2024-03-01 10:00:00' }, where).createdAt).toBe('2024-03-01T10:00:00.000Z');
      expect(toLogEvent({ id: 1, type: 't', createdAt: '2024-03-01T10:00:00.123456' }, where).createdAt).toBe('2024-03-01T10:00:00.123Z');
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('refuses what is not an object, naming where it came from', () => {
    for (const raw of [null, 'event', 3, [{ id: 1 }]]) {
      const error = failure(raw);
      expect(error.code).toBe('ERR_EVENT_LOG');
      expect(error.message).toContain(where);
      expect(error.message).toContain('expected an event');
    }
  });

  it('refuses an id that is not a positive safe integer, naming the field and the value', () => {
    for (const id of [undefined, 0, -1, 1.5, '12a', '', '007', '9007199254740993', 2n ** 60n, Number.MAX_SAFE_INTEGER + 1, {}]) {
      const error = failure({ id, type: 't' });
      expect(error.code).toBe('ERR_EVENT_LOG');
      expect(error.message).toMatch(new RegExp(`^${where}: "id" must be a positive integer`));
    }
    expect(failure({ id: '12a', type: 't' }).message).toContain('found "12a"');
    expect(failure({ type: 't' }).message).toContain('found nothing');
  });

  it('refuses a missing, empty or non-string type', () => {
    for (const type of [undefined, '', 7, null]) expect(failure({ id: 1, type }).message).toContain('"type" must be a non-empty string');
  });

  it('refuses attributes that are not names', () => {
    for (const attributes of [3, [1, 2], ['ok', null], { name: 'x' }])
      expect(failure({ id: 1, type: 't', attributes }).message).toContain('"attributes" must be');
  });

  it('refuses a created_at that is not a date, naming the field used', () => {
    expect(failure({ id: 1, type: 't', created_at: 'yesterday' }).message).toContain('"created_at" must be a date');
    expect(failure({ id: 1, type: 't', createdAt: 1_700_000_000_000 }).message).toContain('"createdAt" must be a date');
    expect(failure({ id: 1, type: 't', created_at: new Date(Number.NaN) }).message).toContain('found an invalid date');
  });

  it('refuses a meta that is not an object', () => {
    for (const meta of ['{"a":1}', 3, [1], new Date(0)])
      expect(failure({ id: 1, type: 't', meta }).message).toContain('"meta" must be an object or null');
  });
});

describe('parseId', () => {
  it('reads non-negative safe integers from numbers, bigints and digit strings, and nothing else', () => {
    expect([parseId(0), parseId('0'), parseId(5), parseId('5'), parseId(5n)]).toEqual([0, 0, 5, 5, 5]);
    for (const value of [-1, 1.5, '-1', ' 5', '1e3', null, undefined, Number.NaN, 2n ** 60n]) expect(parseId(value)).toBeUndefined();
  });
});

describe('describeValue', () => {
  it('shortens a long value to 80 characters', () => {
    expect(describeValue('x'.repeat(200))).toHaveLength(80);
  });
});

describe('checkRange', () => {
  it('accepts an id and a positive limit and refuses the rest', () => {
    expect(() => checkRange(0, 1)).not.toThrow();
    for (const [after, limit] of [
      [-1, 1],
      [1.5, 1],
      [0, 0],
    ] as const)
      expect(() => checkRange(after, limit)).toThrow(expect.objectContaining({ name: 'FlowdError', code: 'ERR_INVALID_ARGUMENT' }));
  });
});
