import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { assign, createActor, setup, waitFor, type AnyActorRef } from 'xstate';
import { createSlotLogic } from '../../actors/workers/slot.js';
import type { AppInfo, AppSections, Runner, WorkerContext } from '../../actors/workers/worker.js';
import {
  eventAssigned,
  slotAbort,
  type Delivery,
  type Job,
  type SlotFailed,
  type SlotFinished,
  type SlotRetired,
} from '../../machines/events.js';
import { FlowdError } from '../../src/kernel/errors.js';

type Report = SlotFinished | SlotFailed | SlotRetired;

const log = pino({ level: 'silent' });
const app: AppInfo = { name: 'slot-test', dir: '/apps/slot-test', stateDir: '/apps/slot-test/state' };
const config: AppSections = { Mail: { host: 'smtp.example.org' } };

function runnerOf(run: (event: unknown, ctx: WorkerContext) => unknown): Runner {
  return { name: 'test', source: undefined, configure: async () => {}, run: vi.fn(run) };
}

const job = (seq: number, delivery: Partial<Delivery> = {}, attempt = 1): Job => ({
  seq,
  delivery: { id: `e${seq}`, payload: 42, ...delivery },
  attempt,
  startedAt: 0,
});

/** A promise with its resolve and reject, for a worker the test settles by hand. */
function deferred<T = unknown>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Runs the slot under a parent that records what the slot reports. */
function startParent(runner: Runner) {
  const parentMachine = setup({
    types: {} as { context: { reports: Report[] }; events: Report | { type: 'slots.reported'; reports: Report[] } },
    actors: { slot: createSlotLogic({ runner, log, app, config }) },
  }).createMachine({
    context: { reports: [] },
    invoke: { id: 'slot', src: 'slot', input: ({ self }) => ({ slotId: 'slot-0', supervisor: self }) },
    on: {
      'slot.finished': { actions: assign({ reports: ({ context, event }) => [...context.reports, event] }) },
      'slot.failed': { actions: assign({ reports: ({ context, event }) => [...context.reports, event] }) },
      'slot.retired': { actions: assign({ reports: ({ context, event }) => [...context.reports, event] }) },
      // Runs that settle in the same tick arrive together.
      'slots.reported': { actions: assign({ reports: ({ context, event }) => [...context.reports, ...event.reports] }) },
    },
  });
  const parent = createActor(parentMachine);
  parent.start();
  const slot = parent.getSnapshot().children.slot as AnyActorRef;
  return {
    parent,
    slot,
    reports: () => parent.getSnapshot().context.reports,
    slotState: () => slot.getSnapshot().value as string,
    /** Waits until the parent has received `n` reports. */
    reported: (n: number) => waitFor(parent, (s) => s.context.reports.length >= n).then((s) => s.context.reports),
  };
}

describe('createSlotLogic', () => {
  it('starts idle', () => {
    const { slotState, reports } = startParent(runnerOf(() => 1));
    expect(slotState()).toBe('idle');
    expect(reports()).toEqual([]);
  });

  describe('a worker that resolves', () => {
    it('reports slot.finished with the result and goes back to idle', async () => {
      const { slot, reported, slotState } = startParent(runnerOf(async (payload) => ({ doubled: (payload as number) * 2 })));
      slot.send(eventAssigned(job(1)));
      expect(slotState()).toBe('busy');
      expect(await reported(1)).toEqual([{ type: 'slot.finished', slotId: 'slot-0', seq: 1, result: { doubled: 84 } }]);
      expect(slotState()).toBe('idle');
    });

    it("runs the worker once with the delivery's payload", async () => {
      const runner = runnerOf(async () => 'done');
      const { slot, reported } = startParent(runner);
      slot.send(eventAssigned(job(1, { payload: { file: 'a.png' } })));
      await reported(1);
      expect(runner.run).toHaveBeenCalledTimes(1);
      expect(vi.mocked(runner.run).mock.calls[0]![0]).toEqual({ file: 'a.png' });
    });

    it('reports a synchronous result as finished', async () => {
      const { slot, reports, slotState } = startParent(runnerOf(() => 'sync'));
      slot.send(eventAssigned(job(3)));
      await vi.waitFor(() => expect(reports()).toEqual([{ type: 'slot.finished', slotId: 'slot-0', seq: 3, result: 'sync' }]));
      expect(slotState()).toBe('idle');
    });

    it('reports an undefined or null result as finished', async () => {
      const { slot, reports } = startParent(runnerOf((payload) => (payload === 1 ? undefined : null)));
      slot.send(eventAssigned(job(1, { payload: 1 })));
      slot.send(eventAssigned(job(2, { payload: 2 })));
      await vi.waitFor(() =>
        expect(reports()).toEqual([
          { type: 'slot.finished', slotId: 'slot-0', seq: 1, result: undefined },
          { type: 'slot.finished', slotId: 'slot-0', seq: 2, result: null },
        ]),
      );
    });

    it('runs one job after another, each reported with its own seq', async () => {
      const { slot, reported } = startParent(runnerOf(async (payload) => payload));
      slot.send(eventAssigned(job(1, { payload: 'a' })));
      await reported(1);
      slot.send(eventAssigned(job(2, { payload: 'b' })));
      expect(await reported(2)).toEqual([
        { type: 'slot.finished', slotId: 'slot-0', seq: 1, result: 'a' },
        { type: 'slot.finished', slotId: 'slot-0', seq: 2, result: 'b' },
      ]);
    });

    it('ignores a second job assigned while busy', async () => {
      const gate = deferred<string>();
      const runner = runnerOf(() => gate.promise);
      const { slot, reported, reports } = startParent(runner);
      slot.send(eventAssigned(job(1)));
      slot.send(eventAssigned(job(2)));
      expect(runner.run).toHaveBeenCalledTimes(1);
      gate.resolve('first');
      expect(await reported(1)).toEqual([{ type: 'slot.finished', slotId: 'slot-0', seq: 1, result: 'first' }]);
      await Promise.resolve();
      expect(reports()).toHaveLength(1);
    });
  });

  describe('a worker that fails', () => {
    it('reports slot.failed with the code and message of an error thrown synchronously', async () => {
      const { slot, reports, slotState } = startParent(
        runnerOf(() => {
          throw Object.assign(new Error('bad input'), { code: 'ERR_BAD_INPUT' });
        }),
      );
      slot.send(eventAssigned(job(1)));
      await vi.waitFor(() =>
        expect(reports()).toEqual([
          { type: 'slot.failed', slotId: 'slot-0', seq: 1, error: { code: 'ERR_BAD_INPUT', message: 'bad input' } },
        ]),
      );
      expect(slotState()).toBe('idle');
    });

    it('reports slot.failed with the code and message of a rejection', async () => {
      const { slot, reported, slotState } = startParent(
        runnerOf(async () => Promise.reject(Object.assign(new Error('HTTP 502'), { code: 'ERR_UPSTREAM' }))),
      );
      slot.send(eventAssigned(job(5)));
      expect(await reported(1)).toEqual([
        { type: 'slot.failed', slotId: 'slot-0', seq: 5, error: { code: 'ERR_UPSTREAM', message: 'HTTP 502' } },
      ]);
      expect(slotState()).toBe('idle');
    });

    it('uses ERR_WORKER_FAILED when the error has no string code', async () => {
      const { slot, reported } = startParent(runnerOf(async () => Promise.reject(Object.assign(new Error('disk full'), { code: 28 }))));
      slot.send(eventAssigned(job(1)));
      expect((await reported(1))[0]).toEqual({
        type: 'slot.failed',
        slotId: 'slot-0',
        seq: 1,
        error: { code: 'ERR_WORKER_FAILED', message: 'disk full' },
      });
    });

    it('turns a thrown non-Error into ERR_WORKER_FAILED with its text', async () => {
      const { slot, reports } = startParent(
        runnerOf(() => {
          throw 'just a string';
        }),
      );
      slot.send(eventAssigned(job(1)));
      await vi.waitFor(() =>
        expect(reports()).toEqual([
          { type: 'slot.failed', slotId: 'slot-0', seq: 1, error: { code: 'ERR_WORKER_FAILED', message: 'just a string' } },
        ]),
      );
    });

    it('takes the next job after a failure', async () => {
      const { slot, reported } = startParent(runnerOf(async (payload) => (payload === 'bad' ? Promise.reject(new Error('no')) : payload)));
      slot.send(eventAssigned(job(1, { payload: 'bad' })));
      await reported(1);
      slot.send(eventAssigned(job(2, { payload: 'good' })));
      expect((await reported(2))[1]).toEqual({ type: 'slot.finished', slotId: 'slot-0', seq: 2, result: 'good' });
    });
  });

  describe("the worker's ctx", () => {
    it('carries the attempt, the delivery id and meta, the app and the config', () => {
      let seen: WorkerContext | undefined;
      const { slot } = startParent(
        runnerOf((_, ctx) => {
          seen = ctx;
        }),
      );
      slot.send(eventAssigned(job(7, { id: 'msg-7', meta: { redelivered: true, line: 3 } }, 3)));
      expect(seen).toBeDefined();
      expect(seen!.attempt).toBe(3);
      expect(seen!.id).toBe('msg-7');
      expect(seen!.meta).toEqual({ redelivered: true, line: 3 });
      expect(seen!.app).toBe(app);
      expect(seen!.config).toBe(config);
    });

    it('has empty meta when the delivery has none', () => {
      let meta: unknown;
      const { slot } = startParent(
        runnerOf((_, ctx) => {
          meta = ctx.meta;
        }),
      );
      slot.send(eventAssigned(job(1)));
      expect(meta).toEqual({});
    });

    it('has a child logger bound to the event, the slot and the attempt', () => {
      let bindings: unknown;
      let level: unknown;
      const { slot } = startParent(
        runnerOf((_, ctx) => {
          bindings = ctx.log.bindings();
          level = ctx.log.level;
          expect(ctx.log).toBe(ctx.log);
        }),
      );
      slot.send(eventAssigned(job(1, { id: 'evt-1' }, 2)));
      expect(bindings).toEqual({ event: 'evt-1', slot: 'slot-0', attempt: 2 });
      expect(level).toBe('silent');
    });

    it('has a signal that is not aborted while the worker runs normally', async () => {
      let signal: AbortSignal | undefined;
      const { slot, reported } = startParent(
        runnerOf(async (_, ctx) => {
          signal = ctx.signal;
          return 'ok';
        }),
      );
      slot.send(eventAssigned(job(1)));
      await reported(1);
      expect(signal!.aborted).toBe(false);
    });

    it('is a new ctx for every job', async () => {
      const contexts: WorkerContext[] = [];
      const { slot, reported } = startParent(
        runnerOf(async (_, ctx) => {
          contexts.push(ctx);
        }),
      );
      slot.send(eventAssigned(job(1, { id: 'a' })));
      await reported(1);
      slot.send(eventAssigned(job(2, { id: 'b' }, 2)));
      await reported(2);
      expect(contexts.map((ctx) => [ctx.id, ctx.attempt])).toEqual([
        ['a', 1],
        ['b', 2],
      ]);
      expect(contexts[0]).not.toBe(contexts[1]);
      expect(contexts[0]!.signal).not.toBe(contexts[1]!.signal);
    });
  });

  describe('slot.abort', () => {
    it('while busy fires ctx.signal with ERR_WORKER_TIMEOUT and moves the slot to abandoned', () => {
      let signal: AbortSignal | undefined;
      const { slot, slotState, reports } = startParent(
        runnerOf((_, ctx) => {
          signal = ctx.signal;
          return new Promise(() => {});
        }),
      );
      slot.send(eventAssigned(job(1, { id: 'slow-1' })));
      expect(signal!.aborted).toBe(false);
      slot.send(slotAbort());
      expect(slotState()).toBe('abandoned');
      expect(signal!.aborted).toBe(true);
      expect(signal!.reason).toBeInstanceOf(Error);
      expect(signal!.reason).toMatchObject({ code: 'ERR_WORKER_TIMEOUT' });
      expect((signal!.reason as Error).message).toContain('slow-1');
      expect(reports()).toEqual([]);
    });

    it.each([
      ['the execution timeout', 'ERR_WORKER_TIMEOUT', 'the worker did not finish within the execution timeout of 100ms'],
      ['a shutdown', 'ERR_SHUTDOWN', 'the runtime stopped before the event finished; it was returned to its source'],
    ])('gives ctx.signal a FlowdError saying why the run was aborted: %s is %s', (_, code, message) => {
      let signal: AbortSignal | undefined;
      const { slot } = startParent(
        runnerOf((_event, ctx) => {
          signal = ctx.signal;
          return new Promise(() => {});
        }),
      );
      slot.send(eventAssigned(job(1, { id: 'slow-1' })));
      slot.send(slotAbort({ code, message }));
      expect(signal!.reason).toBeInstanceOf(FlowdError);
      expect(signal!.reason).toMatchObject({ code, message: `event slow-1 was aborted: ${message}` });
    });

    it('gives an already aborted signal to a worker that reads ctx.signal only after the abort', async () => {
      const gate = deferred();
      let signal: AbortSignal | undefined;
      const { slot, slotState } = startParent(
        runnerOf(async (_, ctx) => {
          await gate.promise;
          signal = ctx.signal;
          return 'late';
        }),
      );
      slot.send(eventAssigned(job(1)));
      slot.send(slotAbort());
      gate.resolve(undefined);
      await waitFor(slot, (s) => s.status === 'done');
      expect(signal!.aborted).toBe(true);
      expect(signal!.reason).toMatchObject({ code: 'ERR_WORKER_TIMEOUT' });
      expect(slotState()).toBe('retired');
    });

    it('retires the slot once the abandoned worker resolves, reporting slot.retired and not slot.finished', async () => {
      const gate = deferred<string>();
      const { slot, slotState, reported, reports } = startParent(runnerOf(() => gate.promise));
      slot.send(eventAssigned(job(1)));
      slot.send(slotAbort());
      expect(slotState()).toBe('abandoned');
      gate.resolve('too late');
      expect(await reported(1)).toEqual([{ type: 'slot.retired', slotId: 'slot-0' }]);
      expect(slotState()).toBe('retired');
      expect(slot.getSnapshot().status).toBe('done');
      await Promise.resolve();
      expect(reports().some((report) => report.type === 'slot.finished')).toBe(false);
    });

    it('retires the slot once the abandoned worker rejects, reporting slot.retired and not slot.failed', async () => {
      const { slot, reported } = startParent(
        runnerOf(
          (_, ctx) =>
            new Promise((_resolve, reject) => {
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
        ),
      );
      slot.send(eventAssigned(job(1)));
      slot.send(slotAbort());
      expect(await reported(1)).toEqual([{ type: 'slot.retired', slotId: 'slot-0' }]);
    });

    it('keeps the slot abandoned for as long as the worker does not settle', async () => {
      const { slot, slotState, reports } = startParent(runnerOf(() => new Promise(() => {})));
      slot.send(eventAssigned(job(1)));
      slot.send(slotAbort());
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(slotState()).toBe('abandoned');
      expect(reports()).toEqual([]);
    });

    it('takes no new job once abandoned', async () => {
      const runner = runnerOf(() => new Promise(() => {}));
      const { slot, slotState } = startParent(runner);
      slot.send(eventAssigned(job(1)));
      slot.send(slotAbort());
      slot.send(eventAssigned(job(2)));
      expect(runner.run).toHaveBeenCalledTimes(1);
      expect(slotState()).toBe('abandoned');
    });

    it('while idle retires the slot at once', () => {
      const runner = runnerOf(() => 1);
      const { slot, slotState, reports } = startParent(runner);
      slot.send(slotAbort());
      expect(slotState()).toBe('retired');
      expect(reports()).toEqual([{ type: 'slot.retired', slotId: 'slot-0' }]);
      expect(runner.run).not.toHaveBeenCalled();
    });

    it("while idle after a finished job retires without firing that job's signal", async () => {
      let signal: AbortSignal | undefined;
      const { slot, reported, reports } = startParent(
        runnerOf(async (_, ctx) => {
          signal = ctx.signal;
          return 'ok';
        }),
      );
      slot.send(eventAssigned(job(1)));
      await reported(1);
      slot.send(slotAbort());
      expect(signal!.aborted).toBe(false);
      expect(reports()).toEqual([
        { type: 'slot.finished', slotId: 'slot-0', seq: 1, result: 'ok' },
        { type: 'slot.retired', slotId: 'slot-0' },
      ]);
    });
  });

  it('keeps the runs of two slots made from one logic apart', async () => {
    const signals = new Map<string, AbortSignal>();
    const runner = runnerOf((_, ctx) => {
      signals.set(ctx.id, ctx.signal);
      return new Promise(() => {});
    });
    const logic = createSlotLogic({ runner, log, app, config });
    const parentMachine = setup({ actors: { slot: logic } }).createMachine({
      invoke: [
        { id: 'a', src: 'slot', input: ({ self }) => ({ slotId: 'slot-a', supervisor: self }) },
        { id: 'b', src: 'slot', input: ({ self }) => ({ slotId: 'slot-b', supervisor: self }) },
      ],
    });
    const parent = createActor(parentMachine).start();
    const a = parent.getSnapshot().children.a as AnyActorRef;
    const b = parent.getSnapshot().children.b as AnyActorRef;
    a.send(eventAssigned(job(1, { id: 'for-a' })));
    b.send(eventAssigned(job(2, { id: 'for-b' })));
    a.send(slotAbort());
    expect(signals.get('for-a')!.aborted).toBe(true);
    expect(signals.get('for-b')!.aborted).toBe(false);
    expect(b.getSnapshot().value).toBe('busy');
  });

  it('reports runs of several slots that settle in the same tick in one message to the supervisor', async () => {
    const gate = deferred<void>();
    const runner = runnerOf(async (payload) => {
      await gate.promise;
      return payload;
    });
    const received: Array<{ type: string; reports?: unknown[] }> = [];
    const parentMachine = setup({ actors: { slot: createSlotLogic({ runner, log, app, config }) } }).createMachine({
      invoke: [
        { id: 'a', src: 'slot', input: ({ self }) => ({ slotId: 'slot-a', supervisor: self }) },
        { id: 'b', src: 'slot', input: ({ self }) => ({ slotId: 'slot-b', supervisor: self }) },
      ],
      on: { '*': { actions: ({ event }) => received.push(event) } },
    });
    const parent = createActor(parentMachine).start();
    (parent.getSnapshot().children.a as AnyActorRef).send(eventAssigned(job(1, { payload: 1 })));
    (parent.getSnapshot().children.b as AnyActorRef).send(eventAssigned(job(2, { payload: 2 })));
    gate.resolve();
    await vi.waitFor(() => expect(received.filter((e) => e.type.startsWith('slot'))).toHaveLength(1));
    expect(received.find((e) => e.type === 'slots.reported')).toEqual({
      type: 'slots.reported',
      reports: [
        { type: 'slot.finished', slotId: 'slot-a', seq: 1, result: 1 },
        { type: 'slot.finished', slotId: 'slot-b', seq: 2, result: 2 },
      ],
    });
  });
});
