import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock, type AnyActorRef } from 'xstate';
import { sourceMachine } from '../../machines/source.js';
import { flush as settle } from '../helpers/wait.js';

/** The source machine with stub actors; the sink records what it is told. */
function harness(options: { connect?: () => Promise<void> } = {}) {
  const clock = new SimulatedClock();
  const atSink: Array<{ type: string }> = [];
  const atFeed: Array<{ type: string }> = [];
  const settled: Array<{ type: string }> = [];
  const sink = createActor(fromCallback(({ receive }) => receive((e: { type: string }) => atSink.push(e)))).start();
  let feedBack: ((event: { type: string; error?: unknown }) => void) | undefined;
  let connects = 0;
  const logic = sourceMachine.provide({
    actors: {
      connect: fromPromise(async () => {
        connects++;
        await (options.connect ?? (async () => {}))();
      }),
      feed: fromCallback(({ sendBack, receive }) => {
        feedBack = sendBack;
        receive((e) => atFeed.push(e));
      }),
      disconnect: fromPromise(async () => {}),
    },
    actions: { settleEvent: ({ event }) => void settled.push(event) },
  });
  const actor = createActor(logic, {
    input: { sink: sink as AnyActorRef, reconnectDelayMs: 100, reconnectMaxDelayMs: 1000, random: () => 0 },
    clock,
  });
  actor.start();
  return { actor, clock, atSink, atFeed, settled, feed: (e: { type: string; error?: unknown }) => feedBack!(e), connects: () => connects };
}

describe('sourceMachine', () => {
  it('connects, announces itself and runs', async () => {
    const h = harness();
    expect(h.actor.getSnapshot().value).toBe('connecting');
    await settle();
    expect(h.actor.getSnapshot().value).toEqual({ active: 'running' });
    expect(h.atSink).toEqual([{ type: 'source.started' }]);
  });

  it('pauses and resumes, passing both on to the feed', async () => {
    const h = harness();
    await settle();
    h.actor.send({ type: 'source.pause' });
    expect(h.actor.getSnapshot().value).toEqual({ active: 'paused' });
    h.actor.send({ type: 'source.resume' });
    expect(h.actor.getSnapshot().value).toEqual({ active: 'running' });
    expect(h.atFeed.map((e) => e.type)).toEqual(['source.pause', 'source.resume']);
  });

  it('names why it is paused, and runs again only once every reason is resumed', async () => {
    const h = harness();
    await settle();
    h.actor.send({ type: 'source.pause', reason: 'dependency' });
    h.actor.send({ type: 'source.pause', reason: 'backpressure' });
    expect(h.actor.getSnapshot().value).toEqual({ active: 'paused' });
    expect(h.actor.getSnapshot().context.pausedFor).toEqual(['dependency', 'backpressure']);
    h.actor.send({ type: 'source.resume', reason: 'backpressure' });
    expect(h.actor.getSnapshot().value).toEqual({ active: 'paused' });
    expect(h.actor.getSnapshot().context.pausedFor).toEqual(['dependency']);
    h.actor.send({ type: 'source.resume', reason: 'dependency' });
    expect(h.actor.getSnapshot().value).toEqual({ active: 'running' });
    expect(h.actor.getSnapshot().context).toMatchObject({ paused: false, pausedFor: [] });
    // The feed hears one pause and one resume.
    expect(h.atFeed.map((e) => e.type)).toEqual(['source.pause', 'source.resume']);
  });

  it('keeps a pause reason heard while connecting, and starts its feed paused', async () => {
    const h = harness();
    h.actor.send({ type: 'source.pause', reason: 'dependency' });
    await settle();
    expect(h.actor.getSnapshot().value).toEqual({ active: 'paused' });
    expect(h.actor.getSnapshot().context.pausedFor).toEqual(['dependency']);
  });

  it('retries a refused connection after a backoff when the error is retryable', async () => {
    let refuse = true;
    const h = harness({
      connect: async () => {
        if (refuse) throw Object.assign(new Error('refused'), { retryable: true });
      },
    });
    await settle();
    expect(h.actor.getSnapshot().value).toBe('reconnecting');
    expect(h.actor.getSnapshot().context.lastError).toMatchObject({ message: 'refused', retryable: true });
    refuse = false;
    h.clock.increment(100);
    await settle();
    expect(h.connects()).toBe(2);
    expect(h.actor.getSnapshot().value).toEqual({ active: 'running' });
  });

  it('fails for good on an error that is not retryable, and tells the sink', async () => {
    const h = harness({
      connect: async () => {
        throw new Error('location does not exist');
      },
    });
    await settle();
    expect(h.actor.getSnapshot().value).toBe('failed');
    expect(h.atSink).toContainEqual({
      type: 'source.failed',
      error: { code: 'ERR_SOURCE', message: 'location does not exist', retryable: false },
    });
  });

  it('reconnects when a running feed loses its connection', async () => {
    const h = harness();
    await settle();
    h.feed({ type: 'feed.lost', error: { message: 'broker went away', retryable: true } });
    expect(h.actor.getSnapshot().value).toBe('reconnecting');
    h.clock.increment(100);
    await settle();
    expect(h.actor.getSnapshot().value).toEqual({ active: 'running' });
  });

  it('passes outcomes to the driver while reconnecting, so late ones are known there (and void)', async () => {
    const h = harness();
    await settle();
    h.feed({ type: 'feed.lost', error: { message: 'broker went away', retryable: true } });
    expect(h.actor.getSnapshot().value).toBe('reconnecting');
    h.actor.send({
      type: 'event.settled',
      settlement: { id: 'e1', outcome: 'completed', ack: true, attempts: 1, deadLetter: false },
    } as never);
    expect(h.settled).toHaveLength(1);
  });

  it('passes every outcome of an events.settled batch to the driver', async () => {
    const h = harness();
    await settle();
    const one = { id: 'e1', outcome: 'completed', ack: true, attempts: 1, deadLetter: false };
    h.actor.send({ type: 'events.settled', settlements: [one, { ...one, id: 'e2' }] } as never);
    expect(h.settled.map((e) => e.type)).toEqual(['events.settled']);
  });

  it('tells the sink it is reconnecting, with the attempt and the backoff it drew', async () => {
    const h = harness();
    await settle();
    h.feed({ type: 'feed.lost', error: { code: 'ERR_CONNECTION_LOST', message: 'broker went away', retryable: true } });
    // random() is 0: the first attempt waits the reconnect delay, 100ms.
    expect(h.atSink.at(-1)).toEqual({
      type: 'source.reconnecting',
      attempt: 1,
      delayMs: 100,
      error: { code: 'ERR_CONNECTION_LOST', message: 'broker went away', retryable: true },
    });
  });

  it('keeps its feed when its input is exhausted, to hear the last outcomes, and stops when told', async () => {
    const h = harness();
    await settle();
    h.feed({ type: 'feed.ended' });
    expect(h.actor.getSnapshot().value).toEqual({ active: 'ended' });
    expect(h.atSink.map((e) => e.type)).toEqual(['source.started', 'source.ended']);
    h.actor.send({
      type: 'event.settled',
      settlement: { id: 'e1', outcome: 'completed', ack: true, attempts: 1, deadLetter: false },
    } as never);
    expect(h.settled.map((e) => e.type)).toEqual(['event.settled']);
    h.actor.send({ type: 'source.stop' });
    await settle();
    expect(h.atSink.map((e) => e.type)).toEqual(['source.started', 'source.ended', 'source.stopped']);
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('stops on request', async () => {
    const h = harness();
    await settle();
    h.actor.send({ type: 'source.stop' });
    await settle();
    expect(h.actor.getSnapshot().value).toBe('stopped');
  });
});
