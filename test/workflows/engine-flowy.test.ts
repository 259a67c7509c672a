/**
 * The engine on Flowy 0.3.3's run semantics, on a simulated clock: a run
 * ends once every call it made finished, errors are never lost, and
 * retries are Flowy's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createAppServices } from '../../src/runtime/app-services.js';
import { createWorkflowEngine, type WorkflowEngineOptions } from '../../src/workflows/engine.js';
import type { HistoryEvent } from '../../src/workflows/history.js';
import { defineActivity, defineWorkflow, type ActivityContext, type ActivityOptions } from '../../src/workflows/workflow-api.js';
import { manualClock } from '../helpers/manual-clock.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';
import { until } from '../helpers/wait.js';

const cleanups = cleanupsAfterEach();
const log = pino({ level: 'silent' });

function engineOn(clock: ReturnType<typeof manualClock>, options: Pick<WorkflowEngineOptions, 'workflows' | 'activities' | 'inspect'>) {
  const folder = mkdtempSync(path.join(tmpdir(), 'flowd-workflows-'));
  const services = createAppServices(
    { store: { backend: 'file', folder }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
    'workflows',
    log,
  );
  const engine = createWorkflowEngine({
    ...options,
    store: services.store,
    log,
    executor: { clock, retryDelayMs: 1000, retryMaxDelayMs: 1000 },
  });
  cleanups.push(() => services.close());
  cleanups.push(() => engine.close(100));
  return engine;
}

/** `type callId` of each activity event of a history, with the attempt and `final` where they have them. */
const trail = (history: HistoryEvent[]) =>
  history
    .filter((e) => e.type.startsWith('activity.') && e.type !== 'activity.heartbeat')
    .map((e) => {
      const event = e as { type: string; callId: string; attempt?: number; final?: boolean; kind?: string; at: number };
      const extra = event.type === 'activity.timedOut' ? ` ${event.kind}` : '';
      return `${event.at} ${event.type.slice('activity.'.length)} ${event.callId}${event.attempt ? ` #${event.attempt}` : ''}${extra}${event.final ? ' final' : ''}`;
    });

describe('the engine ends a run once every call it made finished (Flowy 0.3.3)', () => {
  it("runs the tutorial's AddSubtitles, whose result is never read, and completes only once it finished", async () => {
    const clock = manualClock(1000);
    const subtitles = deferred<string>();
    const started: string[] = [];
    const activity = (name: string, run: (input: unknown) => Promise<unknown>) =>
      defineActivity({ name, version: 1 }, async (input: unknown) => {
        started.push(name);
        return run(input);
      });
    const Transcoding = activity('Transcoding', async (source) => `${String(source)}.mp4`);
    const ThumbnailGenerator = activity('ThumbnailGenerator', async (source) => [`${String(source)}.jpg`]);
    let metadataDone = false;
    const MetadataProcessing = activity('MetadataProcessing', async () => ((metadataDone = true), 'processed'));
    const AddSubtitles = activity('AddSubtitles', () => subtitles.promise);
    const Upload = defineWorkflow({ name: 'UploadWorkflow', version: 1 }, (wf) => {
      const [transcode, thumbnails, metadata, addSubtitles] = [Transcoding, ThumbnailGenerator, MetadataProcessing, AddSubtitles].map(
        (definition) => wf.activity(definition),
      );
      return (input: { videoId: string; source: string }) => {
        const t = transcode!(input.source);
        const th = thumbnails!(input.source);
        const status = metadata!({ transcoded: t.result(), thumbnails: th.result() });
        addSubtitles!(input.videoId);
        return status;
      };
    });
    // The run's actor waiting on one call once MetadataProcessing finished: the body returned, and AddSubtitles runs on.
    let waitsOnSubtitles = false;
    const engine = engineOn(clock, {
      workflows: [Upload],
      activities: [Transcoding, ThumbnailGenerator, MetadataProcessing, AddSubtitles],
      inspect: (event) => {
        if (event.type !== '@xstate.snapshot') return;
        const snapshot = event.snapshot as { value?: unknown; context?: { pending?: number } };
        if (snapshot.value === 'waiting' && snapshot.context?.pending === 1 && metadataDone) waitsOnSubtitles = true;
      },
    });
    const runId = await engine.start('UploadWorkflow', { videoId: 'v1', source: 'v1.mov' });
    let ended = false;
    const end = engine.ended(runId).then((record) => ((ended = true), record));
    await until(() => started.length === 4, { what: 'the four activities started' });
    expect(started.slice(2).sort()).toEqual(['AddSubtitles', 'MetadataProcessing']);
    await until(() => waitsOnSubtitles || ended, { what: 'the decision after MetadataProcessing finished' });
    await clock.advance(60_000);
    expect(ended).toBe(false);
    subtitles.resolve('v1.srt');
    const record = await end;
    expect(record).toMatchObject({ state: 'completed', result: 'processed' });
    expect(trail(record.history).filter((line) => line.includes('AddSubtitles'))).toEqual([
      expect.stringMatching(/scheduled AddSubtitles#1$/),
      expect.stringMatching(/started AddSubtitles#1 #1$/),
      expect.stringMatching(/completed AddSubtitles#1$/),
    ]);
  });
});

describe('the engine never loses an error', () => {
  const twoCalls = (errorHandling: boolean) => {
    const slow = deferred<string>();
    let aborted: unknown;
    const Slow = defineActivity({ name: 'Slow', version: 1 }, async (_: null, ctx: ActivityContext) => {
      ctx.signal.addEventListener('abort', () => (aborted = ctx.signal.reason));
      return slow.promise;
    });
    const Broken = defineActivity({ name: 'Broken', version: 1, errorHandling }, async () => {
      throw Object.assign(new Error('disk full'), { code: 'ERR_DISK' });
    });
    const Work = defineWorkflow({ name: 'Work', version: 1 }, (wf) => {
      const [slowly, broken] = [wf.activity(Slow), wf.activity(Broken)];
      return () => {
        const s = slowly(null);
        broken(null);
        return s.result();
      };
    });
    return { slow, aborted: () => aborted, workflows: [Work], activities: [Slow, Broken] };
  };

  it('fails the run at once with the error of a call never read when its errorHandling is off, and cancels the call still running', async () => {
    const clock = manualClock(1000);
    const setup = twoCalls(false);
    const engine = engineOn(clock, setup);
    const record = await engine.ended(await engine.start('Work', null));
    expect(record.state).toBe('failed');
    expect(record.error).toEqual({ code: 'ERR_TASK', message: 'Activity "Broken" (call Broken#1) failed: disk full [ERR_DISK]' });
    await until(() => setup.aborted() !== undefined, { what: 'the slow call aborted' });
    expect(setup.aborted()).toMatchObject({ code: 'ERR_ACTIVITY_CANCELLED' });
    setup.slow.resolve('too late'); // an aborted function still settles, so close() need not wait for it
    expect(trail(record.history).filter((line) => line.includes('Broken'))).toEqual([
      '1000 scheduled Broken#1',
      '1000 started Broken#1 #1',
      '1000 failed Broken#1 #1 final',
    ]);
  });

  it('with errorHandling on, waits for the body to return and the other call to finish, then fails the run with the unread error', async () => {
    const clock = manualClock(1000);
    const setup = twoCalls(true);
    const engine = engineOn(clock, setup);
    const runId = await engine.start('Work', null);
    let ended = false;
    const end = engine.ended(runId).then((record) => ((ended = true), record));
    await clock.advance(5000);
    expect(ended).toBe(false);
    setup.slow.resolve('done');
    const record = await end;
    expect(record.state).toBe('failed');
    expect(record.error).toEqual({ code: 'ERR_TASK', message: 'Activity "Broken" (call Broken#1) failed: disk full [ERR_DISK]' });
    expect(setup.aborted()).toBeUndefined();
  });
});

/** Moves the clock in steps until the run ends, waiting at each step for the engine's store writes to arm the next timers. */
async function runToEnd(clock: ReturnType<typeof manualClock>, engine: ReturnType<typeof engineOn>, runId: string) {
  let ended = false;
  const end = engine.ended(runId).then((record) => ((ended = true), record));
  // The run's workflow duration (1h by default) is a timer of its own from the start: wait for the others.
  const deadline = clock.now() + 3_600_000;
  for (let steps = 0; !ended && steps < 1000; steps++) {
    await until(() => ended || clock.pendingBefore(deadline) > 0, { what: 'a timer of the run, or its end' });
    if (!ended) await clock.advance(250);
  }
  return end;
}

/** An activity that runs until its signal aborts; `attempts` counts its starts. */
function hanging(name: string, options: ActivityOptions) {
  const counter = { attempts: 0 };
  const definition = defineActivity({ name, version: 1, ...options }, (_: null, ctx: ActivityContext) => {
    counter.attempts++;
    return new Promise<never>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
  });
  return { definition, counter };
}

describe("the engine retries as Flowy's", () => {
  const once = (definition: ReturnType<typeof hanging>['definition']) =>
    defineWorkflow({ name: 'Once', version: 1 }, (wf) => {
      const call = wf.activity(definition);
      return () => call(null).result();
    });

  it('retries a timed-out attempt 3 times by default, with the backoff of [Workflow] retry delay, then fails the run', async () => {
    const clock = manualClock(10_000);
    const { definition, counter } = hanging('Hang', { startToClose: '1s' });
    const engine = engineOn(clock, { workflows: [once(definition)], activities: [definition] });
    const record = await runToEnd(clock, engine, await engine.start('Once', null));
    expect(counter.attempts).toBe(4);
    expect(trail(record.history)).toEqual([
      '10000 scheduled Hang#1',
      '10000 started Hang#1 #1',
      '11000 timedOut Hang#1 #1 startToClose',
      '12000 started Hang#1 #2',
      '13000 timedOut Hang#1 #2 startToClose',
      '14000 started Hang#1 #3',
      '15000 timedOut Hang#1 #3 startToClose',
      '16000 started Hang#1 #4',
      '17000 timedOut Hang#1 #4 startToClose final',
    ]);
    expect(record.error).toEqual({
      code: 'ERR_TASK',
      message: 'Activity "Hang" (call Hang#1) failed: timed out on attempt 4: startToClose limit of 1000ms passed [ERR_ACTIVITY_TIMEOUT]',
    });
  });

  it('retries a scheduleToClose time-out too, each attempt with a window of its own, and waits its delay and list of retry waits', async () => {
    const clock = manualClock(10_000);
    const { definition, counter } = hanging('Hang', { delay: '5s', scheduleToClose: '1s', retry: ['0s', '250ms'] });
    const engine = engineOn(clock, { workflows: [once(definition)], activities: [definition] });
    const record = await runToEnd(clock, engine, await engine.start('Once', null));
    expect(counter.attempts).toBe(3);
    expect(trail(record.history)).toEqual([
      '10000 scheduled Hang#1',
      '15000 started Hang#1 #1',
      '16000 timedOut Hang#1 #1 scheduleToClose',
      '16000 started Hang#1 #2',
      '17000 timedOut Hang#1 #2 scheduleToClose',
      '17250 started Hang#1 #3',
      '18250 timedOut Hang#1 #3 scheduleToClose final',
    ]);
  });

  it('runs an activity that throws once, unless it opts in with retryErrors (or the earlier retries)', async () => {
    const attempts: Record<string, number> = {};
    const throwing = (name: string, options: { retryErrors?: boolean; retries?: number }) =>
      defineActivity({ name, version: 1, ...options }, (_: null, ctx: ActivityContext) => {
        attempts[name] = ctx.attempt;
        if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} fails`);
        return ctx.attempt;
      });
    const activities = [throwing('Plain', {}), throwing('OptedIn', { retryErrors: true }), throwing('Earlier', { retries: 2 })];
    const workflows = activities.map((definition) =>
      defineWorkflow({ name: definition.name, version: 1 }, (wf) => {
        const call = wf.activity(definition);
        return () => call(null).result();
      }),
    );
    const clock = manualClock(10_000);
    const engine = engineOn(clock, { workflows, activities });
    const records = [];
    for (const { name } of activities) records.push(await runToEnd(clock, engine, await engine.start(name, null)));
    expect(records.map((record) => [record.state, record.result ?? record.error?.message])).toEqual([
      ['failed', 'Activity "Plain" (call Plain#1) failed: attempt 1 fails [ERR_WORKER_FAILED]'],
      ['completed', 3],
      ['completed', 3],
    ]);
    expect(attempts).toEqual({ Plain: 1, OptedIn: 3, Earlier: 3 });
  });
});
