import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, type FlowdError } from '../../src/kernel/errors.js';
import { createActivityExecutor, type ActivityExecutor, type ExecutorOptions } from '../../src/workflows/executor.js';
import type { HistoryEvent, JsonValue, ResolvedActivityOptions, ScheduledCall } from '../../src/workflows/history.js';
import { defineActivity, type ActivityContext, type ActivityDefinition } from '../../src/workflows/workflow-api.js';
import { logSink } from '../helpers/log-sink.js';
import { manualClock } from '../helpers/manual-clock.js';

/** One attempt of a held activity, which the test settles. */
interface Held {
  input: unknown;
  ctx: ActivityContext;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** An activity whose attempts wait until the test settles them. */
function held(name: string): { definition: ActivityDefinition; attempts: Held[] } {
  const attempts: Held[] = [];
  const definition = defineActivity(
    { name, version: 1 },
    (input: unknown, ctx) => new Promise((resolve, reject) => attempts.push({ input, ctx, resolve, reject })),
  );
  return { definition, attempts };
}

/** A call as decide() schedules it. */
function callOf(
  definition: ActivityDefinition,
  options: Partial<ResolvedActivityOptions> = {},
  extra: Partial<ScheduledCall> = {},
): ScheduledCall {
  return {
    callId: `${definition.name}#1`,
    activity: { name: definition.name, version: definition.version },
    taskList: 'default',
    input: 'in.mov',
    options: { retries: 0, ...options },
    ...extra,
  };
}

const sink = () => logSink('debug');

function executorWith(activities: ActivityDefinition[], options: Partial<ExecutorOptions> = {}): ActivityExecutor {
  return createActivityExecutor({ activities, log: sink().logger, ...options });
}

/** Submits `call` and returns the list its reports go to. */
function submit(
  executor: ActivityExecutor,
  call: ScheduledCall,
  task: { runId?: string; scheduledAt?: number; attemptsMade?: number } = {},
): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  executor.submit(
    { runId: task.runId ?? 'run-1', call, scheduledAt: task.scheduledAt ?? Date.now(), attemptsMade: task.attemptsMade },
    (event) => events.push(event),
  );
  return events;
}

const started = (callId: string, at: number, attempt = 1): HistoryEvent => ({ type: 'activity.started', at, callId, attempt });
const completed = (callId: string, at: number, result: JsonValue): HistoryEvent => ({ type: 'activity.completed', at, callId, result });
const failed = (callId: string, at: number, attempt: number, error: { code: string; message: string }, final: boolean): HistoryEvent => ({
  type: 'activity.failed',
  at,
  callId,
  attempt,
  error,
  final,
});
const timedOut = (
  callId: string,
  at: number,
  attempt: number,
  kind: 'heartbeat' | 'scheduleToStart' | 'startToClose' | 'scheduleToClose',
  final: boolean,
): HistoryEvent => ({ type: 'activity.timedOut', at, callId, attempt, kind, final });
const heartbeat = (callId: string, at: number, details?: JsonValue): HistoryEvent =>
  details === undefined ? { type: 'activity.heartbeat', at, callId } : { type: 'activity.heartbeat', at, callId, details };

/** Runs the executor's microtasks and settled promises without moving time. */
const flush = () => vi.advanceTimersByTimeAsync(0);
/** Moves fake time to `at` (ms), running what falls due on the way. */
const until = (at: number) => vi.advanceTimersByTimeAsync(at - Date.now());

const reasonOf = (ctx: ActivityContext) => ctx.signal.reason as FlowdError;

describe('the activity executor', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('running a call', () => {
    it('gives the function its deserialised input and reports started, then completed with the serialised result, never inside submit()', async () => {
      const seen: unknown[] = [];
      const Thumbnails = defineActivity(
        {
          name: 'Thumbnails',
          version: 2,
          serialize: { result: (files: Set<string>) => [...files] },
          deserialize: { input: (data) => new Date(data as string) },
        },
        async (when: Date, ctx) => {
          seen.push(when, ctx.attempt);
          return new Set([`${when.getTime()}.jpg`, 'poster.jpg']);
        },
      );
      const executor = executorWith([Thumbnails]);
      const events = submit(executor, callOf(Thumbnails, {}, { input: '1970-01-01T00:00:01.000Z' }));
      expect(events).toEqual([]);
      await flush();
      expect(seen).toEqual([new Date(1000), 1]);
      expect(events).toEqual([started('Thumbnails#1', 0), completed('Thumbnails#1', 0, ['1000.jpg', 'poster.jpg'])]);
    });

    it('gives ctx.log a child logger naming the run, the call, the activity and the attempt', async () => {
      const logs = sink();
      const Loud = defineActivity({ name: 'Loud', version: 1 }, async (_: unknown, ctx) => void ctx.log.info('working'));
      const executor = createActivityExecutor({ activities: [Loud], log: logs.logger });
      const events = submit(executor, callOf(Loud), { runId: 'run-7' });
      await flush();
      expect(events).toEqual([started('Loud#1', 0), completed('Loud#1', 0, null)]);
      expect(logs.lines.find((line) => line.msg === 'working')).toMatchObject({
        runId: 'run-7',
        callId: 'Loud#1',
        activity: 'Loud',
        attempt: 1,
      });
    });

    it('reports an activity it was not given as a final failure naming it and the known ones, without starting anything', async () => {
      const executor = executorWith([held('Transcoding').definition, held('Thumbnails').definition]);
      const missing = submit(executor, { ...callOf(held('Missing').definition), callId: 'Missing#3' });
      const otherVersion = submit(executor, callOf(held('Transcoding').definition, {}, { activity: { name: 'Transcoding', version: 2 } }), {
        runId: 'run-2',
      });
      await flush();
      expect(missing).toEqual([
        failed(
          'Missing#3',
          0,
          1,
          {
            code: 'ERR_WORKFLOW',
            message:
              'Activity "Missing" version 1 (call Missing#3 of run run-1) is not known to this executor; expected one of "Transcoding" version 1, "Thumbnails" version 1. Pass its definition in the executor\'s activities',
          },
          true,
        ),
      ]);
      expect(otherVersion).toHaveLength(1);
      expect(otherVersion[0]).toMatchObject({
        type: 'activity.failed',
        final: true,
        error: {
          code: 'ERR_WORKFLOW',
          message: expect.stringContaining('"Transcoding" version 2 (call Transcoding#1 of run run-2) is not known'),
        },
      });
    });

    it('fails a result that is not JSON at once, with a message naming the activity, even with retries left', async () => {
      const Clock = defineActivity({ name: 'Clock', version: 1 }, async () => ({ when: new Date(0) }));
      const executor = executorWith([Clock]);
      const events = submit(executor, callOf(Clock, { retries: 2 }));
      await flush();
      expect(events).toEqual([
        started('Clock#1', 0),
        failed(
          'Clock#1',
          0,
          1,
          {
            code: 'ERR_WORKFLOW',
            message:
              'Activity "Clock" result is not JSON: found an instance of Date at $.when; expected null, booleans, finite numbers, strings, arrays and plain objects; pass date.toISOString(), or give the activity its own serialize and deserialize',
          },
          true,
        ),
      ]);
    });

    it('carries on when a report throws, and logs it', async () => {
      const logs = sink();
      const Echo = defineActivity({ name: 'Echo', version: 1 }, async (input: unknown) => input);
      const executor = createActivityExecutor({ activities: [Echo], log: logs.logger });
      const events: HistoryEvent[] = [];
      executor.submit({ runId: 'run-1', call: callOf(Echo), scheduledAt: 0 }, (event) => {
        events.push(event);
        if (event.type === 'activity.started') throw new Error('store down');
      });
      await flush();
      expect(events).toEqual([started('Echo#1', 0), completed('Echo#1', 0, 'in.mov')]);
      expect(logs.lines).toContainEqual(
        expect.objectContaining({ msg: 'the report of an activity event threw; the executor carries on', event: 'activity.started' }),
      );
    });

    it('refuses a call submitted twice while it runs, and a malformed task', async () => {
      const { definition } = held('Transcoding');
      const executor = executorWith([definition]);
      const events = submit(executor, callOf(definition));
      expect(() => submit(executor, callOf(definition))).toThrow(
        expect.objectContaining({
          code: 'ERR_WORKFLOW',
          message: expect.stringContaining('call Transcoding#1 of run run-1 was already submitted'),
        }),
      );
      expect(() => executor.submit({ runId: '', call: callOf(definition), scheduledAt: 0 }, () => undefined)).toThrow(
        expect.objectContaining({ name: 'WorkflowError', code: 'ERR_WORKFLOW' }),
      );
      expect(() => executor.submit({ runId: 'r', call: callOf(definition), scheduledAt: 0, attemptsMade: -1 }, () => undefined)).toThrow(
        'task.attemptsMade, a whole number of at least 0 (call Transcoding#1); found -1',
      );
      // The options a broker's task carries from the decider: checked, as a message may be malformed.
      const bad = (options: Record<string, unknown>) => () =>
        executor.submit(
          { runId: 'r', call: { ...callOf(definition), options: { retries: 1, ...options } }, scheduledAt: 0 },
          () => undefined,
        );
      expect(bad({ retryDelays: ['1s'] })).toThrow('task.call.options.retryDelays, a list of ms of at least 0 (call Transcoding#1)');
      expect(bad({ delay: -5 })).toThrow('task.call.options.delay, ms of at least 0 (call Transcoding#1); found -5');
      expect(bad({ retryErrors: 'yes' })).toThrow('task.call.options.retryErrors, true or false (call Transcoding#1); found "yes"');
      expect(() => createActivityExecutor({ activities: [definition], log: sink().logger, concurrency: { default: 0 } })).toThrow(
        'option concurrency["default"] must be a whole number of at least 1; found 0',
      );
      await flush();
      expect(events).toEqual([started('Transcoding#1', 0)]);
    });
  });

  describe('time-outs', () => {
    it('times out a call that does not start within scheduleToStart, counting it as an attempt, and starts the retry from its re-queue', async () => {
      const blocker = held('Blocker');
      const waiting = held('Waiting');
      const executor = executorWith([blocker.definition, waiting.definition], { concurrency: 1 });
      const first = submit(executor, callOf(blocker.definition));
      const second = submit(executor, callOf(waiting.definition, { scheduleToStart: 500, retries: 1 }));
      await until(499);
      expect(second).toEqual([]);
      await until(500);
      expect(second).toEqual([timedOut('Waiting#1', 500, 1, 'scheduleToStart', false)]);
      await until(1000);
      blocker.attempts[0]!.resolve('done');
      await until(1500); // the retry's delay of 1s ends: re-queued, and the slot is free
      expect(second).toEqual([timedOut('Waiting#1', 500, 1, 'scheduleToStart', false), started('Waiting#1', 1500, 2)]);
      waiting.attempts[0]!.resolve('ok');
      await flush();
      expect(second.at(-1)).toEqual(completed('Waiting#1', 1500, 'ok'));
      expect(first).toEqual([started('Blocker#1', 0), completed('Blocker#1', 1000, 'done')]);
    });

    it('times out a call scheduled longer ago than scheduleToStart at once, and one past scheduleToClose, as final with no retries', async () => {
      const { definition } = held('Late');
      const executor = executorWith([definition]);
      const late = submit(executor, callOf(definition, { scheduleToStart: 1000 }), { scheduledAt: -1000 });
      const expired = submit(executor, callOf(definition, { scheduleToClose: 3000, retries: 0 }), { runId: 'run-2', scheduledAt: -5000 });
      await flush();
      expect(late).toEqual([timedOut('Late#1', 0, 1, 'scheduleToStart', true)]);
      expect(expired).toEqual([timedOut('Late#1', 0, 1, 'scheduleToClose', true)]);
    });

    it('aborts an attempt past startToClose, reports it timed out, and ignores what the function returns later', async () => {
      const slow = held('Slow');
      const executor = executorWith([slow.definition]);
      const events = submit(executor, callOf(slow.definition, { startToClose: 1000 }));
      await until(999);
      expect(events).toEqual([started('Slow#1', 0)]);
      const { ctx, resolve } = slow.attempts[0]!;
      expect(ctx.signal.aborted).toBe(false);
      await until(1000);
      expect(events).toEqual([started('Slow#1', 0), timedOut('Slow#1', 1000, 1, 'startToClose', true)]);
      expect(reasonOf(ctx)).toMatchObject({
        code: 'ERR_ACTIVITY_TIMEOUT',
        message: 'Activity "Slow" (call Slow#1, attempt 1) passed its startToClose limit of 1000ms',
      });
      expect(executor.stats()).toEqual({ default: { queued: 0, running: 0, retrying: 0, abandoned: 1 } });
      resolve('too late');
      await until(5000);
      expect(events).toEqual([started('Slow#1', 0), timedOut('Slow#1', 1000, 1, 'startToClose', true)]);
      expect(executor.stats()).toEqual({ default: { queued: 0, running: 0, retrying: 0, abandoned: 0 } });
    });

    it('times out an attempt that never heartbeats one heartbeat interval after it started', async () => {
      const quiet = held('Quiet');
      const executor = executorWith([quiet.definition]);
      const events = submit(executor, callOf(quiet.definition, { heartbeat: 1000 }));
      await until(999);
      expect(events).toEqual([started('Quiet#1', 0)]);
      await until(1000);
      expect(events).toEqual([started('Quiet#1', 0), timedOut('Quiet#1', 1000, 1, 'heartbeat', true)]);
      expect(reasonOf(quiet.attempts[0]!.ctx)).toMatchObject({
        code: 'ERR_ACTIVITY_TIMEOUT',
        message: expect.stringContaining('heartbeat limit of 1000ms'),
      });
    });

    it('reports heartbeats with their details, resets the timer on each, and times out once they stop', async () => {
      const beating = held('Transcoding');
      const executor = executorWith([beating.definition]);
      const events = submit(executor, callOf(beating.definition, { heartbeat: 1000 }));
      await flush();
      const { ctx } = beating.attempts[0]!;
      await until(200);
      ctx.heartbeat({ percent: 10 });
      await until(900);
      ctx.heartbeat({ percent: 15 }); // within a second of the last report: held until that second is up
      await until(1500);
      ctx.heartbeat({ percent: 20 }); // held too, until 2200
      await until(2499);
      expect(events).toEqual([
        started('Transcoding#1', 0),
        heartbeat('Transcoding#1', 200, { percent: 10 }),
        heartbeat('Transcoding#1', 1200, { percent: 15 }),
        heartbeat('Transcoding#1', 2200, { percent: 20 }),
      ]);
      await until(2500);
      expect(events.at(-1)).toEqual(timedOut('Transcoding#1', 2500, 1, 'heartbeat', true));
      expect(events).toHaveLength(5);
      ctx.heartbeat({ percent: 30 });
      await until(4000);
      expect(events).toHaveLength(5);
    });

    it('drops a held heartbeat when its attempt ends first: nothing follows the final event', async () => {
      const beating = held('Transcoding');
      const executor = executorWith([beating.definition]);
      const events = submit(executor, callOf(beating.definition, { heartbeat: 1000 }));
      await flush();
      const attempt = beating.attempts[0]!;
      await until(100);
      attempt.ctx.heartbeat(10);
      await until(500);
      attempt.ctx.heartbeat(50); // held until 1100
      await until(600);
      attempt.resolve('out.mp4');
      await until(3000);
      expect(events).toEqual([
        started('Transcoding#1', 0),
        heartbeat('Transcoding#1', 100, 10),
        completed('Transcoding#1', 600, 'out.mp4'),
      ]);
    });

    it('reports heartbeats at most once a second, the latest of each second when it is up, while every one still resets the timer', async () => {
      const beating = held('Transcoding');
      const executor = executorWith([beating.definition]);
      const events = submit(executor, callOf(beating.definition, { heartbeat: 1000 }));
      await flush();
      const { ctx } = beating.attempts[0]!;
      const beatAt = async (at: number, details?: JsonValue) => {
        await until(at);
        ctx.heartbeat(details);
      };
      await beatAt(100, 'x');
      await beatAt(900, 'x'); // held until 1100, and the limit moves to 1900
      await beatAt(1050, 'y'); // replaces it: 'y' goes out at 1100
      await beatAt(1500, 'y');
      await beatAt(2100, 'y');
      await beatAt(2200);
      await beatAt(2300);
      expect(() => ctx.heartbeat(new Date(0) as never)).toThrow(
        'Activity "Transcoding" heartbeat details is not JSON: found an instance of Date at $',
      );
      await until(3300);
      expect(events).toEqual([
        started('Transcoding#1', 0),
        heartbeat('Transcoding#1', 100, 'x'),
        heartbeat('Transcoding#1', 1100, 'y'),
        heartbeat('Transcoding#1', 2100, 'y'),
        heartbeat('Transcoding#1', 3100),
        timedOut('Transcoding#1', 3300, 1, 'heartbeat', true),
      ]);
    });

    it('retries an attempt past scheduleToClose, as Flowy: each attempt counts it from its own queueing, aborting the running one', async () => {
      const slow = held('Slow');
      const executor = executorWith([slow.definition]);
      const events = submit(executor, callOf(slow.definition, { startToClose: 1000, scheduleToClose: 800, retries: 2 }));
      await until(20_000);
      expect(events).toEqual([
        started('Slow#1', 0),
        timedOut('Slow#1', 800, 1, 'scheduleToClose', false),
        started('Slow#1', 1800, 2),
        timedOut('Slow#1', 2600, 2, 'scheduleToClose', false),
        started('Slow#1', 4600, 3),
        timedOut('Slow#1', 5400, 3, 'scheduleToClose', true),
      ]);
      expect(reasonOf(slow.attempts[0]!.ctx)).toMatchObject({
        code: 'ERR_ACTIVITY_TIMEOUT',
        message: expect.stringContaining('scheduleToClose limit of 800ms'),
      });
    });

    it('times out without running a call given past the latest end of all its attempts (a late worker), and runs one given before it', async () => {
      const late = held('Late');
      const executor = executorWith([late.definition]);
      const options = { scheduleToClose: 1000, retries: 2 };
      // Three windows of 1s and the waits of 1s and 2s before the retries: 6s in all.
      const past = submit(executor, callOf(late.definition, options), { scheduledAt: -6000 });
      const before = submit(executor, callOf(late.definition, options), { runId: 'run-2', scheduledAt: -5999 });
      await until(1000);
      expect(past).toEqual([timedOut('Late#1', 0, 1, 'scheduleToClose', true)]);
      expect(before).toEqual([timedOut('Late#1', 0, 1, 'scheduleToClose', false), started('Late#1', 1000, 2)]);
      expect(late.attempts).toHaveLength(1);
    });

    it('does not retry an attempt that threw, whatever retries are left, unless the call has retryErrors', async () => {
      const flaky = held('Flaky');
      const executor = executorWith([flaky.definition]);
      const events = submit(executor, callOf(flaky.definition, { retries: 3 }));
      const opted = submit(executor, callOf(flaky.definition, { retries: 3, retryErrors: true }), { runId: 'run-2' });
      await until(600);
      flaky.attempts[0]!.reject(new Error('connection reset'));
      flaky.attempts[1]!.reject(new Error('connection reset'));
      await flush();
      const error = { code: 'ERR_WORKER_FAILED', message: 'connection reset' };
      expect(events).toEqual([started('Flaky#1', 0), failed('Flaky#1', 600, 1, error, true)]);
      expect(opted).toEqual([started('Flaky#1', 0), failed('Flaky#1', 600, 1, error, false)]);
      await until(1600);
      expect(opted.at(-1)).toEqual(started('Flaky#1', 1600, 2));
      expect(flaky.attempts).toHaveLength(3);
    });

    it("waits the call's own list of delays before each retry, and its delay before the first attempt, the limits counting from its end", async () => {
      const slow = held('Slow');
      const executor = executorWith([slow.definition]);
      const events = submit(
        executor,
        callOf(slow.definition, { delay: 5000, scheduleToStart: 100, startToClose: 1000, retries: 2, retryDelays: [0, 250] }),
      );
      await until(4999);
      expect(events).toEqual([]);
      await until(20_000);
      expect(events).toEqual([
        started('Slow#1', 5000),
        timedOut('Slow#1', 6000, 1, 'startToClose', false),
        started('Slow#1', 6000, 2),
        timedOut('Slow#1', 7000, 2, 'startToClose', false),
        started('Slow#1', 7250, 3),
        timedOut('Slow#1', 8250, 3, 'startToClose', true),
      ]);
    });

    it("waits past setTimeout's limit of 24.8 days in steps, with an injected clock", async () => {
      vi.useRealTimers();
      const clock = manualClock();
      const { definition } = held('Archive');
      const executor = executorWith([definition], { clock });
      const days = (n: number) => n * 86_400_000;
      const events: HistoryEvent[] = [];
      executor.submit({ runId: 'run-1', call: callOf(definition, { startToClose: days(40) }), scheduledAt: 0 }, (event) =>
        events.push(event),
      );
      await clock.advance(days(40) - 1);
      expect(events).toEqual([started('Archive#1', 0)]);
      await clock.advance(1);
      expect(events).toEqual([started('Archive#1', 0), timedOut('Archive#1', days(40), 1, 'startToClose', true)]);
      expect(Math.max(...clock.delays)).toBeLessThanOrEqual(2_147_483_647);
    });
    it('counts a limit passed while the event loop was busy: an outcome that arrives before the late timer fires is a time-out', async () => {
      vi.useRealTimers();
      const clock = manualClock();
      const slow = held('Slow');
      const executor = executorWith([slow.definition], { clock });
      const events: HistoryEvent[] = [];
      executor.submit({ runId: 'run-1', call: callOf(slow.definition, { startToClose: 1000, heartbeat: 400 }), scheduledAt: 0 }, (event) =>
        events.push(event),
      );
      await clock.advance(300);
      slow.attempts[0]!.ctx.heartbeat();
      clock.jump(1200); // to 1500, and no timer ran: the heartbeat limit passed at 700, startToClose at 1000
      slow.attempts[0]!.resolve('done');
      await clock.advance(0);
      expect(events).toEqual([started('Slow#1', 0), heartbeat('Slow#1', 300), timedOut('Slow#1', 1500, 1, 'heartbeat', true)]);
    });
  });

  describe('retries', () => {
    it('retries failed attempts after 1s, then 2s, and completes', async () => {
      const Flaky = defineActivity({ name: 'Flaky', version: 1 }, async (_: unknown, ctx) => {
        if (ctx.attempt === 1) throw new Error('connection reset');
        if (ctx.attempt === 2) throw Object.assign(new Error('disk full'), { code: 'ERR_DISK' });
        return `done on attempt ${ctx.attempt}`;
      });
      const executor = executorWith([Flaky]);
      const events = submit(executor, callOf(Flaky, { retries: 2, retryErrors: true }));
      await until(10_000);
      expect(events).toEqual([
        started('Flaky#1', 0),
        failed('Flaky#1', 0, 1, { code: 'ERR_WORKER_FAILED', message: 'connection reset' }, false),
        started('Flaky#1', 1000, 2),
        failed('Flaky#1', 1000, 2, { code: 'ERR_DISK', message: 'disk full' }, false),
        started('Flaky#1', 3000, 3),
        completed('Flaky#1', 3000, 'done on attempt 3'),
      ]);
    });

    it('stops after 1 + retries attempts, with delays capped at retryMaxDelayMs, the last failure final', async () => {
      const Broken = defineActivity({ name: 'Broken', version: 1 }, async (_: unknown, ctx) => {
        throw new Error(`broken ${ctx.attempt}`);
      });
      const executor = executorWith([Broken], { retryDelayMs: 1000, retryMaxDelayMs: 1500 });
      const events = submit(executor, callOf(Broken, { retries: 3, retryErrors: true }));
      await until(60_000);
      const error = (n: number) => ({ code: 'ERR_WORKER_FAILED', message: `broken ${n}` });
      expect(events).toEqual([
        started('Broken#1', 0),
        failed('Broken#1', 0, 1, error(1), false),
        started('Broken#1', 1000, 2),
        failed('Broken#1', 1000, 2, error(2), false),
        started('Broken#1', 2500, 3),
        failed('Broken#1', 2500, 3, error(3), false),
        started('Broken#1', 4000, 4),
        failed('Broken#1', 4000, 4, error(4), true),
      ]);
    });

    it('fails at once, with retries left, on an error marked retryable: false or a configuration error', async () => {
      const Picky = defineActivity({ name: 'Picky', version: 1 }, async (input: string) => {
        if (input === 'config')
          throw new ConfigError({ file: 'flow.ini', section: 'Transcoding', key: 'codec' }, 'expected h264 or vp9; found "divx"');
        throw Object.assign(new Error('the source is not a video'), { retryable: false });
      });
      const executor = executorWith([Picky]);
      const marked = submit(executor, callOf(Picky, { retries: 3, retryErrors: true }, { input: 'text' }));
      const config = submit(executor, callOf(Picky, { retries: 3, retryErrors: true }, { input: 'config' }), { runId: 'run-2' });
      await until(60_000);
      expect(marked).toEqual([
        started('Picky#1', 0),
        failed('Picky#1', 0, 1, { code: 'ERR_WORKER_FAILED', message: 'the source is not a video' }, true),
      ]);
      expect(config).toEqual([
        started('Picky#1', 0),
        failed(
          'Picky#1',
          0,
          1,
          { code: 'ERR_CONFIG', message: 'flow.ini [Transcoding] "codec": expected h264 or vp9; found "divx"' },
          true,
        ),
      ]);
    });

    it("ignores a timed-out attempt that settles during its retry, and reports the retry's own outcome", async () => {
      const slow = held('Slow');
      const executor = executorWith([slow.definition]);
      const events = submit(executor, callOf(slow.definition, { startToClose: 1000, retries: 1 }));
      await until(2050);
      const [first, second] = slow.attempts;
      first!.ctx.heartbeat('stale');
      first!.resolve('first, too late');
      await until(2200);
      second!.resolve('second');
      await flush();
      expect(events).toEqual([
        started('Slow#1', 0),
        timedOut('Slow#1', 1000, 1, 'startToClose', false),
        started('Slow#1', 2000, 2),
        completed('Slow#1', 2200, 'second'),
      ]);
      expect(second!.ctx.attempt).toBe(2);
    });

    it('resumes a call at its next attempt, scheduleToStart counting from the submission', async () => {
      const Echo = defineActivity({ name: 'Echo', version: 1 }, async (_: unknown, ctx) => ctx.attempt);
      const executor = executorWith([Echo]);
      const resumed = submit(executor, callOf(Echo, { retries: 2, scheduleToStart: 500 }), { scheduledAt: -60_000, attemptsMade: 1 });
      await flush();
      expect(resumed).toEqual([started('Echo#1', 0, 2), completed('Echo#1', 0, 2)]);
    });

    it('runs the attempt a restart cut off once more even when it was the last, and a failure of it is final', async () => {
      const Broken = defineActivity({ name: 'Broken', version: 1 }, async (_: unknown, ctx) => {
        throw new Error(`broken ${ctx.attempt}`);
      });
      const executor = executorWith([Broken]);
      const events = submit(executor, callOf(Broken, { retries: 1 }), { scheduledAt: -60_000, attemptsMade: 2 });
      await until(60_000);
      expect(events).toEqual([
        started('Broken#1', 0, 3),
        failed('Broken#1', 0, 3, { code: 'ERR_WORKER_FAILED', message: 'broken 3' }, true),
      ]);
    });
  });

  describe('concurrency', () => {
    it("runs at most the task list's number of calls at once, first come first served; the (n+1)th starts when a slot frees", async () => {
      const work = held('Transcoding');
      const executor = executorWith([work.definition], { concurrency: { transcoding_list: 2 } });
      const onList = (n: number) =>
        submit(executor, callOf(work.definition, {}, { callId: `Transcoding#${n}`, taskList: 'transcoding_list' }));
      const calls = [onList(1), onList(2), onList(3), onList(4)];
      const others = [1, 2, 3, 4, 5].map((n) => submit(executor, callOf(work.definition, {}, { callId: `Other#${n}` })));
      await flush();
      expect(calls).toEqual([[started('Transcoding#1', 0)], [started('Transcoding#2', 0)], [], []]);
      expect(others.map((events) => events.length)).toEqual([1, 1, 1, 1, 0]); // the default of 4 on the default list
      expect(executor.stats()).toEqual({
        transcoding_list: { queued: 2, running: 2, retrying: 0, abandoned: 0 },
        default: { queued: 1, running: 4, retrying: 0, abandoned: 0 },
      });
      await until(300);
      work.attempts[0]!.resolve('one');
      await flush();
      expect(calls).toEqual([
        [started('Transcoding#1', 0), completed('Transcoding#1', 300, 'one')],
        [started('Transcoding#2', 0)],
        [started('Transcoding#3', 300)],
        [],
      ]);
      expect(executor.stats().transcoding_list).toEqual({ queued: 1, running: 2, retrying: 0, abandoned: 0 });
    });

    it('frees a slot when an attempt times out, though its function has not settled', async () => {
      const work = held('Stuck');
      const executor = executorWith([work.definition], { concurrency: 1 });
      const first = submit(executor, callOf(work.definition, { startToClose: 1000 }));
      const second = submit(executor, callOf(work.definition, {}, { callId: 'Stuck#2' }));
      await until(1000);
      expect(first).toEqual([started('Stuck#1', 0), timedOut('Stuck#1', 1000, 1, 'startToClose', true)]);
      expect(second).toEqual([started('Stuck#2', 1000)]);
      expect(executor.stats()).toEqual({ default: { queued: 0, running: 1, retrying: 0, abandoned: 1 } });
    });
  });

  describe('cancel and close', () => {
    it("cancel aborts the run's running calls and drops its queued ones, with no more reports; other runs go on", async () => {
      const work = held('Transcoding');
      const executor = executorWith([work.definition], { concurrency: 1 });
      const running = submit(executor, callOf(work.definition, { startToClose: 1000, retries: 2 }));
      const queued = submit(executor, callOf(work.definition, {}, { callId: 'Transcoding#2' }));
      const otherRun = submit(executor, callOf(work.definition), { runId: 'run-2' });
      await until(100);
      executor.cancel('run-1');
      const { ctx, resolve } = work.attempts[0]!;
      expect(reasonOf(ctx)).toMatchObject({
        code: 'ERR_ACTIVITY_CANCELLED',
        message: 'the workflow run run-1 ended: its call Transcoding#1 was cancelled',
      });
      await flush();
      expect(otherRun).toEqual([started('Transcoding#1', 100)]);
      ctx.heartbeat('after cancel');
      resolve('ignored');
      await until(10_000);
      expect(running).toEqual([started('Transcoding#1', 0)]);
      expect(queued).toEqual([]);
      expect(work.attempts).toHaveLength(2);
      expect(executor.stats()).toEqual({ default: { queued: 0, running: 1, retrying: 0, abandoned: 0 } });
    });

    it('cancel from within a report stops the call before its function runs', async () => {
      const work = held('Transcoding');
      const executor = executorWith([work.definition]);
      const events: HistoryEvent[] = [];
      executor.submit({ runId: 'run-1', call: callOf(work.definition, { heartbeat: 100 }), scheduledAt: 0 }, (event) => {
        events.push(event);
        executor.cancel('run-1');
      });
      await until(1000);
      expect(events).toEqual([started('Transcoding#1', 0)]);
      expect(work.attempts).toEqual([]);
      expect(executor.stats()).toEqual({ default: { queued: 0, running: 0, retrying: 0, abandoned: 0 } });
    });

    it('close aborts running calls with ERR_SHUTDOWN, drops the queue, reports nothing more, and resolves when the functions settle', async () => {
      const work = held('Transcoding');
      const executor = executorWith([work.definition], { concurrency: 1 });
      const running = submit(executor, callOf(work.definition, { startToClose: 1000 }));
      const queued = submit(executor, callOf(work.definition, {}, { callId: 'Transcoding#2' }));
      await flush();
      let closed = false;
      const closing = executor.close(5000).then(() => (closed = true));
      expect(reasonOf(work.attempts[0]!.ctx)).toMatchObject({ code: 'ERR_SHUTDOWN' });
      expect(() => submit(executor, callOf(work.definition, {}, { callId: 'Transcoding#3' }))).toThrow(
        expect.objectContaining({ code: 'ERR_SHUTDOWN' }),
      );
      await until(100);
      expect(closed).toBe(false);
      work.attempts[0]!.resolve('done anyway');
      await closing;
      expect(Date.now()).toBe(100);
      await until(5000);
      expect(running).toEqual([started('Transcoding#1', 0)]);
      expect(queued).toEqual([]);
      expect(work.attempts).toHaveLength(1);
    });

    it('close gives up on functions that do not settle once graceMs passed', async () => {
      const logs = sink();
      const work = held('Stuck');
      const executor = createActivityExecutor({ activities: [work.definition], log: logs.logger });
      submit(executor, callOf(work.definition));
      await flush();
      let closed = false;
      const closing = executor.close(2000).then(() => (closed = true));
      await until(1999);
      expect(closed).toBe(false);
      await until(2000);
      await closing;
      expect(closed).toBe(true);
      expect(logs.lines).toContainEqual(
        expect.objectContaining({
          msg: 'activity functions did not settle within the grace time of close(); leaving them behind',
          unsettled: 1,
        }),
      );
    });
  });
});

describe('the activity executor, for any behaviour of its activities', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** What one attempt does: settles after `after` ms (or never), heartbeating every `beatEvery` ms. */
  const attemptArbitrary = fc.record({
    outcome: fc.constantFrom('resolve', 'reject', 'rejectFinal', 'nonJson', 'hang'),
    after: fc.integer({ min: 0, max: 3000 }),
    beatEvery: fc.option(fc.integer({ min: 100, max: 1500 }), { nil: undefined }),
  });
  const limit = fc.option(fc.integer({ min: 200, max: 4000 }), { nil: undefined });
  const callArbitrary = fc.record({
    attempts: fc.array(attemptArbitrary, { minLength: 6, maxLength: 6 }),
    options: fc.record({
      retries: fc.integer({ min: 0, max: 4 }),
      heartbeat: limit,
      scheduleToStart: limit,
      startToClose: limit,
      scheduleToClose: limit,
    }),
    attemptsMade: fc.integer({ min: 0, max: 2 }),
    run: fc.constantFrom('run-1', 'run-2'),
  });

  it("reports each call's attempts in order and ends it with exactly one final event, last, unless its run was cancelled", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(callArbitrary, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 2 }),
        fc.option(fc.integer({ min: 0, max: 8000 }), { nil: undefined }),
        async (calls, concurrency, cancelAt) => {
          vi.useFakeTimers({ now: 0 });
          try {
            const Scripted = defineActivity({ name: 'Scripted', version: 1 }, (index: number, ctx) => {
              const plan = calls[index]!.attempts[ctx.attempt - 1]!;
              return new Promise((resolve, reject) => {
                const beat = plan.beatEvery === undefined ? undefined : setInterval(() => ctx.heartbeat(ctx.attempt), plan.beatEvery);
                const settle = () => {
                  clearInterval(beat);
                  if (plan.outcome === 'resolve') resolve(index);
                  else if (plan.outcome === 'nonJson') resolve(() => index);
                  else
                    reject(
                      Object.assign(new Error(`attempt ${ctx.attempt} failed`), plan.outcome === 'rejectFinal' ? { retryable: false } : {}),
                    );
                };
                // A hung function ignores its signal for long, then settles.
                setTimeout(settle, plan.outcome === 'hang' ? 100_000 : plan.after);
              });
            });
            const executor = createActivityExecutor({ activities: [Scripted], log: sink().logger, concurrency });
            const reports = calls.map((call, index) =>
              submit(executor, callOf(Scripted, call.options, { callId: `Scripted#${index + 1}`, input: index }), {
                runId: call.run,
                scheduledAt: 0,
                attemptsMade: call.attemptsMade,
              }),
            );
            let countsAtCancel: number[] | undefined;
            if (cancelAt !== undefined) {
              await until(cancelAt);
              executor.cancel('run-1');
              countsAtCancel = reports.map((events) => events.length);
            }
            // Long enough for every attempt of a call to hang (100 s each, up to 5) and its retry delays.
            await until(1_000_000);
            calls.forEach((call, index) => {
              const events = reports[index]!;
              const cancelled = countsAtCancel !== undefined && call.run === 'run-1';
              if (cancelled) expect(events).toHaveLength(countsAtCancel![index]!);
              const finals = events.filter((event) => event.type === 'activity.completed' || ('final' in event && event.final));
              expect(finals.length).toBe(cancelled && !finals.includes(events.at(-1)!) ? 0 : 1);
              if (finals.length === 1) expect(events.at(-1)).toBe(finals[0]);
              const ats = events.map((event) => event.at);
              expect(ats).toEqual([...ats].sort((a, b) => a - b));
              const startedAttempts = events.flatMap((event) => (event.type === 'activity.started' ? [event.attempt] : []));
              startedAttempts.forEach((attempt, i) =>
                expect(attempt).toBeGreaterThan(i === 0 ? call.attemptsMade : startedAttempts[i - 1]!),
              );
              const used = events.flatMap((event) => ('attempt' in event && event.type !== 'activity.started' ? [event.attempt] : []));
              for (const attempt of [...startedAttempts, ...used])
                expect(attempt).toBeLessThanOrEqual(Math.max(1 + call.options.retries, call.attemptsMade + 1));
            });
            for (const lane of Object.values(executor.stats())) expect(lane).toEqual({ queued: 0, running: 0, retrying: 0, abandoned: 0 });
          } finally {
            vi.useRealTimers();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
