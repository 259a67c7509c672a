import { describe, expect, expectTypeOf, it } from 'vitest';
import { decide, type Decision } from '../../src/workflows/decide.js';
import { TaskError, WorkflowError } from '../../src/workflows/errors.js';
import { scheduledEvent, toJson, type HistoryEvent, type JsonValue, type TimeoutKind } from '../../src/workflows/history.js';
import {
  defineActivity,
  defineWorkflow,
  finishOrder,
  first,
  wait,
  type ActivityDefinition,
  type Placeholder,
  type WorkflowContext,
  type WorkflowDefinition,
} from '../../src/workflows/workflow-api.js';

const Transcoding = defineActivity(
  { name: 'Transcoding', version: 1, taskList: 'transcoding_list' },
  async (source: string) => `${source}.mp4`,
);
const ThumbnailGenerator = defineActivity({ name: 'ThumbnailGenerator', version: 1 }, async (source: string) => [`${source}.jpg`]);
const MetadataProcessing = defineActivity(
  { name: 'MetadataProcessing', version: 1 },
  async (input: { videoId: string; transcoded: unknown; thumbnails: unknown }) => ({ status: `processed ${input.videoId}` }),
);
const AddSubtitles = defineActivity({ name: 'AddSubtitles', version: 1 }, async (videoId: string) => `${videoId}.srt`);
const Echo = defineActivity({ name: 'Echo', version: 1 }, async (input: unknown) => input);

/** The tutorial's workflow: two independent activities, then a third on both results. */
const VideoWorkflow = defineWorkflow({ name: 'UploadWorkflow', version: 3, taskList: 'upload_list' }, (wf) => {
  const transcode = wf.activity(Transcoding);
  const thumbnails = wf.activity(ThumbnailGenerator);
  const metadata = wf.activity(MetadataProcessing);
  return (input: { videoId: string; source: string }) => {
    const t = transcode(input.source);
    const th = thumbnails(input.source);
    return metadata({ videoId: input.videoId, transcoded: t.result(), thumbnails: th.result() });
  };
});

/** A run's history, built as a run actor would append it. */
class Run {
  readonly events: HistoryEvent[];
  #at = 1000;
  constructor(input: JsonValue) {
    this.events = [{ type: 'workflow.started', at: this.#at, input }];
  }
  /** Decides, and records what the decision scheduled. */
  decide(workflow: Parameters<typeof decide>[0]): Decision {
    const decision = decide(workflow, this.events);
    for (const call of decision.schedule) this.events.push(scheduledEvent(call, ++this.#at));
    return decision;
  }
  complete(callId: string, result: JsonValue): this {
    this.events.push(
      { type: 'activity.started', at: ++this.#at, callId, attempt: 1 },
      { type: 'activity.completed', at: ++this.#at, callId, result },
    );
    return this;
  }
  fail(callId: string, message: string, final = true): this {
    this.events.push({ type: 'activity.failed', at: ++this.#at, callId, attempt: 1, error: { code: 'ERR_BOOM', message }, final });
    return this;
  }
  timeOut(callId: string, kind: TimeoutKind, final = true): this {
    this.events.push({ type: 'activity.timedOut', at: ++this.#at, callId, attempt: 1, kind, final });
    return this;
  }
}

const ids = (decision: Decision) => decision.schedule.map((call) => call.callId);

describe('decide() on the tutorial workflow', () => {
  it('schedules Transcoding and ThumbnailGenerator together, then MetadataProcessing on both results, then completes', () => {
    const run = new Run({ videoId: 'v1', source: 's3://in/v1.mov' });
    const first = run.decide(VideoWorkflow);
    expect(first.outcome).toBeUndefined();
    expect(ids(first)).toEqual(['Transcoding#1', 'ThumbnailGenerator#1']);
    expect(first.schedule[0]).toEqual({
      callId: 'Transcoding#1',
      activity: { name: 'Transcoding', version: 1 },
      taskList: 'transcoding_list',
      input: 's3://in/v1.mov',
      options: { retries: 3 },
    });
    expect(first.schedule[1]!.taskList).toBe('upload_list');

    run.complete('Transcoding#1', 's3://out/v1.mp4');
    expect(run.decide(VideoWorkflow)).toEqual({ schedule: [] });

    run.complete('ThumbnailGenerator#1', ['s3://out/v1.jpg']);
    const third = run.decide(VideoWorkflow);
    expect(ids(third)).toEqual(['MetadataProcessing#1']);
    expect(third.schedule[0]!.input).toEqual({ videoId: 'v1', transcoded: 's3://out/v1.mp4', thumbnails: ['s3://out/v1.jpg'] });

    run.complete('MetadataProcessing#1', { status: 'processed v1' });
    expect(run.decide(VideoWorkflow)).toEqual({ schedule: [], outcome: { kind: 'completed', result: { status: 'processed v1' } } });
  });

  it('types the workflow by its body: the input it takes, and its result with placeholders replaced by values', () => {
    expectTypeOf(VideoWorkflow).toEqualTypeOf<WorkflowDefinition<{ videoId: string; source: string }, { status: string }>>();
    expectTypeOf(ThumbnailGenerator).toEqualTypeOf<ActivityDefinition<string, string[]>>();
    expect(VideoWorkflow).toMatchObject({ kind: 'workflow', name: 'UploadWorkflow', version: 3, taskList: 'upload_list' });
  });

  it("schedules the seed's AddSubtitles, called after MetadataProcessing(t.result(), th.result()), only together with MetadataProcessing", () => {
    const workflow = defineWorkflow({ name: 'UploadWorkflow', version: 3 }, (wf) => {
      const [transcode, thumbnails, metadata, subtitles] = [
        wf.activity(Transcoding),
        wf.activity(ThumbnailGenerator),
        wf.activity(MetadataProcessing),
        wf.activity(AddSubtitles),
      ];
      return (input: { videoId: string; source: string }) => {
        const t = transcode(input.source);
        const th = thumbnails(input.source);
        const status = metadata({ videoId: input.videoId, transcoded: t.result(), thumbnails: th.result() });
        subtitles(input.videoId);
        return status.result();
      };
    });
    const run = new Run({ videoId: 'v1', source: 'in.mov' });
    expect(ids(run.decide(workflow))).toEqual(['Transcoding#1', 'ThumbnailGenerator#1']);
    run.complete('ThumbnailGenerator#1', ['in.jpg']);
    expect(ids(run.decide(workflow))).toEqual([]);
    run.complete('Transcoding#1', 'in.mp4');
    expect(ids(run.decide(workflow))).toEqual(['MetadataProcessing#1', 'AddSubtitles#1']);
    run.complete('MetadataProcessing#1', { status: 'done' });
    // The body returned, but AddSubtitles, whose result it never reads, still runs: the run waits for it, as Flowy's.
    expect(run.decide(workflow)).toEqual({ schedule: [] });
    run.complete('AddSubtitles#1', 'v1.srt');
    expect(run.decide(workflow)).toEqual({ schedule: [], outcome: { kind: 'completed', result: { status: 'done' } } });
  });

  it('schedules AddSubtitles with the first two when the body calls it before it waits', () => {
    const workflow = defineWorkflow({ name: 'UploadWorkflow', version: 4 }, (wf) => {
      const [transcode, thumbnails, metadata, subtitles] = [
        wf.activity(Transcoding),
        wf.activity(ThumbnailGenerator),
        wf.activity(MetadataProcessing),
        wf.activity(AddSubtitles),
      ];
      return (input: { videoId: string; source: string }) => {
        const t = transcode(input.source);
        const th = thumbnails(input.source);
        const subs = subtitles(input.videoId);
        const status = metadata({ videoId: input.videoId, transcoded: t, thumbnails: th });
        return { status, subtitles: subs };
      };
    });
    const run = new Run({ videoId: 'v1', source: 'in.mov' });
    expect(ids(run.decide(workflow))).toEqual(['Transcoding#1', 'ThumbnailGenerator#1', 'AddSubtitles#1']);
    run.complete('Transcoding#1', 'in.mp4').complete('ThumbnailGenerator#1', ['in.jpg']);
    // Placeholders in the input: MetadataProcessing is scheduled once both finished, with their values in place.
    const second = run.decide(workflow);
    expect(ids(second)).toEqual(['MetadataProcessing#1']);
    expect(second.schedule[0]!.input).toEqual({ videoId: 'v1', transcoded: 'in.mp4', thumbnails: ['in.jpg'] });
    run.complete('MetadataProcessing#1', { status: 'done' }).complete('AddSubtitles#1', 'v1.srt');
    // Placeholders in the returned value are waited for and replaced by their values.
    expect(run.decide(workflow).outcome).toEqual({ kind: 'completed', result: { status: { status: 'done' }, subtitles: 'v1.srt' } });
  });
});

describe('decide() with placeholders in inputs', () => {
  it('waits for every placeholder at any depth of an input before scheduling the call, and puts their values in its place', () => {
    const workflow = defineWorkflow({ name: 'Nested', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => {
        const a = echo('a');
        const b = echo('b');
        return echo({ list: [1, { deep: a }], b, plain: null });
      };
    });
    const run = new Run(null);
    expect(ids(run.decide(workflow))).toEqual(['Echo#1', 'Echo#2']);
    run.complete('Echo#1', 'A');
    expect(ids(run.decide(workflow))).toEqual([]);
    run.complete('Echo#2', 'B');
    const third = run.decide(workflow);
    expect(third.schedule.map((call) => call.input)).toEqual([{ list: [1, { deep: 'A' }], b: 'B', plain: null }]);
  });

  it('fails a call whose input holds a failed placeholder without scheduling it, with the same TaskError, through a chain of calls', () => {
    const caught: unknown[] = [];
    const workflow = defineWorkflow({ name: 'Propagate', version: 1 }, (wf) => {
      const echo = wf.activity(Echo, { errorHandling: true });
      return () => {
        const a = echo('a');
        const b = echo({ from: a });
        const c = echo([b]);
        const independent = echo('x');
        for (const p of [a, b, c]) {
          try {
            p.result();
          } catch (error) {
            caught.push(error);
          }
        }
        return { failed: [a, b, c].map((p) => p.isFailed()), independent };
      };
    });
    const run = new Run(null);
    expect(ids(run.decide(workflow))).toEqual(['Echo#1', 'Echo#4']);
    run.fail('Echo#1', 'disk full');
    caught.length = 0;
    const second = run.decide(workflow);
    expect(ids(second)).toEqual([]);
    expect(caught).toHaveLength(3);
    expect(caught[0]).toBeInstanceOf(TaskError);
    expect(caught[1]).toBe(caught[0]);
    expect(caught[2]).toBe(caught[0]);
    expect(caught[0]).toMatchObject({
      code: 'ERR_TASK',
      activity: 'Echo',
      callId: 'Echo#1',
      cause: { code: 'ERR_BOOM', message: 'disk full' },
    });
    run.complete('Echo#4', 'X');
    expect(run.decide(workflow).outcome).toEqual({ kind: 'completed', result: { failed: [true, true, true], independent: 'X' } });
  });

  it('leaves a placeholder unfailed by an attempt that will be retried, and fails it on the final failure', () => {
    const workflow = defineWorkflow({ name: 'Retry', version: 1 }, (wf) => {
      const echo = wf.activity(Echo, { retries: 2 });
      return () => echo('a').result();
    });
    const run = new Run(null);
    run.decide(workflow);
    run.fail('Echo#1', 'flaky', false).fail('Echo#1', 'flaky again', false);
    expect(run.decide(workflow)).toEqual({ schedule: [] });
    run.fail('Echo#1', 'gave up', true);
    expect(run.decide(workflow).outcome).toEqual({
      kind: 'failed',
      error: { code: 'ERR_TASK', message: 'Activity "Echo" (call Echo#1) failed: gave up [ERR_BOOM]' },
    });
  });
});

describe('decide() on failures', () => {
  it('throws a TaskError carrying the cause from result(), which the body may handle', () => {
    let seen: unknown;
    const workflow = defineWorkflow({ name: 'Handled', version: 1 }, (wf) => {
      const transcode = wf.activity(Transcoding, { errorHandling: true });
      const fallback = wf.activity(Transcoding, { taskList: 'fast_machines' });
      return (source: string) => {
        try {
          return transcode(source).result();
        } catch (error) {
          seen = error;
          return fallback(source);
        }
      };
    });
    const run = new Run('in.mov');
    run.decide(workflow);
    run.timeOut('Transcoding#1', 'startToClose', false);
    expect(run.decide(workflow)).toEqual({ schedule: [] });
    run.timeOut('Transcoding#1', 'startToClose');
    const second = run.decide(workflow);
    expect(seen).toBeInstanceOf(TaskError);
    expect((seen as TaskError).cause).toEqual({ code: 'ERR_ACTIVITY_TIMEOUT', message: 'timed out on attempt 1: startToClose passed' });
    expect(second.schedule).toMatchObject([{ callId: 'Transcoding#2', taskList: 'fast_machines' }]);
    run.complete('Transcoding#2', 'in.mp4');
    expect(run.decide(workflow).outcome).toEqual({ kind: 'completed', result: 'in.mp4' });
  });

  it('fails the workflow with the reason when the body leaves a TaskError or any other error unhandled', () => {
    const run = new Run({ videoId: 'v1', source: 'in.mov' });
    run.decide(VideoWorkflow);
    run.complete('ThumbnailGenerator#1', []).fail('Transcoding#1', 'codec missing');
    expect(run.decide(VideoWorkflow)).toEqual({
      schedule: [],
      outcome: {
        kind: 'failed',
        error: { code: 'ERR_TASK', message: 'Activity "Transcoding" (call Transcoding#1) failed: codec missing [ERR_BOOM]' },
      },
    });

    const throwing = defineWorkflow({ name: 'Throwing', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => {
        echo('scheduled, then dropped');
        throw new RangeError('no such video');
      };
    });
    expect(decide(throwing, new Run(null).events)).toEqual({
      schedule: [],
      outcome: { kind: 'failed', error: { code: 'ERR_WORKFLOW', message: 'RangeError: no such video' } },
    });
  });

  it('fails the workflow with ERR_WORKFLOW naming the activity for an input JSON cannot hold', () => {
    const workflow = defineWorkflow({ name: 'Dates', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => echo({ when: new Date(0) });
    });
    const { outcome } = decide(workflow, new Run(null).events);
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_WORKFLOW' } });
    expect(outcome?.kind === 'failed' && outcome.error.message).toMatch(
      /^Activity "Echo" input is not JSON: found an instance of Date at \$\.when/,
    );
  });

  it('refuses a result JSON cannot hold with a TypeError naming the activity, from its default serialize', () => {
    expect(() => Echo.serialize.result({ n: 1n })).toThrow(/Activity "Echo" result is not JSON: found a BigInt \(1n\) at \$\.n/);
    expect(() => Echo.serialize.result({ loop: [NaN] })).toThrow(/at \$\.loop\[0\]/);
    expect(Echo.serialize.result({ kept: 1, dropped: undefined })).toEqual({ kept: 1 });
  });
});

describe('decide() with options in three layers', () => {
  it("layers the activity's definition < the proxy's options < wf.options scopes, innermost first, with durations in ms", () => {
    const Even = defineActivity(
      {
        name: 'EvenChecker',
        version: 1,
        taskList: 'math_list',
        heartbeat: '5s',
        scheduleToClose: 60_000,
        scheduleToStart: '2m',
        startToClose: '300s',
      },
      async (n: number) => n % 2 === 0,
    );
    const workflow = defineWorkflow({ name: 'MyParity', version: 1, taskList: 'math_list' }, (wf) => {
      const even = wf.activity(Even, { heartbeat: '5s', startToClose: '60s', scheduleToStart: 100_000, retries: 5 });
      return (n: number) => {
        const plain = even(n);
        const scoped = wf.options({ retries: 2, heartbeat: '10s', taskList: 'other_list' }, () => {
          const outer = even(n + 1);
          const inner = wf.options({ heartbeat: '250ms' }, () => even(n + 2));
          return [outer, inner, even(n + 3)];
        });
        return [plain, ...scoped, even(n + 4)];
      };
    });
    const { schedule } = decide(workflow, new Run(7).events);
    expect(schedule.map((call) => [call.taskList, call.options])).toEqual([
      [
        'math_list',
        { heartbeat: 5000, scheduleToClose: 60_000, scheduleToStart: 100_000, startToClose: 60_000, retries: 5, retryErrors: true },
      ],
      [
        'other_list',
        { heartbeat: 10_000, scheduleToClose: 60_000, scheduleToStart: 100_000, startToClose: 60_000, retries: 2, retryErrors: true },
      ],
      [
        'other_list',
        { heartbeat: 250, scheduleToClose: 60_000, scheduleToStart: 100_000, startToClose: 60_000, retries: 2, retryErrors: true },
      ],
      [
        'other_list',
        { heartbeat: 10_000, scheduleToClose: 60_000, scheduleToStart: 100_000, startToClose: 60_000, retries: 2, retryErrors: true },
      ],
      [
        'math_list',
        { heartbeat: 5000, scheduleToClose: 60_000, scheduleToStart: 100_000, startToClose: 60_000, retries: 5, retryErrors: true },
      ],
    ]);
  });

  it('queues an activity that names no task list on the workflow\'s, or on "default"', () => {
    const body = (wf: WorkflowContext) => {
      const echo = wf.activity(Echo);
      return () => echo(1);
    };
    expect(decide(defineWorkflow({ name: 'W', version: 1, taskList: 'wf_list' }, body), new Run(null).events).schedule[0]!.taskList).toBe(
      'wf_list',
    );
    expect(decide(defineWorkflow({ name: 'W', version: 1 }, body), new Run(null).events).schedule[0]!.taskList).toBe('default');
  });

  it('refuses a bad option with a TypeError naming the activity, the option and the value', () => {
    expect(() => defineActivity({ name: 'Slow', version: 1, startToClose: 'soon' }, async () => null)).toThrow(
      /Activity "Slow": option startToClose must be a duration such as '30s', '5m' or '250ms', or a positive number of milliseconds; found "soon"/,
    );
    expect(() => defineActivity({ name: 'Slow', version: 1, retries: -1 }, async () => null)).toThrow(
      /option retries must be a whole number of at least 0; found -1/,
    );
    expect(() => defineActivity({ name: 'Slow', version: 1, startToclose: '1s' } as never, async () => null)).toThrow(
      /unknown option "startToclose"/,
    );
    const workflow = defineWorkflow({ name: 'BadScope', version: 1 }, (wf) => () => wf.options({ heartbeat: 0 }, () => null));
    expect(decide(workflow, new Run(null).events).outcome).toMatchObject({
      kind: 'failed',
      error: { message: expect.stringMatching(/Workflow "BadScope": wf\.options\(\): option heartbeat/) },
    });
  });
});

describe('decide() on restart', () => {
  it('ends the run as restarted with the new input once the placeholders in it finished', () => {
    const workflow = defineWorkflow({ name: 'Loop', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return (input: { round: number }) => {
        const next = echo(input.round + 1);
        if (input.round < 3) wf.restart({ round: next });
        return input.round;
      };
    });
    const run = new Run({ round: 1 });
    expect(ids(run.decide(workflow))).toEqual(['Echo#1']);
    run.complete('Echo#1', 2);
    expect(run.decide(workflow)).toEqual({ schedule: [], outcome: { kind: 'restarted', input: { round: 2 } } });
    // A history that ends gives its end again, without running the body.
    run.events.push({ type: 'workflow.restarted', at: 9999, input: { round: 2 } });
    expect(decide(workflow, run.events)).toEqual({ schedule: [], outcome: { kind: 'restarted', input: { round: 2 } } });
  });

  it('restarts even when the body catches the restart signal', () => {
    const workflow = defineWorkflow({ name: 'Stubborn', version: 1 }, (wf) => () => {
      try {
        wf.restart('again');
      } catch {
        // swallowed
      }
      return 'finished anyway';
    });
    expect(decide(workflow, new Run(null).events).outcome).toEqual({ kind: 'restarted', input: 'again' });
  });
});

describe('first, wait and finishOrder', () => {
  const Part = defineActivity({ name: 'Part', version: 1 }, async (n: number) => n * 10);
  const race = (wf: WorkflowContext, mode: 'first' | 'wait' | 'finishOrder') => {
    const part = wf.activity(Part, { errorHandling: true });
    return () => {
      const parts = [part(1), part(2), part(3)];
      if (mode === 'first') return wf.first(...parts).callId;
      if (mode === 'wait') {
        try {
          wf.wait(...parts);
          return parts.map((p) => p.result());
        } catch (error) {
          return `caught ${(error as TaskError).callId}`;
        }
      }
      const order: string[] = [];
      // isFailed() reads a failure: the body handled it.
      for (const p of wf.finishOrder(parts)) if (!p.isFailed() || p.isFailed()) order.push(p.callId);
      return order;
    };
  };
  const workflows = {
    first: defineWorkflow({ name: 'First', version: 1 }, (wf) => race(wf, 'first')),
    wait: defineWorkflow({ name: 'Wait', version: 1 }, (wf) => race(wf, 'wait')),
    finishOrder: defineWorkflow({ name: 'FinishOrder', version: 1 }, (wf) => race(wf, 'finishOrder')),
  };
  /** A history where the parts finish in `order` (a negative number fails that part). */
  const finishing = (order: number[], upTo = order.length) => {
    const run = new Run(null);
    run.decide(workflows.first);
    for (const n of order.slice(0, upTo)) {
      if (n < 0) run.fail(`Part#${-n}`, 'bad part');
      else run.complete(`Part#${n}`, n * 10);
    }
    return run.events;
  };

  it("first() waits for one placeholder and returns the one that finished first, by the history's order", () => {
    expect(decide(workflows.first, finishing([3, 1, 2], 0))).toEqual({ schedule: [] });
    // The body returned Part#3, but the run completes only once the other two finished.
    expect(decide(workflows.first, finishing([3, 1, 2], 1))).toEqual({ schedule: [] });
    expect(decide(workflows.first, finishing([3, 1, 2])).outcome).toEqual({ kind: 'completed', result: 'Part#3' });
    expect(decide(workflows.first, finishing([2, 3, 1])).outcome).toEqual({ kind: 'completed', result: 'Part#2' });
    // first() does not read the failure of the one it returns: unread, it fails the run once the body returned.
    expect(decide(workflows.first, finishing([-1, 3])).outcome).toEqual({
      kind: 'failed',
      error: { code: 'ERR_TASK', message: 'Activity "Part" (call Part#1) failed: bad part [ERR_BOOM]' },
    });
  });

  it("wait() waits for each placeholder in argument order and throws the TaskError of the first that failed, as Flowy's", () => {
    expect(decide(workflows.wait, finishing([2, 1, 3], 2))).toEqual({ schedule: [] });
    expect(decide(workflows.wait, finishing([2, 1, 3])).outcome).toEqual({ kind: 'completed', result: [10, 20, 30] });
    // Part#2 failed while Part#1 runs: wait() is still waiting on Part#1.
    expect(decide(workflows.wait, finishing([3, -2, 1], 2))).toEqual({ schedule: [] });
    expect(decide(workflows.wait, finishing([3, -2, 1])).outcome).toEqual({ kind: 'completed', result: 'caught Part#2' });
    // Two failed: wait() throws the first in argument order; the other, never read, fails the run.
    expect(decide(workflows.wait, finishing([-3, -2, 1])).outcome).toEqual({
      kind: 'failed',
      error: { code: 'ERR_TASK', message: 'Activity "Part" (call Part#3) failed: bad part [ERR_BOOM]' },
    });
  });

  it('finishOrder() yields the placeholders in the order they finished, and waits for the rest', () => {
    for (const order of [
      [1, 2, 3],
      [3, 1, 2],
      [2, 3, 1],
      [3, -2, 1],
    ]) {
      const expected = order.map((n) => `Part#${Math.abs(n)}`);
      expect(decide(workflows.finishOrder, finishing(order, 2))).toEqual({ schedule: [] });
      expect(decide(workflows.finishOrder, finishing(order)).outcome).toEqual({ kind: 'completed', result: expected });
    }
  });

  it('works the same as free functions, and first() of nothing is a WorkflowError', () => {
    const workflow = defineWorkflow({ name: 'Free', version: 1 }, (wf) => {
      const part = wf.activity(Part);
      return () => {
        const [a, b, c] = [part(1), part(2), part(3)];
        wait(a, c);
        return { first: first(a, b, c).callId, order: [...finishOrder([b, a, c])].map((p) => p.callId), none: attempt(() => first()) };
      };
    });
    const attempt = (fn: () => unknown) => {
      try {
        fn();
        return 'no error';
      } catch (error) {
        return String(error);
      }
    };
    expect(decide(workflow, finishing([3, 2]))).toEqual({ schedule: [] });
    expect(decide(workflow, finishing([3, 2, 1])).outcome).toEqual({
      kind: 'completed',
      result: { first: 'Part#3', order: ['Part#3', 'Part#2', 'Part#1'], none: 'WorkflowError: first() needs at least one placeholder' },
    });
  });
});

describe('decide() detects non-determinism', () => {
  const scheduledRun = () => {
    const run = new Run({ videoId: 'v1', source: 'in.mov' });
    run.decide(VideoWorkflow);
    return run;
  };

  it('fails the workflow when the history has another version of the activity at a call id', () => {
    const Transcoding2 = defineActivity({ name: 'Transcoding', version: 2 }, async (source: string) => source);
    const changed = defineWorkflow({ name: 'UploadWorkflow', version: 3 }, (wf) => {
      const transcode = wf.activity(Transcoding2);
      return (input: { source: string }) => transcode(input.source).result();
    });
    const { outcome } = decide(changed, scheduledRun().events);
    expect(outcome).toEqual({
      kind: 'failed',
      error: {
        code: 'ERR_NONDETERMINISTIC',
        message: expect.stringContaining(
          'is not deterministic at call Transcoding#1: the history has "Transcoding" version 1 there, the code now calls "Transcoding" version 2',
        ),
      },
    });
  });

  it('fails the workflow when the code passes another input than the history has', () => {
    const changed = defineWorkflow({ name: 'UploadWorkflow', version: 3 }, (wf) => {
      const [transcode, thumbnails] = [wf.activity(Transcoding), wf.activity(ThumbnailGenerator)];
      return (input: { source: string }) => [transcode(input.source), thumbnails(`${input.source}?size=small`)];
    });
    const { outcome } = decide(changed, scheduledRun().events);
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_NONDETERMINISTIC' } });
    expect(outcome?.kind === 'failed' && outcome.error.message).toContain(
      'at call ThumbnailGenerator#1: the history has input "in.mov", the code now passes "in.mov?size=small"',
    );
  });

  it('fails the workflow when the code no longer makes a call the history has', () => {
    const changed = defineWorkflow({ name: 'UploadWorkflow', version: 3 }, (wf) => {
      const thumbnails = wf.activity(ThumbnailGenerator);
      return (input: { source: string }) => thumbnails(input.source);
    });
    const { outcome } = decide(changed, scheduledRun().complete('ThumbnailGenerator#1', []).events);
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_NONDETERMINISTIC' } });
    expect(outcome?.kind === 'failed' && outcome.error.message).toContain(
      'at call Transcoding#1: the history has it ("Transcoding" version 1, input "in.mov"), the code now made no call of "Transcoding"',
    );
  });

  it('reports the divergence even when the body catches the error', () => {
    const changed = defineWorkflow({ name: 'UploadWorkflow', version: 3 }, (wf) => {
      const transcode = wf.activity(Transcoding);
      return () => {
        try {
          transcode('other.mov');
        } catch {
          // swallowed
        }
        return 'done';
      };
    });
    expect(decide(changed, scheduledRun().events).outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_NONDETERMINISTIC' } });
  });

  it('accepts the same input with its object keys in another order (as a store may give them back)', () => {
    const workflow = defineWorkflow({ name: 'Keys', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => echo({ a: 1, b: { c: 2, d: 3 } }).result();
    });
    const events: HistoryEvent[] = [
      { type: 'workflow.started', at: 1, input: null },
      {
        type: 'activity.scheduled',
        at: 2,
        callId: 'Echo#1',
        activity: { name: 'Echo', version: 1 },
        taskList: 'default',
        input: { b: { d: 3, c: 2 }, a: 1 },
        options: { retries: 0 },
      },
    ];
    expect(decide(workflow, events)).toEqual({ schedule: [] });
  });
});

describe('decide() refuses what would break replay', () => {
  it('fails a workflow whose body is an async function, or returns a promise, with a clear error', () => {
    const asyncBody = defineWorkflow({ name: 'Async', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return async () => echo(1).result();
    });
    expect(decide(asyncBody, new Run(null).events)).toEqual({
      schedule: [],
      outcome: {
        kind: 'failed',
        error: {
          code: 'ERR_WORKFLOW',
          message: expect.stringContaining('Workflow "Async": the body is an async function; a workflow body must be synchronous'),
        },
      },
    });
    const promising = defineWorkflow({ name: 'Promising', version: 1 }, () => () => Promise.reject(new Error('never seen')));
    expect(decide(promising, new Run(null).events).outcome).toMatchObject({
      kind: 'failed',
      error: { message: expect.stringContaining('the body returned a promise') },
    });
    expect(() => defineWorkflow({ name: 'AsyncFactory', version: 1 }, (async () => () => 1) as never)).toThrow(
      /the factory is an async function/,
    );
  });

  it('suspends a body that catches the suspend signal and returns anyway', () => {
    const workflow = defineWorkflow({ name: 'Catcher', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => {
        const a = echo(1);
        try {
          return a.result();
        } catch {
          echo(2);
          return 'guessed';
        }
      };
    });
    // Echo#2 came after the signal: it waits for a decision that gets there without one.
    expect(decide(workflow, new Run(null).events)).toEqual({ schedule: [expect.objectContaining({ callId: 'Echo#1' })] });
  });

  it('refuses a placeholder read after its decision ended', () => {
    let leaked: Placeholder<unknown> | undefined;
    const workflow = defineWorkflow({ name: 'Leaky', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => {
        leaked = echo(1);
        return null;
      };
    });
    decide(workflow, new Run(null).events);
    expect(() => leaked!.result()).toThrow(WorkflowError);
    expect(() => leaked!.result()).toThrow(/after its decision of Workflow "Leaky" ended/);
  });

  it('waits, once the body returned, for every call it made (those waiting on an input too), and isFinished() never waits', () => {
    const workflow = defineWorkflow({ name: 'FireAndForget', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return () => {
        const running = echo(1);
        echo(running);
        return { finished: running.isFinished(), failed: running.isFailed() };
      };
    });
    const run = new Run(null);
    expect(ids(run.decide(workflow))).toEqual(['Echo#1']);
    run.complete('Echo#1', 1);
    expect(run.decide(workflow)).toMatchObject({ schedule: [{ callId: 'Echo#2', input: 1 }] });
    expect(run.decide(workflow)).toEqual({ schedule: [] });
    run.complete('Echo#2', 1);
    expect(run.decide(workflow)).toEqual({ schedule: [], outcome: { kind: 'completed', result: { finished: true, failed: false } } });
  });

  it('throws for a history that does not begin with workflow.started', () => {
    expect(() => decide(VideoWorkflow, [])).toThrow(/must begin with a workflow.started event; found an empty history/);
    expect(() =>
      decide(VideoWorkflow, [
        { type: 'workflow.started', at: 1, input: null },
        { type: 'activity.completed', at: 2, callId: 'X#1', result: 1 },
      ]),
    ).toThrow(/history event 1 \(activity.completed\): call X#1 was never scheduled/);
    expect(() =>
      decide(VideoWorkflow, [{ type: 'workflow.started', at: 1, input: null }, { type: 'activity.done', at: 2 } as never]),
    ).toThrow(/history event 1 \(activity.done\): unknown event type/);
  });
});

describe('serialize and deserialize', () => {
  it("uses an activity's own serialize and deserialize for its input and result", () => {
    const NextDay = defineActivity(
      {
        name: 'NextDay',
        version: 1,
        serialize: { input: (date: Date) => date.toISOString(), result: (date: Date) => date.toISOString() },
        deserialize: { input: (data) => new Date(data as string), result: (data) => new Date(data as string) },
      },
      async (date: Date) => new Date(date.getTime() + 86_400_000),
    );
    const workflow = defineWorkflow({ name: 'Calendar', version: 1 }, (wf) => {
      const nextDay = wf.activity(NextDay);
      return () => {
        const day = nextDay(new Date(Date.UTC(2024, 0, 1)));
        const after = nextDay(day);
        return { weekday: after.result().getUTCDay(), isDate: after.result() instanceof Date };
      };
    });
    const run = new Run(null);
    expect(run.decide(workflow).schedule.map((call) => call.input)).toEqual(['2024-01-01T00:00:00.000Z']);
    run.complete('NextDay#1', '2024-01-02T00:00:00.000Z');
    expect(run.decide(workflow).schedule.map((call) => call.input)).toEqual(['2024-01-02T00:00:00.000Z']);
    run.complete('NextDay#2', '2024-01-03T00:00:00.000Z');
    expect(run.decide(workflow).outcome).toEqual({ kind: 'completed', result: { weekday: 3, isDate: true } });
  });

  it('still requires JSON from an overriding serialize', () => {
    const Bad = defineActivity({ name: 'Bad', version: 1, serialize: { result: () => new Map() as never } }, async () => 1);
    expect(() => Bad.serialize.result(1)).toThrow(/Activity "Bad" result is not JSON: found an instance of Map at \$/);
    expect(toJson({ ok: [1, 'two', null] }, 'x')).toEqual({ ok: [1, 'two', null] });
  });
});
