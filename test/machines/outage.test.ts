import { describe, expect, it } from 'vitest';
import { isDependencyDown, probeDelay, probeDue, runFailed, runSucceeded, type Outage } from '../../machines/outage.js';

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
  ...over,
});

describe('outage decisions', () => {
  it('counts a store or lock that is unavailable as the dependency being down, and nothing else', () => {
    expect(isDependencyDown(storeDown)).toBe(true);
    expect(isDependencyDown(lockDown)).toBe(true);
    expect(isDependencyDown(bad)).toBe(false);
    expect(isDependencyDown({ code: 'ERR_STORE_CLOSED', message: 'closed' })).toBe(false);
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

  it('starts an outage on the first dependency failure: pause the source, say it is down once, schedule the first probe', () => {
    const step = runFailed(undefined, storeDown, false, 1000, half);
    expect(step.outage).toEqual(down());
    expect(step.effects).toEqual([{ type: 'pause' }, { type: 'down', error: storeDown }, { type: 'probe', delayMs: 150 }]);
  });

  it('changes nothing when another run fails for its own reasons, or fails on the dependency during the outage without being the probe', () => {
    expect(runFailed(undefined, bad, false, 1000, half)).toEqual({ outage: undefined, effects: [] });
    const outage = down();
    expect(runFailed(outage, lockDown, false, 1200, half)).toEqual({ outage, effects: [] });
    expect(runFailed(outage, bad, false, 1200, half)).toEqual({ outage, effects: [] });
  });

  it('schedules the next probe, later, when the probe fails on the dependency, and says nothing', () => {
    const step = runFailed(down({ probes: 2 }), storeDown, true, 5000, half);
    expect(step.outage).toEqual(down({ probes: 3 }));
    expect(step.effects).toEqual([{ type: 'probe', delayMs: probeDelay(4, half) }]);
  });

  it('pauses the source again when the probe was an event that arrived while it was resumed', () => {
    const step = runFailed(down({ sourcePaused: false }), storeDown, true, 5000, half);
    expect(step.outage?.sourcePaused).toBe(true);
    expect(step.effects[0]).toEqual({ type: 'pause' });
  });

  it('ends the outage when the probe succeeds: says it is back with how long it was down, and resumes the source', () => {
    expect(runSucceeded(down({ probes: 4 }), true, 11_000)).toEqual({
      outage: undefined,
      effects: [{ type: 'up', downForMs: 10_000, probes: 5 }, { type: 'resume' }],
    });
    expect(runSucceeded(down({ sourcePaused: false }), true, 2000).effects).toEqual([{ type: 'up', downForMs: 1000, probes: 1 }]);
  });

  it('ends the outage when the probe fails for a reason of its own: the dependency answered', () => {
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

  it('lets the next event through when the probe is due, resuming the source only when no event is held to probe with', () => {
    expect(probeDue(down(), true)).toEqual({ outage: down({ probeDue: true }), effects: [] });
    expect(probeDue(down(), false)).toEqual({ outage: down({ probeDue: true, sourcePaused: false }), effects: [{ type: 'resume' }] });
    expect(probeDue(down({ sourcePaused: false }), false).effects).toEqual([]);
    expect(probeDue(undefined, true)).toEqual({ outage: undefined, effects: [] });
  });
});
