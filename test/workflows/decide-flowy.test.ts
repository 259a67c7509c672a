/**
 * Decision cases in the style of Flowy's own (a history in, the decisions
 * out) for Flowy 0.3.3's run semantics: a run ends only once every call it
 * made has finished, `errorHandling` per activity, and the retry options.
 */
import { describe, expect, it } from 'vitest';
import { decide, type Decision } from '../../src/workflows/decide.js';
import { type TaskError, WorkflowError } from '../../src/workflows/errors.js';
import { scheduledEvent, type HistoryEvent, type JsonValue, type TimeoutKind } from '../../src/workflows/history.js';
import { defineActivity, defineWorkflow, type ActivityOptions, type WorkflowDefinition } from '../../src/workflows/workflow-api.js';

const Echo = defineActivity({ name: 'Echo', version: 1 }, async (input: unknown) => input);
const Handled = defineActivity({ name: 'Handled', version: 1, errorHandling: true }, async (input: unknown) => input);

/** A history, built event by event; `decide` records what the decision scheduled. */
function history(input: JsonValue = null) {
  const events: HistoryEvent[] = [{ type: 'workflow.started', at: 0, input }];
  let at = 0;
  const self = {
    events,
    decide(workflow: WorkflowDefinition): Decision {
      const decision = decide(workflow, events);
      for (const call of decision.schedule) events.push(scheduledEvent(call, ++at));
      return decision;
    },
    complete(callId: string, result: JsonValue) {
      events.push({ type: 'activity.completed', at: ++at, callId, result });
      return self;
    },
    fail(callId: string, message = 'broken') {
      events.push({ type: 'activity.failed', at: ++at, callId, attempt: 1, error: { code: 'ERR_BOOM', message }, final: true });
      return self;
    },
    timeOut(callId: string, kind: TimeoutKind) {
      events.push({ type: 'activity.timedOut', at: ++at, callId, attempt: 4, kind, final: true });
      return self;
    },
  };
  return self;
}

const ids = (decision: Decision) => decision.schedule.map((call) => call.callId);
const taskFailed = (callId: string, message = 'broken [ERR_BOOM]', activity = callId.split('#')[0]) => ({
  kind: 'failed',
  error: { code: 'ERR_TASK', message: `Activity "${activity}" (call ${callId}) failed: ${message}` },
});

describe('a run ends only once every call it made has finished (Flowy 0.3.3)', () => {
  it('the tutorial\'s "Concurrency" example: AddSubtitles, never read, is scheduled with MetadataProcessing and waited for', () => {
    const Transcoding = defineActivity({ name: 'Transcoding', version: 1 }, async (source: string) => `${source}.mp4`);
    const ThumbnailGenerator = defineActivity({ name: 'ThumbnailGenerator', version: 1 }, async (source: string) => [`${source}.jpg`]);
    const MetadataProcessing = defineActivity({ name: 'MetadataProcessing', version: 1 }, async (input: unknown) => input);
    const AddSubtitles = defineActivity({ name: 'AddSubtitles', version: 1 }, async (videoId: string) => `${videoId}.srt`);
    const Upload = defineWorkflow({ name: 'UploadWorkflow', version: 1 }, (wf) => {
      const [transcode, thumbnails, metadata, subtitles] = [
        wf.activity(Transcoding),
        wf.activity(ThumbnailGenerator),
        wf.activity(MetadataProcessing),
        wf.activity(AddSubtitles),
      ];
      return (input: { videoId: string; source: string }) => {
        const t = transcode(input.source);
        const th = thumbnails(input.source);
        const status = metadata({ transcoded: t.result(), thumbnails: th.result() });
        subtitles(input.videoId);
        return status;
      };
    });
    const run = history({ videoId: 'v1', source: 'v1.mov' });
    expect(ids(run.decide(Upload))).toEqual(['Transcoding#1', 'ThumbnailGenerator#1']);
    run.complete('Transcoding#1', 'v1.mp4').complete('ThumbnailGenerator#1', ['v1.jpg']);
    expect(ids(run.decide(Upload))).toEqual(['MetadataProcessing#1', 'AddSubtitles#1']);
    run.complete('MetadataProcessing#1', 'processed');
    expect(run.decide(Upload)).toEqual({ schedule: [] });
    run.complete('AddSubtitles#1', 'v1.srt');
    expect(run.decide(Upload)).toEqual({ schedule: [], outcome: { kind: 'completed', result: 'processed' } });
  });

  it('a body that returns at once still schedules its calls, and completes with its value when they finished', () => {
    const Fire = defineWorkflow({ name: 'Fire', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => {
        echo('a');
        echo('b');
        return 'returned';
      };
    });
    const run = history();
    expect(run.decide(Fire)).toMatchObject({ schedule: [{ callId: 'Echo#1' }, { callId: 'Echo#2' }] });
    expect(run.decide(Fire).outcome).toBeUndefined();
    run.complete('Echo#2', 'b');
    expect(run.decide(Fire)).toEqual({ schedule: [] });
    run.complete('Echo#1', 'a');
    expect(run.decide(Fire)).toEqual({ schedule: [], outcome: { kind: 'completed', result: 'returned' } });
  });
});

describe('errorHandling off (the default): a failure fails the run at once', () => {
  const Fire = defineWorkflow({ name: 'Fire', version: 1 }, (wf) => {
    const echo = wf.activity(Echo);
    return () => {
      const a = echo('a');
      echo('never read');
      return a.result();
    };
  });

  it('fails the run with the error of a call never read, while another call still runs', () => {
    const run = history();
    run.decide(Fire);
    run.fail('Echo#2', 'disk full');
    expect(run.decide(Fire)).toEqual({ schedule: [], outcome: taskFailed('Echo#2', 'disk full [ERR_BOOM]') });
  });

  it('fails the run with a final time-out too, and a try/catch in the body cannot hold it back', () => {
    let caught = 0;
    const Catching = defineWorkflow({ name: 'Catching', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => {
        try {
          return echo('a').result();
        } catch {
          caught++;
          return 'caught';
        }
      };
    });
    const run = history();
    run.decide(Catching);
    run.timeOut('Echo#1', 'startToClose');
    caught = 0;
    expect(run.decide(Catching)).toEqual({
      schedule: [],
      outcome: taskFailed('Echo#1', 'timed out on attempt 4: startToClose passed [ERR_ACTIVITY_TIMEOUT]'),
    });
    expect(caught).toBe(1); // it caught the signal that unwinds the body, not a TaskError, and ran on in vain
  });

  it('fails a call with errorHandling off whose input holds a failure another call handled', () => {
    const Chain = defineWorkflow({ name: 'Chain', version: 1 }, (wf) => {
      const handled = wf.activity(Handled);
      const echo = wf.activity(Echo);
      return () => echo(handled('a'));
    });
    const run = history();
    expect(ids(run.decide(Chain))).toEqual(['Handled#1']);
    run.fail('Handled#1');
    expect(run.decide(Chain)).toEqual({ schedule: [], outcome: taskFailed('Handled#1') });
  });
});

describe('errorHandling on: the body handles failures, and one it never read fails the run when it returns', () => {
  it('hands the TaskError to result(), and try/catch falls back', () => {
    const Fallback = defineWorkflow({ name: 'Fallback', version: 1 }, (wf) => {
      const handled = wf.activity(Handled);
      const echo = wf.activity(Echo);
      return () => {
        try {
          return handled('a').result();
        } catch (error) {
          return echo((error as TaskError).callId);
        }
      };
    });
    const run = history();
    run.decide(Fallback);
    run.fail('Handled#1');
    expect(run.decide(Fallback)).toMatchObject({ schedule: [{ callId: 'Echo#1', input: 'Handled#1' }] });
    run.complete('Echo#1', 'fallback');
    expect(run.decide(Fallback)).toEqual({ schedule: [], outcome: { kind: 'completed', result: 'fallback' } });
  });

  it('waits while the body runs on, then fails the run with a failure it never read, once it returned', () => {
    const Unread = defineWorkflow({ name: 'Unread', version: 1 }, (wf) => {
      const handled = wf.activity(Handled);
      const echo = wf.activity(Echo);
      return () => {
        handled('ignored');
        return echo('b').result();
      };
    });
    const run = history();
    run.decide(Unread);
    run.fail('Handled#1');
    expect(run.decide(Unread)).toEqual({ schedule: [] });
    run.complete('Echo#1', 'b');
    expect(run.decide(Unread)).toEqual({ schedule: [], outcome: taskFailed('Handled#1') });
  });

  it('wait(x) throws when x failed', () => {
    const Waiting = defineWorkflow({ name: 'Waiting', version: 1 }, (wf) => {
      const handled = wf.activity(Handled);
      return () => {
        const x = handled('x');
        try {
          wf.wait(x);
          return 'returned normally';
        } catch (error) {
          return `threw ${(error as TaskError).code}`;
        }
      };
    });
    const run = history();
    run.decide(Waiting);
    run.fail('Handled#1');
    expect(run.decide(Waiting)).toEqual({ schedule: [], outcome: { kind: 'completed', result: 'threw ERR_TASK' } });
  });

  it('is layered as the other options: definition < proxy < wf.options', () => {
    const body = (layers: { proxy?: ActivityOptions; scope?: ActivityOptions }, activity = Echo) =>
      defineWorkflow({ name: 'Layers', version: 1 }, (wf) => {
        const call = wf.activity(activity, layers.proxy);
        return () =>
          wf.options(layers.scope ?? {}, () => {
            try {
              return call('a').result();
            } catch {
              return 'handled';
            }
          });
      });
    const outcome = (workflow: WorkflowDefinition) => {
      const run = history();
      run.decide(workflow);
      run.fail('Echo#1');
      return run.decide(workflow).outcome;
    };
    const handled = { kind: 'completed', result: 'handled' };
    expect(outcome(body({}))).toEqual(taskFailed('Echo#1'));
    expect(outcome(body({ proxy: { errorHandling: true } }))).toEqual(handled);
    expect(outcome(body({ scope: { errorHandling: true } }))).toEqual(handled);
    expect(outcome(body({ proxy: { errorHandling: true }, scope: { errorHandling: false } }))).toEqual(taskFailed('Echo#1'));
    const HandledEcho = defineActivity({ name: 'Echo', version: 1, errorHandling: true }, async (input: unknown) => input);
    expect(outcome(body({}, HandledEcho))).toEqual(handled);
    expect(outcome(body({ proxy: { errorHandling: false } }, HandledEcho))).toEqual(taskFailed('Echo#1'));
  });
});

describe('retry, retryErrors and delay in the call options', () => {
  const optionsOf = (definition: ActivityOptions, proxy?: ActivityOptions, scope?: ActivityOptions) => {
    const Activity = defineActivity({ name: 'Activity', version: 1, ...definition }, async () => null);
    const workflow = defineWorkflow({ name: 'Options', version: 1 }, (wf) => {
      const call = wf.activity(Activity, proxy);
      return () => wf.options(scope ?? {}, () => call());
    });
    return decide(workflow, history().events).schedule[0]!.options;
  };

  it('retries a time-out 3 times by default, and a failure only with retryErrors', () => {
    expect(optionsOf({})).toEqual({ retries: 3 });
    expect(optionsOf({ retry: 0 }, { retryErrors: true })).toEqual({ retries: 0, retryErrors: true });
    expect(optionsOf({ retryErrors: true }, {}, { retryErrors: false })).toEqual({ retries: 3 });
  });

  it("takes Flowy 0.4's list of per-attempt delays, and a later count drops an earlier list", () => {
    expect(optionsOf({ retry: ['1s', 2500, 0] })).toEqual({ retries: 3, retryDelays: [1000, 2500, 0] });
    expect(optionsOf({ retry: ['1s'] }, { retry: 5 })).toEqual({ retries: 5 });
    expect(optionsOf({}, {}, { retry: [] })).toEqual({ retries: 0, retryDelays: [] });
  });

  it('takes delay, a wait before the first attempt', () => {
    expect(optionsOf({ delay: '10s' }, { startToClose: '1m' })).toEqual({ retries: 3, delay: 10_000, startToClose: 60_000 });
  });

  it('keeps retries, the earlier name: a count that also retries failures, as it did', () => {
    expect(optionsOf({ retries: 2 })).toEqual({ retries: 2, retryErrors: true });
    expect(optionsOf({ retries: 2 }, { retryErrors: false })).toEqual({ retries: 2 });
  });

  it('refuses bad values with a WorkflowError naming the activity, the option and the value', () => {
    const bad = (options: Record<string, unknown>) => () => defineActivity({ name: 'Bad', version: 1, ...options }, async () => null);
    expect(bad({ retry: -1 })).toThrow(WorkflowError);
    expect(bad({ retry: -1 })).toThrow(/Activity "Bad": option retry must be a whole number of at least 0, or a list of durations/);
    expect(bad({ retry: ['soon'] })).toThrow(/option retry\[0\] must be a duration/);
    expect(bad({ retry: 1, retries: 1 })).toThrow(/options retry and retries \(its earlier name\) are both given/);
    expect(bad({ errorHandling: 'yes' })).toThrow(/option errorHandling must be true or false; found "yes"/);
    expect(bad({ retryErrors: 1 })).toThrow(/option retryErrors must be true or false/);
    expect(bad({ delay: 0 })).toThrow(/option delay must be a duration/);
  });
});
