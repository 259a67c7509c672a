import { describe, expect, it } from 'vitest';
import { classifyPgError } from '../../actors/postgres-errors.js';

const failure = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

describe('classifyPgError', () => {
  it('calls a lost or refused connection a connection failure, in plain words', () => {
    expect(classifyPgError(failure('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'))).toEqual({
      kind: 'connection',
      reason: 'connection refused',
      code: 'ECONNREFUSED',
    });
    expect(classifyPgError(failure('Connection terminated unexpectedly')).kind).toBe('connection');
    expect(classifyPgError(failure('Connection terminated due to connection timeout')).kind).toBe('connection');
  });

  it('calls SQLSTATE class 08 and the server ending the session a connection failure', () => {
    for (const code of ['08006', '08001', '57P01', '57P02', '57P03'])
      expect(classifyPgError(failure('terminating connection due to administrator command', code))).toMatchObject({
        kind: 'connection',
        reason: `terminating connection due to administrator command (SQLSTATE ${code})`,
      });
  });

  it('calls a statement timeout, too many clients, a query read timeout or a wait for a busy pool transient', () => {
    for (const code of ['57014', '53300', '40001', '40P01']) expect(classifyPgError(failure('busy', code)).kind).toBe('transient');
    expect(classifyPgError(failure('timeout exceeded when trying to connect')).kind).toBe('transient');
    expect(classifyPgError(failure('Query read timeout'))).toMatchObject({
      kind: 'transient',
      reason: 'no answer within the query timeout',
    });
  });

  it('calls a refused login, a missing database, a missing right or bad SQL refused', () => {
    for (const code of ['28P01', '3D000', '42501', '42P01', '42703']) expect(classifyPgError(failure('no', code)).kind).toBe('refused');
    expect(classifyPgError(failure('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string')).kind).toBe('refused');
  });
});
