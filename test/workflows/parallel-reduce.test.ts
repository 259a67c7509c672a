import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, type Decision } from '../../src/workflows/decide.js';
import { WorkflowError } from '../../src/workflows/errors.js';
import { scheduledEvent, type HistoryEvent, type JsonValue } from '../../src/workflows/history.js';
import { parallelReduce } from '../../src/workflows/parallel-reduce.js';
import { defineActivity, defineWorkflow, type Placeholder } from '../../src/workflows/workflow-api.js';

const Task = defineActivity({ name: 'task', version: 1 }, async (n: number) => n);
const Red = defineActivity({ name: 'red', version: 1 }, async ([a, b]: [number, number]) => a + b);

/** Flowy's ParallelReduce case: three tasks, reduced by `red`. */
const ParallelReduce = defineWorkflow({ name: 'ParallelReduce', version: 1 }, (wf) => {
  const task = wf.activity(Task);
  const red = wf.activity(Red);
  return () => wf.parallelReduce((a, b) => red([a, b]), [task(0), task(1), task(2)]);
});

/** Flowy's ParallelReduceCombined case: one task and three plain values. */
const ParallelReduceCombined = defineWorkflow({ name: 'ParallelReduceCombined', version: 1 }, (wf) => {
  const task = wf.activity(Task);
  const red = wf.activity(Red);
  return () => wf.parallelReduce<number>((a, b) => red([a, b]), [task(0), 1, 2, 3]);
});

/** A history as Flowy's cases give one: the calls scheduled, and results in the order they came. */
function history(scheduled: Array<[string, JsonValue]>, results: Array<[string, JsonValue]>): HistoryEvent[] {
  const events: HistoryEvent[] = [{ type: 'workflow.started', at: 1, input: null }];
  for (const [callId, input] of scheduled) {
    const name = callId.split('#')[0]!;
    events.push(
      scheduledEvent({ callId, activity: { name, version: 1 }, taskList: 'default', input, options: { retries: 0 } }, events.length + 1),
    );
  }
  for (const [callId, result] of results) events.push({ type: 'activity.completed', at: events.length + 1, callId, result });
  return events;
}

const schedule = (decision: Decision) => decision.schedule.map((call) => [call.callId, call.input]);
const tasks: Array<[string, JsonValue]> = [
  ['task#1', 0],
  ['task#2', 1],
  ['task#3', 2],
];

describe('parallelReduce() as Flowy parallel_reduce, a history in and the decisions out', () => {
  it('schedules nothing to reduce while every item runs', () => {
    expect(schedule(decide(ParallelReduce, history(tasks, [])))).toEqual([]);
  });

  it('schedules nothing with only one result in', () => {
    expect(schedule(decide(ParallelReduce, history(tasks, [['task#1', 1]])))).toEqual([]);
  });

  it('reduces the first two results in the order they finished', () => {
    const inOrder = history(tasks, [
      ['task#1', 1],
      ['task#2', 2],
    ]);
    expect(schedule(decide(ParallelReduce, inOrder))).toEqual([['red#1', [1, 2]]]);
    const reversed = history(tasks, [
      ['task#2', 2],
      ['task#1', 1],
    ]);
    expect(schedule(decide(ParallelReduce, reversed))).toEqual([['red#1', [2, 1]]]);
  });

  it('reduces the first step with the last item, then completes with the second step', () => {
    const events = history(
      [...tasks, ['red#1', [2, 1]]],
      [
        ['task#2', 2],
        ['task#1', 1],
        ['red#1', 3],
        ['task#3', 10],
      ],
    );
    expect(schedule(decide(ParallelReduce, events))).toEqual([['red#2', [3, 10]]]);
    const done = history(
      [...tasks, ['red#1', [2, 1]], ['red#2', [3, 10]]],
      [
        ['task#2', 2],
        ['task#1', 1],
        ['red#1', 3],
        ['task#3', 10],
        ['red#2', 13],
      ],
    );
    expect(decide(ParallelReduce, done).outcome).toEqual({ kind: 'completed', result: 13 });
  });

  it('pairs plain values at once and keeps the odd one for the first placeholder to finish', () => {
    const first = decide(ParallelReduceCombined, history([], []));
    expect(schedule(first)).toEqual([
      ['task#1', 0],
      ['red#1', [1, 2]],
    ]);
    const later = history(
      [
        ['task#1', 0],
        ['red#1', [1, 2]],
      ],
      [['task#1', 5]],
    );
    expect(schedule(decide(ParallelReduceCombined, later))).toEqual([['red#2', [3, 5]]]);
  });

  it('fails with the error of a failed item, without scheduling the steps that need it', () => {
    const events = history(tasks, [['task#2', 2]]);
    events.push({
      type: 'activity.failed',
      at: 99,
      callId: 'task#1',
      attempt: 1,
      error: { code: 'ERR_BOOM', message: 'boom' },
      final: true,
    });
    events.push({ type: 'activity.completed', at: 100, callId: 'task#3', result: 3 });
    const decision = decide(ParallelReduce, events);
    expect(decision.schedule).toEqual([]);
    expect(decision.outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_TASK' } });
    expect((decision.outcome as { error: { message: string } }).error.message).toContain('boom');
  });

  it('gives one item back as it is, and refuses no items', () => {
    const One = defineWorkflow({ name: 'One', version: 1 }, (wf) => () => wf.parallelReduce<number>(() => 0, [7]));
    expect(decide(One, history([], [])).outcome).toEqual({ kind: 'completed', result: 7 });
    expect(() => parallelReduce(() => 0, [])).toThrow(WorkflowError);
    expect(parallelReduce<number>((a, b) => (a as number) + (b as number), [1, 2, 3], 4).result()).toBe(10);
  });
});

describe('parallelReduce() over every finish order', () => {
  it('calls fn n-1 times, never diverges from its history, and sums every item', () => {
    const Sum = defineWorkflow({ name: 'Sum', version: 1 }, (wf) => {
      const task = wf.activity(Task);
      const red = wf.activity(Red);
      return (n: number) =>
        wf.parallelReduce(
          (a: Placeholder<number> | number, b) => red([a, b]),
          Array.from({ length: n }, (_, i) => task(i)),
        );
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.array(fc.nat(), { minLength: 40, maxLength: 40 }), (n, picks) => {
        const events: HistoryEvent[] = [{ type: 'workflow.started', at: 1, input: n }];
        const running: Array<{ callId: string; input: JsonValue }> = [];
        for (let step = 0; ; step++) {
          const decision = decide(Sum, events);
          for (const call of decision.schedule) {
            events.push(scheduledEvent(call, events.length + 1));
            running.push({ callId: call.callId, input: call.input });
          }
          if (decision.outcome) {
            expect(decision.outcome).toEqual({ kind: 'completed', result: (n * (n - 1)) / 2 });
            expect(events.filter((e) => e.type === 'activity.scheduled' && e.callId.startsWith('red#'))).toHaveLength(n - 1);
            return;
          }
          // Any running call may finish next.
          const [done] = running.splice((picks[step % picks.length] ?? 0) % running.length, 1);
          const input = done!.input;
          const result = Array.isArray(input) ? (input as number[]).reduce((a, b) => a + b, 0) : input;
          events.push({ type: 'activity.completed', at: events.length + 1, callId: done!.callId, result });
        }
      }),
      { numRuns: 200 },
    );
  });
});
