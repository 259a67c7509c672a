import type { SupervisorSettings } from '../../machines/supervisor.js';

/** The supervisor settings an empty [Flow] compiles to: the documented defaults, written once. */
export const DEFAULT_SETTINGS: SupervisorSettings = {
  workers: 1,
  queueSize: 1000,
  highWatermark: 800,
  lowWatermark: 400,
  queueTimeoutMs: 60_000,
  executionTimeoutMs: 60_000,
  shutdownTimeoutMs: 30_000,
  retries: 0,
  backoff: { kind: 'exponential', delayMs: 1000, maxDelayMs: 60_000 },
  orderBy: undefined,
};
