import { describe, expect, it } from 'vitest';
import {
  dependencyOf,
  isDependencyDown,
  pingAnswered,
  pingFailed,
  probeDelay,
  probeDue,
  runFailed,
  runSucceeded,
  type Outage,
} from '../../machines/outage.js';

const storeDown = { code: 'ERR_STORE_UNAVAILABLE', message: 'store redis://127.0.0.1:6379 is unavailable' };
const lockDown = { code: 'ERR_LOCK_UNAVAILABLE', message: 'locks unavailable' };
const bad = { code: 'ERR_WORKER_FAILED', message: 'boom' };
const half = () => 0.5;

const down = (over: Partial<Outage> = {}): Outage => ({
  since: 1000,
  error: storeDown,
  probes: 0,
  probeDue: false,
  sourcePaused: true,
  dependencies: ['store'],
  probeBy: 'event',
  pinging: false,
  ...over,
});

describe('outage decisions', () => {
  it('counts a store or lock that is unavailable as the dependency being down, and nothing else', () => {
    expect(isDependencyDown(storeDown)).toBe(true);
    expect(isDependencyDown(lockDown)).toBe(true);
    expect(isDependencyDown(bad)).toBe(false);
    expect(isDependencyDown({ code: 'ERR_STORE_CLOSED', message: 'closed' })).toBe(false);
    expect([dependencyOf(storeDown), dependencyOf(lockDown)]).toEqual(['store', 'lock']);
  });

  it('spaces probes with a growing, jittered delay that never exceeds half a second', () => {
    expect(probeDelay(1, () => 0)).toBe(100);
    expect(probeDelay(1, () => 0.999)).toBe(200);
    expect(probeDelay(2, () => 0.999)).toBe(400);
    for (const probe of [3, 10, 1000]) {
      expect(probeDelay(probe, () => 0)).toBe(100);
      expect(probeDelay(probe, () => 0.999999)).toBe(500);
    }
  });

  it('starts an outage on the first dependency failure: pause the source, say it is down once, schedule the first probe, a ping', () => {
    const step = runFailed(undefined, storeDown, false, 1000, half);
    expect(step.outage).toEqual(down({ probeBy: 'ping' }));
    expect(step.effects).toEqual([{ type: 'pause' }, { type: 'down', error: storeDown }, { type: 'probe', delayMs: 150 }]);
  });

  it('does nothing when another run fails for its own reasons, and only notes what is down when one fails on the dependency during the outage', () => {
    expect(runFailed(undefined, bad, false, 1000, half)).toEqual({ outage: undefined, effects: [] });
    const outage = down({ probeBy: 'ping' });
    expect(runFailed(outage, bad, false, 1200, half)).toEqual({ outage, effects: [] });
    expect(runFailed(outage, storeDown, false, 1200, half)).toEqual({ outage, effects: [] });
    expect(runFailed(outage, lockDown, false, 1200, half)).toEqual({ outage: { ...outage, dependencies: ['store', 'lock'] }, effects: [] });
  });

  it('schedules the next probe, later, when the event probe fails on the dependency, and says nothing', () => {
    const step = runFailed(down({ probes: 2 }), storeDown, true, 5000, half);
    expect(step.outage).toEqual(down({ probes: 3 }));
    expect(step.effects).toEqual([{ type: 'probe', delayMs: probeDelay(4, half) }]);
  });

  it('pauses the source again when the probe was an event that arrived while it was resumed', () => {
    const step = runFailed(down({ sourcePaused: false }), storeDown, true, 5000, half);
    expect(step.outage?.sourcePaused).toBe(true);
    expect(step.effects[0]).toEqual({ type: 'pause' });
  });

  it('ends the outage when the event probe succeeds: says it is back with how long it was down, and resumes the source', () => {
    expect(runSucceeded(down({ probes: 4 }), true, 11_000)).toEqual({
      outage: undefined,
      effects: [{ type: 'up', downForMs: 10_000, probes: 5 }, { type: 'resume' }],
    });
    expect(runSucceeded(down({ sourcePaused: false }), true, 2000).effects).toEqual([{ type: 'up', downForMs: 1000, probes: 1 }]);
  });

  it('ends the outage when the event probe fails for a reason of its own: the dependency answered', () => {
    expect(runFailed(down(), bad, true, 3000, half)).toEqual({
      outage: undefined,
      effects: [{ type: 'up', downForMs: 2000, probes: 1 }, { type: 'resume' }],
    });
  });

  it('keeps the outage when a run that is not the probe succeeds', () => {
    const outage = down();
    expect(runSucceeded(outage, false, 3000)).toEqual({ outage, effects: [] });
    expect(runSucceeded(undefined, true, 3000)).toEqual({ outage: undefined, effects: [] });
  });

  it('lets the next event through when an event probe is due, resuming the source only when no event is held to probe with', () => {
    expect(probeDue(down(), true)).toEqual({ outage: down({ probeDue: true }), effects: [] });
    expect(probeDue(down(), false)).toEqual({ outage: down({ probeDue: true, sourcePaused: false }), effects: [{ type: 'resume' }] });
    expect(probeDue(down({ sourcePaused: false }), false).effects).toEqual([]);
    expect(probeDue(undefined, true)).toEqual({ outage: undefined, effects: [] });
  });

  it('pings what is down when a probe is due, one ping at a time, and lets no event through', () => {
    const outage = down({ probeBy: 'ping', dependencies: ['store', 'lock'] });
    const step = probeDue(outage, true);
    expect(step).toEqual({ outage: { ...outage, pinging: true }, effects: [{ type: 'ping', dependencies: ['store', 'lock'] }] });
    expect(step.outage?.probeDue).toBe(false);
    // A timer that fires while the ping is out changes nothing.
    expect(probeDue(step.outage, true)).toEqual({ outage: step.outage, effects: [] });
  });

  it('ends the outage when the ping answers: says it is back with how long it was down and the probes it took, and resumes the source', () => {
    expect(pingAnswered(down({ probeBy: 'ping', pinging: true, probes: 9 }), 'up', 11_000, true)).toEqual({
      outage: undefined,
      effects: [{ type: 'up', downForMs: 10_000, probes: 10 }, { type: 'resume' }],
    });
  });

  it('schedules the next ping, later, when one finds the dependency still down, and says nothing', () => {
    const step = pingFailed(down({ probeBy: 'ping', pinging: true, probes: 2 }), half);
    expect(step.outage).toEqual(down({ probeBy: 'ping', probes: 3 }));
    expect(step.effects).toEqual([{ type: 'probe', delayMs: probeDelay(4, half) }]);
  });

  it('probes by event from then on, starting at once, when the dependency cannot be pinged', () => {
    const step = pingAnswered(down({ probeBy: 'ping', pinging: true }), 'unsupported', 2000, true);
    expect(step).toEqual({ outage: down({ probeBy: 'event', probeDue: true }), effects: [] });
    expect(pingAnswered(down({ probeBy: 'ping', pinging: true }), 'unsupported', 2000, false)).toEqual({
      outage: down({ probeBy: 'event', probeDue: true, sourcePaused: false }),
      effects: [{ type: 'resume' }],
    });
  });

  it('ignores a ping answer that comes when no ping is out', () => {
    expect(pingAnswered(undefined, 'up', 2000, true)).toEqual({ outage: undefined, effects: [] });
    const outage = down({ probeBy: 'ping' });
    expect(pingAnswered(outage, 'up', 2000, true)).toEqual({ outage, effects: [] });
    expect(pingFailed(outage, half)).toEqual({ outage, effects: [] });
  });

  it('probes a new outage by event when a ping vouched for that dependency and yet it failed at once: the ping does not see what the worker sees', () => {
    expect(runFailed(undefined, storeDown, false, 1000, half, ['store']).outage?.probeBy).toBe('event');
    expect(runFailed(undefined, lockDown, false, 1000, half, ['store']).outage?.probeBy).toBe('ping');
    expect(runFailed(undefined, storeDown, false, 1000, half, []).outage?.probeBy).toBe('ping');
  });
});
