import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import {
  lockCancelled,
  lockMachine,
  lockReleased,
  lockRenewed,
  lockRequested,
  lockRevoked,
  type AcquireInput,
  type AcquireOutput,
  type LockEmitted,
} from '../../machines/lock.js';
import { flush as settle } from '../helpers/wait.js';

/** The lock machine with an in-process acquire (or the one given), on a simulated clock, recording what it emits. */
function harness(acquire?: (input: AcquireInput, signal: AbortSignal) => Promise<AcquireOutput>, fence = 0) {
  const clock = new SimulatedClock();
  const emitted: LockEmitted[] = [];
  const logic = lockMachine.provide({
    actors: {
      acquire: fromPromise<AcquireOutput, AcquireInput>(({ input, signal }) =>
        acquire
          ? acquire(input, signal)
          : Promise.resolve({ fence: input.fence + 1, token: `t-${input.requestId}`, leaseMs: input.leaseMs }),
      ),
    },
  });
  const actor = createActor(logic, { input: { key: 'asset-1', fence }, clock });
  for (const type of ['lock.granted', 'lock.lost', 'lock.failed', 'lock.freed'] as const) actor.on(type, (event) => emitted.push(event));
  actor.start();
  const of = <T extends LockEmitted['type']>(type: T) =>
    emitted.filter((event): event is Extract<LockEmitted, { type: T }> => event.type === type);
  return { actor, clock, emitted, of, state: () => actor.getSnapshot().value, context: () => actor.getSnapshot().context };
}

describe('lockMachine', () => {
  it('grants a free lock to the first request with the next fence', async () => {
    const h = harness(undefined, 41);
    h.actor.send(lockRequested('r1', 1000));
    expect(h.state()).toBe('acquiring');
    await settle();
    expect(h.state()).toBe('held');
    expect(h.of('lock.granted')).toEqual([
      { type: 'lock.granted', key: 'asset-1', requestId: 'r1', fence: 42, token: 't-r1', leaseMs: 1000 },
    ]);
  });

  it('serves waiters in the order they asked, each with a greater fence', async () => {
    const h = harness();
    for (const id of ['a', 'b', 'c']) h.actor.send(lockRequested(id, 1000));
    await settle();
    h.actor.send(lockReleased('a'));
    await settle();
    h.actor.send(lockReleased('b'));
    await settle();
    expect(h.of('lock.granted').map(({ requestId, fence }) => [requestId, fence])).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
  });

  it('ignores a release or renewal from a request that does not hold the lock', async () => {
    const h = harness();
    h.actor.send(lockRequested('a', 1000));
    h.actor.send(lockRequested('b', 1000));
    await settle();
    h.actor.send(lockReleased('b'));
    h.actor.send(lockRenewed('b', 1000));
    expect(h.context().holder?.requestId).toBe('a');
    expect(h.context().waiters.map((waiter) => waiter.requestId)).toEqual(['b']);
  });

  it('takes the lock from a holder whose lease lapses and gives it to the next waiter with a greater fence', async () => {
    const h = harness();
    h.actor.send(lockRequested('a', 1000));
    h.actor.send(lockRequested('b', 5000));
    await settle();
    h.clock.increment(999);
    expect(h.of('lock.lost')).toEqual([]);
    h.clock.increment(1);
    expect(h.of('lock.lost')).toEqual([{ type: 'lock.lost', key: 'asset-1', requestId: 'a', fence: 1, leaseMs: 1000 }]);
    await settle();
    expect(h.context().holder).toMatchObject({ requestId: 'b', fence: 2 });
  });

  it('restarts the lease from a renewal, with the lease the renewal gives', async () => {
    const h = harness();
    h.actor.send(lockRequested('a', 1000));
    await settle();
    h.clock.increment(900);
    h.actor.send(lockRenewed('a', 1000));
    h.clock.increment(900);
    expect(h.state()).toBe('held');
    h.actor.send(lockRenewed('a', 200));
    h.clock.increment(199);
    expect(h.state()).toBe('held');
    h.clock.increment(1);
    expect(h.of('lock.lost')).toHaveLength(1);
    expect(h.state()).toBe('free');
  });

  it('drops a waiter that cancels, and serves the next one', async () => {
    const h = harness();
    for (const id of ['a', 'b', 'c']) h.actor.send(lockRequested(id, 1000));
    await settle();
    h.actor.send(lockCancelled('b'));
    h.actor.send(lockReleased('a'));
    await settle();
    expect(h.of('lock.granted').map((event) => event.requestId)).toEqual(['a', 'c']);
  });

  it('treats a cancellation from the holder (granted just as it gave up) as a release', async () => {
    const h = harness();
    h.actor.send(lockRequested('a', 1000));
    h.actor.send(lockRequested('b', 1000));
    await settle();
    h.actor.send(lockCancelled('a'));
    await settle();
    expect(h.context().holder?.requestId).toBe('b');
  });

  it('stops acquiring for the first waiter when it cancels, aborting the backend call', async () => {
    const signals: AbortSignal[] = [];
    const h = harness((input, signal) => {
      signals.push(signal);
      return input.requestId === 'a' ? new Promise<never>(() => {}) : Promise.resolve({ fence: 7, token: 't', leaseMs: input.leaseMs });
    });
    h.actor.send(lockRequested('a', 1000));
    h.actor.send(lockRequested('b', 1000));
    h.actor.send(lockCancelled('a'));
    expect(signals[0]?.aborted).toBe(true);
    await settle();
    expect(h.of('lock.granted').map((event) => [event.requestId, event.fence])).toEqual([['b', 7]]);
  });

  it('tells the first waiter when the backend cannot take the lock, and tries for the next', async () => {
    const failure = new Error('redis down');
    const h = harness((input) =>
      input.requestId === 'a' ? Promise.reject(failure) : Promise.resolve({ fence: 3, token: 't', leaseMs: input.leaseMs }),
    );
    h.actor.send(lockRequested('a', 1000));
    h.actor.send(lockRequested('b', 1000));
    await settle();
    expect(h.of('lock.failed')).toEqual([{ type: 'lock.failed', key: 'asset-1', requestId: 'a', error: failure }]);
    expect(h.context().holder?.requestId).toBe('b');
  });

  it('reports the holder lost when the backend revokes it', async () => {
    const h = harness();
    h.actor.send(lockRequested('a', 1000));
    await settle();
    h.actor.send(lockRevoked('a'));
    expect(h.of('lock.lost').map((event) => event.requestId)).toEqual(['a']);
    expect(h.state()).toBe('free');
  });

  it('reports itself freed, with its last fence, once released with nobody waiting', async () => {
    const h = harness();
    h.actor.send(lockRequested('a', 1000));
    await settle();
    h.emitted.length = 0;
    h.actor.send(lockReleased('a'));
    expect(h.emitted).toEqual([{ type: 'lock.freed', key: 'asset-1', fence: 1 }]);
  });

  it('fails loudly when no acquire actor was provided', async () => {
    const actor = createActor(lockMachine, { input: { key: 'k' } });
    const failed: unknown[] = [];
    actor.on('lock.failed', (event) => failed.push(event.error));
    actor.start();
    actor.send(lockRequested('a', 1000));
    await settle();
    expect(String(failed[0])).toMatch(/"acquire" was not provided/);
  });
});
