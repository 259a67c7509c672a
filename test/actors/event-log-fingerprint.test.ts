import { describe, expect, it } from 'vitest';
import { fingerprintMismatch } from '../../actors/sources/event-log-fingerprint.js';
import type { LogEvent } from '../../actors/plugins/plugin-api.js';

const event = (id: number, createdAt?: string): LogEvent => ({ id, type: 't', entity: null, attributes: [], createdAt, meta: null });

describe('fingerprintMismatch', () => {
  it('matches the same instant however it is written', () => {
    const fingerprint = { id: 5, createdAt: '2026-03-02T10:14:07Z' };
    expect(fingerprintMismatch(event(5, '2026-03-02T10:14:07.000Z'), fingerprint)).toBeUndefined();
    expect(fingerprintMismatch(event(5, '2026-03-02T11:14:07.000+01:00'), fingerprint)).toBeUndefined();
  });

  it('names what the log holds instead: another instant, none, or no event of that id', () => {
    const fingerprint = { id: 5, createdAt: '2026-03-02T10:14:07.000Z' };
    expect(fingerprintMismatch(event(5, '2026-03-02T09:14:07.000Z'), fingerprint)).toBe('has created_at 2026-03-02T09:14:07.000Z');
    expect(fingerprintMismatch(event(5), fingerprint)).toBe('has no created_at');
    expect(fingerprintMismatch(event(6, '2026-03-02T10:14:07.000Z'), fingerprint)).toBe('is gone');
    expect(fingerprintMismatch(undefined, fingerprint)).toBe('is gone');
  });
});
