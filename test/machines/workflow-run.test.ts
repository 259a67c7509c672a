import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { workflowRunMachine, type DecideArgs, type DecideOutput } from '../../machines/workflow-run.js';
import { StoreError } from '../../src/kernel/errors.js';
import { flush } from '../helpers/wait.js';

/** A run whose decisions are answered, one by one, by the test. */
function run(answers: Array<DecideOutput | Error>) {
  const calls: string[] = [];
  const decide = ({ context, self }: DecideArgs) => {
    calls.push(context.runId);
    const answer = answers.shift();
    void Promise.resolve().then(() => {
      if (!answer) self.send({ type: 'decision.failed', error: new Error('no more answers') });
      else if (answer instanceof Error) self.send({ type: 'decision.failed', error: answer });
      else self.send({ type: 'decision.made', output: answer });
    });
  };
  const clock = new SimulatedClock();
  const actor = createActor(workflowRunMachine.provide({ actions: { decide } }), {
    input: { runId: 'r1', workflow: { name: 'W', version: 1 } },
    clock,
  });
  actor.start();
  return { actor, calls, clock, settled: flush };
}

describe('the workflow-run machine', () => {
  it('decides, waits for an activity to finish, decides again, and ends completed with the result', async () => {
    const r = run([
      { scheduled: 2, pending: 2 },
      { scheduled: 0, pending: 0, outcome: { kind: 'completed', result: 42 } },
    ]);
    await r.settled();
    expect(r.actor.getSnapshot().value).toBe('waiting');
    expect(r.actor.getSnapshot().context.pending).toBe(2);
    r.actor.send({ type: 'activity.finished', callId: 'A#1' });
    await r.settled();
    expect(r.actor.getSnapshot().status).toBe('done');
    expect(r.actor.getSnapshot().value).toBe('completed');
    expect(r.actor.getSnapshot().output).toEqual({ outcome: { kind: 'completed', result: 42 } });
    expect(r.calls).toHaveLength(2);
  });

  it('decides again at once when an activity finished while it was deciding', async () => {
    const r = run([
      { scheduled: 1, pending: 1 },
      { scheduled: 0, pending: 0, outcome: { kind: 'failed', error: { code: 'ERR_TASK', message: 'boom' } } },
    ]);
    r.actor.send({ type: 'activity.finished', callId: 'A#1' });
    await r.settled();
    expect(r.actor.getSnapshot().value).toBe('failed');
    expect(r.calls).toHaveLength(2);
  });

  it('tries a decision again after a delay when the store is down, and fails on anything else', async () => {
    const r = run([
      new StoreError('ERR_STORE_UNAVAILABLE', 'redis down'),
      { scheduled: 0, pending: 0, outcome: { kind: 'restarted', input: 1, next: 'r2' } },
    ]);
    await r.settled();
    expect(r.actor.getSnapshot().value).toBe('retrying');
    expect(r.actor.getSnapshot().context.lastError).toEqual({ code: 'ERR_STORE_UNAVAILABLE', message: 'redis down' });
    r.clock.increment(1000);
    await r.settled();
    expect(r.actor.getSnapshot().value).toBe('restarted');

    const broken = run([new Error('history is corrupt')]);
    await broken.settled();
    expect(broken.actor.getSnapshot().value).toBe('failed');
    expect(broken.actor.getSnapshot().output).toEqual({
      outcome: { kind: 'failed', error: { code: 'ERR_WORKFLOW', message: 'history is corrupt' } },
    });
  });
});
