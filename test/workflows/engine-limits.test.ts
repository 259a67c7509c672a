import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createWorkflowEngine, listOpen, type WorkflowEngineOptions } from '../../src/workflows/engine.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { manualClock } from '../helpers/manual-clock.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { until } from '../helpers/wait.js';
import { workflowStoreIn } from '../helpers/workflow-store.js';

const cleanups = cleanupsAfterEach();
const log = pino({ level: 'silent' });

function storeIn(folder?: string) {
  return workflowStoreIn(cleanups, log, folder).store;
}

function engineOf(options: Omit<WorkflowEngineOptions, 'log'>) {
  const engine = createWorkflowEngine({ ...options, log });
  cleanups.push(() => engine.close(100));
  return engine;
}

/** An activity that runs until its signal aborts, noting that it started and why it stopped. */
function hanging() {
  const seen = { started: 0, aborted: [] as unknown[] };
  const Hang = defineActivity({ name: 'Hang', version: 1 }, (_input: null, ctx) => {
    seen.started++;
    return new Promise((_, reject) =>
      ctx.signal.addEventListener('abort', () => {
        seen.aborted.push(ctx.signal.reason);
        reject(ctx.signal.reason as Error);
      }),
    );
  });
  const Slow = defineWorkflow({ name: 'Slow', version: 1, duration: '1m' }, (wf) => {
    const hang = wf.activity(Hang);
    return () => hang(null).result();
  });
  return { seen, Hang, Slow };
}

describe('workflow duration, on an injected clock', () => {
  it("fails a run past its definition's duration with ERR_WORKFLOW_TIMEOUT and abandons its running call", async () => {
    const clock = manualClock(1_000_000);
    const { seen, Hang, Slow } = hanging();
    const engine = engineOf({ workflows: [Slow], activities: [Hang], store: storeIn(), executor: { clock } });
    const runId = await engine.start('Slow', null);
    await until(() => seen.started === 1);
    await clock.advance(59_999);
    expect((await engine.status(runId))?.state).toBe('running');
    await clock.advance(1);
    const record = await engine.ended(runId);
    expect(record.state).toBe('failed');
    expect(record.error).toEqual({
      code: 'ERR_WORKFLOW_TIMEOUT',
      message: `workflow Slow run ${runId} passed its workflow duration of 1m (started 1970-01-01T00:16:40.000Z); the calls still running are abandoned`,
    });
    expect(record.deadline).toBe(1_060_000);
    await until(() => seen.aborted.length === 1);
  });

  it('takes [Workflow] workflow duration for a definition without one, and fails at resume a run whose duration passed while no daemon ran', async () => {
    const clock = manualClock(0);
    const { seen, Hang } = hanging();
    const Plain = defineWorkflow({ name: 'Plain', version: 1 }, (wf) => {
      const hang = wf.activity(Hang);
      return () => hang(null).result();
    });
    const store = storeIn();
    const first = createWorkflowEngine({
      workflows: [Plain],
      activities: [Hang],
      store,
      log,
      executor: { clock },
      limits: { durationMs: 30_000 },
    });
    const runId = await first.start('Plain', null);
    await until(() => seen.started === 1);
    expect((await first.status(runId))?.deadline).toBe(30_000);
    await first.close(10);
    clock.jump(45_000);
    const second = engineOf({ workflows: [Plain], activities: [Hang], store, executor: { clock } });
    expect(await second.resume()).toBe(1);
    const record = await second.ended(runId);
    expect(record.error?.code).toBe('ERR_WORKFLOW_TIMEOUT');
    expect(record.error?.message).toContain('passed its workflow duration of 30s');
    expect(await listOpen(store)).toEqual([]);
  });
});

describe('size limits in the engine', () => {
  it("fails a call whose result is over max result size, and the run with that call's TaskError", async () => {
    const Big = defineActivity({ name: 'Big', version: 1 }, async () => 'x'.repeat(100));
    const Uses = defineWorkflow({ name: 'Uses', version: 1 }, (wf) => {
      const big = wf.activity(Big);
      return () => big(null).result();
    });
    const engine = engineOf({ workflows: [Uses], activities: [Big], store: storeIn(), limits: { maxResultSize: 50 } });
    const runId = await engine.start('Uses', null);
    const record = await engine.ended(runId);
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('ERR_TASK');
    expect(record.error?.message).toContain(
      `workflow run ${runId}: the result of call Big#1 is 102 characters of JSON, over the limit of 50 ([Workflow] max result size)`,
    );
    expect(record.history.find((e) => e.type === 'activity.failed')).toMatchObject({ attempt: 1, final: true });
  });

  it('refuses to start a run whose input is over max input size, and records nothing', async () => {
    const { Hang, Slow } = hanging();
    const store = storeIn();
    const engine = engineOf({ workflows: [Slow], activities: [Hang], store, limits: { maxInputSize: 10 } });
    await expect(engine.start('Slow', 'x'.repeat(20), { runId: 'r1' })).rejects.toThrow(
      'workflow Slow run r1: its input is 22 characters of JSON, over the limit of 10 ([Workflow] max input size)',
    );
    expect(await listOpen(store)).toEqual([]);
  });
});
