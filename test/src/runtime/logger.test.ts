import { describe, expect, it } from 'vitest';
import { redactDeep, redactText, REDACTED_KEYS } from '../../../src/runtime/logger.js';

describe('redaction', () => {
  it('replaces secret keys at any depth of a payload, case-insensitively, keeping the rest', () => {
    const payload = {
      password: 'TOP',
      auth: { token: 'LEVEL2' },
      req: { headers: { Authorization: 'Bearer LEVEL3', host: 'x' } },
      list: [{ secret: 's' }],
    };
    expect(redactDeep(payload)).toEqual({
      password: '[redacted]',
      auth: { token: '[redacted]' },
      req: { headers: { Authorization: '[redacted]', host: 'x' } },
      list: [{ secret: '[redacted]' }],
    });
    expect(JSON.stringify(redactDeep(payload))).not.toMatch(/TOP|LEVEL2|LEVEL3/);
  });

  it('redacts secrets written inside text payloads: JSON, query strings, headers and XML', () => {
    const json = '{"settings":{"username":"u","password":"p\\"q"},"token": "abc","n":1}';
    expect(redactText(json)).toBe('{"settings":{"username":"u","password":"[redacted]"},"token": "[redacted]","n":1}');
    expect(redactText('user=u&password=hunter2&x=1')).toBe('user=u&password=[redacted]&x=1');
    // Every secret key is looked for, not only the common ones.
    expect(redactText('user=u&passwd=hunter2&apikey=k1')).toBe('user=u&passwd=[redacted]&apikey=[redacted]');
    expect(redactText('Authorization: Bearer abc.def')).toBe('Authorization: [redacted]');
    expect(redactText('<s><setting name="password">s3</setting><password>s4</password><setting name="user">u</setting></s>')).toBe(
      '<s><setting name="password">[redacted]</setting><password>[redacted]</password><setting name="user">u</setting></s>',
    );
    // A text payload (stdin's default) and text nested in objects go through it.
    expect(redactDeep('{"password":"top"}')).toBe('{"password":"[redacted]"}');
    expect(redactDeep({ body: 'secret=v' })).toEqual({ body: 'secret=[redacted]' });
    expect(redactText('nothing to hide: 42')).toBe('nothing to hide: 42');
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
