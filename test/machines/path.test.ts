import { describe, expect, it } from 'vitest';
import { orderingKey, readPath } from '../../machines/path.js';

describe('ordering keys', () => {
  it('reads a dotted path through own properties only', () => {
    expect(readPath({ headers: { 'asset-id': 'x' } }, ['headers', 'asset-id'])).toBe('x');
    expect(readPath({}, ['constructor'])).toBeUndefined();
    expect(orderingKey({ a: { b: 7 } }, ['a', 'b'])).toBe('7');
    expect(orderingKey({ a: { b: { c: 1 } } }, ['a', 'b'])).toBeUndefined();
    expect(orderingKey('text', ['a'])).toBeUndefined();
  });
});
