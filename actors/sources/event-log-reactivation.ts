/**
 * `flowd plugins app.ini --reactivate NAME` while a daemon reads the log:
 * the daemon keeps the cursors and alone writes them (fenced by the reader
 * lock), so the command leaves a request under its own key instead, and the
 * reader takes it up on its next read of the log.
 */

/** A request to re-activate a plugin deactivated on record. */
export interface ReactivationRequest {
  /** The `at` of the deactivation it is meant for: a request left over from an earlier one is dropped. */
  deactivatedAt: number;
  /** When it was asked for (ms since the epoch), for the logs. */
  requestedAt: number;
}

/** The store key of a plugin's reactivation request. */
export const reactivationKey = (plugin: string): string => `event-log/reactivate/${plugin}`;

/** Whether a stored value is a reactivation request (anything else under the key is dropped as stale). */
export function isReactivationRequest(value: unknown): value is ReactivationRequest {
  const request = value as Partial<ReactivationRequest> | null | undefined;
  return (
    typeof request === 'object' && request !== null && typeof request.deactivatedAt === 'number' && typeof request.requestedAt === 'number'
  );
}
