import { describe, expect, it } from 'vitest';
import { redactDeep, REDACTED_KEYS } from '../../src/logger.js';

describe('redaction', () => {
  it('replaces secret keys at any depth of a payload, case-insensitively, keeping the rest', () => {
    const payload = { password: 'TOP', auth: { token: 'LEVEL2' }, req: { headers: { Authorization: 'Bearer LEVEL3', host: 'x' } }, list: [{ secret: 's' }] };
    expect(redactDeep(payload)).toEqual({
      password: '[redacted]', auth: { token: '[redacted]' }, req: { headers: { Authorization: '[redacted]', host: 'x' } }, list: [{ secret: '[redacted]' }],
    });
    expect(JSON.stringify(redactDeep(payload))).not.toMatch(/TOP|LEVEL2|LEVEL3/);
  });

  it('leaves plain values alone and the original object untouched', () => {
    const payload = { token: 't' };
    expect(redactDeep('text')).toBe('text');
    redactDeep(payload);
    expect(payload.token).toBe('t');
  });

  it('covers the usual secret names in the fixed redact paths', () => {
    expect(REDACTED_KEYS).toEqual(expect.arrayContaining(['password', '*.token', '*.*.authorization', '*.*.*["set-cookie"]']));
  });
});
