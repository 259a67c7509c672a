import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { ErrorInfo } from './events.js';

/** What can be down: the app's store, or its locks. */
export type Dependency = 'store' | 'lock';

/** What the runtime's `pingDependency` actor is given: the dependencies to ping, and how long it may wait for them. */
export interface PingInput {
  dependencies: Dependency[];
  timeoutMs: number;
}

/**
 * What a ping found: `up` when every dependency answered, `unsupported`
 * when one of them has no ping (a custom store backend), so the outage is
 * probed by running a held event instead. A ping that finds one down rejects.
 */
export type PingResult = 'up' | 'unsupported';

/**
 * An outage of the app's dependency (its store or its locks): every run
 * that needs it fails, through no fault of its event. While it lasts the
 * supervisor holds its events, pauses its source, and pings the dependency
 * on a short backoff with jitter; no worker runs until a ping answers. When
 * the dependency cannot be pinged, one held event at a time runs as the probe.
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
  /** Whether the source is paused for it (while probing by event, it is resumed when no event is held to probe with). */
  sourcePaused: boolean;
  /** What is down: the kinds of the dependency errors heard during the outage, in order. */
  dependencies: Dependency[];
  /** How it is probed: pinging the dependencies, or running one held event (when they cannot be pinged). */
  probeBy: 'ping' | 'event';
  /** A ping is in flight (one at a time). */
  pinging: boolean;
}

/** What the supervisor does about an outage. */
export type OutageEffect =
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'down'; error: ErrorInfo }
  | { type: 'up'; downForMs: number; probes: number }
  | { type: 'probe'; delayMs: number }
  | { type: 'ping'; dependencies: Dependency[] };

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
 * probe it in lockstep. A probe is a ping of the store or locks (Redis:
 * PING), which fails at once while they are down: cheap, runs no worker,
 * and is never a redelivery.
 */
export const PROBE_BACKOFF: BackoffPolicy = { kind: 'exponential', delayMs: 100, maxDelayMs: 500 };

/** How long a ping may wait for an answer: a dependency slower than this counts as still down. */
export const PING_TIMEOUT_MS = 1000;

/** Whether a run's error means the app's dependency is down. */
export function isDependencyDown(error: ErrorInfo): boolean {
  return DEPENDENCY_DOWN.has(error.code);
}

/** Which dependency a dependency error is about. */
export function dependencyOf(error: ErrorInfo): Dependency {
  return error.code === 'ERR_LOCK_UNAVAILABLE' ? 'lock' : 'store';
}

/** The outage, knowing that `error`'s dependency is down too. */
function withDependency(outage: Outage, error: ErrorInfo): Outage {
  const dependency = dependencyOf(error);
  return outage.dependencies.includes(dependency) ? outage : { ...outage, dependencies: [...outage.dependencies, dependency] };
}

/** The wait before probe number `probe` (1 for the first). */
export function probeDelay(probe: number, random: () => number): number {
  return backoffDelay(PROBE_BACKOFF, probe, random);
}

/**
 * A run failed: with a dependency error, an outage begins (pause the
 * source, say so once, schedule the first probe), or, during one, its
 * dependency is noted as down too (the next ping asks it as well), or the
 * event probe failed (the next one, later). An event probe that failed for
 * another reason reached the dependency: the outage is over. Other runs
 * change nothing.
 *
 * `vouched`: what a ping last found up that no run has used successfully
 * since. When one of those fails again (a worker's own store, say, that
 * reports ERR_STORE_UNAVAILABLE while the app's store answers), pinging
 * cannot tell when it is back: this outage is probed by event, so it is
 * said down and up once, not once per ping.
 */
export function runFailed(
  outage: Outage | undefined,
  error: ErrorInfo,
  wasProbe: boolean,
  now: number,
  random: () => number,
  vouched: readonly Dependency[] = [],
): OutageStep {
  if (!isDependencyDown(error)) return wasProbe ? runSucceeded(outage, true, now) : { outage, effects: [] };
  if (!outage)
    return {
      outage: {
        since: now,
        error,
        probes: 0,
        probeDue: false,
        sourcePaused: true,
        dependencies: [dependencyOf(error)],
        // A ping vouched for it and yet it failed at once: the ping does not see what the worker sees.
        probeBy: vouched.includes(dependencyOf(error)) ? 'event' : 'ping',
        pinging: false,
      },
      effects: [{ type: 'pause' }, { type: 'down', error }, { type: 'probe', delayMs: probeDelay(1, random) }],
    };
  const known = withDependency(outage, error);
  if (!wasProbe) return { outage: known, effects: [] };
  return probeFailed(known, random);
}

/** A probe (an event's run, or a ping) found the dependency still down: the next one, later, with the source paused. */
function probeFailed(outage: Outage, random: () => number): OutageStep {
  const probes = outage.probes + 1;
  const effects: OutageEffect[] = outage.sourcePaused ? [] : [{ type: 'pause' }];
  effects.push({ type: 'probe', delayMs: probeDelay(probes + 1, random) });
  return { outage: { ...outage, probes, probeDue: false, pinging: false, sourcePaused: true }, effects };
}

/** A run ended without a dependency error: if it was the probe, the dependency is back. */
export function runSucceeded(outage: Outage | undefined, wasProbe: boolean, now: number): OutageStep {
  if (!outage || !wasProbe) return { outage, effects: [] };
  return ended(outage, now);
}

/**
 * The ping answered. `up`: the outage is over (the held events then run as
 * usual). `unsupported`: a dependency has no ping, so this outage is probed
 * by event from now on, starting at once. A ping that was not in flight
 * (the outage ended meanwhile) changes nothing.
 */
export function pingAnswered(outage: Outage | undefined, result: PingResult, now: number, hasWaiting: boolean): OutageStep {
  if (!outage?.pinging) return { outage, effects: [] };
  if (result === 'up') return ended(outage, now);
  return probeDue({ ...outage, pinging: false, probeBy: 'event' }, hasWaiting);
}

/** The ping found a dependency still down (or did not hear back in time): the next one, later. */
export function pingFailed(outage: Outage | undefined, random: () => number): OutageStep {
  if (!outage?.pinging) return { outage, effects: [] };
  return probeFailed(outage, random);
}

/** The dependency answered a probe: the outage is over; say it is back, with how long it was down, and resume the source. */
function ended(outage: Outage, now: number): OutageStep {
  const effects: OutageEffect[] = [{ type: 'up', downForMs: now - outage.since, probes: outage.probes + 1 }];
  if (outage.sourcePaused) effects.push({ type: 'resume' });
  return { outage: undefined, effects };
}

/**
 * The probe timer fired. Probing by ping: ping the dependencies (no event
 * starts). Probing by event: the next event may start; with none held
 * (they expired or went back to the source), the source is resumed so
 * that the next event to arrive is the probe.
 */
export function probeDue(outage: Outage | undefined, hasWaiting: boolean): OutageStep {
  if (!outage || outage.pinging) return { outage, effects: [] };
  if (outage.probeBy === 'ping')
    return { outage: { ...outage, pinging: true }, effects: [{ type: 'ping', dependencies: outage.dependencies }] };
  const resume = !hasWaiting && outage.sourcePaused;
  return {
    outage: { ...outage, probeDue: true, sourcePaused: outage.sourcePaused && !resume },
    effects: resume ? [{ type: 'resume' }] : [],
  };
}
