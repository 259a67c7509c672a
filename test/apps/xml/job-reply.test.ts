import { describe, expect, it } from 'vitest';
import { decodeJobResult, encodeJobResult, FIELDS_PER_PART } from '../../../src/apps/xml/job-reply.js';
import type { RecordData } from '../../../src/apps/xml/record-data.js';

describe('encodeJobResult and decodeJobResult', () => {
  it('carry a record of many fields in parts and give back an equal record, its field order kept', async () => {
    const fields: Record<string, unknown> = {};
    for (let i = 0; i < 2 * FIELDS_PER_PART + 1; i++) fields[`f${i}`] = i % 2 === 0 ? `v${i}` : { n: i, list: [null, true] };
    const record: RecordData = { id: 'r1', fields, media: ['a.mxf'], form: 'news' };
    const parts = encodeJobResult(record);
    expect(parts).toHaveLength(4); // the rest of the record, then three parts of fields
    const decoded = (await decodeJobResult(parts)) as RecordData;
    expect(decoded).toEqual(record);
    expect(Object.keys(decoded.fields)).toEqual(Object.keys(fields));
  });

  it('keeps a field named __proto__ as an own field, never the prototype', async () => {
    const fields: Record<string, unknown> = {};
    Object.defineProperty(fields, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
    const decoded = (await decodeJobResult(encodeJobResult({ fields, media: [] }))) as RecordData;
    expect(Object.keys(decoded.fields)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(decoded.fields)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('carries the strings of an XPath job as they are', async () => {
    expect(await decodeJobResult(encodeJobResult([['a', 'b'], []]))).toEqual([['a', 'b'], []]);
  });
});
