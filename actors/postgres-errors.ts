/**
 * What a `pg` failure means for the caller:
 * - `connection`: the connection is gone or cannot be made (a network error,
 *   SQLSTATE class 08, the server shutting down or killing the session,
 *   pg's own "Connection terminated"): reconnect, report the dependency down.
 * - `transient`: the server is there but could not answer this time (a
 *   statement timeout, too many clients, a serialization failure): retry.
 * - `refused`: the server answered no (a refused login, a missing table,
 *   no permission, bad SQL): a retry will not cure it.
 */
export type PgFailureKind = 'connection' | 'transient' | 'refused';

/** A classified `pg` failure, with a reason fit for a message (no password: pg never puts one there). */
export interface PgFailure {
  kind: PgFailureKind;
  reason: string;
  /** The SQLSTATE or Node error code, when there is one. */
  code: string | undefined;
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
};
// The server going away: admin shutdown (pg_terminate_backend too), crash shutdown, cannot connect now (starting up).
const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03']);
// Statement timeout or cancel, too many clients, serialization failure, deadlock.
const TRANSIENT_SQLSTATES = new Set(['57014', '53300', '40001', '40P01']);

/**
 * Classifies what `pg` threw (a Pool/Client query or connect).
 * @example classifyPgError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))
 * // { kind: 'connection', reason: 'connection refused', code: 'ECONNREFUSED' }
 */
export function classifyPgError(error: unknown): PgFailure {
  const { code, message = '' } = (error ?? {}) as { code?: unknown; message?: string };
  const known = typeof code === 'string' ? code : undefined;
  if (known && known in NETWORK_REASONS) return { kind: 'connection', reason: NETWORK_REASONS[known]!, code: known };
  if (known && /^[0-9A-Z]{5}$/.test(known)) {
    const reason = `${message} (SQLSTATE ${known})`;
    if (known.startsWith('08') || CONNECTION_SQLSTATES.has(known)) return { kind: 'connection', reason, code: known };
    if (TRANSIENT_SQLSTATES.has(known)) return { kind: 'transient', reason, code: known };
    return { kind: 'refused', reason, code: known };
  }
  // pg's own failures carry no code. A refused password or TLS setting will not pass on a retry.
  if (/password|SASL|SCRAM|SSL/i.test(message)) return { kind: 'refused', reason: message, code: known };
  if (/^Query read timeout/.test(message)) return { kind: 'transient', reason: 'no answer within the query timeout', code: known };
  // A pool whose every connection is busy: the server is fine, the caller waited too long for a turn.
  if (/^timeout exceeded when trying to connect/.test(message))
    return { kind: 'transient', reason: 'every pooled connection stayed busy for the connect timeout', code: known };
  // "Connection terminated unexpectedly", "... due to connection timeout",
  // "Client has encountered a connection error and is not queryable", and anything else without a code.
  return { kind: 'connection', reason: message || String(error), code: known };
}
