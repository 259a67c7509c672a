import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, type Decision } from '../../src/workflows/decide.js';
import { WorkflowError } from '../../src/workflows/errors.js';
import { scheduledEvent, type HistoryEvent, type JsonValue } from '../../src/workflows/history.js';
import { DEFAULT_LIMITS, WorkflowSizeError, checkSize, newRun } from '../../src/workflows/limits.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';

const Task = defineActivity({ name: 'task', version: 1 }, async (n: number) => n);
const Echo = defineActivity({ name: 'echo', version: 1 }, async (text: string) => text);

/** Flowy's Parallel case: n independent tasks. */
const parallel = (rateLimit?: number) =>
  defineWorkflow({ name: 'Parallel', version: 1, ...(rateLimit === undefined ? {} : { rateLimit }) }, (wf) => {
    const task = wf.activity(Task);
    return (n: number) => Array.from({ length: n }, (_, i) => task(i));
  });

function started(input: JsonValue): HistoryEvent[] {
  return [{ type: 'workflow.started', at: 1, input }];
}
function record(events: HistoryEvent[], decision: Decision): HistoryEvent[] {
  for (const call of decision.schedule) events.push(scheduledEvent(call, events.length + 1));
  return events;
}
const ids = (decision: Decision) => decision.schedule.map((call) => call.callId);

describe('the rate limit, as Flowy rate_limit: at most that many new calls a decision', () => {
  it("schedules 3 of 4 parallel tasks with a definition's rateLimit of 3 (Flowy's ParallelRL case), and the 4th once one finished", () => {
    const events = started(4);
    const first = decide(parallel(3), events);
    expect(ids(first)).toEqual(['task#1', 'task#2', 'task#3']);
    record(events, first);
    events.push({ type: 'activity.completed', at: 10, callId: 'task#2', result: 1 });
    expect(ids(decide(parallel(3), events))).toEqual(['task#4']);
  });

  it("takes [Workflow] rate limit when the definition gives none, and Flowy's 64 by default", () => {
    expect(ids(decide(parallel(), started(4), { rateLimit: 2 }))).toEqual(['task#1', 'task#2']);
    expect(decide(parallel(), started(100)).schedule).toHaveLength(64);
    expect(DEFAULT_LIMITS.rateLimit).toBe(64);
    expect(ids(decide(parallel(1), started(4), { rateLimit: 2 }))).toEqual(['task#1']);
  });

  it('refuses a rateLimit that is not a whole number of at least 1', () => {
    expect(() => parallel(0)).toThrow(WorkflowError);
    expect(() => parallel(1.5)).toThrow(/rateLimit must be a whole number of at least 1; found 1.5/);
  });
});

describe('input and result size limits', () => {
  const Big = defineWorkflow({ name: 'Big', version: 1 }, (wf) => {
    const echo = wf.activity(Echo);
    return (size: number) => {
      try {
        return echo('x'.repeat(size)).result();
      } catch {
        return 'caught';
      }
    };
  });

  it('fails the run naming the run, the call, the size and the limit when a call input is too large, even when the body catches it', () => {
    const decision = decide(Big, started(50), { maxInputSize: 40, runId: 'r1' });
    expect(decision.schedule).toEqual([]);
    expect(decision.outcome).toEqual({
      kind: 'failed',
      error: {
        code: 'ERR_WORKFLOW_SIZE',
        message:
          'Workflow "Big" run r1: the input of call echo#1 is 52 characters of JSON, over the limit of 40 ([Workflow] max input size)',
      },
    });
    expect(ids(decide(Big, started(38), { maxInputSize: 40 }))).toEqual(['echo#1']);
  });

  it('fails a run whose result is over max result size, and keeps one at the limit', () => {
    const Returns = defineWorkflow({ name: 'Returns', version: 1 }, () => (size: number) => 'y'.repeat(size));
    expect(decide(Returns, started(30), { maxResultSize: 31 }).outcome).toMatchObject({
      kind: 'failed',
      error: { code: 'ERR_WORKFLOW_SIZE', message: expect.stringContaining('the result is 32 characters of JSON, over the limit of 31') },
    });
    expect(decide(Returns, started(29), { maxResultSize: 31 }).outcome).toEqual({ kind: 'completed', result: 'y'.repeat(29) });
  });

  it('checks the input of wf.restart() as an input', () => {
    const Again = defineWorkflow({ name: 'Again', version: 1 }, (wf) => (size: number) => wf.restart('z'.repeat(size)));
    expect(decide(Again, started(100), { maxInputSize: 50 }).outcome).toMatchObject({
      kind: 'failed',
      error: { code: 'ERR_WORKFLOW_SIZE' },
    });
    expect(decide(Again, started(10), { maxInputSize: 50 }).outcome).toEqual({ kind: 'restarted', input: 'z'.repeat(10) });
  });

  it('refuses a run input over max input size at start, naming the workflow, the run and the size, and sets its deadline', () => {
    const limits = { ...DEFAULT_LIMITS, maxInputSize: 10 };
    expect(() => newRun({ name: 'Big', version: 1 }, 'r2', 'x'.repeat(20), 0, limits)).toThrow(WorkflowSizeError);
    expect(() => newRun({ name: 'Big', version: 1 }, 'r2', 'x'.repeat(20), 0, limits)).toThrow(
      'workflow Big run r2: its input is 22 characters of JSON, over the limit of 10 ([Workflow] max input size)',
    );
    expect(newRun({ name: 'Big', version: 1 }, 'r3', 'ok', 5000, limits).deadline).toBe(5000 + 3_600_000);
    expect(newRun({ name: 'Big', version: 1, durationMs: 60_000 }, 'r3', 'ok', 5000, limits).deadline).toBe(65_000);
  });
});

describe("a workflow's duration", () => {
  it('takes a duration or ms and refuses others', () => {
    expect(defineWorkflow({ name: 'D', version: 1, duration: '2h' }, () => () => null).durationMs).toBe(7_200_000);
    expect(defineWorkflow({ name: 'D', version: 1, duration: 500 }, () => () => null).durationMs).toBe(500);
    expect(() => defineWorkflow({ name: 'D', version: 1, duration: 'soon' }, () => () => null)).toThrow(/duration must be a duration/);
  });
});

describe('checkSize', () => {
  it('refuses a value exactly when its JSON is longer than the limit, scalars and escaped strings included', () => {
    const json = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>;
    const strings = fc.string({ unit: fc.constantFrom('a', '"', '\\', '\u0001', '\u2028', 'é') });
    fc.assert(
      fc.property(fc.oneof(json, strings), fc.nat(60), (value, limit) => {
        const size = JSON.stringify(value).length;
        const limits = { maxInputSize: limit, maxResultSize: limit };
        if (size > limit) expect(() => checkSize(value, 'the value', limits, 'input')).toThrow(WorkflowSizeError);
        else expect(() => checkSize(value, 'the value', limits, 'input')).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });

  it('serialises a number whose JSON could pass a small limit: -0.0000012345678901234567 is 25 characters', () => {
    const limits = { maxInputSize: 24, maxResultSize: 24 };
    expect(() => checkSize(-0.0000012345678901234567, 'n', limits, 'input')).toThrow(WorkflowSizeError);
    expect(() => checkSize(-0.0000012345678901234567, 'n', { maxInputSize: 25, maxResultSize: 25 }, 'input')).not.toThrow();
  });

  it('makes the name of what was checked only when it refuses', () => {
    let made = 0;
    const what = () => `call ${++made}`;
    checkSize({ a: 'short' }, what, DEFAULT_LIMITS, 'result');
    expect(made).toBe(0);
    expect(() => checkSize('x'.repeat(40), what, { maxInputSize: 10, maxResultSize: 10 }, 'result')).toThrow(
      'call 1 is 42 characters of JSON, over the limit of 10 ([Workflow] max result size)',
    );
  });
});
