import { describe, expect, it } from 'vitest';
import { refusal, storeStatements } from '../../../actors/stores/postgres-statements.js';

const row = (present: boolean, version: number, fence: number) => ({
  present,
  version: String(version),
  fence: String(fence),
  changed: null,
});

describe('refusal', () => {
  it('refuses an older fencing token first, naming the highest accepted, even when the version is wrong too', () => {
    expect(refusal(row(true, 7, 5), { fence: 4, ifVersion: 3 })).toEqual({ kind: 'fenced', fence: 5 });
  });

  it('refuses another version than the live one, a row with no value being at version 0', () => {
    expect(refusal(row(true, 7, 0), { ifVersion: 6 })).toEqual({ kind: 'conflict', version: 7 });
    expect(refusal(row(false, 7, 0), { ifVersion: 7 })).toEqual({ kind: 'conflict', version: 0 });
    expect(refusal(row(false, 7, 0), { ifVersion: 0 })).toBeUndefined();
  });

  it('lets through the same or a newer token, and no conditions at all', () => {
    expect(refusal(row(true, 7, 5), { fence: 5, ifVersion: 7 })).toBeUndefined();
    expect(refusal(row(true, 7, 5), { fence: 6 })).toBeUndefined();
    expect(refusal(row(true, 7, 5), {})).toBeUndefined();
  });
});

describe('storeStatements', () => {
  it('puts the quoted table it was given in every statement, and locks the row a write or remove decides on', () => {
    const sql = storeStatements('"flowd"."Orders"');
    for (const text of Object.values(sql)) expect(text).toContain('"flowd"."Orders"');
    expect(sql.write).toMatch(/WHERE key = \$1 FOR UPDATE/);
    expect(sql.remove).toMatch(/WHERE key = \$1 FOR UPDATE/);
  });
});
