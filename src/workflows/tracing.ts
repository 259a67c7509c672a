import { context as otelContext, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { InspectionEvent } from 'xstate';
import type { RunOutcome } from '../../machines/workflow-run.js';
import { registeredTracer } from '../runtime/tracing.js';
import type { ActivityExecutor } from './executor.js';
import type { ActivityReport, ActivityTask } from './executor-types.js';
import type { HistoryEvent } from './history.js';

/** The prefix of a run actor's id (`workflow-run:<runId>`, see engine.ts). */
const RUN_ACTOR = 'workflow-run:';

type Observer = (event: InspectionEvent) => void;

/** What the engine wraps: its executor and its run actors' observer; both as given when no tracer provider is registered. */
export interface WorkflowTracing {
  executor(executor: ActivityExecutor): ActivityExecutor;
  observer(inspect: Observer | undefined): Observer | undefined;
}

const UNTRACED: WorkflowTracing = { executor: (executor) => executor, observer: (inspect) => inspect };

/**
 * Workflow runs and activity calls as OpenTelemetry spans, when the app
 * registered a tracer provider: a `flowd.workflow` span for each run while
 * this engine decides it (from its actor's start to its end), and a
 * `flowd.activity` span, its child, for each attempt of each activity call.
 * A run started from a worker is a child of that worker's attempt (the
 * context active when it starts). See docs/tracing.md.
 */
export function createWorkflowTracing(tracer: Tracer | undefined = registeredTracer()): WorkflowTracing {
  if (!tracer) return UNTRACED;
  const runs = new Map<string, { span: Span; context: Context }>();
  /** Attempts running, each with its run and how to end it: a cancelled run's calls report no more. */
  const running = new Set<{ runId: string; end(outcome: string): void }>();

  const runOf = (runId: string, workflow?: { name: string; version: string | number }) => {
    let run = runs.get(runId);
    if (!run) {
      const attributes = {
        'flowd.workflow.run_id': runId,
        ...(workflow ? { 'flowd.workflow.name': workflow.name, 'flowd.workflow.version': String(workflow.version) } : {}),
      };
      const parent = otelContext.active();
      const span = tracer.startSpan('flowd.workflow', { attributes }, parent);
      run = { span, context: trace.setSpan(parent, span) };
      runs.set(runId, run);
    } else if (workflow) {
      run.span.setAttribute('flowd.workflow.name', workflow.name);
      run.span.setAttribute('flowd.workflow.version', String(workflow.version));
    }
    return run;
  };

  const endRun = (runId: string, outcome: RunOutcome | undefined, status: string) => {
    const run = runs.get(runId);
    if (!run) return;
    runs.delete(runId);
    run.span.setAttribute('flowd.outcome', outcome?.kind ?? status);
    if (outcome?.kind === 'failed') {
      run.span.setAttribute('flowd.error.code', outcome.error.code);
      run.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.message });
    } else if (outcome?.kind === 'restarted') run.span.setAttribute('flowd.workflow.next_run_id', outcome.next);
    run.span.end();
  };

  const observe: Observer = (event) => {
    if (event.type !== '@xstate.snapshot') return;
    const id = (event.actorRef as { id?: string }).id;
    if (!id?.startsWith(RUN_ACTOR)) return;
    const runId = id.slice(RUN_ACTOR.length);
    const snapshot = event.snapshot as {
      status: string;
      context?: { workflow?: { name: string; version: string | number } };
      output?: { outcome?: RunOutcome };
    };
    if (snapshot.status === 'active') {
      if (!runs.has(runId)) runOf(runId, snapshot.context?.workflow);
    } else endRun(runId, snapshot.output?.outcome, snapshot.status);
  };

  /**
   * The call's report, with a span for each attempt (`activity.started` to its completion, failure or
   * time-out), and how to run the attempt's function inside its span (so spans it starts are children).
   * An attempt of a run this engine is not deciding (a late report after the run's end) gets no span.
   */
  const traced = (task: ActivityTask, report: ActivityReport): { report: ActivityReport; runWithin: <T>(run: () => T) => T } => {
    let attempt: Span | undefined;
    let attemptContext: Context | undefined;
    const open = { runId: task.runId, end: (outcome: string) => end(outcome) };
    const end = (outcome: string, error?: { code: string; message: string }) => {
      if (!attempt) return;
      running.delete(open);
      attempt.setAttribute('flowd.outcome', outcome);
      if (error) {
        attempt.setAttribute('flowd.error.code', error.code);
        attempt.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      }
      attempt.end();
      attempt = undefined;
      attemptContext = undefined;
    };
    const traceEvent = (event: HistoryEvent) => {
      if (event.type === 'activity.started') {
        end('abandoned');
        const run = runs.get(task.runId);
        if (!run) return report(event);
        const { call } = task;
        attempt = tracer.startSpan(
          'flowd.activity',
          {
            attributes: {
              'flowd.workflow.run_id': task.runId,
              'flowd.activity.call_id': call.callId,
              'flowd.activity.name': call.activity.name,
              'flowd.activity.version': String(call.activity.version),
              'flowd.activity.task_list': call.taskList,
              'flowd.attempt': event.attempt,
            },
          },
          run.context,
        );
        attemptContext = trace.setSpan(run.context, attempt);
        running.add(open);
      } else if (event.type === 'activity.completed') end('completed');
      else if (event.type === 'activity.failed') end(event.final ? 'failed' : 'retrying', event.error);
      else if (event.type === 'activity.timedOut')
        end(event.final ? 'timedOut' : 'retrying', { code: 'ERR_ACTIVITY_TIMEOUT', message: `the attempt passed its ${event.kind} limit` });
      return report(event);
    };
    const runWithin = <T>(run: () => T): T => (attemptContext ? otelContext.with(attemptContext, run) : run());
    return { report: traceEvent, runWithin };
  };

  return {
    executor: (executor) => ({
      submit: (task, report) => {
        const call = traced(task, report);
        executor.submit({ ...task, runWithin: call.runWithin }, call.report);
      },
      cancel(runId) {
        executor.cancel(runId);
        for (const open of [...running]) if (open.runId === runId) open.end('cancelled');
      },
      stats: () => executor.stats(),
      async close(graceMs) {
        await executor.close(graceMs);
        for (const open of [...running]) open.end('stopped');
        for (const runId of [...runs.keys()]) endRun(runId, undefined, 'stopped');
      },
    }),
    observer: (inspect) =>
      inspect
        ? (event) => {
            observe(event);
            inspect(event);
          }
        : observe,
  };
}
