import { describe, expect, it } from 'vitest';
import { ChildWorkflowError } from '../../src/workflows/child-workflow.js';
import { decide } from '../../src/workflows/decide.js';
import { WorkflowError } from '../../src/workflows/errors.js';
import { scheduledEvent, type HistoryEvent } from '../../src/workflows/history.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';

const Encode = defineWorkflow({ name: 'Encode', version: 2 }, () => (video: string) => `${video}.mp4`);
const Notify = defineActivity({ name: 'Notify', version: 1 }, async (text: string) => text);

/** A parent that starts two children at once and notifies on both results. */
const Parent = defineWorkflow({ name: 'Parent', version: 1 }, (wf) => {
  const encode = wf.workflow(Encode, { duration: '10m' });
  const notify = wf.activity(Notify);
  return (videos: string[]) => {
    const encoded = videos.map((video) => encode(video));
    return notify(encoded.map((p) => p.result()).join(',')).result();
  };
});

const started = (input: unknown): HistoryEvent[] => [{ type: 'workflow.started', at: 1, input: input as never }];
const child = (callId: string, input: string, runId: string): HistoryEvent => ({
  type: 'child.started',
  at: 2,
  callId,
  workflow: { name: 'Encode', version: 2 },
  input,
  durationMs: 600_000,
  runId,
});

describe('child workflows in decide(): a history in, the decisions out', () => {
  it('starts every child whose input is ready in the first decision, with the proxy duration, and schedules no activity yet', () => {
    const decision = decide(Parent, started(['a', 'b']));
    expect(decision.schedule).toEqual([]);
    expect(decision.children).toEqual([
      { callId: 'Encode#1', workflow: { name: 'Encode', version: 2 }, input: 'a', durationMs: 600_000 },
      { callId: 'Encode#2', workflow: { name: 'Encode', version: 2 }, input: 'b', durationMs: 600_000 },
    ]);
    expect(decision.outcome).toBeUndefined();
  });

  it('waits while a child runs, and goes on with the results once both completed', () => {
    const events = [...started(['a', 'b']), child('Encode#1', 'a', 'r1'), child('Encode#2', 'b', 'r2')];
    expect(decide(Parent, events)).toEqual({ schedule: [] });
    events.push({ type: 'child.completed', at: 3, callId: 'Encode#2', runId: 'r2', result: 'b.mp4' });
    expect(decide(Parent, events)).toEqual({ schedule: [] });
    events.push({ type: 'child.completed', at: 4, callId: 'Encode#1', runId: 'r1', result: 'a.mp4' });
    expect(decide(Parent, events).schedule.map((call) => [call.callId, call.input])).toEqual([['Notify#1', 'a.mp4,b.mp4']]);
  });

  it("fails the parent with the child's error as an activity's (ERR_TASK), naming the child's call and run", () => {
    const events = [...started(['a']), child('Encode#1', 'a', 'r1')];
    events.push({
      type: 'child.failed',
      at: 3,
      callId: 'Encode#1',
      runId: 'r1',
      error: { code: 'ERR_WORKFLOW_TIMEOUT', message: 'too slow' },
    });
    expect(decide(Parent, events).outcome).toEqual({
      kind: 'failed',
      error: { code: 'ERR_TASK', message: 'Workflow "Encode" (call Encode#1, child run r1) failed: too slow [ERR_WORKFLOW_TIMEOUT]' },
    });
  });

  it('lets the body catch a failed child as a TaskError (a ChildWorkflowError with the run id)', () => {
    let caught: unknown;
    const Careful = defineWorkflow({ name: 'Careful', version: 1 }, (wf) => {
      const encode = wf.workflow<string, string>('Encode', 2);
      return () => {
        try {
          return encode('a').result();
        } catch (error) {
          caught = error;
          return 'fallback';
        }
      };
    });
    const events = [...started(null), child('Encode#1', 'a', 'r9')];
    events.push({ type: 'child.failed', at: 3, callId: 'Encode#1', runId: 'r9', error: { code: 'ERR_BOOM', message: 'boom' } });
    expect(decide(Careful, events).outcome).toEqual({ kind: 'completed', result: 'fallback' });
    expect(caught).toBeInstanceOf(ChildWorkflowError);
    expect(caught).toMatchObject({ code: 'ERR_TASK', runId: 'r9', callId: 'Encode#1', cause: { code: 'ERR_BOOM' } });
  });

  it('fails with ERR_NONDETERMINISTIC when the code starts another workflow, input, or an activity where the history has a child', () => {
    const other = [...started(['a']), { ...child('Encode#1', 'a', 'r1'), workflow: { name: 'Encode', version: 1 } } as HistoryEvent];
    expect(decide(Parent, other).outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_NONDETERMINISTIC' } });
    const input = [...started(['a']), child('Encode#1', 'z', 'r1')];
    expect(decide(Parent, input).outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_NONDETERMINISTIC' } });
    const EncodeActivity = defineActivity({ name: 'Encode', version: 2 }, async () => null);
    const Calls = defineWorkflow({ name: 'Calls', version: 1 }, (wf) => {
      const encode = wf.activity(EncodeActivity);
      return () => encode(null).result();
    });
    const events = [...started(null), child('Encode#1', 'a', 'r1')];
    expect(decide(Calls, events).outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_NONDETERMINISTIC' } });
    const dropped = [...started([]), child('Encode#1', 'a', 'r1')];
    expect(decide(Parent, dropped).outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_NONDETERMINISTIC' } });
  });

  it('counts children in the rate limit and checks their input size', () => {
    const decision = decide(Parent, started(['a', 'b', 'c']), { rateLimit: 2 });
    expect(decision.children?.map((c) => c.callId)).toEqual(['Encode#1', 'Encode#2']);
    expect(decide(Parent, started(['x'.repeat(30)]), { maxInputSize: 20 }).outcome).toMatchObject({
      kind: 'failed',
      error: { code: 'ERR_WORKFLOW_SIZE', message: expect.stringContaining('the input of child Encode#1 is 32 characters') },
    });
  });

  it('refuses a proxy of something that is not a workflow, and an unknown option', () => {
    const Bad = defineWorkflow({ name: 'Bad', version: 1 }, (wf) => {
      wf.workflow({ name: '', version: 1 });
      return () => null;
    });
    expect(() => decide(Bad, started(null))).not.toThrow();
    expect(decide(Bad, started(null)).outcome).toMatchObject({ kind: 'failed', error: { code: 'ERR_WORKFLOW' } });
    const Unknown = defineWorkflow({ name: 'Unknown', version: 1 }, (wf) => {
      wf.workflow(Encode, { retries: 2 } as never);
      return () => null;
    });
    expect(decide(Unknown, started(null)).outcome).toMatchObject({
      kind: 'failed',
      error: { code: 'ERR_WORKFLOW', message: expect.stringContaining('unknown option "retries"') },
    });
    expect(new WorkflowError('x').code).toBe('ERR_WORKFLOW');
  });

  it('keeps an activity call and a child of other names apart, both scheduled in one decision', () => {
    const Both = defineWorkflow({ name: 'Both', version: 1 }, (wf) => {
      const encode = wf.workflow(Encode);
      const notify = wf.activity(Notify);
      return () => [encode('a'), notify('n')];
    });
    const decision = decide(Both, started(null));
    expect(decision.schedule.map((c) => c.callId)).toEqual(['Notify#1']);
    expect(decision.children?.map((c) => c.callId)).toEqual(['Encode#1']);
    const events = [...started(null), child('Encode#1', 'a', 'r1'), scheduledEvent({ ...decision.schedule[0]! }, 3)];
    expect(decide(Both, events)).toEqual({ schedule: [] });
  });
});
