import { SpanStatusCode, trace } from '@opentelemetry/api';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowdError } from '../../src/kernel/errors.js';
import { createWorkflowEngine } from '../../src/workflows/engine.js';
import { createWorkflowTracing } from '../../src/workflows/tracing.js';
import type { ActivityExecutor, ActivityReport } from '../../src/workflows/executor.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';
import { until } from '../helpers/wait.js';
import { registerTracing } from '../helpers/tracing.js';
import { workflowStoreIn } from '../helpers/workflow-store.js';

const cleanups = cleanupsAfterEach();
const log = pino({ level: 'silent' });

let tracing: ReturnType<typeof registerTracing> | undefined;
afterEach(async () => {
  await tracing?.reset();
  tracing = undefined;
});

function engineWith(
  workflows: Parameters<typeof createWorkflowEngine>[0]['workflows'],
  activities: Parameters<typeof createWorkflowEngine>[0]['activities'],
) {
  const { store } = workflowStoreIn(cleanups, log);
  const engine = createWorkflowEngine({ workflows, activities, store, log, executor: { retryDelayMs: 1, retryMaxDelayMs: 1 } });
  cleanups.push(() => engine.close(100));
  return engine;
}

describe('workflow tracing', () => {
  it('makes a flowd.workflow span for a run and a flowd.activity child for each attempt of each call', async () => {
    tracing = registerTracing();
    let calls = 0;
    const Flaky = defineActivity({ name: 'Flaky', version: 1, retries: 1 }, async (n: number) => {
      if (++calls === 1) throw new FlowdError('ERR_HTTP', 'not yet');
      return n + 1;
    });
    const Twice = defineWorkflow({ name: 'Twice', version: 2 }, (wf) => {
      const flaky = wf.activity(Flaky);
      return (input: number) => flaky(input);
    });
    const engine = engineWith([Twice], [Flaky]);
    const runId = await engine.start('Twice', 1);
    expect(await engine.ended(runId)).toMatchObject({ state: 'completed', result: 2 });
    // Waiters hear of the end just before the run's actor reaches its final state, which ends its span.
    await until(() => tracing!.named('flowd.workflow').length === 1, { what: 'the run span' });

    const [run] = tracing.named('flowd.workflow');
    expect(run!.attributes).toMatchObject({
      'flowd.workflow.run_id': runId,
      'flowd.workflow.name': 'Twice',
      'flowd.workflow.version': '2',
      'flowd.outcome': 'completed',
    });
    const attempts = tracing
      .named('flowd.activity')
      .sort((a, b) => Number(a.attributes['flowd.attempt']) - Number(b.attributes['flowd.attempt']));
    expect(
      attempts.map((span) => [
        span.attributes['flowd.activity.name'],
        span.attributes['flowd.attempt'],
        span.attributes['flowd.outcome'],
        span.attributes['flowd.error.code'],
      ]),
    ).toEqual([
      ['Flaky', 1, 'retrying', 'ERR_HTTP'],
      ['Flaky', 2, 'completed', undefined],
    ]);
    expect(attempts[0]!.status.code).toBe(SpanStatusCode.ERROR);
    for (const span of attempts) expect(tracing.parentOf(span)).toBe(run);
  });

  it("runs the activity's function inside its attempt's span, so a span the function starts is the attempt's child", async () => {
    tracing = registerTracing({ contextManager: true });
    const Fetch = defineActivity({ name: 'Fetch', version: 1 }, async () => {
      trace.getTracer('app').startSpan('app.fetch').end();
      return 'ok';
    });
    const Get = defineWorkflow({ name: 'Get', version: 1 }, (wf) => {
      const fetch = wf.activity(Fetch);
      return () => fetch();
    });
    const engine = engineWith([Get], [Fetch]);
    expect(await engine.ended(await engine.start('Get', null))).toMatchObject({ state: 'completed', result: 'ok' });
    await until(() => tracing!.named('flowd.workflow').length === 1, { what: 'the run span' });
    const [own] = tracing.named('app.fetch');
    const [attempt] = tracing.named('flowd.activity');
    expect(tracing.parentOf(own!)).toBe(attempt);
    expect(tracing.parentOf(attempt!)).toBe(tracing.named('flowd.workflow')[0]);
  });

  it('makes no run span for a report that comes after its run ended here (a late worker), and no attempt span', async () => {
    tracing = registerTracing();
    let late: ActivityReport | undefined;
    const runner: ActivityExecutor = {
      submit: (_task, report) => {
        late = report;
      },
      cancel: () => undefined,
      stats: () => ({}),
      close: async () => undefined,
    };
    const traced = createWorkflowTracing().executor(runner);
    traced.submit({ runId: 'gone', call: { callId: 'c1' } as never, scheduledAt: 0 }, () => undefined);
    late!({ type: 'activity.started', at: 1, callId: 'c1', attempt: 1 });
    late!({ type: 'activity.completed', at: 2, callId: 'c1', result: null } as never);
    await traced.close(0);
    expect(tracing.spans()).toEqual([]);
  });

  it('marks a failed run as an error with its code', async () => {
    tracing = registerTracing();
    const Broken = defineActivity({ name: 'Broken', version: 1 }, async () => {
      throw new FlowdError('ERR_HTTP', 'gone');
    });
    const Once = defineWorkflow({ name: 'Once', version: 1 }, (wf) => {
      const broken = wf.activity(Broken);
      return () => broken();
    });
    const engine = engineWith([Once], [Broken]);
    const runId = await engine.start('Once', null);
    expect(await engine.ended(runId)).toMatchObject({ state: 'failed' });
    await until(() => tracing!.named('flowd.workflow').length === 1, { what: 'the run span' });
    const [run] = tracing.named('flowd.workflow');
    expect(run!.attributes['flowd.outcome']).toBe('failed');
    expect(run!.status.code).toBe(SpanStatusCode.ERROR);
    expect(tracing.named('flowd.activity').map((span) => span.attributes['flowd.outcome'])).toEqual(['failed']);
  });

  it("ends the span of a run still open when the engine closes as stopped, and still hands the inspector's observer every event", async () => {
    tracing = registerTracing();
    const gate = deferred();
    const Slow = defineActivity({ name: 'Slow', version: 1 }, () => gate.promise);
    const Waits = defineWorkflow({ name: 'Waits', version: 1 }, (wf) => {
      const slow = wf.activity(Slow);
      return () => slow();
    });
    const { store } = workflowStoreIn(cleanups, log);
    const observed: string[] = [];
    const engine = createWorkflowEngine({
      workflows: [Waits],
      activities: [Slow],
      store,
      log,
      inspect: (event) => observed.push(event.type),
    });
    await engine.start('Waits', null);
    await until(() => tracing!.named('flowd.activity').length === 0 && engine.stats().default?.running === 1, { what: 'the running call' });
    await engine.close(10);
    gate.resolve();
    const [run] = tracing.named('flowd.workflow');
    expect(run!.attributes['flowd.outcome']).toBe('stopped');
    expect(tracing.named('flowd.activity').map((span) => span.attributes['flowd.outcome'])).toEqual(['stopped']);
    expect(observed).toContain('@xstate.snapshot');
  });

  it('makes no spans without a registered provider', async () => {
    const probe = registerTracing();
    await probe.reset();
    const Quick = defineActivity({ name: 'Quick', version: 1 }, async () => 1);
    const Run = defineWorkflow({ name: 'Run', version: 1 }, (wf) => {
      const quick = wf.activity(Quick);
      return () => quick();
    });
    const engine = engineWith([Run], [Quick]);
    expect(await engine.ended(await engine.start('Run', null))).toMatchObject({ state: 'completed' });
    expect(probe.spans()).toEqual([]);
  });
});
