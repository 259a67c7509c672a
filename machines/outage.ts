import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { ErrorInfo } from './events.js';

/**
 * An outage of the app's dependency (its store or its locks): every run
 * that needs it fails, through no fault of its event. While it lasts the
 * supervisor holds its events, pauses its source, and lets one event run
 * at a time as a probe, on a short backoff with jitter.
 */
export interface Outage {
  /** When the first run failed for it (the clock's ms). */
  since: number;
  /** The error that started it. */
  error: ErrorInfo;
  /** Probes that failed so far. */
  probes: number;
  /** The probe timer fired: the next event that can start is let through as the probe. */
  probeDue: boolean;
  /** Whether the source is paused for it (it is resumed while no event is held to probe with). */
  sourcePaused: boolean;
}

/** What the supervisor does about an outage. */
export type OutageEffect =
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'down'; error: ErrorInfo }
  | { type: 'up'; downForMs: number; probes: number }
  | { type: 'probe'; delayMs: number };

/** The outage after a fact, and what to do. */
export interface OutageStep {
  outage: Outage | undefined;
  effects: OutageEffect[];
}

/** Codes that mean the app's dependency is down, not that the event is bad. */
const DEPENDENCY_DOWN = new Set(['ERR_STORE_UNAVAILABLE', 'ERR_LOCK_UNAVAILABLE']);

/**
 * How probes are spaced: exponential with jitter, capped at 500ms, so work
 * resumes within a second of the dependency coming back (the Redis clients
 * reconnect within 500ms too), and daemons that lost it together do not
 * probe it in lockstep. A probe is one event's run against a store or locks
 * that fail at once while down: cheap, and never a redelivery.
 */
export const PROBE_BACKOFF: BackoffPolicy = { kind: 'exponential', delayMs: 100, maxDelayMs: 500 };

/** Whether a run's error means the app's dependency is down. */
export function isDependencyDown(error: ErrorInfo): boolean {
  return DEPENDENCY_DOWN.has(error.code);
}

/** The wait before probe number `probe` (1 for the first). */
export function probeDelay(probe: number, random: () => number): number {
  return backoffDelay(PROBE_BACKOFF, probe, random);
}

/**
 * A run failed: with a dependency error, an outage begins (pause the
 * source, say so once, schedule the first probe), or a probe failed (the
 * next one, later). A probe that failed for another reason reached the
 * dependency: the outage is over. Other runs change nothing.
 */
export function runFailed(outage: Outage | undefined, error: ErrorInfo, wasProbe: boolean, now: number, random: () => number): OutageStep {
  if (!isDependencyDown(error)) return wasProbe ? runSucceeded(outage, true, now) : { outage, effects: [] };
  if (!outage)
    return {
      outage: { since: now, error, probes: 0, probeDue: false, sourcePaused: true },
      effects: [{ type: 'pause' }, { type: 'down', error }, { type: 'probe', delayMs: probeDelay(1, random) }],
    };
  if (!wasProbe) return { outage, effects: [] };
  const probes = outage.probes + 1;
  const effects: OutageEffect[] = outage.sourcePaused ? [] : [{ type: 'pause' }];
  effects.push({ type: 'probe', delayMs: probeDelay(probes + 1, random) });
  return { outage: { ...outage, probes, probeDue: false, sourcePaused: true }, effects };
}

/** A run ended without a dependency error: if it was the probe, the dependency is back. */
export function runSucceeded(outage: Outage | undefined, wasProbe: boolean, now: number): OutageStep {
  if (!outage || !wasProbe) return { outage, effects: [] };
  const effects: OutageEffect[] = [{ type: 'up', downForMs: now - outage.since, probes: outage.probes + 1 }];
  if (outage.sourcePaused) effects.push({ type: 'resume' });
  return { outage: undefined, effects };
}

/**
 * The probe timer fired: the next event may start. With none held (they
 * expired or went back to the source), the source is resumed so that the
 * next event to arrive is the probe.
 */
export function probeDue(outage: Outage | undefined, hasWaiting: boolean): OutageStep {
  if (!outage) return { outage, effects: [] };
  const resume = !hasWaiting && outage.sourcePaused;
  return {
    outage: { ...outage, probeDue: true, sourcePaused: outage.sourcePaused && !resume },
    effects: resume ? [{ type: 'resume' }] : [],
  };
}
