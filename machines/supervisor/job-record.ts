import type { Delivery } from '../events.js';
import type { JobRecord } from './types.js';

/**
 * Job records are made only here, each with every field in the same order:
 * one shape for V8, and an object literal per change rather than a spread
 * (a spread with extra fields costs several times more on this path).
 */

/** A delivery just admitted, as its first attempt. */
export function admittedJob(seq: number, key: string | undefined, now: number, delivery: Delivery): JobRecord {
  return {
    seq,
    key,
    enqueuedAt: now,
    delivery,
    attempt: 1,
    slotId: undefined,
    startedAt: undefined,
    lastError: undefined,
    waitMs: undefined,
    runMs: undefined,
    revoked: undefined,
    probe: false,
    cancelled: false,
  };
}

/** The job started on `slotId` at `now`; `probe`: it runs as the probe of an outage. */
export function startedJob(job: JobRecord, start: { slotId: string; now: number; probe: boolean }): JobRecord {
  const { slotId, now, probe } = start;
  return {
    seq: job.seq,
    key: job.key,
    enqueuedAt: job.enqueuedAt,
    delivery: job.delivery,
    attempt: job.attempt,
    slotId,
    startedAt: now,
    lastError: job.lastError,
    waitMs: now - job.enqueuedAt,
    runMs: job.runMs,
    revoked: job.revoked,
    probe,
    cancelled: job.cancelled,
  };
}

/** The job's run reported back at `now`: it has no slot, and ran from its start until now. */
export function reportedJob(job: JobRecord, now: number): JobRecord {
  return {
    seq: job.seq,
    key: job.key,
    enqueuedAt: job.enqueuedAt,
    delivery: job.delivery,
    attempt: job.attempt,
    slotId: job.slotId,
    startedAt: undefined,
    lastError: job.lastError,
    waitMs: job.waitMs,
    runMs: job.startedAt === undefined ? job.runMs : now - job.startedAt,
    revoked: job.revoked,
    probe: job.probe,
    cancelled: job.cancelled,
  };
}
